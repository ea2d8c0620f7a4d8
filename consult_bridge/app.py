"""The API (``vigil api``): FastAPI, bearer tokens, every read and act checked.

So far: the alert ladders of a wearer (read them; acknowledge or cancel one; snooze a
direction), the wearer's grants, and a clinic's enrolment of wearers. OpenAPI at
``/openapi.json``, the docs at ``/docs``.

Answers: 401 without a valid token; 404 for a wearer (or ladder) the caller may not see,
whether or not it exists, so one clinic cannot learn of another's wearers; 403 for a
wearer the caller sees but an action their role may not take; 409 for an action the
ladder's state refuses. An acknowledgement or cancel is queued for the process driving
the ladders and answered 202: that process applies it within a fraction of a second.

The app works on two protocols (``consult_bridge/desks.py``): the alert ladders and the
access records; ``vigil/api.py`` wires them to the stores.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from consult_bridge.access import may
from consult_bridge.auth import AuthError, Principal, Role, read_token
from consult_bridge.desks import AccessBook, LadderDesk, LadderView, SnoozeView
from schemas.access import CATEGORIES, Category, Grant

_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT")


class Deps:
    """What the routes work on (one per app)."""

    def __init__(
        self,
        *,
        secret: str,
        ladders: LadderDesk,
        access: AccessBook,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.secret = secret
        self.ladders = ladders
        self.access = access
        self.clock = clock


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is needed", challenge)
    deps = _deps(request)
    try:
        return read_token(credentials.credentials, deps.secret, now=deps.clock())
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), challenge) from None


Caller = Annotated[Principal, Depends(_principal)]
Context = Annotated[Deps, Depends(_deps)]


def _see(
    deps: Deps, who: Principal, device_id: str, category: Category, roles: tuple[Role, ...]
) -> None:
    """404 unless ``who`` may see ``category`` of the wearer; 403 if the role may not act."""
    allowed = may(
        who,
        device_id,
        category,
        clinic=deps.access.clinic_of(device_id),
        grants=deps.access.grants_of(device_id),
        now=deps.clock(),
    )
    if not allowed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    if who.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {who.role} may not do this")


# -- the ladders ------------------------------------------------------------------------

ladder_routes = APIRouter(prefix="/v1", tags=["alert ladders"])
_READ_ALERTS: tuple[Role, ...] = ("wearer", "family", "clinician", "reviewer")


@ladder_routes.get("/wearers/{device_id}/ladders", response_model=list[LadderView])
def list_ladders(
    device_id: str, who: Caller, deps: Context, open_only: bool = False
) -> list[LadderView]:
    """The wearer's alert ladders, oldest first (``open_only``: those still running)."""
    _see(deps, who, device_id, "alerts", _READ_ALERTS)
    found = deps.ladders.ladders_of(device_id)
    return [x for x in found if x.is_open or not open_only]


class Queued(BaseModel):
    request_id: str
    ladder_id: str
    kind: str


def _queue(
    deps: Deps, who: Principal, ladder_id: str, kind: str, roles: tuple[Role, ...]
) -> Queued:
    ladder = deps.ladders.ladder(ladder_id)
    if ladder is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such ladder")
    _see(deps, who, ladder.device_id, "alerts", roles)
    if not ladder.is_open:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the ladder has ended ({ladder.phase}): nothing to {kind}",
        )
    short: Literal["ack", "cancel"] = "ack" if kind == "acknowledge" else "cancel"
    request_id = deps.ladders.request(ladder_id, short, who.display_name, deps.clock())
    return Queued(request_id=request_id, ladder_id=ladder_id, kind=short)


@ladder_routes.post(
    "/ladders/{ladder_id:path}/ack", status_code=status.HTTP_202_ACCEPTED, response_model=Queued
)
def acknowledge(ladder_id: str, who: Caller, deps: Context) -> Queued:
    """Acknowledge an open ladder: "I am handling it". It stops; those told hear who is."""
    return _queue(deps, who, ladder_id, "acknowledge", ("family", "clinician"))


@ladder_routes.post(
    "/ladders/{ladder_id:path}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=Queued
)
def cancel(ladder_id: str, who: Caller, deps: Context) -> Queued:
    """Cancel an open ladder as a false alarm: it stops; those told get a stand-down."""
    return _queue(deps, who, ladder_id, "cancel", ("wearer", "family", "clinician"))


class SnoozeIn(BaseModel):
    minutes: float = Field(gt=0, description="how long; at most 12 h (the safety floor)")
    reason: str = Field(default="", max_length=200)


_SNOOZERS: tuple[Role, ...] = ("wearer", "family", "clinician")


@ladder_routes.get("/wearers/{device_id}/snoozes", response_model=list[SnoozeView])
def list_snoozes(device_id: str, who: Caller, deps: Context) -> list[SnoozeView]:
    """The wearer's snoozes in force."""
    _see(deps, who, device_id, "alerts", _READ_ALERTS)
    return deps.ladders.snoozes_of(device_id, deps.clock())


@ladder_routes.put("/wearers/{device_id}/snoozes/{what}", response_model=SnoozeView)
def set_snooze(device_id: str, what: str, body: SnoozeIn, who: Caller, deps: Context) -> SnoozeView:
    """Snooze one direction (``pulse:high``, ``stress``, ``geofence:<id>``, ...).

    Refused (422) for SOS and falls, unknown directions and more than 12 h; red alerts
    and a critical SpO2 are never held back whatever is snoozed (docs/alerting.md).
    """
    _see(deps, who, device_id, "alerts", _SNOOZERS)
    try:
        return deps.ladders.snooze(
            device_id,
            what,
            minutes=body.minutes,
            by=who.display_name,
            reason=body.reason,
            now=deps.clock(),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@ladder_routes.delete("/wearers/{device_id}/snoozes/{what}", status_code=status.HTTP_204_NO_CONTENT)
def clear_snooze(device_id: str, what: str, who: Caller, deps: Context) -> None:
    """End a snooze now."""
    _see(deps, who, device_id, "alerts", _SNOOZERS)
    if not deps.ladders.clear_snooze(device_id, what):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} is not snoozed")


# -- grants and enrolment ----------------------------------------------------------------

access_routes = APIRouter(prefix="/v1", tags=["access"])


class GrantIn(BaseModel):
    viewer: str = Field(min_length=1, description="the user's subject (sub)")
    categories: list[Category] = Field(min_length=1, description=f"of {', '.join(CATEGORIES)}")
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None


class GrantView(BaseModel):
    grant_id: str
    viewer: str
    categories: list[str]
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    granted_at: dt.datetime


def _grant_view(g: Grant) -> GrantView:
    return GrantView(
        grant_id=g.grant_id,
        viewer=g.viewer,
        categories=list(g.categories),
        not_before=g.not_before,
        not_after=g.not_after,
        granted_at=g.granted_at,
    )


def _own(who: Principal, device_id: str) -> None:
    """Only the wearer manages their grants (404 for anyone else: nothing to see)."""
    if who.role != "wearer" or who.device != device_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")


@access_routes.post(
    "/wearers/{device_id}/grants", status_code=status.HTTP_201_CREATED, response_model=GrantView
)
def add_grant(device_id: str, body: GrantIn, who: Caller, deps: Context) -> GrantView:
    """The wearer lets a viewer see some categories, optionally for a time window."""
    _own(who, device_id)
    try:
        grant = Grant(
            grant_id=uuid.uuid4().hex,
            device_id=device_id,
            viewer=body.viewer,
            categories=tuple(dict.fromkeys(body.categories)),
            not_before=body.not_before,
            not_after=body.not_after,
            granted_at=deps.clock(),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    deps.access.add_grant(grant)
    return _grant_view(grant)


@access_routes.get("/wearers/{device_id}/grants", response_model=list[GrantView])
def list_grants(device_id: str, who: Caller, deps: Context) -> list[GrantView]:
    """The wearer's grants (in force or not yet, and expired; not the revoked)."""
    _own(who, device_id)
    return [_grant_view(g) for g in deps.access.grants_of(device_id)]


@access_routes.delete(
    "/wearers/{device_id}/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT
)
def revoke_grant(device_id: str, grant_id: str, who: Caller, deps: Context) -> None:
    """The wearer ends a grant now."""
    _own(who, device_id)
    if not deps.access.revoke_grant(device_id, grant_id, deps.clock()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such grant")


class Enrolment(BaseModel):
    device_id: str
    tenant: str


@access_routes.put("/wearers/{device_id}/enrolment", response_model=Enrolment)
def enrol(device_id: str, who: Caller, deps: Context) -> Enrolment:
    """A clinic's admin enrols a wearer in the clinic (their clinicians then see them)."""
    if who.role != "admin" or who.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a clinic's admin enrols wearers")
    if not deps.access.enrol(device_id, who.tenant, deps.clock()):
        # Another clinic's wearer: nothing of it is shown, not even that it exists.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    return Enrolment(device_id=device_id, tenant=who.tenant)


def create_app(
    *,
    secret: str,
    ladders: LadderDesk,
    access: AccessBook,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> FastAPI:
    """The API over the given stores."""
    app = FastAPI(
        title="Vigil API",
        version="1",
        description="Alert ladders, grants and clinics of the Vigil wearable pipeline.",
    )
    app.state.deps = Deps(secret=secret, ladders=ladders, access=access, clock=clock)
    app.include_router(ladder_routes)
    app.include_router(access_routes)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app
