"""Row shaping shared by both backends (what differs is only how rows are written)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal, cast

import msgspec

from schemas import Alert, AlertLevel, Driver, EventV1, GatewayStatusV1, TelemetryBatchV1
from schemas.scores import IndexRecord
from storage.records import Received, ScoreRecord, dedup_key, utc_offset_minutes
from storage.sealing import Sealer, opened_bytes

MessageRow = tuple[str, int, int, str, dt.datetime, int, dt.datetime, str | None, int]


def split_new(
    messages: Sequence[Received],
) -> tuple[list[Received], list[Received]]:
    """Split into sequenced messages (telemetry, events; first of each key) and statuses."""
    seen: set[tuple[str, int, int]] = set()
    sequenced: list[Received] = []
    statuses: list[Received] = []
    for item in messages:
        msg = item.message
        if isinstance(msg, GatewayStatusV1):
            statuses.append(item)
            continue
        key = dedup_key(msg)
        if key not in seen:
            seen.add(key)
            sequenced.append(item)
    return sequenced, statuses


def message_row(item: Received) -> MessageRow:
    """The ``messages`` row that claims a telemetry batch's or event's dedup key."""
    msg = item.message
    if isinstance(msg, TelemetryBatchV1):
        kind, sent_at, count = "telemetry", msg.sent_at, len(msg.samples)
    elif isinstance(msg, EventV1):
        kind, sent_at, count = "event", msg.occurred_at, 1
    else:  # pragma: no cover - split_new keeps statuses apart
        raise TypeError(type(msg).__name__)
    return (
        msg.device_id,
        msg.boot_id,
        msg.seq,
        kind,
        sent_at,
        utc_offset_minutes(sent_at),
        item.received_at,
        msg.gateway_id,
        count,
    )


def score_row(record: ScoreRecord) -> tuple[object, ...]:
    """A ``scores`` row."""
    s = record.news2
    return (
        record.device_id,
        record.evaluated_at,
        s.total,
        int(s.level),
        s.risk,
        s.single_parameter_3,
        msgspec.json.encode(s.points).decode(),
        ",".join(s.missing),
        ",".join(s.defaulted),
        record.quality,
        ",".join(record.quality_flags),
    )


SCORE_COLUMNS = (
    "device_id, evaluated_at, total, level, risk, single_parameter_3, points, missing, "
    "defaulted, quality, quality_flags"
)


def alert_row(alert: Alert) -> tuple[object, ...]:
    """An ``alerts`` row (without the store-assigned sequence)."""
    return (
        alert.alert_id,
        alert.device_id,
        int(alert.level),
        alert.raised_at,
        alert.source,
        alert.summary,
        alert.score,
        alert.partial,
        ",".join(alert.missing),
        alert.share_with_contacts,
        alert.change,
        alert.refers_to,
        ",".join(f"{d.what}={d.points}" for d in alert.drivers),
    )


ALERT_COLUMNS = (
    "alert_id, device_id, level, raised_at, source, summary, score, partial, missing, "
    "share_with_contacts, change, refers_to, drivers"
)


def _drivers_of(text: str) -> tuple[Driver, ...]:
    pairs = (item.rsplit("=", 1) for item in split_csv(text))
    return tuple(Driver(what, int(points)) for what, points in pairs)


def alert_of(row: Sequence[object], raised_at: dt.datetime) -> Alert:
    """An alert from a row selected as ``ALERT_COLUMNS`` (``raised_at`` already parsed)."""
    return Alert(
        alert_id=str(row[0]),
        device_id=str(row[1]),
        level=AlertLevel(cast("int", row[2])),
        raised_at=raised_at,
        source=str(row[4]),
        summary=str(row[5]),
        score=None if row[6] is None else int(cast("int", row[6])),
        partial=bool(row[7]),
        missing=split_csv(str(row[8])),
        share_with_contacts=bool(row[9]),
        change=cast("Literal['raised', 'amended', 'retracted', 'resolved']", row[10]),
        refers_to=None if row[11] is None else str(row[11]),
        drivers=_drivers_of(str(row[12])),
    )


INDEX_COLUMNS = "device_id, evaluated_at, name, value, inputs, missing, sealed"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def index_row_id(device_id: str, evaluated_at: dt.datetime, name: str) -> str:
    """The id an index value's seal is bound to (the time in microseconds: exact in any store)."""
    return f"index:{device_id}:{name}:{(evaluated_at - _EPOCH) // dt.timedelta(microseconds=1)}"


def index_row(record: IndexRecord, sealer: Sealer | None = None) -> tuple[object, ...]:
    """An ``index_values`` row (``inputs`` as JSON text).

    With a sealer, the value, inputs and missing names go sealed to ``sealed`` and the
    plain columns hold nothing (NULL, ``{}``, ``''``).
    """
    if sealer is not None:
        body = msgspec.json.encode(
            {"value": record.value, "inputs": record.inputs, "missing": record.missing}
        )
        row = index_row_id(record.device_id, record.evaluated_at, record.name)
        return (
            record.device_id,
            record.evaluated_at,
            record.name,
            None,
            "{}",
            "",
            sealer.seal(body, row),
        )
    return (
        record.device_id,
        record.evaluated_at,
        record.name,
        record.value,
        msgspec.json.encode(record.inputs).decode(),
        ",".join(record.missing),
        None,
    )


class _SealedIndex(msgspec.Struct, frozen=True):
    value: float | None
    inputs: dict[str, dict[str, float | None]]
    missing: tuple[str, ...]


def index_of(
    row: Sequence[object], evaluated_at: dt.datetime, sealer: Sealer | None = None
) -> IndexRecord:
    """An index record from a row selected as ``INDEX_COLUMNS`` (opened when sealed)."""
    device_id, name, sealed = str(row[0]), str(row[2]), row[6]
    if sealed is not None:
        opened = msgspec.json.decode(
            opened_bytes(sealer, str(sealed), index_row_id(device_id, evaluated_at, name)),
            type=_SealedIndex,
        )
        return IndexRecord(
            device_id=device_id,
            evaluated_at=evaluated_at,
            name=name,
            value=opened.value,
            inputs=opened.inputs,
            missing=opened.missing,
        )
    inputs = row[4]
    return IndexRecord(
        device_id=device_id,
        evaluated_at=evaluated_at,
        name=name,
        value=None if row[3] is None else float(cast("float", row[3])),
        inputs=msgspec.json.decode(inputs) if isinstance(inputs, str | bytes) else inputs,  # type: ignore[arg-type]
        missing=split_csv(str(row[5])),
    )


def split_csv(text: str) -> tuple[str, ...]:
    """Inverse of the ``",".join`` used for short name lists."""
    return tuple(text.split(",")) if text else ()
