"""The per-device state machine: levels, persistence, staleness and events (device time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import schemas
from schemas import AlertLevel
from schemas.events import AnyEventBody
from stream_processors.device import (
    CriticalRule,
    DeviceState,
    ProcessorSettings,
    WearerProfile,
    step,
)
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


# -- signal quality and critical values ---------------------------------------------------

DEFAULTS = ProcessorSettings()  # sustain 120 s, pulse <= 40 at once, SpO2 <= 91 after 60 s


def batch(seq: int, t: float, *samples: schemas.AnySample) -> schemas.TelemetryBatchV1:
    return schemas.TelemetryBatchV1(device_id="wb-1", seq=seq, sent_at=at(t), samples=samples)


def vitals_at(
    t: float, *, hr: float = 72, spo2: float = 97, resp: float = 15, contact: bool | None = None
) -> tuple[schemas.AnySample, ...]:
    when = at(t)
    return (
        schemas.HeartRate(measured_at=when, heart_rate_bpm=hr, sensor_contact=contact),
        schemas.SpO2(measured_at=when, spo2_pct=spo2),
        schemas.Respiration(measured_at=when, respiration_rate_per_min=resp),
        schemas.BloodPressure(measured_at=when, systolic_mmhg=124, diastolic_mmhg=80),
        schemas.Temperature(measured_at=when, temp_c=36.9, site="estimated_core"),
    )


def walk(t: float) -> schemas.Steps:
    return schemas.Steps(measured_at=at(t), steps=60, interval_s=30)  # 120 steps/min


def run_all(
    batches: list[schemas.TelemetryBatchV1],
    *,
    settings: ProcessorSettings = DEFAULTS,
    profile: WearerProfile = PROFILE,
) -> tuple[DeviceState | None, list[schemas.Alert], list[Any]]:
    state: DeviceState | None = None
    alerts: list[schemas.Alert] = []
    scores: list[Any] = []
    for b in batches:
        result = step(state, b, profile, settings)
        state = result.state
        alerts += result.alerts
        scores += result.scores
    return state, alerts, scores


def test_an_implausible_value_is_rejected_not_scored() -> None:
    _, alerts, scores = run_all([batch(1, 0, *vitals_at(0, spo2=40))])
    (score,) = scores
    assert "spo2" in score.news2.missing  # not scored as 3 points
    assert "spo2_pct:implausible" in score.quality_flags
    assert alerts == []


def test_optical_readings_off_the_wrist_are_rejected_until_it_is_back_on() -> None:
    off = schemas.WearState(measured_at=at(0), on_wrist=False)
    on = schemas.WearState(measured_at=at(30), on_wrist=True)
    state, alerts, scores = run_all(
        [
            batch(1, 0, off, *vitals_at(1, hr=30, spo2=80)),  # a band on a table
            batch(2, 30, on, *vitals_at(31)),
        ]
    )
    assert alerts == []
    first, second = scores
    assert {"pulse_bpm:off_wrist", "spo2_pct:off_wrist"} <= set(first.quality_flags)
    assert "pulse" in first.news2.missing
    assert second.news2.missing == ()
    assert state is not None
    assert state.on_wrist


def test_a_wear_state_applies_to_readings_of_its_own_instant_wherever_it_sits() -> None:
    # The band was taken off as it measured: same timestamp, the wear sample listed last.
    off = schemas.WearState(measured_at=at(0), on_wrist=False)
    _, alerts, (score,) = run_all([batch(1, 0, *vitals_at(0, hr=30, spo2=80), off)])
    assert alerts == []
    assert {"pulse_bpm:off_wrist", "spo2_pct:off_wrist"} <= set(score.quality_flags)


def test_a_reading_without_sensor_contact_is_rejected() -> None:
    _, _, (score,) = run_all([batch(1, 0, *vitals_at(0, hr=35, contact=False))])
    assert "pulse_bpm:no_contact" in score.quality_flags
    assert "pulse" in score.news2.missing


def test_readings_taken_while_walking_never_raise_red_on_their_own() -> None:
    # Red-level pulse, SpO2 and respiration from the optical sensor while the wearer walks.
    batches = [
        batch(i, t, walk(t), *vitals_at(t, hr=135, spo2=88, resp=27))
        for i, t in enumerate(range(0, 400, 20))
    ]
    _, alerts, scores = run_all(batches, settings=ProcessorSettings(critical=()))
    assert max(a.level for a in alerts) == AlertLevel.ORANGE
    assert any("reduced-quality readings" in a.summary for a in alerts)
    assert scores[0].quality == "poor"
    assert "pulse_bpm:motion" in scores[0].quality_flags


def test_the_same_readings_at_rest_do_raise_red() -> None:
    batches = [
        batch(i, t, *vitals_at(t, hr=135, spo2=88, resp=27))
        for i, t in enumerate(range(0, 400, 20))
    ]
    _, alerts, _ = run_all(batches, settings=ProcessorSettings(critical=()))
    assert max(a.level for a in alerts) == AlertLevel.RED


def test_a_value_stuck_for_ten_minutes_is_flagged_flat() -> None:
    batches = [batch(i, t, *vitals_at(t, hr=72)) for i, t in enumerate(range(0, 660, 60))]
    _, _, scores = run_all(batches)
    assert "pulse_bpm:flat" not in scores[0].quality_flags
    assert "pulse_bpm:flat" in scores[-1].quality_flags
    assert scores[-1].quality == "reduced"


def test_pulse_at_or_below_40_escalates_at_once() -> None:
    _, alerts, _ = run_all([batch(1, 0, *vitals_at(0, hr=38))])
    (alert,) = alerts
    assert alert.level == AlertLevel.ORANGE  # a single parameter scoring 3
    assert alert.raised_at == at(0)  # not after the 120 s persistence time
    assert "critical value" in alert.summary
    # What scored, by direction (what a snooze acts on): a slow pulse, not a fast one.
    assert alert.drivers == (schemas.Driver("pulse:low", 3),)


def test_spo2_at_or_below_91_escalates_after_60_s_not_120() -> None:
    batches = [batch(i, t, *vitals_at(t, spo2=90)) for i, t in enumerate(range(0, 200, 30))]
    _, alerts, _ = run_all(batches)
    orange = [a for a in alerts if a.level == AlertLevel.ORANGE]
    assert orange[0].raised_at == at(60)


HYPERCAPNIC = WearerProfile(conditions=frozenset({"hypercapnic_respiratory_failure"}))


def test_hypercapnic_failure_scores_spo2_on_scale_2() -> None:
    (score,) = run_all([batch(1, 0, *vitals_at(0, spo2=89))], profile=HYPERCAPNIC)[2]
    assert score.news2.points["spo2"] == 0  # inside the 88-92 % target of scale 2
    (usual,) = run_all([batch(1, 0, *vitals_at(0, spo2=89))])[2]
    assert usual.news2.points["spo2"] == 3


@pytest.mark.parametrize(
    ("spo2", "orange_after_s"),
    [(85, 120), (82, 60)],  # scale 2: 85 % is 2 points, not critical; 83 % and below is
)
def test_hypercapnic_failure_moves_the_critical_spo2_to_scale_2s_lowest_band(
    spo2: float, orange_after_s: int
) -> None:
    batches = [
        batch(i, t, *vitals_at(t, hr=115, spo2=spo2, resp=22))  # NEWS2 >= 6 on scale 2
        for i, t in enumerate(range(0, 240, 30))
    ]
    _, alerts, _ = run_all(batches, profile=HYPERCAPNIC)
    orange = [a for a in alerts if a.level >= AlertLevel.ORANGE]
    assert orange[0].raised_at == at(orange_after_s)
    # Without the condition, the scale-1 rule (<= 91 %) would not have waited.
    _, scale_1, _ = run_all(batches)
    assert next(a for a in scale_1 if a.level >= AlertLevel.ORANGE).raised_at == at(60)


def test_a_clinician_can_replace_the_critical_values_per_wearer() -> None:
    athlete = WearerProfile(critical=(CriticalRule("pulse_bpm", at_or_below=30.0),))
    batches = [batch(1, 0, *vitals_at(0, hr=38)), batch(2, 130, *vitals_at(130, hr=38))]
    _, alerts, _ = run_all(batches, profile=athlete)
    assert [(a.level, a.raised_at) for a in alerts] == [
        (AlertLevel.YELLOW, at(0)),  # yellow is always at once
        (AlertLevel.ORANGE, at(130)),  # orange only after the 120 s persistence time
    ]


def test_a_wearer_leaving_the_home_fence_raises_orange_and_coming_back_stands_down() -> None:
    from scoring.geofence import Circle
    from stream_processors.geofence import Fence

    home = Fence(
        fence_id="home",
        name="Home",
        shape=Circle(lat_deg=51.5007, lon_deg=-0.1246, radius_m=100),
        dwell_s=60,
    )
    profile = WearerProfile(fences=(home,))

    def gps(seq: int, t: float, north_m: float) -> schemas.TelemetryBatchV1:
        lat = 51.5007 + north_m / 111_195.0
        return batch(
            seq, t, schemas.GpsFix(measured_at=at(t), lat_deg=lat, lon_deg=-0.1246, accuracy_m=8)
        )

    walk_out = [gps(i, t, 20 + 4 * t) for i, t in enumerate(range(0, 240, 20))]
    walk_back = [gps(100 + i, 240 + t, 10) for i, t in enumerate(range(0, 120, 20))]
    _, alerts, scores = run_all(walk_out + walk_back, profile=profile)
    assert scores == []  # GPS alone is not a vital sign
    assert [(a.source, a.level) for a in alerts] == [
        ("geofence", AlertLevel.ORANGE),
        ("geofence", AlertLevel.NONE),
    ]
    assert alerts[0].summary.startswith("Fence breached: Home")
    assert alerts[1].summary.startswith("Fence respected again: Home")


def cinc_strip(ecg_dir: Any, record: str, t: float) -> schemas.Ecg:
    """A CinC 2017 recording as the ECG strip a band would send (microvolts)."""
    from ingest.wfdb import read_record

    rec = read_record(ecg_dir / "cinc2017-dev" / record)
    uv = [round(v * 1000) for v in rec.signal(0).tolist()]
    return schemas.Ecg(measured_at=at(t), sampling_rate_hz=rec.fs_hz, samples_uv=tuple(uv))


def test_an_af_strip_raises_one_orange_alert_per_episode(ecg_data: Any) -> None:
    af, normal, noisy = "A00009", "A00001", "A00205"  # labelled A, N and ~ in REFERENCE.csv
    batches = [
        batch(1, 0, cinc_strip(ecg_data, af, 0)),
        batch(2, 60, cinc_strip(ecg_data, af, 60)),  # the same episode: no second alert
        batch(3, 120, cinc_strip(ecg_data, noisy, 120)),  # unreadable: changes nothing
        batch(4, 180, cinc_strip(ecg_data, normal, 180)),  # episode over
        batch(5, 240, cinc_strip(ecg_data, af, 240)),  # a new episode
    ]
    _, alerts, _ = run_all(batches)
    assert [(a.source, a.level, a.raised_at) for a in alerts] == [
        ("af", AlertLevel.ORANGE, at(0)),
        ("af", AlertLevel.ORANGE, at(240)),
    ]
    assert alerts[0].summary.startswith("Atrial fibrillation suspected on a 30 s ECG strip")


@pytest.mark.parametrize(
    "profile",
    [WearerProfile(known_af=True), WearerProfile(conditions=frozenset({"permanent_af"}))],
    ids=["known_af", "permanent_af_condition"],
)
def test_known_af_is_not_alerted_anew(ecg_data: Any, profile: WearerProfile) -> None:
    _, alerts, _ = run_all([batch(1, 0, cinc_strip(ecg_data, "A00009", 0))], profile=profile)
    assert alerts == []
