"""A gateway's samples per band as numbered telemetry batches."""

from __future__ import annotations

import datetime as dt

from ingest.ble.batcher import BandBatcher
from schemas import decode, encode
from schemas.telemetry import SpO2
from schemas.topics import telemetry_topic

AT = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)


def spo2(n: int) -> list[SpO2]:
    return [SpO2(measured_at=AT + dt.timedelta(seconds=i), spo2_pct=96) for i in range(n)]


def test_full_batches_go_at_once_and_the_rest_when_due() -> None:
    batcher = BandBatcher("gw-1", boot_id=7, max_samples=4, max_wait_s=1.0)
    assert batcher.add("wb-0001", spo2(3), now=0.0, at=AT) == []
    first, second = batcher.add("wb-0001", spo2(6), now=0.2, at=AT)  # 9: two full, one left
    assert (first.device_id, first.boot_id, first.seq, len(first.samples)) == ("wb-0001", 7, 0, 4)
    assert (second.seq, len(second.samples), first.gateway_id) == (1, 4, "gw-1")
    assert batcher.add("wb-0002", spo2(1), now=0.5, at=AT) == []
    assert batcher.due(now=1.1, at=AT) == [], "wb-0001's last sample has waited 0.9 s"
    (late,) = batcher.due(now=1.2, at=AT)
    assert (late.device_id, late.seq, len(late.samples)) == ("wb-0001", 2, 1)
    (last,) = batcher.flush(at=AT)
    assert (last.device_id, last.seq, len(last.samples)) == ("wb-0002", 0, 1)
    assert batcher.flush(at=AT) == []
    # What the gateway publishes passes the backend's validation.
    assert decode(telemetry_topic("wb-0001"), encode(first)) == first


def test_two_gateways_number_the_same_band_under_different_boot_ids() -> None:
    boots = {BandBatcher("gw-1").boot_id for _ in range(20)}
    assert len(boots) == 20
