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
from storage.records import batch_row_id, ecg_row_id, fix_row_id
from storage.sealing import PREFIX, Sealer, opened_bytes
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


def column_value(name: str, raw: object) -> object:
    """A readings column's stored value as on the wire.

    SQLite keeps RR lists as JSON text and booleans as integers; PostgreSQL gives
    ``real[]`` as a list.
    """
    if raw is None:
        return None
    if name == "rr_ms":
        return json.loads(raw) if isinstance(raw, str) else [float(v) for v in raw]  # type: ignore[attr-defined]
    if name in _BOOLEAN:
        return bool(raw)
    return raw


class HealthReader:
    """Reads a wearer's readings, ECG strips and indices."""

    def __init__(self, desk: SqlDesk, sealer: Sealer | None = None) -> None:
        self.desk = desk
        self.sealer = sealer

    def _samples(self, raw: bytes, row: str) -> list[int]:
        """An ECG strip's samples, opened when sealed (``storage/sealing.py``)."""
        if raw.startswith(PREFIX.encode()):
            raw = opened_bytes(self.sealer, raw.decode(), row)
        return [int(v) for v in np.frombuffer(raw, "<i4")]

    def readings(
        self,
        device_id: str,
        types: Sequence[str],
        since: dt.datetime,
        until: dt.datetime,
        limit: int,
        *,
        newest: bool = False,
        every: int = 1,
    ) -> list[HealthRecord]:
        """Readings of ``types`` measured in ``[since, until)``, oldest first.

        ``newest``: the window's last ``limit`` readings rather than its first (the live
        view); still returned oldest first. ``every``: only the readings of every n-th batch
        (by the band's sequence number), to draw a long window evenly (``count`` says how
        many there are).
        """
        desk = self.desk
        columns = sorted({n for t in types for n in _FIELDS[t]})
        marks = ",".join("?" * len(types))
        # Sealed values (NULL in the readings rows) are in ``sealed_batches``, one envelope
        # per batch; fixes sealed before migration 0024 one by one in ``sealed_fixes`` (a
        # batch sealed later by ``vigil records rewrap`` holds those fixes as NULLs).
        rows = desk.rows(
            f"SELECT r.measured_at, r.type, r.boot_id, r.seq, r.sample_index, b.sealed, "
            f"f.sealed, {', '.join('r.' + c for c in columns)} FROM readings r "
            "LEFT JOIN sealed_batches b ON b.device_id = r.device_id AND b.boot_id = r.boot_id "
            "AND b.seq = r.seq "
            "LEFT JOIN sealed_fixes f ON r.type = 'gps' AND f.device_id = r.device_id "
            "AND f.boot_id = r.boot_id AND f.seq = r.seq AND f.sample_index = r.sample_index "
            f"WHERE r.device_id = ? AND r.type IN ({marks}) AND r.measured_at >= ? "
            "AND r.measured_at < ? AND r.seq % ? = 0 "
            "ORDER BY r.measured_at {0}, r.seq {0}, r.sample_index {0} "
            "LIMIT ?".format("DESC" if newest else "ASC"),
            (device_id, *types, desk.time_in(since), desk.time_in(until), max(1, every), limit),
        )
        if newest:
            rows = rows[::-1]
        batches: dict[tuple[int, int], dict[str, dict[str, object]]] = {}
        records = []
        for row in rows:
            boot_id, seq, index = int(row[2]), int(row[3]), int(row[4])
            raw = dict(zip(columns, row[7:], strict=True))
            if row[5] is not None:
                batch = batches.get((boot_id, seq))
                if batch is None:
                    opened = opened_bytes(
                        self.sealer, row[5], batch_row_id(device_id, boot_id, seq)
                    )
                    batch = batches[(boot_id, seq)] = msgspec.json.decode(opened)
                raw.update(batch[str(index)])
            if row[6] is not None:
                opened = opened_bytes(
                    self.sealer, row[6], fix_row_id(device_id, boot_id, seq, index)
                )
                raw.update(msgspec.json.decode(opened))
            names = _FIELDS[row[1]]
            records.append(
                HealthRecord(
                    measured_at=desk.time_out(row[0]),
                    type=row[1],
                    values={n: column_value(n, raw[n]) for n in names},
                )
            )
        return records

    def count(self, device_id: str, kind: str, since: dt.datetime, until: dt.datetime) -> int:
        """How many readings of one type were measured in ``[since, until)``."""
        desk = self.desk
        rows = desk.rows(
            "SELECT count(*) FROM readings WHERE device_id = ? AND type = ? "
            "AND measured_at >= ? AND measured_at < ?",
            (device_id, kind, desk.time_in(since), desk.time_in(until)),
        )
        return int(rows[0][0])

    def latest_news2(self, device_id: str) -> tuple[dt.datetime, int] | None:
        """The wearer's newest NEWS2 evaluation: its device time and alert level (0-3)."""
        desk = self.desk
        rows = desk.rows(
            "SELECT evaluated_at, level FROM scores WHERE device_id = ? "
            "ORDER BY evaluated_at DESC LIMIT 1",
            (device_id,),
        )
        return (desk.time_out(rows[0][0]), int(rows[0][1])) if rows else None

    def ecg(
        self,
        device_id: str,
        since: dt.datetime,
        until: dt.datetime,
        limit: int,
        *,
        newest: bool = False,
    ) -> list[HealthRecord]:
        """ECG strips starting in ``[since, until)``, oldest first (``newest``: the last)."""
        desk = self.desk
        rows = desk.rows(
            "SELECT measured_at, sampling_rate_hz, lead, samples_uv, boot_id, seq, sample_index "
            "FROM ecg_strips "
            "WHERE device_id = ? AND measured_at >= ? AND measured_at < ? "
            f"ORDER BY measured_at {'DESC' if newest else 'ASC'} LIMIT ?",
            (device_id, desk.time_in(since), desk.time_in(until), limit),
        )
        if newest:
            rows = rows[::-1]
        return [
            HealthRecord(
                measured_at=desk.time_out(r[0]),
                type="ecg",
                values={
                    "sampling_rate_hz": float(r[1]),
                    "lead": r[2],
                    "samples_uv": self._samples(
                        bytes(r[3]), ecg_row_id(device_id, int(r[4]), int(r[5]), int(r[6]))
                    ),
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
            found = index_of(row, desk.time_out(row[1]), self.sealer)
            records.append(
                HealthRecord(
                    measured_at=found.evaluated_at,
                    type=found.name,
                    values={"value": found.value, "inputs": found.inputs},
                )
            )
        return records
