"""``vigil records rewrap``: every sealed column under the current record key.

One pass per table that holds sealed values (``storage/sealing.py``): a value sealed under
an older key is re-wrapped (its data key only; the data is not re-encrypted), a value
stored plain before keys were configured is sealed. Each row is updated only if it still
holds what was read, so a writer in between is not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from storage.records import ecg_row_id, fix_row_id
from storage.sealing import PREFIX, Sealer
from storage.sql_desk import SqlDesk


class SealedColumn(msgspec.Struct, frozen=True):
    """A table's sealed column, the key that finds a row, and the id its seal is bound to."""

    table: str
    keys: tuple[str, ...]
    column: str
    row_id: Callable[[Sequence[Any]], str]
    binary: bool = False  # bytes (the ECG strips), else text


SEALED_COLUMNS = (
    SealedColumn("consultations", ("consult_id",), "body", lambda k: str(k[0])),
    SealedColumn("notices", ("notice_id",), "text", lambda k: str(k[0])),
    SealedColumn("health_profiles", ("device_id",), "body", lambda k: f"profile:{k[0]}"),
    SealedColumn(
        "ecg_strips",
        ("device_id", "boot_id", "seq", "sample_index"),
        "samples_uv",
        lambda k: ecg_row_id(str(k[0]), int(k[1]), int(k[2]), int(k[3])),
        binary=True,
    ),
    SealedColumn(
        "sealed_fixes",
        ("device_id", "boot_id", "seq", "sample_index"),
        "sealed",
        lambda k: fix_row_id(str(k[0]), int(k[1]), int(k[2]), int(k[3])),
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
    changed = 0
    for *key, stored in desk.rows(f"SELECT {keys}, {sealed.column} FROM {sealed.table}"):
        new = _rewrapped(sealer, stored, sealed.row_id(key), sealed.binary)
        if new is None:
            continue
        with desk.tx() as conn:
            conn.execute(
                desk.q(f"UPDATE {sealed.table} SET {sealed.column} = ? WHERE {match}"),
                (new, *key, stored),
            )
        changed += 1
    return changed


def rewrap_all(desk: SqlDesk, sealer: Sealer) -> dict[str, int]:
    """Every sealed column under the current key; rows changed per table."""
    return {s.table: rewrap_column(desk, sealer, s) for s in SEALED_COLUMNS}
