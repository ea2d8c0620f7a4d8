"""``POST /v1/token``: a user signs in with a password and gets a bearer token.

OAuth2's resource owner password grant (RFC 6749 4.3); the token is the one ``vigil api
token`` issues (``consult_bridge/auth.py``).

401 with one message for a wrong password and an unknown or disabled user alike; 429 with
``Retry-After`` while the account is locked (``consult_bridge/login.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from consult_bridge.auth import Principal, issue_token
from consult_bridge.deps import Context, Deps
from consult_bridge.login import LOCKOUT_WINDOW, MAX_FAILURES, password_matches

routes = APIRouter(prefix="/v1", tags=["sign in"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


def authenticate(deps: Deps, sub: str, password: str) -> Principal:
    """The user ``sub`` if ``password`` is theirs: 401 otherwise, 429 while locked out.

    Shared by ``POST /v1/token`` and the dashboard's sign-in form.
    """
    now = deps.clock()
    if deps.accounts.failures_since(sub, now - LOCKOUT_WINDOW) >= MAX_FAILURES:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many failed sign-ins: try again later",
            {"Retry-After": str(int(LOCKOUT_WINDOW.total_seconds()))},
        )
    account = deps.accounts.get(sub)
    stored = None if account is None or account.disabled else account.password_hash
    if not password_matches(stored, password) or account is None:
        deps.accounts.failed(sub, now)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "wrong user or password", {"WWW-Authenticate": "Bearer"}
        )
    deps.accounts.clear_failures(sub)
    return Principal(
        sub=account.sub,
        role=account.role,  # type: ignore[arg-type]
        name=account.name,
        tenant=account.tenant,
        device=account.device,
    )


@routes.post("/token", response_model=TokenOut)
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], deps: Context) -> TokenOut:
    """Exchange a user name (the ``sub``) and password for a bearer token."""
    principal = authenticate(deps, form.username, form.password)
    ttl = deps.token_ttl_s
    return TokenOut(
        access_token=issue_token(principal, deps.secret, now=deps.clock(), ttl_s=ttl),
        expires_in=int(ttl),
    )
