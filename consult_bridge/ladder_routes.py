"""The wearer's alert ladders: read them, acknowledge or cancel one, snooze a direction.

An acknowledgement or cancel is queued for the process driving the ladders and answered
202: that process applies it within a fraction of a second. 409 for an action the
ladder's state refuses.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from consult_bridge.auth import Principal, Role
from consult_bridge.deps import READERS, Caller, Context, Deps, check, unprocessable
from consult_bridge.desks import LadderView, SnoozeView

routes = APIRouter(prefix="/v1", tags=["alert ladders"])


@routes.get("/wearers/{device_id}/ladders", response_model=list[LadderView])
def list_ladders(
    device_id: str, who: Caller, deps: Context, open_only: bool = False
) -> list[LadderView]:
    """The wearer's alert ladders, oldest first (``open_only``: those still running)."""
    via = check(deps, who, device_id, "alerts", roles=READERS, action="read")
    found = [x for x in deps.ladders.ladders_of(device_id) if x.is_open or not open_only]
    deps.record(who, device_id, "alerts", "read", _with(f"{len(found)} ladders", via))
    return found


def _with(detail: str, via: str) -> str:
    return f"{detail} ({via})" if via else detail


class Queued(BaseModel):
    request_id: str
    ladder_id: str
    kind: str


#: Who may acknowledge a ladder ("I am handling it"), and who may cancel it as a false
#: alarm (the wearer too); the dashboard's buttons follow the same.
ACK_ROLES: tuple[Role, ...] = ("family", "clinician")
CANCEL_ROLES: tuple[Role, ...] = ("wearer", "family", "clinician")


def queue_request(
    deps: Deps, who: Principal, ladder_id: str, kind: str, roles: tuple[Role, ...]
) -> Queued:
    """Queue an acknowledgement or cancel of an open ladder: 404, 403 or 409 if it may not."""
    ladder = deps.ladders.ladder(ladder_id)
    if ladder is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such ladder")
    short: Literal["ack", "cancel"] = "ack" if kind == "acknowledge" else "cancel"
    via = check(deps, who, ladder.device_id, "alerts", roles=roles, action=short)
    if not ladder.is_open:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the ladder has ended ({ladder.phase}): nothing to {kind}",
        )
    request_id = deps.ladders.request(ladder_id, short, who.display_name, deps.clock())
    deps.record(who, ladder.device_id, "alerts", short, _with(f"ladder {ladder_id}", via))
    return Queued(request_id=request_id, ladder_id=ladder_id, kind=short)


@routes.post(
    "/ladders/{ladder_id:path}/ack", status_code=status.HTTP_202_ACCEPTED, response_model=Queued
)
def acknowledge(ladder_id: str, who: Caller, deps: Context) -> Queued:
    """Acknowledge an open ladder: "I am handling it". It stops; those told hear who is."""
    return queue_request(deps, who, ladder_id, "acknowledge", ACK_ROLES)


@routes.post(
    "/ladders/{ladder_id:path}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=Queued
)
def cancel(ladder_id: str, who: Caller, deps: Context) -> Queued:
    """Cancel an open ladder as a false alarm: it stops; those told get a stand-down."""
    return queue_request(deps, who, ladder_id, "cancel", CANCEL_ROLES)


class SnoozeIn(BaseModel):
    minutes: float = Field(gt=0, description="how long; at most 12 h (the safety floor)")
    reason: str = Field(default="", max_length=200)


_SNOOZERS: tuple[Role, ...] = ("wearer", "family", "clinician")


@routes.get("/wearers/{device_id}/snoozes", response_model=list[SnoozeView])
def list_snoozes(device_id: str, who: Caller, deps: Context) -> list[SnoozeView]:
    """The wearer's snoozes in force."""
    via = check(deps, who, device_id, "alerts", roles=READERS, action="read snoozes")
    found = deps.ladders.snoozes_of(device_id, deps.clock())
    deps.record(who, device_id, "alerts", "read", _with(f"{len(found)} snoozes", via))
    return found


@routes.put("/wearers/{device_id}/snoozes/{what}", response_model=SnoozeView)
def set_snooze(device_id: str, what: str, body: SnoozeIn, who: Caller, deps: Context) -> SnoozeView:
    """Snooze one direction (``pulse:high``, ``stress``, ``geofence:<id>``, ...).

    Refused (422) for SOS and falls, unknown directions and more than 12 h; red alerts
    and a critical SpO2 are never held back whatever is snoozed (docs/alerting.md).
    """
    via = check(deps, who, device_id, "alerts", roles=_SNOOZERS, action="snooze")
    try:
        found = deps.ladders.snooze(
            device_id,
            what,
            minutes=body.minutes,
            by=who.display_name,
            reason=body.reason,
            now=deps.clock(),
        )
    except ValueError as exc:
        raise unprocessable(str(exc), "path", "what") from None
    deps.record(who, device_id, "alerts", "snooze", _with(f"{what} {body.minutes:g} min", via))
    return found


@routes.delete("/wearers/{device_id}/snoozes/{what}", status_code=status.HTTP_204_NO_CONTENT)
def clear_snooze(device_id: str, what: str, who: Caller, deps: Context) -> None:
    """End a snooze now."""
    via = check(deps, who, device_id, "alerts", roles=_SNOOZERS, action="end snooze")
    if not deps.ladders.clear_snooze(device_id, what):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} is not snoozed")
    deps.record(who, device_id, "alerts", "end snooze", _with(what, via))
