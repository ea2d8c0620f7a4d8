"""The consultation workflow as an explicit transition table (sans-I/O).

The seeds' consultation method (ARCHITECTURE.md, "Consultation bridge and records"):

============== ================ ==================== ===================================
action         from             to                   who, and what it needs
============== ================ ==================== ===================================
review         submitted        pending_review       a reviewer takes the case
approve        pending_review   approved             a reviewer: the doctor, planned time
return         pending_review   returned             a reviewer: a reason
resubmit       returned         submitted            a clinician, after the changes asked
cancel         submitted,       cancelled            the wearer, a clinician or a
               pending_review,                       reviewer: a reason
               returned,
               reissued
change_doctor  approved         approved             a reviewer: another doctor (both
                                                     doctors are told)
unavailable    approved         reissued             the doctor, a reviewer, or Vigil
                                                     when the planned time passed with
                                                     no session: a reason
reschedule     reissued         approved             a reviewer: a new time, and another
                                                     doctor if need be
start          approved         in_session           the doctor: the mode (live,
                                                     recorded, both)
switch_mode    in_session       in_session           the doctor: another mode; live to
                                                     recorded ends the live viewers'
                                                     session, both keeps them
join           in_session       in_session           the wearer, family, clinicians:
                                                     only while it is live
end            in_session       ended                the doctor: diagnosis and record
============== ================ ==================== ===================================

``apply`` returns the new request and the notices owed to everyone concerned (the
submitter, the reviewer, the doctor and the doctor replaced, the wearer, live viewers),
never to the one who acted. An action the state does not allow is refused with 409 and
the actions it does allow; a caller who may not take it with 403; a missing field 422.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from schemas.consultation import (
    Consultation,
    ConsultState,
    Recording,
    Report,
    SessionMode,
    Step,
)

#: The actor of automatic transitions (a flagged case raised, a planned time missed).
SYSTEM = "vigil"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts: a user's sub and role (``system`` for Vigil itself)."""

    sub: str
    role: str
    name: str = ""
    device: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.sub


class Act(msgspec.Struct, frozen=True, kw_only=True):
    """An action on a request, with what it carries."""

    action: str
    by: Actor
    at: dt.datetime
    reason: str = ""
    doctor: str | None = None
    planned_at: dt.datetime | None = None
    mode: SessionMode | None = None
    diagnosis: str = ""
    medical_record: str = ""


class Refused(Exception):  # noqa: N818 - named for what happened to the action
    """An action refused: ``status`` 409 (state), 403 (who) or 422 (what it lacks)."""

    def __init__(self, status: int, message: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.allowed = allowed


class Notice(msgspec.Struct, frozen=True):
    """A message owed to one recipient (``user:<sub>`` or ``device:<id>``)."""

    recipient: str
    text: str


class Stepped(msgspec.Struct, frozen=True):
    """The request after an action, and whom to tell what."""

    consultation: Consultation
    notices: tuple[Notice, ...]


class Rule(msgspec.Struct, frozen=True):
    sources: tuple[ConsultState, ...]
    target: ConsultState | None  # None: the state stays
    roles: tuple[str, ...]  # "doctor": only the doctor the request is assigned to


RULES: dict[str, Rule] = {
    "review": Rule(("submitted",), "pending_review", ("reviewer",)),
    "approve": Rule(("pending_review",), "approved", ("reviewer",)),
    "return": Rule(("pending_review",), "returned", ("reviewer",)),
    "resubmit": Rule(("returned",), "submitted", ("clinician",)),
    "cancel": Rule(
        ("submitted", "pending_review", "returned", "reissued"),
        "cancelled",
        ("wearer", "clinician", "reviewer"),
    ),
    "change_doctor": Rule(("approved",), None, ("reviewer",)),
    "unavailable": Rule(("approved",), "reissued", ("doctor", "reviewer", "system")),
    "reschedule": Rule(("reissued",), "approved", ("reviewer",)),
    "start": Rule(("approved",), "in_session", ("doctor",)),
    "switch_mode": Rule(("in_session",), None, ("doctor",)),
    "join": Rule(("in_session",), None, ("wearer", "family", "clinician", "reviewer")),
    "end": Rule(("in_session",), "ended", ("doctor",)),
}
ACTIONS = tuple(RULES)


def allowed_actions(state: ConsultState) -> tuple[str, ...]:
    """The actions the table allows from ``state``, in the table's order."""
    return tuple(name for name, rule in RULES.items() if state in rule.sources)


def _may(rule: Rule, consult: Consultation, by: Actor) -> bool:
    if "doctor" in rule.roles and by.role == "clinician" and by.sub == consult.doctor:
        return True
    return by.role in rule.roles


def _need(condition: object, what: str) -> None:
    if not condition:
        raise Refused(422, what)


def _time(at: dt.datetime) -> str:
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def raise_request(
    *,
    device_id: str,
    tenant: str,
    reason: str,
    by: Actor,
    at: dt.datetime,
    red: bool = False,
    alert_id: str | None = None,
    specialty: str | None = None,
) -> Stepped:
    """A new request, submitted: by a clinician's click, or by Vigil from a flagged case.

    Red cases go by the priority (green) channel: first in every queue.
    """
    consult = Consultation(
        consult_id=uuid.uuid4().hex,
        device_id=device_id,
        tenant=tenant,
        state="submitted",
        priority="green" if red else "routine",
        reason=reason,
        alert_id=alert_id,
        alert_ids=() if alert_id is None else (alert_id,),
        created_at=at,
        created_by=by.sub,
        specialty=specialty,
        history=(
            Step(at=at, by=by.sub, action="submit", before=None, after="submitted", detail=reason),
        ),
    )
    told = (Notice(f"device:{device_id}", f"A consultation was requested for you: {reason}"),)
    return Stepped(consult, told if by.role != "wearer" else ())


def reflag(
    consult: Consultation, *, alert_id: str, reason: str, red: bool, at: dt.datetime
) -> Stepped | None:
    """Another flagged alert for a wearer whose request is still open: the same request.

    One open request per wearer: the alert joins its history (a red one moves it to the
    green channel) and those concerned are told. None when the alert is already in it.
    """
    if alert_id in consult.alert_ids:
        return None
    step = Step(
        at=at, by=SYSTEM, action="flagged", before=consult.state, after=consult.state, detail=reason
    )
    new = msgspec.structs.replace(
        consult,
        priority="green" if red else consult.priority,
        alert_ids=(*consult.alert_ids, alert_id),
        history=(*consult.history, step),
        version=consult.version + 1,
    )
    return Stepped(new, tuple(_tell(_concerned(new), f"Flagged again: {reason}")))


def apply(consult: Consultation, act: Act) -> Stepped:
    """The request after ``act``; ``Refused`` if the table or the rules do not allow it."""
    rule = RULES.get(act.action)
    if rule is None:
        raise Refused(422, f"unknown action {act.action!r}", allowed_actions(consult.state))
    if consult.state not in rule.sources:
        allowed = allowed_actions(consult.state)
        raise Refused(
            409,
            f"cannot {act.action} a request that is {consult.state}; "
            f"allowed: {', '.join(allowed) or 'nothing (it is closed)'}",
            allowed,
        )
    if not _may(rule, consult, act.by):
        whom = "the assigned doctor" if "doctor" in rule.roles else "a " + " or ".join(rule.roles)
        raise Refused(403, f"only {whom} may {act.action} this request")
    changed, detail, messages = _ACTIONS[act.action](consult, act)
    after = rule.target or consult.state
    step = Step(
        at=act.at,
        by=act.by.sub,
        action=act.action,
        before=consult.state,
        after=after,
        detail=detail,
    )
    new = msgspec.structs.replace(
        changed, state=after, history=(*consult.history, step), version=consult.version + 1
    )
    return Stepped(new, tuple(n for n in messages if n.recipient != _key(act.by)))


def _key(actor: Actor) -> str:
    return f"device:{actor.device}" if actor.role == "wearer" else f"user:{actor.sub}"


def _concerned(consult: Consultation, *extra: str | None) -> list[str]:
    """The submitter, the reviewer, the doctor (and ``extra`` users), and the wearer."""
    users = [consult.created_by, consult.reviewer, consult.doctor, *extra]
    keys = [f"user:{u}" for u in dict.fromkeys(users) if u and u != SYSTEM]
    return [*keys, f"device:{consult.device_id}"]


def _tell(keys: list[str], text: str) -> list[Notice]:
    return [Notice(k, text) for k in keys]


_Outcome = tuple[Consultation, str, list[Notice]]


def _review(c: Consultation, act: Act) -> _Outcome:
    changed = msgspec.structs.replace(c, reviewer=act.by.sub)
    return (
        changed,
        "",
        _tell(
            _concerned(changed), f"Your consultation request is in review ({act.by.display_name})."
        ),
    )


def _approve(c: Consultation, act: Act) -> _Outcome:
    _need(act.doctor, "approving needs the consulting doctor")
    _need(act.planned_at, "approving needs the planned time")
    assert act.planned_at is not None  # noqa: S101 - checked above, for the type checker
    changed = msgspec.structs.replace(c, doctor=act.doctor, planned_at=act.planned_at)
    text = f"Consultation approved: {act.doctor} at {_time(act.planned_at)}."
    return changed, f"{act.doctor} at {_time(act.planned_at)}", _tell(_concerned(changed), text)


def _return(c: Consultation, act: Act) -> _Outcome:
    _need(act.reason.strip(), "returning needs a reason")
    text = f"Consultation request returned: {act.reason}"
    return c, act.reason, _tell(_concerned(c), text)


def _resubmit(c: Consultation, act: Act) -> _Outcome:
    return c, act.reason, _tell(_concerned(c), "Consultation request submitted again.")


def _cancel(c: Consultation, act: Act) -> _Outcome:
    _need(act.reason.strip(), "cancelling needs a reason")
    text = f"Consultation cancelled by {act.by.display_name}: {act.reason}"
    return c, act.reason, _tell(_concerned(c), text)


def _change_doctor(c: Consultation, act: Act) -> _Outcome:
    _need(act.doctor, "changing the doctor needs the new doctor")
    _need(act.doctor != c.doctor, f"{act.doctor} is already the consulting doctor")
    old = c.doctor
    changed = msgspec.structs.replace(c, doctor=act.doctor)
    when = _time(c.planned_at) if c.planned_at else "the planned time"
    told = _tell(
        _concerned(changed, old),
        f"The consulting doctor is now {act.doctor} (was {old}), at {when}.",
    )
    return changed, f"{old} -> {act.doctor}", told


def _unavailable(c: Consultation, act: Act) -> _Outcome:
    _need(act.reason.strip(), "saying the doctor is unavailable needs a reason")
    text = f"{c.doctor} is not available as planned ({act.reason}): to be rescheduled."
    return c, act.reason, _tell(_concerned(c), text)


def _reschedule(c: Consultation, act: Act) -> _Outcome:
    _need(act.planned_at, "rescheduling needs a new planned time")
    assert act.planned_at is not None  # noqa: S101 - checked above, for the type checker
    doctor = act.doctor or c.doctor
    changed = msgspec.structs.replace(c, doctor=doctor, planned_at=act.planned_at)
    text = f"Consultation rescheduled: {doctor} at {_time(act.planned_at)}."
    return (
        changed,
        f"{doctor} at {_time(act.planned_at)}",
        _tell(_concerned(changed, c.doctor), text),
    )


def _recording_switch(c: Consultation, mode: SessionMode, at: dt.datetime) -> tuple[Recording, ...]:
    """Open a recording when the mode records and none is open; close it when it stops."""
    records = mode in ("recorded", "both")
    recordings = list(c.recordings)
    open_one = recordings and recordings[-1].ended_at is None
    if records and not open_one:
        recordings.append(Recording(recording_id=uuid.uuid4().hex, started_at=at))
    if not records and open_one:
        recordings[-1] = msgspec.structs.replace(recordings[-1], ended_at=at)
    return tuple(recordings)


def _start(c: Consultation, act: Act) -> _Outcome:
    _need(act.mode, "starting needs the mode: live, recorded or both")
    assert act.mode is not None  # noqa: S101 - checked above, for the type checker
    changed = msgspec.structs.replace(
        c, mode=act.mode, recordings=_recording_switch(c, act.mode, act.at)
    )
    return changed, act.mode, _tell(_concerned(c), f"The consultation has started ({act.mode}).")


def _switch_mode(c: Consultation, act: Act) -> _Outcome:
    _need(act.mode, "switching needs the new mode: live, recorded or both")
    _need(act.mode != c.mode, f"the session is already {act.mode}")
    assert act.mode is not None  # noqa: S101 - checked above, for the type checker
    viewers = c.viewers
    told = _tell(_concerned(c), f"The consultation continues {act.mode}.")
    if act.mode == "recorded" and viewers:
        # Live to recorded ends the live viewers' session; "both" keeps them.
        ended = "The live session has ended: the consultation continues as a recording."
        told += [Notice(v, ended) for v in viewers]
        viewers = ()
    changed = msgspec.structs.replace(
        c, mode=act.mode, viewers=viewers, recordings=_recording_switch(c, act.mode, act.at)
    )
    return changed, f"{c.mode} -> {act.mode}", told


def _join(c: Consultation, act: Act) -> _Outcome:
    _need(c.mode in ("live", "both"), "the session is not live: nothing to watch now")
    viewers = tuple(dict.fromkeys((*c.viewers, _key(act.by))))
    changed = msgspec.structs.replace(c, viewers=viewers)
    return changed, "", []


def _end(c: Consultation, act: Act) -> _Outcome:
    _need(act.diagnosis.strip(), "ending needs the diagnosis")
    _need(act.medical_record.strip(), "ending needs the medical record")
    recordings = list(c.recordings)
    if recordings and recordings[-1].ended_at is None:
        recordings[-1] = msgspec.structs.replace(recordings[-1], ended_at=act.at)
    report = Report(diagnosis=act.diagnosis, medical_record=act.medical_record)
    changed = msgspec.structs.replace(c, viewers=(), recordings=tuple(recordings), report=report)
    text = "The consultation has ended; its report is ready."
    return changed, "", _tell(_concerned(c), text)


_ACTIONS = {
    "review": _review,
    "approve": _approve,
    "return": _return,
    "resubmit": _resubmit,
    "cancel": _cancel,
    "change_doctor": _change_doctor,
    "unavailable": _unavailable,
    "reschedule": _reschedule,
    "start": _start,
    "switch_mode": _switch_mode,
    "join": _join,
    "end": _end,
}


def overdue(consult: Consultation, now: dt.datetime, grace_s: float) -> Act | None:
    """The automatic ``unavailable`` for an approved request whose doctor did not start.

    The doctor's planned versus actual availability: ``grace_s`` after the planned time
    with no session, Vigil re-issues the request for rescheduling or another doctor.
    """
    if consult.state != "approved" or consult.planned_at is None:
        return None
    if now < consult.planned_at + dt.timedelta(seconds=grace_s):
        return None
    missed = f"no session {grace_s / 60:g} min after the planned time"
    return Act(action="unavailable", by=Actor(sub=SYSTEM, role="system"), at=now, reason=missed)
