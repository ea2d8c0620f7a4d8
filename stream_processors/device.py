"""Per-device processing as a pure state machine (sans-I/O).

``step(state, message, ...)`` takes a device's state and one decoded message and
returns the new state with the scores and alerts it produced. No clock, no I/O:
device time comes from the message. The runner (``stream_processors.runner``)
persists the outputs and only then adopts the new state.

Rules (event-time ordering and late data come with the stream-processing work):

* Every reading is judged by ``scoring.vital_quality`` first. Implausible readings,
  and optical ones while the band is off the wrist, are rejected (not scored; the
  score lists them in ``quality_flags``). Optical readings during walking, and values
  stuck for ``flat_after_s``, are scored with reduced quality.
* The latest value of each NEWS2 parameter is kept with its device time; a value
  older than ``freshness_s`` at evaluation time counts as missing.
* Reduced-quality readings may not raise a red alert on their own: the level used for
  alerting is the higher of the level of the good readings alone and the full level
  capped at orange (the score's ``quality`` is then ``poor``).
* Each telemetry batch with a vital sign is evaluated once, at its newest sample.
  The score is recorded when it differs from the last one recorded (any point,
  missing or defaulted parameter) or ``score_every_s`` of device time after it:
  a wristband sending every second would otherwise store 86,400 equal scores a day.
* Yellow is raised at once. Orange and red need the level held for ``sustain_s``
  (120 s) of device time, so one artefactual reading cannot wake a family, except when
  a critical single value (``CriticalRule``, good quality) has held for its own time:
  then the level escalates at once. Defaults: pulse <= 40 bpm at once, SpO2 <= 91 %
  after 60 s. A clinician can set other rules per wearer (``WearerProfile.critical``).
* After an alert, a higher level raises a new alert; the same or a lower level does
  not. The wearer re-arms after ``clear_after_s`` of scores at level none.
* SOS held >= 3 s (the design's threshold) and a fall followed by no movement are
  red at once; a fall with movement (or unknown) is orange.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import numpy as np

from alerting.reminders import Reminder
from schemas import (
    Alert,
    AlertLevel,
    BloodPressure,
    Driver,
    Ecg,
    EventV1,
    Fall,
    GpsFix,
    HeartRate,
    Respiration,
    Sos,
    SpO2,
    Steps,
    TelemetryBatchV1,
    Temperature,
    WearState,
)
from schemas.events import Cancel
from schemas.scores import IndexRecord, News2Score, ScoreRecord
from schemas.telemetry import AnySample
from scoring import vital_quality
from scoring.news2 import Consciousness, Vitals, drivers, news2
from stream_processors.geofence import Fence, FenceSet, FenceStatus, Fix
from stream_processors.sedentary import SedentarySettings, SedentaryState
from stream_processors.sedentary import advance as sedentary_advance
from stream_processors.silence import SilenceSettings
from stream_processors.wellbeing import (
    IndexWarning,
    WellbeingSettings,
    WellbeingState,
    advance,
)

SOS_HOLD_S = 3.0
BAND_CANCEL = "band_cancel"  # the source of the record of a cancel pressed on the band
_SUSTAINED = (AlertLevel.ORANGE, AlertLevel.RED)


class CriticalRule(msgspec.Struct, frozen=True):
    """A single value critical enough to skip the general persistence time."""

    parameter: str  # a Vitals field name, e.g. "pulse_bpm"
    at_or_below: float | None = None
    at_or_above: float | None = None
    hold_s: float = 0.0

    def holds(self, value: float) -> bool:
        """Whether ``value`` is in the critical range."""
        low = self.at_or_below is not None and value <= self.at_or_below
        high = self.at_or_above is not None and value >= self.at_or_above
        return low or high

    @property
    def name(self) -> str:
        """A stable key for the rule's timer."""
        return f"{self.parameter}<={self.at_or_below}>={self.at_or_above}"


DEFAULT_CRITICAL = (
    CriticalRule("pulse_bpm", at_or_below=40.0, hold_s=0.0),
    CriticalRule("spo2_pct", at_or_below=91.0, hold_s=60.0),
)


class ProcessorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Timing rules of the processor (all in device-time seconds)."""

    freshness_s: float = 300.0
    sustain_s: float = 120.0
    clear_after_s: float = 600.0
    score_every_s: float = 60.0
    flat_after_s: float = 600.0
    critical: tuple[CriticalRule, ...] = DEFAULT_CRITICAL
    wellbeing: WellbeingSettings = WellbeingSettings()
    lateness_s: float = 10.0  # how far out of device-time order a batch is re-ordered
    sedentary: SedentarySettings = SedentarySettings()
    silence: SilenceSettings = SilenceSettings()


Condition = Literal["hypercapnic_respiratory_failure", "permanent_af"]
"""Chronic conditions a clinician can record, each with documented effects:

* ``hypercapnic_respiratory_failure`` (confirmed, e.g. COPD with CO2 retention): SpO2 is
  scored on NEWS2 scale 2 (RCP 2017, chart 1; target 88-92 %, BTS 2017 oxygen guideline,
  Thorax 72 Suppl 1), and the critical SpO2 value becomes <= 83 % (scale 2's 3-point
  band) instead of <= 91 %, which is inside this wearer's target range.
* ``permanent_af``: atrial fibrillation accepted as permanent (ESC 2020 AF guideline:
  no rhythm control is pursued), so AF strips do not raise new-AF alerts.
"""

SPO2_SCALE_2_CRITICAL = CriticalRule("spo2_pct", at_or_below=83.0, hold_s=60.0)


class WearerProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What a clinician recorded about the wearer: NEWS2 inputs a band lacks, and rules.

    ``spo2_scale`` 2 only for confirmed hypercapnic respiratory failure (RCP 2017);
    recording that condition in ``conditions`` sets it too (see ``Condition``).
    ``critical`` replaces the default critical single values (e.g. a paced heart whose
    pulse never drops below 60, or a trained athlete resting at 38 bpm).
    ``tz`` is the wearer's time zone (days of the daily indices are local days);
    ``share_wellbeing_warnings`` is the wearer's consent to tell contacts about index
    warnings (by default only the wearer is reminded). ``reminders``: medication, water,
    exercise and sleep reminders spoken on the band at local times.
    """

    consciousness: Consciousness | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1
    critical: tuple[CriticalRule, ...] | None = None
    fences: tuple[Fence, ...] = ()
    known_af: bool = False  # permanent/persistent AF already diagnosed: not alerted anew
    conditions: frozenset[Condition] = frozenset()
    tz: str = "UTC"
    share_wellbeing_warnings: bool = False
    sedentary_reminders: bool = True
    reminders: tuple[Reminder, ...] = ()  # scheduled, in ``tz`` (alerting/reminders.py)
    at_risk: bool = False  # a clinician's mark: a silent band is alerted as at medium risk

    def __post_init__(self) -> None:
        """Reject an unknown time zone when the profile is made, not at every message."""
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r} in a wearer profile") from None

    @property
    def effective_spo2_scale(self) -> Literal[1, 2]:
        """The NEWS2 SpO2 scale, from ``spo2_scale`` or a recorded condition."""
        if "hypercapnic_respiratory_failure" in self.conditions:
            return 2
        return self.spo2_scale

    @property
    def af_is_known(self) -> bool:
        """Whether new-AF alerts are pointless for this wearer."""
        return self.known_af or "permanent_af" in self.conditions

    def critical_rules(self, defaults: tuple[CriticalRule, ...]) -> tuple[CriticalRule, ...]:
        """The clinician's rules, else ``defaults`` adapted to the SpO2 scale."""
        if self.critical is not None:
            return self.critical
        if self.effective_spo2_scale == 1:
            return defaults
        return tuple(SPO2_SCALE_2_CRITICAL if r.parameter == "spo2_pct" else r for r in defaults)


class Latest(msgspec.Struct, frozen=True, gc=False):
    """A parameter's newest value, its device time, and its quality flags."""

    value: float
    measured_at: dt.datetime
    flags: tuple[str, ...]
    same_since: dt.datetime  # first time this exact value was seen in a row


class DeviceState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything the processor remembers about one device.

    Untracked by the garbage collector (``gc=False``), as are the structs it holds: the
    states of every device would otherwise be walked at each full collection
    (``schemas.common.WireModel``).
    """

    latest: dict[str, Latest] = msgspec.field(default_factory=dict)
    level_since: dict[int, dt.datetime] = msgspec.field(default_factory=dict)
    alerted_level: AlertLevel = AlertLevel.NONE
    calm_since: dt.datetime | None = None
    last_recorded: ScoreRecord | None = None
    on_wrist: bool = True
    moving_until: dt.datetime | None = None
    critical_since: dict[str, dt.datetime] = msgspec.field(default_factory=dict)
    fences: dict[str, FenceStatus] = msgspec.field(default_factory=dict)
    af_since: dt.datetime | None = None  # start of the AF episode already alerted
    wellbeing: WellbeingState = msgspec.field(default_factory=WellbeingState)
    sedentary: SedentaryState = msgspec.field(default_factory=SedentaryState)


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    """The new state and what one message produced."""

    state: DeviceState
    scores: tuple[ScoreRecord, ...] = ()
    alerts: tuple[Alert, ...] = ()
    indices: tuple[IndexRecord, ...] = ()


def _pulse(s: HeartRate) -> float | None:
    # Without sensor contact there is no pulse reading at all (rejected, not scored).
    return None if s.sensor_contact is False else s.heart_rate_bpm


def _core_temperature(s: Temperature) -> float | None:
    # Wrist skin runs several degrees below core: scoring it would flag every
    # healthy wearer as hypothermic (CLINICAL.md section 1). Not a quality problem.
    return None if s.site == "wrist" else s.temp_c


# Sample type -> (NEWS2 parameter, value or None); dispatch by type, not isinstance chains.
_VITALS: dict[type, tuple[str, Callable[[Any], float | None]]] = {
    HeartRate: ("pulse_bpm", _pulse),
    SpO2: ("spo2_pct", operator.attrgetter("spo2_pct")),
    BloodPressure: ("systolic_mmhg", operator.attrgetter("systolic_mmhg")),
    Respiration: ("respiration_rate_per_min", operator.attrgetter("respiration_rate_per_min")),
    Temperature: ("temp_c", _core_temperature),
}
_MOTION_WINDOW = dt.timedelta(seconds=vital_quality.MOTION_WINDOW_S)


def _measured_at(sample: AnySample) -> dt.datetime:
    return sample.measured_at


class _Intake(msgspec.Struct, kw_only=True):
    latest: dict[str, Latest]
    on_wrist: bool
    moving_until: dt.datetime | None
    rejected: list[str]
    newest: dt.datetime | None = None


def _wear_and_motion(
    sample: AnySample, on_wrist: bool, moving_until: dt.datetime | None
) -> tuple[bool, dt.datetime | None]:
    """The band's wear state and walking window after a non-vital sample."""
    kind = type(sample)
    if kind is WearState:
        return cast("WearState", sample).on_wrist, moving_until
    if kind is Steps:
        steps = cast("Steps", sample)
        if (
            vital_quality.steps_per_minute(steps.steps, steps.interval_s)
            > vital_quality.WALKING_STEPS_PER_MIN
        ):
            until = steps.measured_at + _MOTION_WINDOW
            return on_wrist, until if moving_until is None else max(moving_until, until)
    return on_wrist, moving_until


def _wear_first(sample: AnySample) -> tuple[dt.datetime, bool]:
    return sample.measured_at, type(sample) is not WearState


def _in_device_time_order(batch: TelemetryBatchV1) -> tuple[AnySample, ...]:
    """The batch's samples by device time; a wear state before readings of its instant.

    A band taken off reports it with a timestamp that its last readings may share: those
    readings were taken off the wrist, so the wear state must be known when they are judged.
    """
    samples = batch.samples
    if any(type(s) is WearState for s in samples):
        return tuple(sorted(samples, key=_wear_first))
    stamps = [s.measured_at for s in samples]
    return samples if stamps == sorted(stamps) else tuple(sorted(samples, key=_measured_at))


def _take_readings(
    state: DeviceState, samples: tuple[AnySample, ...], settings: ProcessorSettings
) -> _Intake:
    """Judge every reading of the batch (in device-time order) and keep the accepted."""
    latest = dict(state.latest)
    on_wrist, moving_until = state.on_wrist, state.moving_until
    rejected: list[str] = []
    accepted_at: list[dt.datetime] = []
    flat_after = dt.timedelta(seconds=settings.flat_after_s)
    judge, vitals = vital_quality.judge, _VITALS
    for sample in samples:
        kind = type(sample)
        known = vitals.get(kind)
        if known is None:
            on_wrist, moving_until = _wear_and_motion(sample, on_wrist, moving_until)
            continue
        name, extract = known
        value = extract(sample)
        if value is None:
            if kind is HeartRate:
                rejected.append(f"{name}:no_contact")
            continue
        at = sample.measured_at
        moving = moving_until is not None and at <= moving_until
        accepted, flags = judge(name, value, on_wrist=on_wrist, moving=moving)
        if not accepted:
            rejected.append(f"{name}:{flags[0]}")
            continue
        previous = latest.get(name)
        same_since = at
        if previous is not None:
            if at < previous.measured_at:
                continue  # an older reading never replaces a newer one
            if previous.value == value:
                same_since = previous.same_since
                if at - same_since >= flat_after:
                    flags = (*flags, "flat")
        latest[name] = Latest(value, at, flags, same_since)
        accepted_at.append(at)
    return _Intake(
        latest=latest,
        on_wrist=on_wrist,
        moving_until=moving_until,
        rejected=rejected,
        newest=max(accepted_at) if accepted_at else None,
    )


def _alert_id(msg: TelemetryBatchV1 | EventV1, source: str, level: AlertLevel) -> str:
    return f"{msg.device_id}:{msg.boot_id}:{msg.seq}:{source}:{level.label}"


def _critical_timers(
    state: DeviceState,
    good: dict[str, float],
    rules: tuple[CriticalRule, ...],
    now: dt.datetime,
) -> tuple[dict[str, dt.datetime], bool]:
    """Timers of the critical rules that hold now, and whether one has held long enough."""
    timers: dict[str, dt.datetime] = {}
    due = False
    for rule in rules:
        value = good.get(rule.parameter)
        if value is None or not rule.holds(value):
            continue
        since = state.critical_since.get(rule.name, now)
        timers[rule.name] = since
        due = due or (now - since).total_seconds() >= rule.hold_s
    return timers, due


@functools.lru_cache(maxsize=4096)
def _fence_set(fences: tuple[Fence, ...]) -> FenceSet:
    """Fence geometry is built once per distinct set of fences (profiles are immutable)."""
    return FenceSet(fences)


def _geofences(
    state: DeviceState,
    batch: TelemetryBatchV1,
    samples: tuple[AnySample, ...],
    fences: tuple[Fence, ...],
) -> tuple[dict[str, FenceStatus], list[Alert]]:
    """Run the wearer's fences over the batch's GPS fixes (``samples``: in device-time order).

    A breach is an orange alert (the design: a breach reminds the contacts); a return
    is recorded as a level-none alert, so the alert ladder can stand down.
    """
    if not fences:
        return state.fences, []
    fixes = [
        Fix(s.measured_at, s.lat_deg, s.lon_deg, s.accuracy_m)
        for s in samples
        if isinstance(s, GpsFix)
    ]
    if not fixes:
        return state.fences, []
    fence_set = _fence_set(fences)
    states = state.fences
    alerts = []
    for fix in fixes:
        states, events = fence_set.step(states, fix)
        for e in events:
            level = AlertLevel.ORANGE if e.kind == "breach" else AlertLevel.NONE
            verb = "breached" if e.kind == "breach" else "respected again"
            alerts.append(
                Alert(
                    alert_id=f"{_alert_id(batch, 'geofence', level)}:{e.fence_id}",
                    device_id=batch.device_id,
                    level=level,
                    raised_at=e.at,
                    source="geofence",
                    summary=f"Fence {verb}: {e.name} ({e.reason})",
                )
            )
    return states, alerts


def _ecg_strips(
    state: DeviceState, batch: TelemetryBatchV1, profile: WearerProfile
) -> tuple[dt.datetime | None, list[Alert]]:
    """Classify each ECG strip (``scoring.af``); the start of an AF episode is orange.

    One alert per episode: it stays open until a readable strip without AF. An
    unreadable strip changes nothing (it is neither AF nor normal). A wearer whose AF is
    already known (``WearerProfile.af_is_known``) gets no new-AF alerts.
    """
    af_since, alerts = state.af_since, []
    for index, sample in enumerate(batch.samples):
        if not isinstance(sample, Ecg):
            continue
        # scipy.signal takes over a second to import: only bands that send ECG pay it.
        from scoring.af import classify_rhythm  # noqa: PLC0415
        from scoring.ecg import EcgError  # noqa: PLC0415

        strip = np.asarray(sample.samples_uv, dtype=np.float64) / 1000.0  # uV -> mV
        try:
            result = classify_rhythm(strip, sample.sampling_rate_hz)
        except EcgError:
            continue  # too short to judge: not a rhythm either way
        if result.rhythm == "unreadable":
            continue
        if result.rhythm != "af":
            af_since = None
            continue
        if af_since is None and not profile.af_is_known:
            share = result.af_probability or 0.0
            seconds = len(strip) / sample.sampling_rate_hz
            alerts.append(
                Alert(
                    alert_id=f"{_alert_id(batch, 'af', AlertLevel.ORANGE)}:{index}",
                    device_id=batch.device_id,
                    level=AlertLevel.ORANGE,
                    raised_at=sample.measured_at,
                    source="af",
                    summary=(
                        f"Atrial fibrillation suspected on a {seconds:.0f} s "
                        f"ECG strip (AF in {share:.0%} of its windows)"
                    ),
                )
            )
        af_since = af_since or sample.measured_at
    return af_since, alerts


_INDEX_SOURCES = {
    "mental_stress": ("stress", "Mental stress index"),
    "physical_fatigue": ("fatigue", "Physical fatigue index"),
    "anxiety_depression": ("mood", "Anxiety/depression screening index"),
}
WELLBEING_SOURCES = frozenset(source for source, _ in _INDEX_SOURCES.values())


def _index_alert(batch: TelemetryBatchV1, warning: IndexWarning, profile: WearerProfile) -> Alert:
    """A yellow reminder to the wearer; contacts only with the wearer's consent."""
    source, title = _INDEX_SOURCES[warning.index]
    return Alert(
        alert_id=_alert_id(batch, source, AlertLevel.YELLOW),
        device_id=batch.device_id,
        level=AlertLevel.YELLOW,
        raised_at=warning.at,
        source=source,
        summary=f"{title} above its warning level against the wearer's own baseline "
        "(a screening signal, not a diagnosis)",
        share_with_contacts=profile.share_wellbeing_warnings,
    )


def _sedentary(
    state: DeviceState,
    batch: TelemetryBatchV1,
    samples: tuple[AnySample, ...],
    profile: WearerProfile,
    settings: ProcessorSettings,
) -> tuple[SedentaryState, tuple[Alert, ...]]:
    """The still spell after the batch, and a reminder if one fell due (sedentary.py)."""
    if not profile.sedentary_reminders:
        return state.sedentary, ()
    new, due = sedentary_advance(
        state.sedentary, samples, tz=profile.tz, settings=settings.sedentary
    )
    if due is None:
        return new, ()
    minutes = round(settings.sedentary.after_s / 60)
    reminder = Alert(
        alert_id=_alert_id(batch, "sedentary", AlertLevel.YELLOW),
        device_id=batch.device_id,
        level=AlertLevel.YELLOW,
        raised_at=due,
        source="sedentary",
        summary=f"Little movement for {minutes} minutes: a reminder to get up and move",
    )
    return new, (reminder,)


def _score_batch(
    state: DeviceState,
    batch: TelemetryBatchV1,
    profile: WearerProfile,
    settings: ProcessorSettings,
) -> StepResult:
    samples = _in_device_time_order(batch)
    fence_states, fence_alerts = _geofences(state, batch, samples, profile.fences)
    af_since, af_alerts = _ecg_strips(state, batch, profile)
    wellbeing = advance(
        state.wellbeing,
        samples,
        device_id=batch.device_id,
        tz=profile.tz,
        settings=settings.wellbeing,
    )
    index_alerts = [_index_alert(batch, w, profile) for w in wellbeing.warnings]
    sedentary, reminder = _sedentary(state, batch, samples, profile, settings)
    side_alerts = [*fence_alerts, *af_alerts, *index_alerts, *reminder]
    got = _take_readings(state, samples, settings)
    context = {
        "on_wrist": got.on_wrist,
        "moving_until": got.moving_until,
        "fences": fence_states,
        "af_since": af_since,
        "wellbeing": wellbeing.state,
        "sedentary": sedentary,
    }
    if got.newest is None:
        return StepResult(
            state=msgspec.structs.replace(state, latest=got.latest, **context),
            alerts=tuple(side_alerts),
            indices=wellbeing.records,
        )
    now = got.newest
    oldest = now - dt.timedelta(seconds=settings.freshness_s)
    fresh = {name: v for name, v in got.latest.items() if v.measured_at >= oldest}

    def score_of(values: dict[str, float]) -> News2Score:
        return news2(
            Vitals(consciousness=profile.consciousness, on_oxygen=profile.on_oxygen, **values),
            spo2_scale=profile.effective_spo2_scale,
        )

    score = score_of({n: v.value for n, v in fresh.items()})
    good = {n: v.value for n, v in fresh.items() if not v.flags}
    flagged = {n: v.flags for n, v in fresh.items() if v.flags}
    level = score.level
    if flagged and level is AlertLevel.RED:
        # Reduced-quality readings may raise at most orange on their own. (Fewer inputs
        # never score higher, so below red the cap cannot change anything.)
        level = max(score_of(good).level, AlertLevel.ORANGE)
    quality = vital_quality.overall(flagged, level_changed=level < score.level)
    rules = profile.critical_rules(settings.critical)
    timers, critical = _critical_timers(state, good, rules, now)
    last = state.last_recorded
    record = None
    if (
        last is None
        or last.news2 != score
        or last.quality != quality
        or (now - last.evaluated_at).total_seconds() >= settings.score_every_s
    ):
        record = ScoreRecord(
            device_id=batch.device_id,
            evaluated_at=now,
            news2=score,
            quality=quality,
            quality_flags=(
                *sorted(f"{n}:{f}" for n, fs in flagged.items() for f in fs),
                *sorted(set(got.rejected)),
            ),
        )
    state = msgspec.structs.replace(
        state,
        latest=got.latest,
        last_recorded=record if record is not None else last,
        critical_since=timers,
        **context,
    )
    state, alert = _escalate(
        state, batch, score=score, level=level, now=now, settings=settings, critical=critical
    )
    if alert is not None:
        # What scored, by direction: what a snooze acts on (alerting/snooze.py).
        scored = drivers(
            Vitals(
                consciousness=profile.consciousness,
                on_oxygen=profile.on_oxygen,
                **{n: v.value for n, v in fresh.items()},
            ),
            spo2_scale=profile.effective_spo2_scale,
        )
        found = tuple(Driver(what, points) for what, points in scored.items())
        alert = msgspec.structs.replace(alert, drivers=found)
    return StepResult(
        state=state,
        scores=(record,) if record is not None else (),
        alerts=(*side_alerts, *((alert,) if alert else ())),
        indices=wellbeing.records,
    )


def _escalate(
    state: DeviceState,
    batch: TelemetryBatchV1,
    *,
    score: News2Score,
    level: AlertLevel,
    now: dt.datetime,
    settings: ProcessorSettings,
    critical: bool,
) -> tuple[DeviceState, Alert | None]:
    since = {
        int(lv): state.level_since.get(int(lv), now)
        for lv in (AlertLevel.YELLOW, *_SUSTAINED)
        if level >= lv
    }
    sustained = AlertLevel.NONE
    for level_value, first_seen in since.items():
        candidate = AlertLevel(level_value)
        held = (now - first_seen).total_seconds()
        if candidate not in _SUSTAINED or held >= settings.sustain_s:
            sustained = max(sustained, candidate)
    effective = max(sustained, level) if critical else sustained

    alerted, calm_since = state.alerted_level, state.calm_since
    if level is AlertLevel.NONE:
        calm_since = calm_since or now
        if (now - calm_since).total_seconds() >= settings.clear_after_s:
            alerted = AlertLevel.NONE
    else:
        calm_since = None

    alert = None
    if effective > alerted:
        alerted = effective
        notes = []
        if effective > sustained:
            notes.append("critical value, not waiting for the persistence time")
        if level < score.level:
            notes.append(f"{score.level.label} not raised: reduced-quality readings")
        elif level > effective:
            notes.append(f"{level.label} once held {settings.sustain_s:g} s")
        alert = Alert(
            alert_id=_alert_id(batch, "news2", effective),
            device_id=batch.device_id,
            level=effective,
            raised_at=now,
            source="news2",
            summary=f"NEWS2 {score.total}: {score.risk} clinical risk"
            + (f" ({'; '.join(notes)})" if notes else ""),
            score=score.total,
            partial=score.partial,
            missing=score.missing,
        )
    new_state = msgspec.structs.replace(
        state, level_since=since, alerted_level=alerted, calm_since=calm_since
    )
    return new_state, alert


def event_alert(event: EventV1) -> Alert | None:
    """The alert a device event raises (SOS held >= 3 s, a fall), if any.

    It depends on the event alone, not on the device's state, so a runner may raise it
    ahead of the telemetry queued before it (``vigil/fast_lane.py``); the id is the same
    either way.
    """
    body = event.event
    if isinstance(body, Sos) and body.press_duration_s >= SOS_HOLD_S:
        level, source, summary = AlertLevel.RED, "sos", "SOS key held"
    elif isinstance(body, Fall):
        still = body.moved_after is False
        level = AlertLevel.RED if still else AlertLevel.ORANGE
        source, summary = "fall", "Fall without movement" if still else "Fall detected"
    elif isinstance(body, Cancel):
        # Not an alarm: the record of the wearer's cancel, which the ladder acts on.
        level, source, summary = AlertLevel.NONE, BAND_CANCEL, "Cancelled on the band"
    else:
        return None
    return Alert(
        alert_id=_alert_id(event, source, level),
        device_id=event.device_id,
        level=level,
        raised_at=event.occurred_at,
        source=source,
        summary=summary,
    )


def step(
    state: DeviceState | None,
    message: TelemetryBatchV1 | EventV1,
    profile: WearerProfile,
    settings: ProcessorSettings,
) -> StepResult:
    """Process one message of one device."""
    current = state if state is not None else DeviceState()
    if isinstance(message, TelemetryBatchV1):
        return _score_batch(current, message, profile, settings)
    alert = event_alert(message)
    return StepResult(state=current, alerts=(alert,) if alert else ())
