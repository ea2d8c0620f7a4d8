"""A consultation request: a flagged case on its way to a clinician, and what came of it.

The design's consultation workflow (ARCHITECTURE.md, "Consultation bridge and records";
the seeds' remote consultation method): submitted -> pending review -> approved (to be
consulted) or returned with a reason; cancelled with a reason; the consulting doctor
changed; re-issued when the doctor is not available at the planned time; a session live,
recorded or both, switchable; ended with a report. The transitions are
``consult_bridge/workflow.py``; the store ``storage/consultations.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import msgspec

ConsultState = Literal[
    "submitted",  # a flagged case, or a clinician's request, waiting for a reviewer
    "pending_review",  # a reviewer is looking at it
    "returned",  # sent back to the submitter with a reason
    "approved",  # to be consulted: a doctor and a planned time
    "reissued",  # the doctor was not available at the planned time: reschedule
    "in_session",  # the consultation is under way
    "ended",  # closed with a report
    "cancelled",  # withdrawn with a reason
]
CONSULT_STATES: tuple[ConsultState, ...] = get_args(ConsultState)
SessionMode = Literal["live", "recorded", "both"]
Priority = Literal["green", "routine"]  # green: the priority channel for red cases


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of the session that was recorded (the video lives elsewhere)."""

    recording_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """How the consultation ended: the diagnosis, the medical record, the play links."""

    diagnosis: str
    medical_record: str
    play_links: tuple[str, ...] = ()


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One transition in the request's history."""

    at: dt.datetime
    by: str  # who (a user's sub, or "vigil" for the automatic ones)
    action: str
    before: ConsultState | None
    after: ConsultState
    detail: str = ""


class Consultation(msgspec.Struct, frozen=True, kw_only=True):
    """A consultation request of one wearer in one clinic."""

    consult_id: str
    device_id: str
    tenant: str
    state: ConsultState
    priority: Priority
    reason: str  # why it was raised (an alert's summary, or the clinician's words)
    alert_id: str | None = None  # the alert that raised it, when automatic
    alert_ids: tuple[str, ...] = ()  # every alert that flagged it since (re-flags)
    created_at: dt.datetime
    created_by: str
    specialty: str | None = None
    reviewer: str | None = None
    doctor: str | None = None
    planned_at: dt.datetime | None = None
    mode: SessionMode | None = None
    viewers: tuple[str, ...] = ()  # who watches live: user:<sub> or device:<id>
    recordings: tuple[Recording, ...] = ()
    report: Report | None = None
    history: tuple[Step, ...] = ()
    version: int = 0  # bumped by every save: two writers cannot both win


class PlayLink(msgspec.Struct, frozen=True, kw_only=True):
    """A link handed out to one recording (``consult_bridge/play_links.py``)."""

    link_id: str
    consult_id: str
    recording_id: str
    audience: str  # logged_in, registered, anyone
    expires_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
