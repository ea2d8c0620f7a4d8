"""The dashboard's session: the API's own token in a cookie, and a CSRF token for forms.

The cookie holds the token ``POST /v1/token`` issues (``consult_bridge/auth.py``), so a
page sees exactly what the API would show the same user: same roles, same expiry. It is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it)
and ``Secure`` when the API is served over TLS.

Forms that act (acknowledge, cancel, sign out) also carry a CSRF token: an HMAC of the
session token under the API's secret (the OWASP "synchronizer token" kept stateless).
A forged form from another origin knows neither.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from fastapi import HTTPException, Request, status

from consult_bridge.auth import AuthError, Principal, read_token
from consult_bridge.deps import deps_of

COOKIE = "vigil_session"
LANG_COOKIE = "vigil_lang"


def csrf_token(secret: str, session: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its token under the API's secret."""
    return hmac.new(secret.encode(), b"csrf\x00" + session.encode(), hashlib.sha256).hexdigest()


def csrf_holds(secret: str, session: str, offered: str) -> bool:
    """Whether ``offered`` is the session's CSRF token (compared in constant time)."""
    return hmac.compare_digest(csrf_token(secret, session).encode(), offered.encode())


class SignInNeededError(Exception):
    """No session, or one that expired: the page sends the browser to the sign-in form."""

    def __init__(self, back_to: str) -> None:
        super().__init__("sign in first")
        self.location = f"/ui/login?next={quote(back_to, safe='/')}"


def session_of(request: Request) -> tuple[Principal, str]:
    """The signed-in user and their session token; ``SignInNeededError`` otherwise."""
    token = request.cookies.get(COOKIE)
    deps = deps_of(request)
    if token:
        try:
            return read_token(token, deps.secret, now=deps.clock()), token
        except AuthError:
            pass
    raise SignInNeededError(request.url.path)


def require_csrf(request: Request, session: str, offered: str) -> None:
    """403 unless the form carries the session's CSRF token."""
    if not csrf_holds(deps_of(request).secret, session, offered):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token does not match")


def is_secure(request: Request) -> bool:
    """Whether the page came over TLS (the cookie is then sent only over TLS)."""
    return request.url.scheme == "https"
