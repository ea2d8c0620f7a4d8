"""``vigil records rewrap``: every sealed column under the current record key.

One pass per table that holds sealed values (``storage/sealing.py``): a value sealed under
an older key is re-wrapped (its data key only; the data is not re-encrypted), a value
stored plain before keys were configured is sealed. Each row is updated only if it still
holds what was read, so a writer in between is not overwritten.

Readings and index values keep their plain values in their own columns; those stored
before keys were configured are sealed the way the stores seal new ones (one envelope
per telemetry batch in ``sealed_batches``; an index's value, inputs and missing names in
its ``sealed`` column), the plain columns emptied in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from storage._common import index_row_id, split_csv
from storage.health_reads import column_value
from storage.records import READING_VALUE_COLUMNS, batch_row_id, ecg_row_id, fix_row_id
from storage.sealing import PREFIX, Sealer
from storage.sql_desk import SqlDesk


class SealedColumn(msgspec.Struct, frozen=True):
    """A table's sealed column, the key that finds a row, and the id its seal is bound to."""

    table: str
    keys: tuple[str, ...]
    column: str
    row_id: Callable[[SqlDesk, Sequence[Any]], str]
    binary: bool = False  # bytes (the ECG strips), else text
    nullable: bool = False  # NULL where the row is plain (sealed by its own pass)


SEALED_COLUMNS = (
    SealedColumn("consultations", ("consult_id",), "body", lambda _, k: str(k[0])),
    SealedColumn("notices", ("notice_id",), "text", lambda _, k: str(k[0])),
    SealedColumn("health_profiles", ("device_id",), "body", lambda _, k: f"profile:{k[0]}"),
    SealedColumn(
        "ecg_strips",
        ("device_id", "boot_id", "seq", "sample_index"),
        "samples_uv",
        lambda _, k: ecg_row_id(str(k[0]), int(k[1]), int(k[2]), int(k[3])),
        binary=True,
    ),
    SealedColumn(
        "sealed_batches",
        ("device_id", "boot_id", "seq"),
        "sealed",
        lambda _, k: batch_row_id(str(k[0]), int(k[1]), int(k[2])),
    ),
    SealedColumn(
        "index_values",
        ("device_id", "evaluated_at", "name"),
        "sealed",
        lambda desk, k: index_row_id(str(k[0]), desk.time_out(k[1]), str(k[2])),
        nullable=True,
    ),
    SealedColumn(
        "sealed_fixes",
        ("device_id", "boot_id", "seq", "sample_index"),
        "sealed",
        lambda _, k: fix_row_id(str(k[0]), int(k[1]), int(k[2]), int(k[3])),
    ),
)


def _rewrapped(sealer: Sealer, stored: Any, row: str, binary: bool) -> object | None:
    if not binary:
        return sealer.rewrap(str(stored), row)
    raw = bytes(stored)
    if raw.startswith(PREFIX.encode()):
        new = sealer.rewrap(raw.decode(), row)
        return None if new is None else new.encode()
    return sealer.seal(raw, row).encode()


def rewrap_column(desk: SqlDesk, sealer: Sealer, sealed: SealedColumn) -> int:
    """Re-wrap (or seal) one column's values under the current key; how many changed."""
    keys = ", ".join(sealed.keys)
    match = " AND ".join(f"{k} = ?" for k in (*sealed.keys, sealed.column))
    where = f" WHERE {sealed.column} IS NOT NULL" if sealed.nullable else ""
    changed = 0
    for *key, stored in desk.rows(f"SELECT {keys}, {sealed.column} FROM {sealed.table}{where}"):
        new = _rewrapped(sealer, stored, sealed.row_id(desk, key), sealed.binary)
        if new is None:
            continue
        with desk.tx() as conn:
            conn.execute(
                desk.q(f"UPDATE {sealed.table} SET {sealed.column} = ? WHERE {match}"),
                (new, *key, stored),
            )
        changed += 1
    return changed


_ANY_VALUE = " OR ".join(f"{c} IS NOT NULL" for c in READING_VALUE_COLUMNS)
_EMPTIED = ", ".join(f"{c} = NULL" for c in READING_VALUE_COLUMNS)


def seal_plain_readings(desk: SqlDesk, sealer: Sealer) -> int:
    """Seal the readings stored plain, one envelope per batch; how many batches."""
    columns = ", ".join(READING_VALUE_COLUMNS)
    batches = desk.rows(f"SELECT DISTINCT device_id, boot_id, seq FROM readings WHERE {_ANY_VALUE}")
    for device_id, boot_id, seq in batches:
        key = (device_id, boot_id, seq)
        with desk.tx() as conn:
            rows = conn.execute(
                desk.q(
                    f"SELECT sample_index, {columns} FROM readings "
                    "WHERE device_id = ? AND boot_id = ? AND seq = ?"
                ),
                key,
            ).fetchall()
            # Every value column of the row, NULLs too: a fix sealed before 0024 (in
            # ``sealed_fixes``) keeps its NULLs here, and the reader takes its own.
            values = {
                str(row[0]): {
                    c: column_value(c, v)
                    for c, v in zip(READING_VALUE_COLUMNS, row[1:], strict=True)
                    if v is not None
                }
                for row in rows
            }
            body = sealer.seal(msgspec.json.encode(values), batch_row_id(*key))
            conn.execute(desk.q("INSERT INTO sealed_batches VALUES (?, ?, ?, ?)"), (*key, body))
            conn.execute(
                desk.q(
                    f"UPDATE readings SET {_EMPTIED} WHERE device_id = ? AND boot_id = ? "
                    "AND seq = ?"
                ),
                key,
            )
    return len(batches)


def seal_plain_indices(desk: SqlDesk, sealer: Sealer) -> int:
    """Seal the index values stored plain; how many."""
    rows = desk.rows(
        "SELECT device_id, evaluated_at, name, value, $JSON(inputs), missing FROM index_values "
        "WHERE sealed IS NULL"
    )
    for device_id, evaluated_at, name, value, inputs, missing in rows:
        body = msgspec.json.encode(
            {
                "value": value,
                "inputs": json.loads(inputs) if isinstance(inputs, str) else inputs,
                "missing": split_csv(str(missing)),
            }
        )
        sealed = sealer.seal(body, index_row_id(device_id, desk.time_out(evaluated_at), name))
        with desk.tx() as conn:
            conn.execute(
                desk.q(
                    "UPDATE index_values SET value = NULL, inputs = $JSON_IN, missing = '', "
                    "sealed = ? WHERE device_id = ? AND evaluated_at = ? AND name = ? "
                    "AND sealed IS NULL"
                ),
                ("{}", sealed, device_id, evaluated_at, name),
            )
    return len(rows)


def rewrap_all(desk: SqlDesk, sealer: Sealer) -> dict[str, int]:
    """Every sealed column under the current key; rows changed per table.

    Plain readings are counted by batch, as ``reading_batches``.
    """
    changed = {s.table: rewrap_column(desk, sealer, s) for s in SEALED_COLUMNS}
    changed["reading_batches"] = seal_plain_readings(desk, sealer)
    changed["index_values"] += seal_plain_indices(desk, sealer)
    return changed
