"""A band taken off the wrist, and one whose battery runs out: what it sends, then silence."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from device_sim.publisher import FleetPlan, fleet_messages
from device_sim.scenario import BatteryDrain, load_scenario
from device_sim.wristband import SimulatedWristband
from schemas import Alert, Battery, EventV1, HeartRate, TelemetryBatchV1, WearState
from schemas.events import LowBattery, OffWrist
from stream_processors.device import ProcessorSettings, WearerProfile, step

START = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)


def test_a_band_taken_off_says_so_once_then_sends_nothing() -> None:
    scenario = load_scenario("off_wrist")
    off_s = next(e.at_s for e in scenario.events if e.kind == "off_wrist")
    plan = FleetPlan(devices=1, rate_hz=1, seconds=40, speed=60, default=scenario)
    messages = [m for _k, _band, m in fleet_messages(plan, START)]
    batches = [m for m in messages if isinstance(m, TelemetryBatchV1)]
    events = [m for m in messages if isinstance(m, EventV1)]
    assert [type(e.event) for e in events] == [OffWrist]
    assert events[0].occurred_at == START + dt.timedelta(seconds=off_s)
    # Batches up to the one holding the moment it came off; none after.
    assert len(batches) == off_s // 60
    assert max(b.sent_at for b in batches) <= START + dt.timedelta(seconds=off_s)
    wear = [s for b in batches for s in b.samples if isinstance(s, WearState)]
    assert [(w.on_wrist, w.measured_at) for w in wear] == [(False, events[0].occurred_at)]
    last_pulse = next(s for s in batches[-1].samples if isinstance(s, HeartRate))
    assert not last_pulse.sensor_contact


def test_what_a_band_measures_off_the_wrist_would_alarm_if_believed() -> None:
    scenario = load_scenario("off_wrist")
    band = SimulatedWristband("wb-1", scenario, START)
    profile, settings = WearerProfile(at_risk=True), ProcessorSettings()
    state = None
    alerts: list[Alert] = []
    for t in range(0, 600, 60):
        if band.silent_at(t):
            break
        result = step(state, band.batch(t, t + 60), profile, settings)
        state, alerts = result.state, alerts + list(result.alerts)
    assert not alerts  # the off-wrist readings were set aside
    # The same last batch, as if the band had not known it was off: NEWS2 would fire.
    band = SimulatedWristband("wb-1", scenario, START)
    believed = None
    fired: list[Alert] = []
    for t in range(0, 600, 60):
        if band.silent_at(t):
            break
        batch = band.batch(t, t + 60)
        samples = tuple(
            msgspec.structs.replace(s, sensor_contact=True) if isinstance(s, HeartRate) else s
            for s in batch.samples
            if not isinstance(s, WearState)
        )
        result = step(believed, msgspec.structs.replace(batch, samples=samples), profile, settings)
        believed, fired = result.state, fired + list(result.alerts)
    assert {a.source for a in fired} == {"news2"}


def test_a_dying_battery_warns_at_its_level_and_stops_when_empty() -> None:
    scenario = load_scenario("dying_battery")
    battery = scenario.battery
    assert battery is not None
    low_s, empty_s = battery.time_at(battery.low_pct), battery.time_at(0)
    assert low_s is not None
    assert empty_s is not None
    assert 0 < low_s < empty_s
    assert scenario.silent_from_s() == empty_s
    plan = FleetPlan(devices=1, rate_hz=1, seconds=45, speed=60, default=scenario)
    messages = [m for _k, _band, m in fleet_messages(plan, START)]
    events = [m for m in messages if isinstance(m, EventV1)]
    assert [type(e.event) for e in events] == [LowBattery]
    assert events[0].occurred_at == START + dt.timedelta(seconds=low_s)
    batches = [m for m in messages if isinstance(m, TelemetryBatchV1)]
    assert max(b.sent_at for b in batches) <= START + dt.timedelta(seconds=empty_s + 60)
    assert not [b for b in batches if b.sent_at > START + dt.timedelta(seconds=empty_s + 60)]
    levels = [s.battery_pct for b in batches for s in b.samples if isinstance(s, Battery)]
    assert levels == sorted(levels, reverse=True)
    assert levels[0] == pytest.approx(battery.start_pct, abs=1)
    assert levels[-1] <= battery.low_pct


def test_scenarios_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(ValueError, match="receive clock"):
        msgspec.convert(
            {
                "keyframes": [],
                "name": "x",
                "expect": {"alerts": [{"source": "signal_lost", "within_s": 60}]},
            },
            type(load_scenario("healthy")),
        )
    with pytest.raises(ValueError, match="0-100"):
        BatteryDrain(start_pct=120)
    with pytest.raises(ValueError, match="negative"):
        BatteryDrain(drain_pct_per_h=-1)
    assert BatteryDrain(drain_pct_per_h=0).time_at(0) is None  # never empties
    assert load_scenario("healthy").silent_from_s() is None
