"""Device-time order within the lateness bound: re-ordering, amendments, retractions."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from schemas import AlertLevel
from scoring.geofence import Circle
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedResult, OrderedState, step_in_order
from stream_processors.geofence import Fence
from tests.stream_processors.test_device import at, batch, vitals_at

SETTINGS = ProcessorSettings(lateness_s=10.0)
HOME = (51.5007, -0.1246)
PROFILE = WearerProfile(
    fences=(
        Fence(
            fence_id="home",
            name="Home",
            shape=Circle(lat_deg=HOME[0], lon_deg=HOME[1], radius_m=150),
            dwell_s=30,
        ),
    )
)


def run(messages: list[schemas.TelemetryBatchV1]) -> tuple[OrderedState, list[OrderedResult]]:
    state: OrderedState | None = None
    results = []
    for m in messages:
        r = step_in_order(state, m, PROFILE, SETTINGS)
        state = r.state
        results.append(r)
    assert state is not None
    return state, results


Standing = tuple[str, AlertLevel, str, int | None, dt.datetime]


def net_alerts(results: list[OrderedResult]) -> list[Standing]:
    """The alerts standing once every amendment and retraction is applied."""
    standing: dict[str, Standing] = {}
    for alert in (a for r in results for a in r.alerts):
        summary = alert.summary.removeprefix("Amended after late readings: ")
        content = (alert.source, alert.level, summary, alert.score, alert.raised_at)
        if alert.change == "retracted":
            del standing[alert.refers_to or ""]
        elif alert.change == "amended":
            standing[alert.refers_to or ""] = content
        else:
            standing[alert.alert_id] = content
    return sorted(standing.values(), key=lambda c: (c[4], c[1]))


def course(seconds: int = 600, every: int = 3) -> list[schemas.TelemetryBatchV1]:
    """Vitals that worsen to orange and red, then recover (one band, 150 s phases), while
    the wearer walks 400 m out of the home fence and back."""
    out = []
    for i, t in enumerate(range(0, seconds, every)):
        phase = (t // 150) % 4
        hr, spo2, resp = [(72, 97, 15), (115, 94, 22), (135, 89, 27), (80, 96, 16)][phase]
        north_m = 400.0 * math.sin(math.pi * t / seconds)
        fix = schemas.GpsFix(
            measured_at=at(t),
            lat_deg=HOME[0] + math.degrees(north_m / 6_371_008.8),
            lon_deg=HOME[1],
            accuracy_m=8.0,
        )
        out.append(batch(i, t, *vitals_at(t, hr=hr, spo2=spo2, resp=resp), fix))
    return out


@settings(max_examples=40, deadline=None)
@given(delays=st.lists(st.floats(0.0, 9.9), min_size=200, max_size=200), seed=st.integers())
def test_shuffling_arrival_within_the_lateness_bound_does_not_change_the_outcome(
    delays: list[float], seed: int
) -> None:
    in_order = course()
    # Each batch arrives up to 9.9 s of device time late: never further out of order
    # than the 10 s bound (a later batch overtakes it by less than its own delay).
    rng = random.Random(seed)
    arrival = sorted(range(len(in_order)), key=lambda i: (3 * i + delays[i], rng.random()))
    shuffled = [in_order[i] for i in arrival]
    expected_state, expected = run(in_order)
    state, results = run(shuffled)
    assert all(r.order != "too_late" for r in results)
    assert state.current == expected_state.current
    assert net_alerts(results) == net_alerts(expected)
    assert {(a.source, a.level) for r in expected for a in r.alerts} == {
        ("news2", AlertLevel.YELLOW),
        ("news2", AlertLevel.ORANGE),
        ("news2", AlertLevel.RED),
        ("geofence", AlertLevel.ORANGE),
        ("geofence", AlertLevel.NONE),
    }


def test_a_late_batch_that_breaks_a_sustained_level_retracts_the_alert() -> None:
    high: dict[str, Any] = {"hr": 115, "spo2": 94, "resp": 22}  # NEWS2 5: orange
    first = batch(1, 0, *vitals_at(0, **high))
    after = batch(3, 125, *vitals_at(125, **high))  # orange held 125 s >= 120 s: raised
    state, results = run([first, after])
    (orange,) = [a for r in results for a in r.alerts if a.level is AlertLevel.ORANGE]
    assert orange.raised_at == at(125)

    # A batch measured at 120 s, calm, arrives after the one of 125 s (5 s late).
    calm = batch(2, 120, *vitals_at(120))
    r = step_in_order(state, calm, PROFILE, SETTINGS)
    assert r.order == "reordered"
    (retraction,) = [a for a in r.alerts if a.change == "retracted"]
    assert retraction.refers_to == orange.alert_id
    assert retraction.level is AlertLevel.NONE
    assert retraction.summary.startswith("Retracted after late readings")
    # The state is as if the batches had come in order: orange not held any more.
    in_order_state, _ = run([first, calm, after])
    assert r.state.current == in_order_state.current


def test_a_late_batch_that_adds_a_reading_amends_the_alert() -> None:
    high: dict[str, Any] = {"hr": 115, "spo2": 94, "resp": 22}  # NEWS2 5: orange
    # The band measures blood pressure now and then: not in the batch of 125 s.
    no_bp = [s for s in vitals_at(125, **high) if not isinstance(s, schemas.BloodPressure)]
    state, results = run([batch(1, 0, *vitals_at(0, **high)), batch(3, 125, *no_bp)])
    (orange,) = [a for r in results for a in r.alerts if a.level is AlertLevel.ORANGE]
    assert orange.score == 5
    # A blood pressure of 95 mmHg (2 points) measured at 122 s arrives after 125 s.
    late_bp = batch(
        2, 122, schemas.BloodPressure(measured_at=at(122), systolic_mmhg=95, diastolic_mmhg=60)
    )
    r = step_in_order(state, late_bp, PROFILE, SETTINGS)
    assert r.order == "reordered"
    (amended,) = [a for a in r.alerts if a.change == "amended"]
    assert amended.refers_to == orange.alert_id
    assert amended.alert_id != orange.alert_id
    assert amended.level is AlertLevel.ORANGE  # red (7) has not been held for 120 s yet
    assert amended.score == 7
    assert amended.raised_at == at(122)  # orange was held 120 s at 122 s already
    assert amended.summary.startswith("Amended after late readings: NEWS2 7")
    # Redelivery of the same late batch would produce the same ids (stored once).
    again = step_in_order(state, late_bp, PROFILE, SETTINGS)
    assert [a.alert_id for a in again.alerts] == [a.alert_id for a in r.alerts]


def test_a_batch_beyond_the_lateness_bound_is_not_scored() -> None:
    state, _ = run([batch(1, 0, *vitals_at(0)), batch(2, 30, *vitals_at(30))])
    r = step_in_order(state, batch(3, 15, *vitals_at(15, hr=30)), PROFILE, SETTINGS)
    assert r.order == "too_late"
    assert (r.alerts, r.scores) == ((), ())
    assert r.state == state


def test_events_are_handled_at_once_whatever_their_time() -> None:
    state, _ = run([batch(1, 0, *vitals_at(0)), batch(2, 300, *vitals_at(300))])
    sos = schemas.EventV1(
        device_id="wb-1",
        seq=9,
        occurred_at=at(10),
        event=schemas.Sos(press_duration_s=4.0),
    )
    r = step_in_order(state, sos, PROFILE, SETTINGS)
    assert [(a.level, a.source) for a in r.alerts] == [(AlertLevel.RED, "sos")]
    assert r.state.current == state.current
    assert r.state.retained == state.retained


def test_a_redelivered_message_yields_nothing_the_second_time() -> None:
    """A restarted Kafka worker re-reads messages its state may already hold."""
    messages = course(seconds=450)
    state, results = run(messages)
    raised = [a for r in results for a in r.alerts]
    assert raised, "the course raises alerts"
    for m in state.retained:
        again = step_in_order(state, m.batch, PROFILE, SETTINGS)
        assert again.order == "duplicate"
        assert (again.alerts, again.scores, again.indices) == ((), (), ())
        assert again.state == state
    # The newest batch repeated after a later one arrived: still a duplicate.
    newest = messages[-1]
    assert step_in_order(state, newest, PROFILE, SETTINGS).order == "duplicate"
    sos = schemas.EventV1(
        device_id="wb-1", seq=900, occurred_at=at(500), event=schemas.Sos(press_duration_s=4.0)
    )
    first = step_in_order(state, sos, PROFILE, SETTINGS)
    assert len(first.alerts) == 1
    second = step_in_order(first.state, sos, PROFILE, SETTINGS)
    assert (second.order, second.alerts) == ("duplicate", ())


@pytest.mark.parametrize("lateness", [0.0, 10.0, 60.0])
def test_retention_is_bounded_by_the_lateness(lateness: float) -> None:
    state: OrderedState | None = None
    for i, t in enumerate(range(0, 600, 2)):
        r = step_in_order(
            state, batch(i, t, *vitals_at(t)), PROFILE, ProcessorSettings(lateness_s=lateness)
        )
        state = r.state
    assert state is not None
    span = state.retained[-1].key[0] - state.retained[0].key[0]
    assert span <= dt.timedelta(seconds=lateness)
    assert len(state.retained) == int(lateness // 2) + 1
