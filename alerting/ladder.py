"""The alert ladder as a pure state machine: events in, a new state and actions out.

From the design (ARCHITECTURE.md, "Alert ladder", from the seeds) and issue 5:

* yellow: the wearer is reminded on the band (vibration and voice) and the app; the
  emergency contacts too if the wearer agreed to share (``share_with_contacts``);
* orange, and a geofence breach: the emergency contacts are told by SMS; the ladder
  then stays open until someone acknowledges, the alert ends, or it turns red;
* red, an SOS held >= 3 s, a fall without movement: each emergency contact in the
  order the wearer listed, then the other contacts ranked by closeness
  (``alerting/closeness.py``), gets an SMS and a call asking to press 1; a contact who
  does not confirm within ``call_timeout_s`` (no answer, busy, voicemail, a call
  answered but not confirmed) passes the turn to the next; after the last one the
  region's emergency number is called with a spoken summary and sent the location by
  SMS, up to ``services_attempts`` times.

Orange and red start with a grace period in which the wearer can cancel from the band
(a device command tells the wearer so). An acknowledgement (a confirmed call, an SMS
reply, the API) stops the ladder and tells the others already told that someone is
on it; a cancel (the wearer on the band, a contact replying "false alarm", the API)
sends everyone already told a stand-down. An alert that ends (resolved, retracted
after late data) closes its ladder with an all-clear to those told.

One ladder per wearer and cause (``ladder_key``): a new alert of the same cause
updates the open ladder; if its level is higher the ladder climbs (orange to red goes
straight to the calls, without a second grace period), otherwise it is only recorded.

The allowed phase changes are the table ``TRANSITIONS``; ``step`` refuses any other
(a bug, never a silent jump). Each action carries a key unique within its ladder and
derived from the ladder's own count of actions, so a driver that writes the new state
and its actions together before any I/O (an outbox) can resume after a crash without
sending anything twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from alerting.closeness import Ranked
from alerting.contacts import Contact, Directory, Language
from schemas import Alert, AlertLevel

Phase = Literal[
    "grace",  # the wearer may still cancel from the band
    "calling",  # contacts in turn, then the emergency services
    "open",  # told by SMS; waiting for someone to acknowledge
    "reminded",  # a reminder to the wearer: nothing more to do
    "acknowledged",
    "cancelled",
    "handed_over",  # the emergency services answered
    "exhausted",  # nobody could be reached
    "closed",  # the alert ended (resolved or retracted)
]
FINAL: frozenset[Phase] = frozenset(
    {"reminded", "acknowledged", "cancelled", "handed_over", "exhausted", "closed"}
)
EventKind = Literal["deadline", "call_ended", "send_failed", "ack", "cancel", "raised", "ended"]

# Where each event may take a ladder from each phase, besides staying where it is
# (absent: the event changes nothing).
TRANSITIONS: Mapping[tuple[Phase, EventKind], frozenset[Phase]] = {
    ("grace", "deadline"): frozenset({"calling", "open", "exhausted"}),
    ("grace", "cancel"): frozenset({"cancelled"}),
    ("grace", "ack"): frozenset({"acknowledged"}),
    ("grace", "raised"): frozenset({"grace"}),
    ("grace", "ended"): frozenset({"closed"}),
    ("calling", "deadline"): frozenset({"calling", "handed_over", "exhausted"}),
    ("calling", "call_ended"): frozenset({"calling", "acknowledged", "handed_over", "exhausted"}),
    ("calling", "send_failed"): frozenset({"calling", "exhausted"}),
    ("calling", "ack"): frozenset({"acknowledged"}),
    ("calling", "cancel"): frozenset({"cancelled"}),
    ("calling", "raised"): frozenset({"calling"}),
    ("calling", "ended"): frozenset({"closed"}),
    ("open", "send_failed"): frozenset({"open"}),
    ("open", "ack"): frozenset({"acknowledged"}),
    ("open", "cancel"): frozenset({"cancelled"}),
    ("open", "raised"): frozenset({"open", "calling", "exhausted"}),
    ("open", "ended"): frozenset({"closed"}),
}


OPTED_OUT = 21610  # Twilio: the number replied STOP; a STOP skips to the next contact


class IllegalTransitionError(RuntimeError):
    """A step tried a phase change the table does not allow (a bug in this module)."""


class LadderPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Per-wearer timing of the ladder (defaults for everyone else)."""

    grace_s: float = 30.0  # orange and red: the wearer may cancel from the band meanwhile
    call_timeout_s: float = 90.0  # per contact: ringing, listening, pressing 1
    close_contacts: int = 3  # at most this many ranked contacts after the emergency ones
    services_attempts: int = 3
    services_timeout_s: float = 120.0
    tell_others_on_ack: bool = True
    # After a ladder is acknowledged or cancelled, the same cause at the same level or
    # lower opens no new one for this long (it is noted in the ended ladder); red, SOS
    # and falls always do (``in_cooldown``).
    cooldown_s: float = 900.0


# -- actions (what a driver performs) ------------------------------------------------


class SendSms(msgspec.Struct, frozen=True, kw_only=True, tag="sms"):
    key: str
    to: str
    template: str
    language: Language
    params: dict[str, str]


class PlaceCall(msgspec.Struct, frozen=True, kw_only=True, tag="call"):
    """A voice call reading ``template``; ``confirm``: ask the callee to press 1."""

    key: str
    to: str
    template: str
    language: Language
    params: dict[str, str]
    confirm: bool = True


class DeviceCommand(msgspec.Struct, frozen=True, kw_only=True, tag="device"):
    """Vibrate the band and speak ``template`` (and show it in the app)."""

    key: str
    device_id: str
    template: str
    language: Language
    params: dict[str, str]


Action = SendSms | PlaceCall | DeviceCommand


# -- events (what happened) ----------------------------------------------------------


class Deadline(msgspec.Struct, frozen=True, kw_only=True, tag="deadline"):
    """Time passed (a timer fired); acts only once the ladder's deadline is reached."""

    at: dt.datetime


class CallEnded(msgspec.Struct, frozen=True, kw_only=True, tag="call_ended"):
    """A call's final status; ``confirmed``: the callee pressed 1."""

    at: dt.datetime
    key: str
    status: str  # Twilio's: completed, busy, no-answer, failed, canceled
    answered_by: str | None = None  # "human", "machine_start", ... when detected
    confirmed: bool = False


class SendFailed(msgspec.Struct, frozen=True, kw_only=True, tag="send_failed"):
    """A message or call the provider refused for good (e.g. 21610: the number sent STOP).

    ``action``: the action that failed, when the driver knows it (from its outbox).
    """

    at: dt.datetime
    key: str
    code: int | None = None
    reason: str = ""
    action: Action | None = None


class Acknowledged(msgspec.Struct, frozen=True, kw_only=True, tag="ack"):
    at: dt.datetime
    by: str  # a contact id, a user, or a phone number
    via: Literal["call", "sms", "api"]


class Cancelled(msgspec.Struct, frozen=True, kw_only=True, tag="cancel"):
    at: dt.datetime
    by: str
    via: Literal["device", "sms", "api"]


class Raised(msgspec.Struct, frozen=True, kw_only=True, tag="raised"):
    """Another alert of the ladder's cause."""

    at: dt.datetime
    alert: Alert


class Ended(msgspec.Struct, frozen=True, kw_only=True, tag="ended"):
    """The alert's condition ended (``change`` resolved) or was retracted."""

    at: dt.datetime
    alert: Alert


Event = Deadline | CallEnded | SendFailed | Acknowledged | Cancelled | Raised | Ended


# -- state ---------------------------------------------------------------------------


class Rung(msgspec.Struct, frozen=True, kw_only=True):
    """One person (or the emergency services) the red ladder calls in turn."""

    kind: Literal["contact", "services"]
    name: str
    phone: str
    language: Language
    why: str  # "emergency contact 1", the closeness sentence, "emergency services"


class Told(msgspec.Struct, frozen=True, kw_only=True):
    phone: str
    language: Language


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the ladder's timeline."""

    at: dt.datetime
    what: str
    detail: str = ""


class Ladder(msgspec.Struct, frozen=True, kw_only=True):
    """One open (or finished) ladder: a wearer, a cause, and how far it got."""

    ladder_id: str
    device_id: str
    cause: str
    level: AlertLevel
    alert_ids: tuple[str, ...]
    summary: str
    phase: Phase
    opened_at: dt.datetime
    deadline: dt.datetime | None = None
    rungs: tuple[Rung, ...] = ()
    rung: int = 0  # the rung being tried
    attempt: int = 0  # services attempts made
    waiting_for: str | None = None  # the key of the call the current rung waits for
    rung_sms: str | None = None  # the key of the current rung's SMS
    told: tuple[Told, ...] = ()
    actions_made: int = 0
    timeline: tuple[Entry, ...] = ()
    wearer_name: str = ""
    language: Language = "en"
    services_params: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        """Whether the ladder may still act."""
        return self.phase not in FINAL


class Stepped(msgspec.Struct, frozen=True, kw_only=True):
    ladder: Ladder
    actions: tuple[Action, ...] = ()


def ladder_key(alert: Alert) -> str:
    """The wearer and cause an alert belongs to: one open ladder per key.

    A geofence alert's cause is its fence (``alert_id`` ends with ``:<fence id>``).
    """
    cause = alert.source
    if alert.source == "geofence" and ":" in alert.alert_id:
        cause = f"geofence:{alert.alert_id.rsplit(':', 1)[1]}"
    return f"{alert.device_id}/{cause}"


NEVER_COOLED = frozenset({"sos", "fall"})  # sources that always open a ladder


def in_cooldown(alert: Alert, last: Ladder | None, policy: LadderPolicy, now: dt.datetime) -> bool:
    """Whether ``alert`` only repeats what ``last`` (its cause's ended ladder) was about.

    Only after someone took it in hand (acknowledged) or called it a false alarm
    (cancelled): a ladder that ended because the condition passed, or that reached
    nobody, is no reason to stay quiet. The safety floors: a red alert, an SOS and a
    fall are never held back, and a level above the last ladder's is news.
    """
    if last is None or last.phase not in ("acknowledged", "cancelled"):
        return False
    if alert.level is AlertLevel.RED or alert.source in NEVER_COOLED:
        return False
    ended = last.timeline[-1].at if last.timeline else last.opened_at
    return alert.level <= last.level and (now - ended).total_seconds() < policy.cooldown_s


def ladder_id_of(action_key: str) -> str:
    """The ladder an action belongs to (its key is ``<ladder id>/<n>``)."""
    return action_key.rsplit("/", 1)[0]


def ladder_key_of(ladder: Ladder) -> str:
    """The ``ladder_key`` of the alerts a ladder was opened for."""
    return f"{ladder.device_id}/{ladder.cause}"


# -- the machine -----------------------------------------------------------------------


class _Run:
    """One step's working copy: the state so far and the actions it made."""

    def __init__(self, ladder: Ladder) -> None:
        self.s = ladder
        self.actions: list[Action] = []

    def set(self, **changes: object) -> None:
        self.s = msgspec.structs.replace(self.s, **changes)

    def note(self, at: dt.datetime, what: str, detail: str = "") -> None:
        self.set(timeline=(*self.s.timeline, Entry(at=at, what=what, detail=detail)))

    def key(self) -> str:
        self.set(actions_made=self.s.actions_made + 1)
        return f"{self.s.ladder_id}/{self.s.actions_made}"

    def told(self, phone: str, language: Language) -> None:
        if all(t.phone != phone for t in self.s.told):
            self.set(told=(*self.s.told, Told(phone=phone, language=language)))

    def params(self) -> dict[str, str]:
        return {
            "wearer": self.s.wearer_name,
            "summary": self.s.summary,
            "level": self.s.level.label,
        }

    def sms(self, to: str, language: Language, template: str, **extra: str) -> str:
        key = self.key()
        params = {**self.params(), **extra}
        self.actions.append(
            SendSms(key=key, to=to, template=template, language=language, params=params)
        )
        self.told(to, language)
        return key

    def call(self, to: str, language: Language, template: str, **extra: str) -> str:
        key = self.key()
        params = {**self.params(), **extra}
        self.actions.append(
            PlaceCall(key=key, to=to, template=template, language=language, params=params)
        )
        self.told(to, language)
        return key

    def device(self, template: str) -> None:
        self.actions.append(
            DeviceCommand(
                key=self.key(),
                device_id=self.s.device_id,
                template=template,
                language=self.s.language,
                params=self.params(),
            )
        )

    def tell_all(self, template: str, *, except_phone: str | None = None, **extra: str) -> None:
        for t in self.s.told:
            if t.phone != except_phone:
                self.sms(t.phone, t.language, template, **extra)


def plan_rungs(
    directory: Directory, ranked: Sequence[Ranked], policy: LadderPolicy
) -> tuple[Rung, ...]:
    """Who the red ladder calls, in order: emergency contacts, closest others, services."""
    rungs = [
        Rung(
            kind="contact",
            name=c.name,
            phone=c.phone,
            language=c.language,
            why=f"emergency contact {i}",
        )
        for i, c in enumerate(directory.emergency_contacts, start=1)
    ]
    listed = {r.phone for r in rungs}
    others = [r for r in ranked if not r.contact.emergency and r.contact.phone not in listed]
    rungs += [
        Rung(
            kind="contact",
            name=r.contact.name,
            phone=r.contact.phone,
            language=r.contact.language,
            why=f"close contact: {r.why}",
        )
        for r in others[: policy.close_contacts]
    ]
    if directory.emergency_services is not None:
        rungs.append(
            Rung(
                kind="services",
                name="emergency services",
                phone=directory.emergency_services,
                language=directory.language,
                why="nobody else confirmed",
            )
        )
    return tuple(rungs)


def _is_calling_level(alert: Alert) -> bool:
    return alert.level is AlertLevel.RED


def open_ladder(
    alert: Alert,
    directory: Directory,
    ranked: Sequence[Ranked],
    policy: LadderPolicy,
    *,
    now: dt.datetime,
) -> Stepped:
    """A new ladder for ``alert`` and its first actions (none open for its key)."""
    wearer_phone = directory.wearer_phone or ""
    ladder = Ladder(
        ladder_id=f"{ladder_key(alert)}/{alert.alert_id}",
        device_id=alert.device_id,
        cause=ladder_key(alert).split("/", 1)[1],
        level=alert.level,
        alert_ids=(alert.alert_id,),
        summary=alert.summary,
        phase="grace",
        opened_at=now,
        rungs=plan_rungs(directory, ranked, policy),
        wearer_name=directory.wearer_name,
        language=directory.language,
        services_params={"callback": wearer_phone, "medical": directory.medical},
    )
    run = _Run(ladder)
    run.note(now, "opened", f"{alert.level.label}: {alert.summary}")
    if alert.level <= AlertLevel.YELLOW:
        run.device("reminder")
        if alert.share_with_contacts:
            for c in directory.emergency_contacts:
                run.sms(c.phone, c.language, "reminder_shared")
        run.set(phase="reminded")
        run.note(now, "reminded", "the wearer" + (" and contacts" if run.s.told else ""))
        return Stepped(ladder=run.s, actions=tuple(run.actions))
    if policy.grace_s > 0:
        run.device("grace")
        run.set(deadline=now + dt.timedelta(seconds=policy.grace_s))
        run.note(now, "grace", f"the wearer may cancel for {policy.grace_s:.0f} s")
        return Stepped(ladder=run.s, actions=tuple(run.actions))
    _after_grace(run, directory.emergency_contacts, policy, now)
    return Stepped(ladder=run.s, actions=tuple(run.actions))


def remind(
    key: str,
    device_id: str,
    kind: str,
    note_text: str,
    directory: Directory,
    *,
    now: dt.datetime,
) -> Stepped:
    """A scheduled reminder (``alerting/reminders.py``) as a finished one-step ladder.

    One command to the band (``reminder_<kind>``, with the wearer's note if any), and
    nothing else: it is the wearer's own routine, not an alert. Kept as a ladder so it
    goes through the same outbox (written before it is sent, sent once).
    """
    ladder = Ladder(
        ladder_id=f"{device_id}/reminder:{kind}/{key}",
        device_id=device_id,
        cause=f"reminder:{kind}",
        level=AlertLevel.NONE,
        alert_ids=(key,),
        summary=f"{kind} reminder",
        phase="reminded",
        opened_at=now,
        wearer_name=directory.wearer_name,
        language=directory.language,
    )
    run = _Run(ladder)
    template = f"reminder_{kind}" + ("_note" if note_text else "")
    run.actions.append(
        DeviceCommand(
            key=run.key(),
            device_id=device_id,
            template=template,
            language=directory.language,
            params={"wearer": directory.wearer_name, "note": note_text},
        )
    )
    run.note(now, "reminded", f"{kind}, scheduled")
    return Stepped(ladder=run.s, actions=tuple(run.actions))


def _after_grace(
    run: _Run, sms_to: Sequence[Contact], policy: LadderPolicy, now: dt.datetime
) -> None:
    if run.s.level is AlertLevel.RED:
        run.set(phase="calling", rung=0)
        _try_rung(run, policy, now)
        return
    for c in sms_to:
        run.sms(c.phone, c.language, "alert_sms")
    run.set(phase="open", deadline=None)
    run.note(now, "told", f"{len(sms_to)} emergency contacts by SMS")


def _try_rung(run: _Run, policy: LadderPolicy, now: dt.datetime) -> None:
    """Call the current rung (or finish when none is left)."""
    s = run.s
    if s.rung >= len(s.rungs):
        run.set(phase="exhausted", deadline=None, waiting_for=None, rung_sms=None)
        run.note(now, "exhausted", "nobody confirmed and no emergency number is left")
        return
    rung = s.rungs[s.rung]
    if rung.kind == "services":
        run.set(attempt=s.attempt + 1)
        extra = s.services_params
        sms = run.sms(rung.phone, rung.language, "services_sms", **extra)
        key = run.call(rung.phone, rung.language, "services_call", **extra)
        timeout = policy.services_timeout_s
        detail = f"attempt {run.s.attempt} of {policy.services_attempts}"
    else:
        sms = run.sms(rung.phone, rung.language, "alarm_sms")
        key = run.call(rung.phone, rung.language, "alarm_call")
        timeout = policy.call_timeout_s
        detail = rung.why
    run.set(waiting_for=key, rung_sms=sms, deadline=now + dt.timedelta(seconds=timeout))
    run.note(now, f"calling {rung.name}", detail)


def _next_rung(run: _Run, policy: LadderPolicy, now: dt.datetime, why: str) -> None:
    s = run.s
    rung = s.rungs[s.rung]
    run.note(now, f"no confirmation from {rung.name}", why)
    if rung.kind == "services" and s.attempt < policy.services_attempts:
        _try_rung(run, policy, now)  # the same number again
        return
    run.set(rung=s.rung + 1, attempt=0)
    _try_rung(run, policy, now)


def step(
    ladder: Ladder,
    event: Event,
    policy: LadderPolicy,
    *,
    sms_to: Sequence[Contact] = (),
) -> Stepped:
    """The ladder after ``event``, and the actions to perform.

    ``sms_to`` is who an orange ladder tells when its grace period ends (the wearer's
    emergency contacts, read at that time).
    """
    kind: EventKind = event.__struct_config__.tag  # type: ignore[assignment]
    allowed = TRANSITIONS.get((ladder.phase, kind))
    if allowed is None:
        return Stepped(ladder=_noted_late(ladder, event))
    run = _Run(ladder)
    _apply(run, event, policy, sms_to)
    if run.s.phase != ladder.phase and run.s.phase not in allowed:
        raise IllegalTransitionError(f"{ladder.phase} -> {run.s.phase} on {kind}")
    return Stepped(ladder=run.s, actions=tuple(run.actions))


def note(ladder: Ladder, at: dt.datetime, what: str, detail: str = "") -> Ladder:
    """The ladder with one more line in its timeline (and nothing else changed)."""
    entry = Entry(at=at, what=what, detail=detail)
    return msgspec.structs.replace(ladder, timeline=(*ladder.timeline, entry))


def _noted_late(ladder: Ladder, event: Event) -> Ladder:
    """An event a finished ladder cannot act on, kept in its timeline (e.g. a late ack)."""
    if isinstance(event, Acknowledged):
        run = _Run(ladder)
        run.note(event.at, "acknowledged (after the ladder ended)", f"{event.by} via {event.via}")
        return run.s
    return ladder


def _apply(run: _Run, event: Event, policy: LadderPolicy, sms_to: Sequence[Contact]) -> None:
    if isinstance(event, Deadline):
        _on_deadline(run, event, policy, sms_to)
    elif isinstance(event, CallEnded):
        _on_call_ended(run, event, policy)
    elif isinstance(event, SendFailed):
        _on_send_failed(run, event, policy)
    elif isinstance(event, Acknowledged):
        run.set(phase="acknowledged", deadline=None, waiting_for=None)
        run.note(event.at, "acknowledged", f"{event.by} via {event.via}")
        if policy.tell_others_on_ack:
            run.tell_all("handled", except_phone=event.by, by=event.by)
    elif isinstance(event, Cancelled):
        run.set(phase="cancelled", deadline=None, waiting_for=None)
        run.note(event.at, "cancelled", f"{event.by} via {event.via}")
        run.tell_all("stand_down", except_phone=event.by)
    elif isinstance(event, Raised):
        _raised(run, event, policy)
    else:
        run.set(phase="closed", deadline=None, waiting_for=None)
        what = "retracted" if event.alert.change == "retracted" else "resolved"
        run.note(event.at, what, event.alert.summary)
        run.tell_all("all_clear", what=what, summary=event.alert.summary)


def _on_deadline(
    run: _Run, event: Deadline, policy: LadderPolicy, sms_to: Sequence[Contact]
) -> None:
    s = run.s
    if s.deadline is None or event.at < s.deadline:
        return
    if s.phase == "grace":
        run.note(event.at, "grace ended", "not cancelled on the band")
        _after_grace(run, sms_to, policy, event.at)
    else:
        _next_rung(run, policy, event.at, "timed out")


def _on_call_ended(run: _Run, event: CallEnded, policy: LadderPolicy) -> None:
    s = run.s
    if event.key != s.waiting_for:
        return  # an earlier rung's call ending late: its turn has passed
    rung = s.rungs[s.rung]
    human = event.answered_by in (None, "human", "unknown")
    if rung.kind == "services" and event.status == "completed" and human:
        run.set(phase="handed_over", deadline=None, waiting_for=None)
        run.note(event.at, "handed over", "the emergency services answered")
    elif event.confirmed and event.status == "completed":
        run.set(phase="acknowledged", deadline=None, waiting_for=None)
        run.note(event.at, "acknowledged", f"{rung.name} pressed 1")
        if policy.tell_others_on_ack:
            run.tell_all("handled", except_phone=rung.phone, by=rung.name)
    else:
        answered = f", answered by {event.answered_by}" if event.answered_by else ""
        _next_rung(run, policy, event.at, f"call {event.status}{answered}")


def _on_send_failed(run: _Run, event: SendFailed, policy: LadderPolicy) -> None:
    s = run.s
    if s.phase == "open":
        _other_channel(run, event)
        return
    if s.phase != "calling" or s.rung >= len(s.rungs):
        return
    rung = s.rungs[s.rung]
    opted_out = event.key == s.rung_sms and event.code == OPTED_OUT
    if event.key == s.waiting_for or opted_out:
        detail = f"error {event.code}" if event.code is not None else event.reason
        _next_rung(run, policy, event.at, f"could not be reached ({detail})")
    else:
        run.note(event.at, f"a message to {rung.name} failed", event.reason)


def _other_channel(run: _Run, event: SendFailed) -> None:
    """An orange ladder's SMS that could not be sent becomes a call to the same person.

    The provider's outage outlasted the retries, or the number refused SMS (STOP): the
    contact is called instead, and pressing 1 acknowledges as in a red ladder. A call
    that fails too is only written in the timeline.
    """
    failed = event.action
    why = f"error {event.code}" if event.code is not None else event.reason
    if isinstance(failed, SendSms):
        language = next((t.language for t in run.s.told if t.phone == failed.to), run.s.language)
        run.call(failed.to, language, "alert_call")
        run.note(event.at, "SMS failed: calling instead", why)
    else:
        run.note(event.at, "could not be reached", why)


def _raised(run: _Run, event: Raised, policy: LadderPolicy) -> None:
    s = run.s
    alert = event.alert
    run.set(alert_ids=(*s.alert_ids, alert.alert_id))
    if alert.level <= s.level:
        run.note(event.at, "updated", f"{alert.level.label}: {alert.summary}")
        return
    run.set(level=alert.level, summary=alert.summary)
    run.note(event.at, f"now {alert.level.label}", alert.summary)
    if s.phase == "open" and _is_calling_level(alert):
        run.set(phase="calling", rung=0, attempt=0)
        _try_rung(run, policy, event.at)
