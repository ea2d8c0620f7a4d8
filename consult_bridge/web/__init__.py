"""The dashboard: pages for carers and clinicians, served by ``vigil api`` under ``/ui``.

Server-rendered HTML (Jinja2, autoescaped) with charts drawn as SVG on the server
(``svg.py``), one small script of our own for the live view (server-sent events) and no
asset from outside the app: nothing is fetched from a CDN or a tile server at run time.

The pages sit behind the API's own sign-in, roles and grants: the session cookie holds
the same token ``POST /v1/token`` issues (``session.py``), and every read goes through
``consult_bridge.deps.check`` and the audit log as an API read does. English and Chinese
(``i18n.py``). docs/dashboard.md shows the pages.
"""
