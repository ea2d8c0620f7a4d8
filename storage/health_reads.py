"""A wearer's stored data by category, for the API's record reads.

The readings a category holds (``schemas.access.READING_TYPES``), the ECG strips, or
the wellbeing indices, over a device-time window, oldest first, at most ``limit``.
Each record names its type and carries the fields that type fills, with the units in
their names as on the wire (``schemas/telemetry.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import get_args

import msgspec
import numpy as np

from schemas.health_records import HealthRecord
from schemas.telemetry import AnySample, Ecg
from storage._common import INDEX_COLUMNS, index_of
from storage.sql_desk import SqlDesk


def _fields_by_tag() -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for kind in get_args(AnySample):
        if kind is Ecg:
            continue
        tag = str(kind.__struct_config__.tag)
        names = tuple(f.name for f in msgspec.structs.fields(kind) if f.name != "measured_at")
        found[tag] = names
    return found


_FIELDS = _fields_by_tag()
_BOOLEAN = {"sensor_contact", "on_wrist"}


def _value(name: str, raw: object) -> object:
    if raw is None:
        return None
    if name == "rr_ms":
        return json.loads(raw) if isinstance(raw, str) else [float(v) for v in raw]  # type: ignore[attr-defined]
    if name in _BOOLEAN:
        return bool(raw)
    return raw


class HealthReader:
    """Reads a wearer's readings, ECG strips and indices."""

    def __init__(self, desk: SqlDesk) -> None:
        self.desk = desk

    def readings(
        self,
        device_id: str,
        types: Sequence[str],
        since: dt.datetime,
        until: dt.datetime,
        limit: int,
    ) -> list[HealthRecord]:
        """Readings of ``types`` measured in ``[since, until)``."""
        desk = self.desk
        columns = sorted({n for t in types for n in _FIELDS[t]})
        marks = ",".join("?" * len(types))
        rows = desk.rows(
            f"SELECT measured_at, type, {', '.join(columns)} FROM readings "
            f"WHERE device_id = ? AND type IN ({marks}) AND measured_at >= ? "
            "AND measured_at < ? ORDER BY measured_at, seq, sample_index LIMIT ?",
            (device_id, *types, desk.time_in(since), desk.time_in(until), limit),
        )
        records = []
        for row in rows:
            raw = dict(zip(columns, row[2:], strict=True))
            names = _FIELDS[row[1]]
            records.append(
                HealthRecord(
                    measured_at=desk.time_out(row[0]),
                    type=row[1],
                    values={n: _value(n, raw[n]) for n in names},
                )
            )
        return records

    def ecg(
        self, device_id: str, since: dt.datetime, until: dt.datetime, limit: int
    ) -> list[HealthRecord]:
        """ECG strips starting in ``[since, until)``."""
        desk = self.desk
        rows = desk.rows(
            "SELECT measured_at, sampling_rate_hz, lead, samples_uv FROM ecg_strips "
            "WHERE device_id = ? AND measured_at >= ? AND measured_at < ? "
            "ORDER BY measured_at LIMIT ?",
            (device_id, desk.time_in(since), desk.time_in(until), limit),
        )
        return [
            HealthRecord(
                measured_at=desk.time_out(r[0]),
                type="ecg",
                values={
                    "sampling_rate_hz": float(r[1]),
                    "lead": r[2],
                    "samples_uv": np.frombuffer(bytes(r[3]), "<i4").tolist(),
                },
            )
            for r in rows
        ]

    def indices(
        self, device_id: str, since: dt.datetime, until: dt.datetime, limit: int
    ) -> list[HealthRecord]:
        """Wellbeing index values evaluated in ``[since, until)``."""
        desk = self.desk
        rows = desk.rows(
            f"SELECT {INDEX_COLUMNS} FROM index_values WHERE device_id = ? "
            "AND evaluated_at >= ? AND evaluated_at < ? ORDER BY evaluated_at, name LIMIT ?",
            (device_id, desk.time_in(since), desk.time_in(until), limit),
        )
        records = []
        for row in rows:
            found = index_of(row, desk.time_out(row[1]))
            records.append(
                HealthRecord(
                    measured_at=found.evaluated_at,
                    type=found.name,
                    values={"value": found.value, "inputs": found.inputs},
                )
            )
        return records
