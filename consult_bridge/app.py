"""The API (``vigil api``): FastAPI, bearer tokens, every read and act checked and audited.

So far: the alert ladders of a wearer (``ladder_routes``: read them; acknowledge or cancel
one; snooze a direction); who may see a wearer (``access_routes``: the wearer's grants, a
clinic's enrolment, break-glass); the wearer's record (``record_routes``: stored data by
category, the audit log, notices); consultations (``consult_routes``: flagged cases and
clinicians' requests through review, scheduling, sessions and reports, FHIR bundles);
play links to the recordings (``play_routes``: signed, expiring, revocable, published with
the wearer's consent); the clinic's doctors, expert matching and appointments
(``clinic_routes``); signing in with a password (``login_routes``).
OpenAPI at ``/openapi.json``, the docs at ``/docs``.

The app works on protocols (``consult_bridge/desks.py``); ``vigil/api.py`` wires them to
the stores. The answers every route shares are in ``consult_bridge/deps.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from consult_bridge import (
    access_routes,
    clinic_routes,
    consult_routes,
    ladder_routes,
    login_routes,
    play_routes,
    record_routes,
)
from consult_bridge.deps import Deps
from consult_bridge.nul_guard import NulGuard
from consult_bridge.web import live, pages
from consult_bridge.web.session import SignInNeededError

#: The dashboard's pages load only their own script, styles and images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(deps: Deps) -> FastAPI:
    """The API over the desks ``deps`` holds."""
    app = FastAPI(
        title="Vigil API",
        version="1",
        description=(
            "Alert ladders, grants, clinics, records and their audit log of the Vigil "
            "wearable pipeline."
        ),
    )
    app.state.deps = deps
    app.include_router(login_routes.routes)
    app.include_router(ladder_routes.routes)
    app.include_router(access_routes.routes)
    app.include_router(record_routes.routes)
    # Before the consultations': ``/consultations/{id}/play-links`` is not an action.
    app.include_router(play_routes.routes)
    app.include_router(clinic_routes.routes)
    app.include_router(consult_routes.routes)

    # The dashboard (consult_bridge/web): pages behind the same sign-in, roles and grants.
    app.include_router(live.routes)  # before the pages: ``live`` is not a tab
    app.include_router(pages.routes)
    app.mount("/ui/static", StaticFiles(directory=pages.HERE / "static"), name="static")

    @app.exception_handler(SignInNeededError)
    def sign_in_first(_: Request, exc: SignInNeededError) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.middleware("http")
    async def page_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/ui"):
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
        return response

    app.add_middleware(NulGuard)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app
