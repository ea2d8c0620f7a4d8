"""What every route needs: the caller, the desks, and the check that audits as it decides.

The caller comes from the bearer token; ``check`` decides whether the caller may touch
a wearer's data and writes the decision to the audit log.

Answers: 401 without a valid token; 404 for a wearer the caller may not see, whether or
not it exists, so one clinic cannot learn of another's wearers; 403 for a wearer the
caller sees but an action their role may not take. Every decision on a wearer's data,
allowed or refused, goes to the audit log (``consult_bridge/audit.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from consult_bridge.access import in_emergency, may
from consult_bridge.auth import AuthError, Principal, Role, read_token
from consult_bridge.desks import (
    AccessBook,
    AccountBook,
    AuditTrail,
    ClinicDesk,
    ConsultDesk,
    HealthShelf,
    LadderDesk,
    NoticeBox,
    PlayLinkDesk,
    ProfileDesk,
    Publisher,
    TextDesk,
)
from consult_bridge.play_links import link_key
from consult_bridge.telling import tell
from schemas.access import Category
from schemas.audit import AuditEvent

_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT")

#: Who reads a wearer's data, given access.
READERS: tuple[Role, ...] = ("wearer", "family", "clinician", "reviewer")


class Deps:
    """What the routes work on (one per app)."""

    def __init__(
        self,
        *,
        secret: str,
        ladders: LadderDesk,
        access: AccessBook,
        health: HealthShelf,
        audit: AuditTrail,
        notices: NoticeBox,
        consults: ConsultDesk,
        links: PlayLinkDesk,
        clinic: ClinicDesk,
        profiles: ProfileDesk,
        accounts: AccountBook,
        publisher: Publisher | None = None,
        texts: TextDesk | None = None,
        token_ttl_s: float = 3600.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.secret = secret
        self.ladders = ladders
        self.access = access
        self.health = health
        self.audit = audit
        self.notices = notices
        self.consults = consults
        self.links = links
        self.clinic = clinic
        self.profiles = profiles
        self.link_key = link_key(secret)
        self.publisher = publisher
        self.texts = texts
        self.accounts = accounts
        self.token_ttl_s = token_ttl_s
        self.clock = clock

    def record(
        self, who: Principal, device_id: str, category: str, action: str, detail: str = ""
    ) -> None:
        """Write an audit entry for ``who`` doing ``action`` on the wearer's ``category``."""
        self.audit.append(
            AuditEvent(
                at=self.clock(),
                actor=who.sub,
                role=who.role,
                tenant=who.tenant,
                device_id=device_id,
                category=category,
                action=action,
                detail=detail,
            )
        )

    def tell(self, recipient: str, kind: str, text: str, *, about: str | None = None) -> None:
        """An in-app notice, and an SMS when the recipient has a number (``telling.tell``)."""
        tell(
            self.notices,
            self.texts,
            recipient=recipient,
            kind=kind,
            text=text,
            about=about,
            at=self.clock(),
        )


def invalid(message: str, *loc: str) -> list[dict[str, object]]:
    """A 422 body's ``detail`` shaped as FastAPI's own (``HTTPValidationError``)."""
    return [{"loc": list(loc) or ["body"], "msg": message, "type": "value_error"}]


def unprocessable(message: str, *loc: str) -> HTTPException:
    """A 422 of our own checks, with the same body as FastAPI's validation errors.

    The OpenAPI description promises that shape for every 422, so clients (and the
    schemathesis run) can rely on it: ``detail[0].msg`` says what is wrong.
    """
    return HTTPException(422, invalid(message, *loc))


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is needed", challenge)
    deps = deps_of(request)
    try:
        return read_token(credentials.credentials, deps.secret, now=deps.clock())
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), challenge) from None


def _maybe_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when a bearer token comes (401 if it is bad), else None."""
    if credentials is None:
        return None
    return _principal(request, credentials)


Caller = Annotated[Principal, Depends(_principal)]
MaybeCaller = Annotated[Principal | None, Depends(_maybe_principal)]
Context = Annotated[Deps, Depends(deps_of)]


def check(
    deps: Deps,
    who: Principal,
    device_id: str,
    category: Category,
    *,
    roles: tuple[Role, ...],
    action: str,
) -> str:
    """404 unless ``who`` may see ``category`` of the wearer; 403 if the role may not act.

    A refusal is audited here (``denied``, naming the action tried); the caller audits
    what it then does. Returns how the access holds: ``"break-glass"`` when only an
    emergency opening allows it, else ``""``.
    """
    now = deps.clock()
    clinic = deps.access.clinic_of(device_id)
    emergencies = deps.access.emergencies_of(device_id) if who.role == "clinician" else []
    allowed = may(
        who,
        device_id,
        category,
        clinic=clinic,
        grants=deps.access.grants_of(device_id),
        now=now,
        emergencies=emergencies,
    )
    if not allowed:
        deps.record(who, device_id, category, "denied", action)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    if who.role not in roles:
        deps.record(who, device_id, category, "denied", action)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {who.role} may not do this")
    by_clinic = clinic is not None and who.tenant == clinic
    if who.role == "clinician" and not by_clinic and in_emergency(who, device_id, emergencies, now):
        return "break-glass"
    return ""
