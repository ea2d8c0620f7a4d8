"""The wearer's record: stored data by category, who read it, and the caller's notices.

Every read is checked against the wearer's grants, clinic and break-glass openings and
written to the audit log (``consult_bridge/deps.py``); the wearer reads that log here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from consult_bridge.access_routes import own
from consult_bridge.deps import READERS, Caller, Context, Deps, check, unprocessable
from schemas.access import READING_TYPES
from schemas.health_profile import HealthProfile, ScoringView
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


class MedicationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dose: str = Field(default="", max_length=100)
    schedule: str = Field(default="", max_length=200)


class HealthRecordIn(BaseModel):
    habits: dict[str, str] = Field(default_factory=dict, description="e.g. smoking: never")
    medical_history: list[str] = Field(default_factory=list, max_length=100)
    family_history: list[str] = Field(default_factory=list, max_length=100)
    medications: list[MedicationIn] = Field(default_factory=list, max_length=100)
    allergies: list[str] = Field(default_factory=list, max_length=100)


class HealthRecordView(HealthRecordIn):
    updated_at: dt.datetime | None
    updated_by: str


class ScoringOut(BaseModel):
    conditions: list[str]
    on_oxygen: bool | None
    spo2_scale: int
    at_risk: bool
    revision: int


class ProfileView(BaseModel):
    device_id: str
    record: HealthRecordView | None
    scoring: ScoringOut


def _scoring_out(view: ScoringView) -> ScoringOut:
    return ScoringOut(
        conditions=list(view.conditions),
        on_oxygen=view.on_oxygen,
        spo2_scale=view.spo2_scale,
        at_risk=view.at_risk,
        revision=view.revision,
    )


def _record_view(p: HealthProfile | None) -> HealthRecordView | None:
    if p is None:
        return None
    return HealthRecordView.model_validate(msgspec.to_builtins(p))


@routes.get("/wearers/{device_id}/profile", response_model=ProfileView)
def read_profile(device_id: str, who: Caller, deps: Context) -> ProfileView:
    """The wearer's health record and the conditions that change their scoring.

    For those who see the ``profile`` category: the wearer, the clinic, a grant.
    """
    via = check(deps, who, device_id, "profile", roles=READERS, action="read")
    record = deps.profiles.record(device_id)
    deps.record(who, device_id, "profile", "read", f"record ({via})" if via else "record")
    return ProfileView(
        device_id=device_id,
        record=_record_view(record),
        scoring=_scoring_out(deps.profiles.scoring(device_id)),
    )


@routes.put("/wearers/{device_id}/profile/record", response_model=HealthRecordView)
def write_record(
    device_id: str, body: HealthRecordIn, who: Caller, deps: Context
) -> HealthRecordView:
    """The wearer (or a clinician of their clinic) writes the health record, whole."""
    check(deps, who, device_id, "profile", roles=("wearer", "clinician"), action="write record")
    try:
        profile = msgspec.convert(
            {**body.model_dump(), "updated_at": deps.clock(), "updated_by": who.sub},
            HealthProfile,
        )
    except msgspec.ValidationError as exc:
        raise unprocessable(str(exc), "body") from None
    deps.profiles.put_record(device_id, profile)
    deps.record(who, device_id, "profile", "write", "record")
    view = _record_view(profile)
    assert view is not None  # noqa: S101 - just made
    return view


class ConditionsIn(BaseModel):
    conditions: list[str] = Field(
        max_length=20,
        description="hypercapnic_respiratory_failure (NEWS2 SpO2 scale 2), permanent_af",
    )
    on_oxygen: bool | None = None


@routes.put("/wearers/{device_id}/profile/conditions", response_model=ScoringOut)
def set_conditions(device_id: str, body: ConditionsIn, who: Caller, deps: Context) -> ScoringOut:
    """A clinician of the wearer's clinic records the conditions that change scoring.

    The runners pick the change up within their profile refresh (``vigil run``: seconds):
    with hypercapnic respiratory failure, SpO2 is scored on NEWS2 scale 2.
    """
    check(deps, who, device_id, "profile", roles=("clinician",), action="set conditions")
    try:
        view = deps.profiles.set_conditions(device_id, body.conditions, body.on_oxygen)
    except ValueError as exc:
        raise unprocessable(str(exc), "body", "conditions") from None
    deps.record(who, device_id, "profile", "conditions", ",".join(view.conditions) or "none")
    return _scoring_out(view)
