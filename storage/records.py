"""What the pipeline hands to a store, and how a telemetry batch becomes rows.

Column names equal the wire field names, so units stay in the names end to end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec

from schemas import EventV1, GatewayStatusV1, TelemetryBatchV1
from schemas.records import DEAD_LETTER_MAX_BYTES, DeadLetter, Received
from schemas.scores import Risk, ScoreRecord
from schemas.telemetry import Ecg
from storage.sealing import Sealer


class Heard(msgspec.Struct, frozen=True, kw_only=True):
    """When a band was last heard from, through which gateway, at which NEWS2 risk."""

    device_id: str
    received_at: dt.datetime
    gateway_id: str | None
    risk: Risk | None  # of its newest stored score, if any


class WearerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A wearer's stored profile: JSON of ``WearerProfile``, and its write's revision."""

    device_id: str
    profile: bytes
    revision: int


def dedup_key(message: TelemetryBatchV1 | EventV1) -> tuple[str, int, int]:
    """``(device_id, boot_id, seq)``: unique per message a device ever sends."""
    return (message.device_id, message.boot_id, message.seq)


READING_VALUE_COLUMNS = (
    "heart_rate_bpm",
    "rr_ms",
    "sensor_contact",
    "spo2_pct",
    "systolic_mmhg",
    "diastolic_mmhg",
    "temp_c",
    "site",
    "respiration_rate_per_min",
    "steps",
    "interval_s",
    "stage",
    "duration_s",
    "lat_deg",
    "lon_deg",
    "accuracy_m",
    "battery_pct",
    "on_wrist",
)
READING_COLUMNS = (
    "device_id",
    "boot_id",
    "seq",
    "sample_index",
    "measured_at",
    "received_at",
    "type",
    *READING_VALUE_COLUMNS,
)
ECG_COLUMNS = (
    "device_id",
    "boot_id",
    "seq",
    "sample_index",
    "measured_at",
    "received_at",
    "sampling_rate_hz",
    "lead",
    "samples_uv",
)
EVENT_COLUMNS = (
    "device_id",
    "boot_id",
    "seq",
    "occurred_at",
    "received_at",
    "type",
    "press_duration_s",
    "impact_g",
    "moved_after",
    "battery_pct",
)


class ReadingLayout(msgspec.Struct, frozen=True):
    """Where a sample type's fields go among ``READING_VALUE_COLUMNS``."""

    tag: str
    slots: tuple[tuple[int, str], ...]  # (position, field name)


_LAYOUTS: dict[type, ReadingLayout] = {}


def reading_layout(kind: type) -> ReadingLayout:
    """The (cached) layout of a non-ECG sample type: worked out once, not per sample."""
    layout = _LAYOUTS.get(kind)
    if layout is None:
        names = [f.name for f in msgspec.structs.fields(kind)]
        layout = ReadingLayout(
            tag=str(kind.__struct_config__.tag),  # type: ignore[attr-defined]
            slots=tuple(
                (READING_VALUE_COLUMNS.index(n), n) for n in names if n in READING_VALUE_COLUMNS
            ),
        )
        _LAYOUTS[kind] = layout
    return layout


def reading_rows(batch: TelemetryBatchV1, received_at: dt.datetime) -> Iterator[tuple[Any, ...]]:
    """One row per non-ECG sample, in ``READING_COLUMNS`` order."""
    width = len(READING_VALUE_COLUMNS)
    for index, sample in enumerate(batch.samples):
        if isinstance(sample, Ecg):
            continue
        layout = reading_layout(type(sample))
        values: list[Any] = [None] * width
        for position, name in layout.slots:
            values[position] = getattr(sample, name)
        yield (
            batch.device_id,
            batch.boot_id,
            batch.seq,
            index,
            sample.measured_at,
            received_at,
            layout.tag,
            *values,
        )


def fix_row_id(device_id: str, boot_id: int, seq: int, index: int) -> str:
    """The id a location fix's seal was bound to (``sealed_fixes``, written before 0024)."""
    return f"fix:{device_id}:{boot_id}:{seq}:{index}"


def batch_row_id(device_id: str, boot_id: int, seq: int) -> str:
    """The id a batch's sealed readings are bound to (``storage/sealing.py``)."""
    return f"batch:{device_id}:{boot_id}:{seq}"


def sealed_batch_row(batch: TelemetryBatchV1, sealer: Sealer) -> tuple[Any, ...] | None:
    """The ``sealed_batches`` row of a batch: its readings' values, sealed as one.

    JSON ``{"sample index": {field: value}}`` over the non-ECG samples (the strips are
    sealed in ``ecg_strips``); None for a batch of ECG strips only. One envelope per batch,
    not per sample: a data key and two AES-GCM passes per message, not per reading.
    """
    values = {
        str(index): {name: getattr(sample, name) for _, name in reading_layout(type(sample)).slots}
        for index, sample in enumerate(batch.samples)
        if not isinstance(sample, Ecg)
    }
    if not values:
        return None
    row = batch_row_id(batch.device_id, batch.boot_id, batch.seq)
    sealed = sealer.seal(msgspec.json.encode(values), row)
    return (batch.device_id, batch.boot_id, batch.seq, sealed)


def ecg_row_id(device_id: str, boot_id: int, seq: int, index: int) -> str:
    """The id an ECG strip's seal is bound to (``storage/sealing.py``)."""
    return f"ecg:{device_id}:{boot_id}:{seq}:{index}"


def ecg_rows(
    batch: TelemetryBatchV1, received_at: dt.datetime, sealer: Sealer | None = None
) -> Iterator[tuple[Any, ...]]:
    """One row per ECG strip, samples packed as little-endian int32 (sealed with keys)."""
    for index, sample in enumerate(batch.samples):
        if isinstance(sample, Ecg):
            packed = b"".join(v.to_bytes(4, "little", signed=True) for v in sample.samples_uv)
            if sealer is not None:
                row = ecg_row_id(batch.device_id, batch.boot_id, batch.seq, index)
                packed = sealer.seal(packed, row).encode()
            yield (
                batch.device_id,
                batch.boot_id,
                batch.seq,
                index,
                sample.measured_at,
                received_at,
                sample.sampling_rate_hz,
                sample.lead,
                packed,
            )


def event_row(event: EventV1, received_at: dt.datetime) -> tuple[Any, ...]:
    """The event as a row in ``EVENT_COLUMNS`` order."""
    body = msgspec.structs.asdict(event.event)
    tag = type(event.event).__struct_config__.tag
    return (
        event.device_id,
        event.boot_id,
        event.seq,
        event.occurred_at,
        received_at,
        tag,
        *(body.get(c) for c in EVENT_COLUMNS[6:]),
    )


def utc_offset_minutes(moment: dt.datetime) -> int:
    """The device clock's UTC offset in minutes (kept: a timestamptz forgets it)."""
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


def gateway_row(status: GatewayStatusV1, received_at: dt.datetime) -> tuple[Any, ...]:
    """The gateway's latest status as a row."""
    return (
        status.gateway_id,
        status.state,
        status.reported_at,
        received_at,
        ",".join(status.connected_devices),
    )


__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "ECG_COLUMNS",
    "EVENT_COLUMNS",
    "READING_COLUMNS",
    "READING_VALUE_COLUMNS",
    "DeadLetter",
    "ReadingLayout",
    "Received",
    "ScoreRecord",
    "WearerRecord",
    "batch_row_id",
    "dedup_key",
    "ecg_row_id",
    "ecg_rows",
    "event_row",
    "fix_row_id",
    "gateway_row",
    "reading_layout",
    "reading_rows",
    "sealed_batch_row",
    "utc_offset_minutes",
]
