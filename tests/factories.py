"""Builders of wire models for tests (real models, validated on construction)."""

from __future__ import annotations

import datetime as dt

import schemas
from schemas.records import Received

T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def vitals_batch(
    seq: int,
    *,
    device_id: str = "wb-1",
    boot_id: int = 0,
    at: dt.datetime = T0,
    hr: float = 72,
    spo2: float = 97,
    resp: float = 15,
    sbp: float = 124,
    temp: float = 36.9,
) -> schemas.TelemetryBatchV1:
    """A batch with every NEWS2 vital a band measures, all at ``at``."""
    return schemas.TelemetryBatchV1(
        device_id=device_id,
        boot_id=boot_id,
        seq=seq,
        sent_at=at,
        samples=(
            schemas.HeartRate(measured_at=at, heart_rate_bpm=hr, rr_ms=(830.0, 845.5)),
            schemas.SpO2(measured_at=at, spo2_pct=spo2),
            schemas.Respiration(measured_at=at, respiration_rate_per_min=resp),
            schemas.BloodPressure(measured_at=at, systolic_mmhg=sbp, diastolic_mmhg=sbp - 45),
            schemas.Temperature(measured_at=at, temp_c=temp, site="estimated_core"),
        ),
    )


def received(msg: schemas.WireMessage, at: dt.datetime | None = None) -> Received:
    """Wrap a message as ingest would, with a UTC receive time."""
    return Received(message=msg, received_at=(at or T0).astimezone(dt.UTC))
