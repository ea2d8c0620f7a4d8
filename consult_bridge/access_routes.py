"""Who may see a wearer: the wearer's grants, a clinic's enrolment, and break-glass.

Grants are the wearer's alone (404 for anyone else: there is nothing to see). A clinic's
admin enrols wearers. A clinician in an emergency breaks the glass: all of the wearer's
data for an hour (``schemas.access.BREAK_GLASS_S``), audited, and reported to the
wearer at once as an in-app notice.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from consult_bridge.auth import Principal
from consult_bridge.deps import Caller, Context, unprocessable
from schemas.access import BREAK_GLASS_S, CATEGORIES, Category, EmergencyAccess, Grant

routes = APIRouter(prefix="/v1", tags=["access"])


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


def own(who: Principal, device_id: str) -> None:
    """Only the wearer (404 for anyone else: nothing to see)."""
    if who.role != "wearer" or who.device != device_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")


@routes.post(
    "/wearers/{device_id}/grants", status_code=status.HTTP_201_CREATED, response_model=GrantView
)
def add_grant(device_id: str, body: GrantIn, who: Caller, deps: Context) -> GrantView:
    """The wearer lets a viewer see some categories, optionally for a time window."""
    own(who, device_id)
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
        raise unprocessable(str(exc), "body") from None
    deps.access.add_grant(grant)
    deps.record(who, device_id, "grants", "grant", f"{grant.viewer}: {','.join(grant.categories)}")
    return _grant_view(grant)


@routes.get("/wearers/{device_id}/grants", response_model=list[GrantView])
def list_grants(device_id: str, who: Caller, deps: Context) -> list[GrantView]:
    """The wearer's grants (in force or not yet, and expired; not the revoked)."""
    own(who, device_id)
    return [_grant_view(g) for g in deps.access.grants_of(device_id)]


@routes.delete("/wearers/{device_id}/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_grant(device_id: str, grant_id: str, who: Caller, deps: Context) -> None:
    """The wearer ends a grant now."""
    own(who, device_id)
    if not deps.access.revoke_grant(device_id, grant_id, deps.clock()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such grant")
    deps.record(who, device_id, "grants", "revoke", grant_id)


class Enrolment(BaseModel):
    device_id: str
    tenant: str


@routes.put("/wearers/{device_id}/enrolment", response_model=Enrolment)
def enrol(device_id: str, who: Caller, deps: Context) -> Enrolment:
    """A clinic's admin enrols a wearer in the clinic (their clinicians then see them)."""
    if who.role != "admin" or who.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a clinic's admin enrols wearers")
    if not deps.access.enrol(device_id, who.tenant, deps.clock()):
        # Another clinic's wearer: nothing of it is shown, not even that it exists.
        deps.record(who, device_id, "enrolment", "denied", "enrolled elsewhere")
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    deps.record(who, device_id, "enrolment", "enrol", who.tenant)
    return Enrolment(device_id=device_id, tenant=who.tenant)


class BreakGlassIn(BaseModel):
    reason: str = Field(
        min_length=10, max_length=500, description="why, for the wearer and the audit"
    )


class EmergencyView(BaseModel):
    access_id: str
    device_id: str
    viewer: str
    opened_at: dt.datetime
    until: dt.datetime


@routes.post(
    "/wearers/{device_id}/emergency-access",
    status_code=status.HTTP_201_CREATED,
    response_model=EmergencyView,
)
def break_glass(device_id: str, body: BreakGlassIn, who: Caller, deps: Context) -> EmergencyView:
    """A clinician breaks the glass: every category of the wearer for an hour, any clinic.

    Audited with the reason, and reported to the wearer (an in-app notice) at once.
    404 for a band not known here; 403 for anyone but a clinician.
    """
    if who.role != "clinician":
        deps.record(who, device_id, "emergency", "denied", "break glass")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a clinician may break the glass")
    if not deps.access.known(device_id):
        deps.record(who, device_id, "emergency", "denied", "break glass: unknown band")
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    now = deps.clock()
    opening = EmergencyAccess(
        access_id=uuid.uuid4().hex,
        device_id=device_id,
        viewer=who.sub,
        tenant=who.tenant,
        reason=body.reason,
        opened_at=now,
        until=now + dt.timedelta(seconds=BREAK_GLASS_S),
    )
    deps.access.add_emergency(opening)
    deps.record(who, device_id, "emergency", "break_glass", body.reason)
    clinic = f" ({who.tenant})" if who.tenant else ""
    deps.tell(
        f"device:{device_id}",
        "break_glass",
        f"{who.display_name}{clinic} opened your record in an emergency at "
        f"{now:%Y-%m-%d %H:%M} UTC and can see all of it until {opening.until:%H:%M} "
        f"UTC. Reason given: {body.reason}",
        about=device_id,
    )
    return EmergencyView(
        access_id=opening.access_id,
        device_id=device_id,
        viewer=who.sub,
        opened_at=opening.opened_at,
        until=opening.until,
    )
