"""The per-device state machine: levels, persistence, staleness and events (device time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import schemas
from schemas import AlertLevel
from schemas.events import AnyEventBody
from stream_processors.device import DeviceState, ProcessorSettings, WearerProfile, step
from stream_processors.fleet import Fleet
from tests.factories import T0, vitals_batch

SETTINGS = ProcessorSettings(freshness_s=300, sustain_s=60, clear_after_s=600)
PROFILE = WearerProfile()
RED_VITALS: dict[str, Any] = {
    "hr": 135,
    "spo2": 89,
    "resp": 27,
    "sbp": 88,
    "temp": 39.4,
}  # NEWS2 14
ORANGE_VITALS: dict[str, Any] = {"hr": 115, "spo2": 94, "resp": 22, "sbp": 108}  # 2+1+2+1 = 6


def run(
    batches: list[schemas.TelemetryBatchV1], state: DeviceState | None = None
) -> tuple[DeviceState | None, list[schemas.Alert]]:
    alerts: list[schemas.Alert] = []
    for b in batches:
        result = step(state, b, PROFILE, SETTINGS)
        state = result.state
        alerts.extend(result.alerts)
    return state, alerts


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_healthy_vitals_score_zero_and_raise_nothing() -> None:
    result = step(None, vitals_batch(1), PROFILE, SETTINGS)
    (score,) = result.scores
    assert score.news2.total == 0
    assert score.news2.missing == ()
    assert result.alerts == ()


def test_red_needs_the_level_sustained_for_sustain_s() -> None:
    _, alerts = run(
        [vitals_batch(1, at=at(0), **RED_VITALS), vitals_batch(2, at=at(30), **RED_VITALS)]
    )
    assert [a.level for a in alerts] == [AlertLevel.YELLOW]  # yellow at once, red not yet
    assert alerts[0].summary == "NEWS2 14: high clinical risk (red once held 60 s)"
    _, alerts = run(
        [
            vitals_batch(1, at=at(0), **RED_VITALS),
            vitals_batch(2, at=at(30), **RED_VITALS),
            vitals_batch(3, at=at(60), **RED_VITALS),
        ]
    )
    assert [a.level for a in alerts] == [AlertLevel.YELLOW, AlertLevel.RED]
    assert alerts[1].alert_id == "wb-1:0:3:news2:red"
    assert alerts[1].raised_at == at(60)
    assert alerts[1].summary == "NEWS2 14: high clinical risk"


def test_one_artefactual_reading_does_not_escalate() -> None:
    _, alerts = run(
        [
            vitals_batch(1, at=at(0)),
            vitals_batch(2, at=at(10), **RED_VITALS),
            vitals_batch(3, at=at(20)),
            vitals_batch(4, at=at(80)),
        ]
    )
    assert all(a.level is AlertLevel.YELLOW for a in alerts)


def test_yellow_is_raised_at_once_and_not_repeated() -> None:
    yellow: dict[str, Any] = {"hr": 95, "spo2": 95, "resp": 21}  # 1 + 1 + 2 = 4
    _, alerts = run([vitals_batch(i, at=at(i * 10), **yellow) for i in range(1, 6)])
    assert [a.level for a in alerts] == [AlertLevel.YELLOW]


def test_escalation_orange_then_red_then_rearm_after_calm() -> None:
    batches = [
        vitals_batch(1, at=at(0), **ORANGE_VITALS),
        vitals_batch(2, at=at(60), **ORANGE_VITALS),
        vitals_batch(3, at=at(120), **RED_VITALS),
        vitals_batch(4, at=at(180), **RED_VITALS),
        vitals_batch(5, at=at(240), **RED_VITALS),
    ]
    state, alerts = run(batches)
    assert [a.level for a in alerts] == [AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED]
    # Calm for less than clear_after_s: a new red is not re-raised ...
    state, alerts = run(
        [
            vitals_batch(6, at=at(300)),
            vitals_batch(7, at=at(600)),
            vitals_batch(8, at=at(700), **RED_VITALS),
            vitals_batch(9, at=at(760), **RED_VITALS),
        ],
        state,
    )
    assert [a.level for a in alerts if a.level is AlertLevel.RED] == []
    # ... but after clear_after_s of calm it is.
    state, alerts = run(
        [
            vitals_batch(10, at=at(1000)),
            vitals_batch(11, at=at(1700)),
            vitals_batch(12, at=at(1800), **RED_VITALS),
            vitals_batch(13, at=at(1860), **RED_VITALS),
        ],
        state,
    )
    assert AlertLevel.RED in [a.level for a in alerts]


def test_wrist_skin_temperature_is_not_scored_as_body_temperature() -> None:
    batch = schemas.TelemetryBatchV1(
        device_id="wb-1",
        seq=1,
        sent_at=T0,
        samples=(
            schemas.Temperature(measured_at=T0, temp_c=32.5, site="wrist"),
            schemas.HeartRate(measured_at=T0, heart_rate_bpm=70),
        ),
    )
    (score,) = step(None, batch, PROFILE, SETTINGS).scores
    assert "temperature" in score.news2.missing
    assert score.news2.total == 0


def test_values_older_than_freshness_count_as_missing() -> None:
    state, _ = run([vitals_batch(1, at=at(0))])
    only_hr = schemas.TelemetryBatchV1(
        device_id="wb-1",
        seq=2,
        sent_at=at(400),
        samples=(schemas.HeartRate(measured_at=at(400), heart_rate_bpm=70),),
    )
    (score,) = step(state, only_hr, PROFILE, SETTINGS).scores
    assert set(score.news2.missing) == {"respiration_rate", "spo2", "systolic_bp", "temperature"}


def test_no_contact_heart_rate_is_ignored() -> None:
    batch = schemas.TelemetryBatchV1(
        device_id="wb-1",
        seq=1,
        sent_at=T0,
        samples=(
            schemas.HeartRate(measured_at=T0, heart_rate_bpm=30, sensor_contact=False),
            schemas.SpO2(measured_at=T0, spo2_pct=98),
        ),
    )
    (score,) = step(None, batch, PROFILE, SETTINGS).scores
    assert "pulse" in score.news2.missing


def test_profile_on_oxygen_and_scale2_are_used() -> None:
    profile = WearerProfile(on_oxygen=True, consciousness="alert", spo2_scale=2)
    (score,) = step(None, vitals_batch(1, spo2=90), profile, SETTINGS).scores
    assert score.news2.points["air_or_oxygen"] == 2
    assert score.news2.points["spo2"] == 0  # scale 2, 88-92
    assert score.news2.defaulted == ()


@pytest.mark.parametrize(
    ("body", "level"),
    [
        (schemas.Sos(press_duration_s=3.0), AlertLevel.RED),
        (schemas.Sos(press_duration_s=2.9), None),
        (schemas.Fall(moved_after=False), AlertLevel.RED),
        (schemas.Fall(moved_after=True), AlertLevel.ORANGE),
        (schemas.Fall(), AlertLevel.ORANGE),
        (schemas.LowBattery(battery_pct=5), None),
        (schemas.OffWrist(), None),
    ],
    ids=["sos-3s", "sos-2.9s", "fall-still", "fall-moved", "fall-unknown", "battery", "off-wrist"],
)
def test_events(body: AnyEventBody, level: AlertLevel | None) -> None:
    event = schemas.EventV1(device_id="wb-1", seq=9, occurred_at=T0, event=body)
    alerts = step(None, event, PROFILE, SETTINGS).alerts
    assert [a.level for a in alerts] == ([] if level is None else [level])


def test_fleet_adopts_state_only_when_told() -> None:
    fleet = Fleet(SETTINGS)
    first = fleet.plan([vitals_batch(1, at=at(0), **RED_VITALS)])
    # Not adopted (as if the commit failed): the retry starts from the same state.
    retry = fleet.plan([vitals_batch(1, at=at(0), **RED_VITALS)])
    assert first.states == retry.states
    fleet.adopt(retry)
    later = fleet.plan([vitals_batch(2, at=at(60), **RED_VITALS)])
    assert [a.level for a in later.alerts] == [AlertLevel.RED]


def test_fleet_turns_a_processor_bug_into_a_failure_not_a_crash() -> None:
    def broken_profile(device_id: str) -> WearerProfile:
        if device_id == "wb-bad":
            raise LookupError("profile store down")
        return PROFILE

    fleet = Fleet(SETTINGS, profiles=broken_profile)
    plan = fleet.plan([vitals_batch(1, device_id="wb-bad"), vitals_batch(1, device_id="wb-ok")])
    assert [m.device_id for m, _ in plan.failures] == ["wb-bad"]
    assert [s.device_id for s in plan.scores] == ["wb-ok"]


def test_an_unchanged_score_is_recorded_again_only_after_score_every_s() -> None:
    state: DeviceState | None = None
    recorded: list[tuple[float, int]] = []
    # Healthy for 0-50 s, one bpm more at 55 s (same points, same score), a pulse
    # scoring 1 at 58 s (a changed score), then unchanged until 130 s.
    for seq, (t, hr) in enumerate([(0, 72), (25, 72), (50, 72), (55, 73), (58, 95), (100, 95)]):
        result = step(state, vitals_batch(seq, at=at(t), hr=hr), PROFILE, SETTINGS)
        state = result.state
        recorded += [((s.evaluated_at - T0).total_seconds(), s.news2.total) for s in result.scores]
    result = step(state, vitals_batch(9, at=at(118), hr=95), PROFILE, SETTINGS)
    recorded += [((s.evaluated_at - T0).total_seconds(), s.news2.total) for s in result.scores]
    assert recorded == [(0, 0), (58, 1), (118, 1)]
