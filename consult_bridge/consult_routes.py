"""Consultations: flagged cases and clinicians' requests, from review to the report.

Requests are raised by Vigil from flagged alerts (``vigil/consult_intake.py``), or by a
clinician's click (or the wearer) here. Every action goes through the workflow's table
(``consult_bridge/workflow.py``): 409 with the allowed actions named when the state
refuses it, 403 when the caller may not take it, 422 when it lacks a field. Those
concerned get an in-app notice of each transition. Who sees a request: the clinicians
and reviewers of its clinic, the wearer, and (to join a live session) those the wearer
granted ``alerts``; anyone else gets 404, as for a request that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consult_bridge.auth import Principal
from consult_bridge.cases import consultation_for, hand_out_link
from consult_bridge.deps import READERS, Caller, Context, Deps, check, invalid, unprocessable
from consult_bridge.fhir import BundleBuilder
from consult_bridge.workflow import (
    ACTIONS,
    Act,
    Actor,
    Refused,
    Stepped,
    allowed_actions,
    apply,
    raise_request,
)
from schemas.access import CATEGORIES, READING_TYPES, Category
from schemas.consultation import Consultation, ConsultState

routes = APIRouter(prefix="/v1", tags=["consultations"])

#: The triggering episode a request's bundle carries, around the alert's time.
VITALS_BEFORE = dt.timedelta(minutes=30)
TRAIL_BEFORE = dt.timedelta(hours=2)
EPISODE_AFTER = dt.timedelta(minutes=10)
MAX_RECORDS = 5000
REPORT_LINK_TTL = dt.timedelta(days=30)
WAITING: tuple[ConsultState, ...] = ("submitted", "pending_review", "reissued")


class StepView(BaseModel):
    at: dt.datetime
    by: str
    action: str
    before: str | None
    after: str
    detail: str


class RecordingView(BaseModel):
    recording_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class ReportView(BaseModel):
    diagnosis: str
    medical_record: str
    play_links: list[str]


class ConsultView(BaseModel):
    consult_id: str
    device_id: str
    tenant: str
    state: str
    priority: str
    reason: str
    alert_id: str | None
    alert_ids: list[str]
    created_at: dt.datetime
    created_by: str
    specialty: str | None
    reviewer: str | None
    doctor: str | None
    planned_at: dt.datetime | None
    mode: str | None
    viewers: list[str]
    recordings: list[RecordingView]
    report: ReportView | None
    history: list[StepView]
    version: int
    allowed: list[str] = Field(description="the actions the request's state allows now")


def _view(c: Consultation) -> ConsultView:
    return ConsultView.model_validate(
        {**msgspec.to_builtins(c), "allowed": list(allowed_actions(c.state))}
    )


def _actor(who: Principal) -> Actor:
    return Actor(sub=who.sub, role=who.role, name=who.name, device=who.device)


def _post_notices(deps: Deps, stepped: Stepped) -> None:
    about = stepped.consultation.device_id
    for notice in stepped.notices:
        deps.tell(notice.recipient, "consultation", notice.text, about=about)


class RequestIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)
    specialty: str | None = Field(default=None, max_length=100)


@routes.post(
    "/wearers/{device_id}/consultations",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsultView,
)
def request_consultation(
    device_id: str, body: RequestIn, who: Caller, deps: Context
) -> ConsultView:
    """A clinician of the wearer's clinic (or the wearer) requests a consultation.

    409 when the wearer belongs to no clinic, or already has an open request (named).
    """
    check(deps, who, device_id, "alerts", roles=("clinician", "wearer"), action="request")
    tenant = deps.access.clinic_of(device_id)
    if tenant is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the wearer is enrolled in no clinic")
    already = deps.consults.open_of(device_id)
    if already is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"an open request exists: {already.consult_id}"
        )
    stepped = raise_request(
        device_id=device_id,
        tenant=tenant,
        reason=body.reason,
        by=_actor(who),
        at=deps.clock(),
        specialty=body.specialty,
    )
    deps.consults.add(stepped.consultation)
    _post_notices(deps, stepped)
    deps.record(who, device_id, "consultation", "request", stepped.consultation.consult_id)
    return _view(stepped.consultation)


@routes.get("/consultations", response_model=list[ConsultView])
def clinic_queue(
    who: Caller,
    deps: Context,
    state: Annotated[list[ConsultState] | None, Query()] = None,
    mine: bool = False,
) -> list[ConsultView]:
    """The clinic's queue (clinicians and reviewers): green (red cases) first, then oldest.

    ``state``: by default those waiting on the clinic (submitted, pending_review,
    reissued); ``mine``: only the requests assigned to the calling doctor.
    """
    if who.role not in ("clinician", "reviewer") or who.tenant is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the queue is for a clinic's staff")
    states = state or list(WAITING)
    found = deps.consults.queue(who.tenant, states, doctor=who.sub if mine else None)
    for c in found:  # the queue shows each wearer's case: audited per wearer
        deps.record(who, c.device_id, "consultation", "read", f"queue: {c.consult_id}")
    return [_view(c) for c in found]


@routes.get("/wearers/{device_id}/consultations", response_model=list[ConsultView])
def wearer_consultations(device_id: str, who: Caller, deps: Context) -> list[ConsultView]:
    """A wearer's requests (the wearer, and the clinic's staff)."""
    check(deps, who, device_id, "alerts", roles=("wearer", "clinician", "reviewer"), action="read")
    found = deps.consults.of_wearer(device_id)
    deps.record(who, device_id, "consultation", "read", f"{len(found)} requests")
    return [_view(c) for c in found]


@routes.get("/consultations/{consult_id}", response_model=ConsultView)
def read_consultation(consult_id: str, who: Caller, deps: Context) -> ConsultView:
    """One request with its history and the actions its state allows now."""
    c = consultation_for(deps, who, consult_id, "read consultation")
    deps.record(who, c.device_id, "consultation", "read", consult_id)
    return _view(c)


class ActIn(BaseModel):
    reason: str = Field(default="", max_length=1000)
    doctor: str | None = Field(default=None, max_length=200)
    planned_at: dt.datetime | None = None
    mode: Literal["live", "recorded", "both"] | None = None
    diagnosis: str = Field(default="", max_length=5000)
    medical_record: str = Field(default="", max_length=20000)


@routes.post(
    "/consultations/{consult_id}/{action}",
    response_model=ConsultView,
    responses={409: {"description": "the state refuses it; ``allowed`` names what it allows"}},
)
def act_on_consultation(
    consult_id: str,
    action: Literal[ACTIONS],  # type: ignore[valid-type]
    body: ActIn,
    who: Caller,
    deps: Context,
) -> Any:
    """Take a workflow action on the request (``consult_bridge/workflow.py``).

    review, approve, return, resubmit, cancel, change_doctor, unavailable, reschedule,
    start, switch_mode, join, end.
    """
    c = consultation_for(deps, who, consult_id, action)
    act = Act(
        action=action,
        by=_actor(who),
        at=deps.clock(),
        reason=body.reason,
        doctor=body.doctor,
        planned_at=body.planned_at,
        mode=body.mode,
        diagnosis=body.diagnosis,
        medical_record=body.medical_record,
    )
    try:
        stepped = apply(c, act)
    except Refused as refused:
        detail: object = str(refused)
        if refused.status == 422:
            detail = invalid(str(refused), "body")
        return JSONResponse(
            status_code=refused.status,
            content={"detail": detail, "allowed": list(refused.allowed)},
        )
    if action == "end":
        stepped = _with_play_links(deps, stepped, who)
    if not deps.consults.save(stepped.consultation, c.version):
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the request changed meanwhile: read it again"
        )
    _post_notices(deps, stepped)
    deps.record(who, c.device_id, "consultation", action, consult_id)
    return _view(stepped.consultation)


def _with_play_links(deps: Deps, stepped: Stepped, who: Principal) -> Stepped:
    """The report of an ended request with a play link per recording.

    Logged-in audience (those who see the request), for ``REPORT_LINK_TTL``. The links'
    rows are stored before the request is saved: if the save loses a race, nobody holds
    those tokens.
    """
    c = stepped.consultation
    if c.report is None:
        return stepped
    urls = []
    for recording in c.recordings:
        _, token = hand_out_link(
            deps,
            c,
            recording_id=recording.recording_id,
            audience="logged_in",
            ttl=REPORT_LINK_TTL,
            by=who.sub,
        )
        urls.append(f"/v1/play/{token}")
    report = msgspec.structs.replace(c.report, play_links=tuple(urls))
    return Stepped(msgspec.structs.replace(c, report=report), stepped.notices)


def _may_read(deps: Deps, who: Principal, device_id: str, category: Category) -> bool:
    try:
        check(deps, who, device_id, category, roles=READERS, action="read (fhir)")
    except HTTPException:
        return False
    return True


@routes.get("/consultations/{consult_id}/bundle")
def consultation_bundle(consult_id: str, who: Caller, deps: Context) -> dict[str, Any]:
    """The triggering episode as a FHIR R4 Bundle (``collection``).

    The vitals and ECG strips of the 30 minutes before the alert (and 10 after), the
    location trail of the 2 hours before, the alert as a Flag with its ladder's timeline,
    and the request itself (ServiceRequest, and Encounter once its session started).
    For the clinic's staff and the wearer; every category read is audited.
    """
    c = consultation_for(deps, who, consult_id, "read bundle")
    if who.role not in ("clinician", "reviewer", "wearer"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the bundle is for the clinic and the wearer"
        )
    builder = BundleBuilder(c.device_id, deps.clock())
    alert = deps.consults.alert(c.alert_id) if c.alert_id else None
    around = alert.raised_at if alert is not None else c.created_at
    until = around + EPISODE_AFTER
    windows: dict[Category, dt.datetime] = {
        "vitals": around - VITALS_BEFORE,
        "ecg": around - VITALS_BEFORE,
        "location": around - TRAIL_BEFORE,
    }
    for category, since in windows.items():
        if category == "ecg":
            records = deps.health.ecg(c.device_id, since, until, MAX_RECORDS)
        else:
            types = READING_TYPES[category]
            records = deps.health.readings(c.device_id, types, since, until, MAX_RECORDS)
        builder.readings(records)
        deps.record(who, c.device_id, category, "read", f"{len(records)} records for {consult_id}")
    flag = None
    if alert is not None:
        flag = builder.flag(alert)
        ladder = next(
            (
                x
                for x in deps.ladders.ladders_of(c.device_id)
                if x.ladder_id.endswith(f"/{alert.alert_id}")
            ),
            None,
        )
        if ladder is not None:
            builder.timeline([(e.at, e.what, e.detail) for e in ladder.timeline], flag)
    builder.consultation(c, flag)
    return builder.render()


@routes.get("/wearers/{device_id}/fhir")
def export_fhir(
    device_id: str,
    who: Caller,
    deps: Context,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """A wearer's data as a FHIR R4 Bundle: only the categories the caller may see.

    Observations of the readings (vitals, steps, location, ECG), Flags of the alerts,
    and ServiceRequests and Encounters of the consultations (for the wearer and the
    clinic's staff); by default the last 24 hours, at most 31 days.
    """
    until = until or deps.clock()
    since = since or until - dt.timedelta(hours=24)
    if not since < until <= since + dt.timedelta(days=31):
        raise unprocessable("the window must end after it starts, within 31 days", "query")
    # 404 unless the caller sees something of the wearer at all.
    visible = [c for c in CATEGORIES if _may_read(deps, who, device_id, c)]
    if not visible:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such wearer")
    builder = BundleBuilder(device_id, deps.clock())
    for category in visible:
        if category in ("vitals", "steps", "location"):
            records = deps.health.readings(
                device_id, READING_TYPES[category], since, until, MAX_RECORDS
            )
        elif category == "ecg":
            records = deps.health.ecg(device_id, since, until, MAX_RECORDS)
        elif category == "alerts":
            for alert in deps.consults.alerts_of(device_id, since, until):
                builder.flag(alert)
            deps.record(who, device_id, "alerts", "read", "fhir export")
            continue
        else:
            continue  # sleep stages and indices have no FHIR form here yet
        builder.readings(records)
        deps.record(who, device_id, category, "read", f"{len(records)} records, fhir export")
    if who.role in ("wearer", "clinician", "reviewer") and "alerts" in visible:
        for c in deps.consults.of_wearer(device_id):
            builder.consultation(c)
    return builder.render()
