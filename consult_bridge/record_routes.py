"""The wearer's record: stored data by category, who read it, and the caller's notices.

Every read is checked against the wearer's grants, clinic and break-glass openings and
written to the audit log (``consult_bridge/deps.py``); the wearer reads that log here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from consult_bridge.access_routes import own
from consult_bridge.deps import READERS, Caller, Context, Deps, check, unprocessable
from schemas.access import READING_TYPES
from schemas.health_records import HealthRecord

routes = APIRouter(prefix="/v1", tags=["records"])

RecordCategory = Literal["vitals", "steps", "location", "ecg", "sleep", "indices"]
MAX_WINDOW = dt.timedelta(days=31)
DEFAULT_WINDOW = dt.timedelta(hours=24)
MAX_LIMIT = 10_000


class RecordOut(BaseModel):
    measured_at: dt.datetime
    type: str
    values: dict[str, Any]


class RecordsPage(BaseModel):
    device_id: str
    category: str
    since: dt.datetime
    until: dt.datetime
    records: list[RecordOut]
    more: bool  # the window held more than ``limit``: ask again from the last one's time


@routes.get("/wearers/{device_id}/records/{category}", response_model=RecordsPage)
def read_records(
    device_id: str,
    category: RecordCategory,
    *,
    who: Caller,
    deps: Context,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = Query(default=1000, ge=1, le=MAX_LIMIT),
) -> RecordsPage:
    """The wearer's data of one category measured in ``[since, until)`` (device time).

    By default the last 24 hours; a window of at most 31 days; oldest first.
    """
    until = until or deps.clock()
    since = since or until - DEFAULT_WINDOW
    if since.tzinfo is None or until.tzinfo is None:
        raise unprocessable("since and until need a time zone (e.g. ...Z)", "query")
    if not since < until <= since + MAX_WINDOW:
        raise unprocessable("the window must end after it starts, within 31 days", "query")
    via = check(deps, who, device_id, category, roles=READERS, action="read")
    found = _fetch(deps, device_id, category, since=since, until=until, limit=limit + 1)
    more = len(found) > limit
    records = [
        RecordOut(measured_at=r.measured_at, type=r.type, values=r.values) for r in found[:limit]
    ]
    detail = f"{len(records)} records {since.isoformat()} to {until.isoformat()}"
    deps.record(who, device_id, category, "read", f"{detail} ({via})" if via else detail)
    return RecordsPage(
        device_id=device_id,
        category=category,
        since=since,
        until=until,
        records=records,
        more=more,
    )


def _fetch(
    deps: Deps,
    device_id: str,
    category: RecordCategory,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
) -> list[HealthRecord]:
    if category == "ecg":
        return deps.health.ecg(device_id, since, until, limit)
    if category == "indices":
        return deps.health.indices(device_id, since, until, limit)
    return deps.health.readings(device_id, READING_TYPES[category], since, until, limit)


class AuditView(BaseModel):
    seq: int
    at: dt.datetime
    actor: str
    role: str
    tenant: str | None
    category: str
    action: str
    detail: str


@routes.get("/wearers/{device_id}/audit", response_model=list[AuditView])
def read_audit(
    device_id: str,
    *,
    who: Caller,
    deps: Context,
    since: dt.datetime | None = None,
    include_own: bool = False,
    limit: int = Query(default=500, ge=1, le=MAX_LIMIT),
) -> list[AuditView]:
    """Who read or did what to the wearer's data, and when, newest first (the wearer only).

    Refused attempts show as ``denied``; break-glass openings as ``break_glass`` with the
    reason given, and reads under one say so. ``include_own``: the wearer's own too.
    """
    own(who, device_id)
    found = deps.audit.about(device_id, since=since, limit=limit)
    return [
        AuditView(
            seq=e.seq,
            at=e.event.at,
            actor=e.event.actor,
            role=e.event.role,
            tenant=e.event.tenant,
            category=e.event.category,
            action=e.event.action,
            detail=e.event.detail,
        )
        for e in found
        if include_own or e.event.role != "wearer" or e.event.actor != who.sub
    ]


class NoticeView(BaseModel):
    notice_id: str
    at: dt.datetime
    kind: str
    text: str


@routes.get("/me/notices", response_model=list[NoticeView])
def my_notices(who: Caller, deps: Context) -> list[NoticeView]:
    """The caller's in-app notices, newest first."""
    recipient = f"device:{who.device}" if who.role == "wearer" else f"user:{who.sub}"
    return [
        NoticeView(notice_id=n.notice_id, at=n.at, kind=n.kind, text=n.text)
        for n in deps.notices.of(recipient)
    ]
