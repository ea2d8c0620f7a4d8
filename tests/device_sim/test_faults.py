"""The simulator's faults, as a pure transform of a recorded fleet (``device_sim/faults.py``)."""

from __future__ import annotations

import datetime as dt

import pytest

from device_sim.faults import MALFORMED, Faults, FaultStats, with_faults
from device_sim.publisher import FleetPlan, fleet_messages
from device_sim.scenario import load_scenario
from schemas import EventV1, TelemetryBatchV1, decode

START = dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC)
PLAN = FleetPlan(
    devices=2, rate_hz=1, seconds=40, speed=4, scenarios={}, default=load_scenario("sos_press")
)


def items() -> list[tuple[int, TelemetryBatchV1 | EventV1]]:
    return [(k, m) for k, _band, m in fleet_messages(PLAN, START)]


def keys(sent: list[tuple[int, str, bytes]]) -> list[tuple[str, int]]:
    out = []
    for _tick, topic, payload in sent:
        if payload != MALFORMED:
            message = decode(topic, payload)
            assert isinstance(message, TelemetryBatchV1 | EventV1)
            out.append((message.device_id, message.seq))
    return out


def test_without_faults_every_message_goes_once_in_order() -> None:
    stats = FaultStats()
    sent = list(with_faults(items(), Faults(), ticks=40, stats=stats))
    assert keys(sent) == [(m.device_id, m.seq) for _k, m in items()]
    assert (stats.distinct, stats.copies, stats.malformed) == (len(items()), 0, 0)


def test_every_fault_keeps_each_distinct_message_and_adds_only_copies_and_garbage() -> None:
    stats = FaultStats()
    faults = Faults.named(["skew", "duplicates", "reorder", "backfill", "malformed"])
    sent = list(with_faults(items(), faults, ticks=40, stats=stats))
    originals = [(m.device_id, m.seq) for _k, m in items()]
    got = keys(sent)
    assert sorted(set(got)) == sorted(originals), "every message, none invented"
    assert len(got) == len(originals) + stats.copies
    assert sum(p == MALFORMED for _t, _topic, p in sent) == stats.malformed > 0
    assert got != originals, "reordered"
    # The SOS event went out with the band's clock an hour ahead.
    (sos,) = [decode(t, p) for _k, t, p in sent if "/event/" in t][:1]
    assert isinstance(sos, EventV1)
    assert sos.occurred_at == START + dt.timedelta(seconds=120 + 3600)


def test_a_gateway_offline_holds_its_messages_and_sends_them_in_order_when_back() -> None:
    sent = list(with_faults(items(), Faults(backfill=(0.25, 0.5)), ticks=40, stats=FaultStats()))
    ticks = [tick for tick, _topic, _payload in sent]
    assert not any(10 <= t < 20 for t in ticks), "nothing sent while offline"
    assert ticks.count(20) == 2 * 11, "ten held ticks of two bands and tick 20's own"
    assert keys(sent) == [(m.device_id, m.seq) for _k, m in items()], "still in order"


def test_unknown_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        Faults.named(["gremlins"])
