"""The audit log (``consult_bridge/audit.py``) in the main database, append-only.

Entries are numbered and linked under a lock (PostgreSQL: a transaction-scoped advisory
lock; SQLite: the write lock ``BEGIN IMMEDIATE`` takes), so API processes side by side
extend one chain. Triggers refuse ``UPDATE`` and ``DELETE`` (and, on PostgreSQL,
``TRUNCATE``) on the table (migration ``0016_records_audit``); the chain catches what
someone able to drop the triggers changes anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from schemas.audit import AuditEntry, AuditEvent
from storage.sql_desk import SqlDesk

_COLUMNS = "seq, at, actor, role, tenant, device_id, category, action, detail, prev_hash, hash"
# Any 64-bit number of our own; "vigil audit" as text, so it reads in pg_locks.
_LOCK_KEY = int.from_bytes(b"vgaudit!", "big") & 0x7FFF_FFFF_FFFF_FFFF


#: Makes the next entry from an event and the current head (``consult_bridge.audit.link``
#: under the deployment's key).
Linker = Callable[[AuditEvent, AuditEntry | None], AuditEntry]


class AuditLog:
    """Append and read the audit log."""

    def __init__(self, desk: SqlDesk, linker: Linker) -> None:
        self.desk = desk
        self._link = linker

    def _entry(self, row: tuple[Any, ...]) -> AuditEntry:
        event = AuditEvent(
            at=self.desk.time_out(row[1]),
            actor=row[2],
            role=row[3],
            tenant=row[4],
            device_id=row[5],
            category=row[6],
            action=row[7],
            detail=row[8],
        )
        return AuditEntry(seq=int(row[0]), event=event, prev_hash=row[9], hash=row[10])

    def append(self, event: AuditEvent) -> AuditEntry:
        """Write ``event`` as the next entry of the chain; the entry written."""
        desk = self.desk
        with desk.tx() as conn:
            if desk.dialect == "postgres":
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            rows = conn.execute(
                desk.q(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1")
            ).fetchall()
            entry = self._link(event, self._entry(rows[0]) if rows else None)
            conn.execute(
                desk.q(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"),
                (
                    entry.seq,
                    desk.time_in(event.at),
                    event.actor,
                    event.role,
                    event.tenant,
                    event.device_id,
                    event.category,
                    event.action,
                    event.detail,
                    entry.prev_hash,
                    entry.hash,
                ),
            )
        return entry

    def about(
        self, device_id: str, *, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries about a wearer's data, newest first (``since``: at or after)."""
        where, params = "device_id = ?", [device_id]
        if since is not None:
            where += " AND at >= ?"
            params.append(self.desk.time_in(since))  # type: ignore[arg-type]
        rows = self.desk.rows(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {where} ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [self._entry(r) for r in rows]

    def walk(self, page: int = 5000) -> Iterator[AuditEntry]:
        """Every entry in ``seq`` order, read a page at a time."""
        after = 0
        while True:
            rows = self.desk.rows(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, page),
            )
            if not rows:
                return
            for row in rows:
                yield self._entry(row)
            after = int(rows[-1][0])
