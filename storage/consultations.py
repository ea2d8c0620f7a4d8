"""Consultation requests (``schemas/consultation.py``) in the main database.

The request's body (reason, history, report: health data) is sealed at rest when record
keys are configured (``storage/sealing.py``); the columns the queues sort on are not.

Each request is kept whole as msgspec JSON beside the columns its queues sort on. A save
names the version it read: a second writer who read the same version loses (``False``)
and must read again, so two reviewers cannot both approve one request. The intake cursor
says how far flagged alerts have been turned into requests (migration
``0017_consultations``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from schemas import Alert
from schemas.consultation import Consultation, ConsultState
from storage._common import ALERT_COLUMNS, alert_of
from storage.sealing import Sealer, open_text, seal_text
from storage.sql_desk import SqlDesk

_consultation = msgspec.json.Decoder(Consultation)


class ConsultationStore:
    """Add, read, save (optimistically) and queue consultation requests."""

    def __init__(self, desk: SqlDesk, sealer: Sealer | None = None) -> None:
        self.desk = desk
        self.sealer = sealer

    def _params(self, c: Consultation) -> tuple[object, ...]:
        desk = self.desk
        return (
            c.state,
            c.priority,
            c.doctor,
            None if c.planned_at is None else desk.time_in(c.planned_at),
            c.version,
            seal_text(self.sealer, msgspec.json.encode(c).decode(), c.consult_id),
        )

    def add(self, c: Consultation) -> bool:
        """Store a new request; False if its alert already raised one."""
        desk = self.desk
        with desk.tx() as conn:
            if c.alert_id is not None:
                taken = conn.execute(
                    desk.q("SELECT 1 FROM consultations WHERE alert_id = ?"), (c.alert_id,)
                ).fetchall()
                if taken:
                    return False
            conn.execute(
                desk.q(
                    "INSERT INTO consultations (consult_id, device_id, tenant, alert_id, "
                    "created_at, state, priority, doctor, planned_at, version, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    c.consult_id,
                    c.device_id,
                    c.tenant,
                    c.alert_id,
                    desk.time_in(c.created_at),
                    *self._params(c),
                ),
            )
        return True

    def save(self, c: Consultation, read_version: int) -> bool:
        """Write ``c`` over the version read; False if someone saved it in between."""
        desk = self.desk
        with desk.tx() as conn:
            saved = conn.execute(
                desk.q(
                    "UPDATE consultations SET state = ?, priority = ?, doctor = ?, "
                    "planned_at = ?, version = ?, body = ? WHERE consult_id = ? AND version = ?"
                ),
                (*self._params(c), c.consult_id, read_version),
            )
            return bool(saved.rowcount)

    def _many(self, where: str, params: Sequence[object]) -> list[Consultation]:
        rows = self.desk.rows(
            f"SELECT consult_id, body FROM consultations WHERE {where} "
            "ORDER BY CASE priority WHEN 'green' THEN 0 ELSE 1 END, created_at, consult_id",
            params,
        )
        return [_consultation.decode(open_text(self.sealer, r[1], r[0])) for r in rows]

    def get(self, consult_id: str) -> Consultation | None:
        """One request, if it exists."""
        found = self._many("consult_id = ?", (consult_id,))
        return found[0] if found else None

    def queue(
        self, tenant: str, states: Sequence[ConsultState], doctor: str | None = None
    ) -> list[Consultation]:
        """A clinic's requests in ``states``: green (red cases) first, then oldest first."""
        marks = ",".join("?" * len(states))
        where, params = f"tenant = ? AND state IN ({marks})", [tenant, *states]
        if doctor is not None:
            where += " AND doctor = ?"
            params.append(doctor)
        return self._many(where, params)

    def of_wearer(self, device_id: str) -> list[Consultation]:
        """A wearer's requests, green first, then oldest first."""
        return self._many("device_id = ?", (device_id,))

    def open_of(self, device_id: str) -> Consultation | None:
        """The wearer's request still open (not ended or cancelled), if any."""
        found = self._many("device_id = ? AND state NOT IN ('ended', 'cancelled')", (device_id,))
        return found[0] if found else None

    def approved_due(self, before: dt.datetime) -> list[Consultation]:
        """Approved requests planned at or before ``before`` (to check for a missed start)."""
        return self._many("state = 'approved' AND planned_at <= ?", (self.desk.time_in(before),))

    def flagged_since_cursor(self, limit: int = 200) -> tuple[list[tuple[int, Alert]], int]:
        """Alerts stored after the intake cursor (with their ``stored_seq``), and the cursor."""
        desk = self.desk
        with desk.tx() as conn:
            cursor = int(
                conn.execute("SELECT last_seq FROM consult_intake WHERE id = 1").fetchall()[0][0]
            )
            rows = conn.execute(
                desk.q(
                    f"SELECT {ALERT_COLUMNS}, stored_seq FROM alerts WHERE stored_seq > ? "
                    "ORDER BY stored_seq LIMIT ?"
                ),
                (cursor, limit),
            ).fetchall()
        return [(int(r[-1]), alert_of(r, desk.time_out(r[3]))) for r in rows], cursor

    def advance_cursor(self, from_seq: int, to_seq: int) -> bool:
        """Move the intake cursor; False if another process moved it first."""
        desk = self.desk
        with desk.tx() as conn:
            moved = conn.execute(
                desk.q("UPDATE consult_intake SET last_seq = ? WHERE id = 1 AND last_seq = ?"),
                (to_seq, from_seq),
            )
            return bool(moved.rowcount)

    def alert(self, alert_id: str) -> Alert | None:
        """One stored alert, if it exists (a request's triggering alert)."""
        desk = self.desk
        rows = desk.rows(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ?", (alert_id,))
        return alert_of(rows[0], desk.time_out(rows[0][3])) if rows else None

    def alerts_of(self, device_id: str, since: dt.datetime, until: dt.datetime) -> list[Alert]:
        """A wearer's alerts raised in ``[since, until)``, in the order stored."""
        desk = self.desk
        rows = desk.rows(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE device_id = ? AND raised_at >= ? "
            "AND raised_at < ? ORDER BY stored_seq",
            (device_id, desk.time_in(since), desk.time_in(until)),
        )
        return [alert_of(r, desk.time_out(r[3])) for r in rows]

    def loads(self, tenant: str) -> dict[str, int]:
        """Each doctor's open cases in a clinic: approved, re-issued or in session."""
        rows = self.desk.rows(
            "SELECT doctor, count(*) FROM consultations WHERE tenant = ? AND doctor IS NOT NULL "
            "AND state IN ('approved', 'reissued', 'in_session') GROUP BY doctor",
            (tenant,),
        )
        return {str(r[0]): int(r[1]) for r in rows}
