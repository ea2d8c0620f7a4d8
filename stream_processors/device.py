"""Per-device processing as a pure state machine (sans-I/O).

``step(state, message, ...)`` takes a device's state and one decoded message and
returns the new state with the scores and alerts it produced. No clock, no I/O:
device time comes from the message. The runner (``stream_processors.runner``)
persists the outputs and only then adopts the new state.

Rules in this first version (the full quality gating and event-time handling are
built on top of this in later work):

* The latest value of each NEWS2 parameter is kept with its device time; a value
  older than ``freshness_s`` at evaluation time counts as missing.
* Each telemetry batch with a vital sign is evaluated once, at its newest sample.
  The score is recorded when it differs from the last one recorded (any point,
  missing or defaulted parameter) or ``score_every_s`` of device time after it:
  a wristband sending every second would otherwise store 86,400 equal scores a day.
* Yellow is raised at once. Orange and red need the level held for ``sustain_s``
  of device time, so one artefactual reading cannot wake a family.
* After an alert, a higher level raises a new alert; the same or a lower level does
  not. The wearer re-arms after ``clear_after_s`` of scores at level none.
* SOS held >= 3 s (the design's threshold) and a fall followed by no movement are
  red at once; a fall with movement (or unknown) is orange.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from schemas import (
    Alert,
    AlertLevel,
    BloodPressure,
    EventV1,
    Fall,
    HeartRate,
    Respiration,
    Sos,
    SpO2,
    TelemetryBatchV1,
    Temperature,
)
from schemas.scores import News2Score, ScoreRecord
from scoring.news2 import Consciousness, Vitals, news2

SOS_HOLD_S = 3.0
_SUSTAINED = (AlertLevel.ORANGE, AlertLevel.RED)


class ProcessorSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Timing rules of the processor (all in device-time seconds)."""

    freshness_s: float = 300.0
    sustain_s: float = 60.0
    clear_after_s: float = 600.0
    score_every_s: float = 60.0


class WearerProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What a clinician or carer recorded about the wearer (NEWS2 inputs a band lacks)."""

    consciousness: Consciousness | None = None
    on_oxygen: bool | None = None
    spo2_scale: Literal[1, 2] = 1


class Latest(msgspec.Struct, frozen=True):
    """A parameter's newest value and the device time it was measured."""

    value: float
    measured_at: dt.datetime


class DeviceState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the processor remembers about one device."""

    latest: dict[str, Latest] = msgspec.field(default_factory=dict)
    level_since: dict[int, dt.datetime] = msgspec.field(default_factory=dict)
    alerted_level: AlertLevel = AlertLevel.NONE
    calm_since: dt.datetime | None = None
    last_recorded: ScoreRecord | None = None


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    """The new state and what one message produced."""

    state: DeviceState
    scores: tuple[ScoreRecord, ...] = ()
    alerts: tuple[Alert, ...] = ()


def _pulse(s: HeartRate) -> float | None:
    # No sensor contact or 0 bpm is "no reading", not a pulse of 0.
    return s.heart_rate_bpm if s.heart_rate_bpm > 0 and s.sensor_contact is not False else None


def _core_temperature(s: Temperature) -> float | None:
    # Wrist skin runs several degrees below core: scoring it would flag every
    # healthy wearer as hypothermic (CLINICAL.md section 1).
    return None if s.site == "wrist" else s.temp_c


# Sample type -> (NEWS2 parameter, value or None); dispatch by type, not isinstance chains.
_VITALS: dict[type, tuple[str, Callable[[Any], float | None]]] = {
    HeartRate: ("pulse_bpm", _pulse),
    SpO2: ("spo2_pct", operator.attrgetter("spo2_pct")),
    BloodPressure: ("systolic_mmhg", operator.attrgetter("systolic_mmhg")),
    Respiration: ("respiration_rate_per_min", operator.attrgetter("respiration_rate_per_min")),
    Temperature: ("temp_c", _core_temperature),
}


def _vital_values(batch: TelemetryBatchV1) -> list[tuple[str, float, dt.datetime]]:
    out: list[tuple[str, float, dt.datetime]] = []
    vitals = _VITALS
    for s in batch.samples:
        known = vitals.get(type(s))
        if known is not None:
            value = known[1](s)
            if value is not None:
                out.append((known[0], value, s.measured_at))
    return out


def _alert_id(msg: TelemetryBatchV1 | EventV1, source: str, level: AlertLevel) -> str:
    return f"{msg.device_id}:{msg.boot_id}:{msg.seq}:{source}:{level.label}"


def _score_batch(
    state: DeviceState,
    batch: TelemetryBatchV1,
    profile: WearerProfile,
    settings: ProcessorSettings,
) -> StepResult:
    values = _vital_values(batch)
    if not values:
        return StepResult(state=state)
    latest = dict(state.latest)
    for name, value, measured_at in values:
        known = latest.get(name)
        if known is None or measured_at >= known.measured_at:
            latest[name] = Latest(value, measured_at)
    now = max(measured_at for _, _, measured_at in values)
    fresh = {
        name: v.value
        for name, v in latest.items()
        if (now - v.measured_at).total_seconds() <= settings.freshness_s
    }
    score = news2(
        Vitals(
            consciousness=profile.consciousness,
            on_oxygen=profile.on_oxygen,
            **fresh,  # keys are Vitals field names
        ),
        spo2_scale=profile.spo2_scale,
    )
    last = state.last_recorded
    record = None
    if (
        last is None
        or last.news2 != score
        or (now - last.evaluated_at).total_seconds() >= settings.score_every_s
    ):
        record = ScoreRecord(device_id=batch.device_id, evaluated_at=now, news2=score)
    state, alert = _escalate(
        msgspec.structs.replace(
            state, latest=latest, last_recorded=record if record is not None else last
        ),
        batch,
        score,
        now,
        settings,
    )
    return StepResult(
        state=state,
        scores=(record,) if record is not None else (),
        alerts=(alert,) if alert else (),
    )


def _escalate(
    state: DeviceState,
    batch: TelemetryBatchV1,
    score: News2Score,
    now: dt.datetime,
    settings: ProcessorSettings,
) -> tuple[DeviceState, Alert | None]:
    since = {
        int(level): state.level_since.get(int(level), now)
        for level in (AlertLevel.YELLOW, *_SUSTAINED)
        if score.level >= level
    }
    effective = AlertLevel.NONE
    for level_value, first_seen in since.items():
        level = AlertLevel(level_value)
        held = (now - first_seen).total_seconds()
        if level not in _SUSTAINED or held >= settings.sustain_s:
            effective = max(effective, level)

    alerted, calm_since = state.alerted_level, state.calm_since
    if score.level is AlertLevel.NONE:
        calm_since = calm_since or now
        if (now - calm_since).total_seconds() >= settings.clear_after_s:
            alerted = AlertLevel.NONE
    else:
        calm_since = None

    alert = None
    if effective > alerted:
        alerted = effective
        alert = Alert(
            alert_id=_alert_id(batch, "news2", effective),
            device_id=batch.device_id,
            level=effective,
            raised_at=now,
            source="news2",
            summary=f"NEWS2 {score.total}: {score.risk} clinical risk"
            + (
                f" ({score.level.label} once held {settings.sustain_s:g} s)"
                if score.level > effective
                else ""
            ),
            score=score.total,
            partial=score.partial,
            missing=score.missing,
        )
    new_state = msgspec.structs.replace(
        state, level_since=since, alerted_level=alerted, calm_since=calm_since
    )
    return new_state, alert


def _event_alert(event: EventV1) -> Alert | None:
    body = event.event
    if isinstance(body, Sos) and body.press_duration_s >= SOS_HOLD_S:
        level, source, summary = AlertLevel.RED, "sos", "SOS key held"
    elif isinstance(body, Fall):
        still = body.moved_after is False
        level = AlertLevel.RED if still else AlertLevel.ORANGE
        source, summary = "fall", "Fall without movement" if still else "Fall detected"
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
    alert = _event_alert(message)
    return StepResult(state=current, alerts=(alert,) if alert else ())
