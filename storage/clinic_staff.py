"""A clinic's doctors and their appointment slots (migration ``0019_clinic_staff``).

Booking is one conditional ``UPDATE`` (``booked_by IS NULL``): of two wearers booking the
same slot at once, exactly one wins, on either database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from schemas.clinic import Doctor, Slot
from storage.sql_desk import SqlDesk

_doctor = msgspec.json.Decoder(Doctor)
_SLOT = "slot_id, tenant, doctor, starts_at, ends_at, booked_by, consult_id, booked_at"


class ClinicStaffStore:
    """Register doctors; open, list, book and free slots."""

    def __init__(self, desk: SqlDesk) -> None:
        self.desk = desk

    def put_doctor(self, doctor: Doctor) -> bool:
        """Register or update a doctor; False if the user is another clinic's doctor."""
        desk = self.desk
        with desk.tx() as conn:
            rows = conn.execute(
                desk.q("SELECT tenant FROM doctors WHERE sub = ?"), (doctor.sub,)
            ).fetchall()
            if rows and rows[0][0] != doctor.tenant:
                return False
            body = msgspec.json.encode(doctor).decode()
            if rows:
                conn.execute(
                    desk.q("UPDATE doctors SET body = ? WHERE sub = ?"), (body, doctor.sub)
                )
            else:
                conn.execute(
                    desk.q("INSERT INTO doctors (sub, tenant, body) VALUES (?, ?, ?)"),
                    (doctor.sub, doctor.tenant, body),
                )
            return True

    def doctors(self, tenant: str) -> list[Doctor]:
        """A clinic's doctors, by user."""
        rows = self.desk.rows("SELECT body FROM doctors WHERE tenant = ? ORDER BY sub", (tenant,))
        return [_doctor.decode(r[0]) for r in rows]

    def doctor(self, sub: str) -> Doctor | None:
        """One doctor."""
        rows = self.desk.rows("SELECT body FROM doctors WHERE sub = ?", (sub,))
        return _doctor.decode(rows[0][0]) if rows else None

    def _slot(self, r: Sequence[Any]) -> Slot:
        out = self.desk.time_out
        return Slot(
            slot_id=r[0],
            tenant=r[1],
            doctor=r[2],
            starts_at=out(r[3]),
            ends_at=out(r[4]),
            booked_by=r[5],
            consult_id=r[6],
            booked_at=None if r[7] is None else out(r[7]),
        )

    def add_slot(self, slot: Slot) -> bool:
        """Open a slot; False if it overlaps one of the doctor's slots."""
        desk = self.desk
        with desk.tx() as conn:
            clash = conn.execute(
                desk.q("SELECT 1 FROM slots WHERE doctor = ? AND starts_at < ? AND ends_at > ?"),
                (slot.doctor, desk.time_in(slot.ends_at), desk.time_in(slot.starts_at)),
            ).fetchall()
            if clash:
                return False
            conn.execute(
                desk.q(f"INSERT INTO slots ({_SLOT}) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL)"),
                (
                    slot.slot_id,
                    slot.tenant,
                    slot.doctor,
                    desk.time_in(slot.starts_at),
                    desk.time_in(slot.ends_at),
                ),
            )
            return True

    def slots_of(self, doctor: str, since: dt.datetime, free_only: bool = False) -> list[Slot]:
        """A doctor's slots ending after ``since``, soonest first."""
        where = "doctor = ? AND ends_at > ?" + (" AND booked_by IS NULL" if free_only else "")
        rows = self.desk.rows(
            f"SELECT {_SLOT} FROM slots WHERE {where} ORDER BY starts_at",
            (doctor, self.desk.time_in(since)),
        )
        return [self._slot(r) for r in rows]

    def slot(self, slot_id: str) -> Slot | None:
        """One slot."""
        rows = self.desk.rows(f"SELECT {_SLOT} FROM slots WHERE slot_id = ?", (slot_id,))
        return self._slot(rows[0]) if rows else None

    def book(self, slot_id: str, device_id: str, consult_id: str | None, at: dt.datetime) -> bool:
        """Book a free slot for a wearer; False if someone booked it first."""
        desk = self.desk
        with desk.tx() as conn:
            done = conn.execute(
                desk.q(
                    "UPDATE slots SET booked_by = ?, consult_id = ?, booked_at = ? "
                    "WHERE slot_id = ? AND booked_by IS NULL"
                ),
                (device_id, consult_id, desk.time_in(at), slot_id),
            )
            return bool(done.rowcount)

    def free(self, slot_id: str) -> bool:
        """Cancel a booking; False if the slot was not booked."""
        desk = self.desk
        with desk.tx() as conn:
            done = conn.execute(
                desk.q(
                    "UPDATE slots SET booked_by = NULL, consult_id = NULL, booked_at = NULL "
                    "WHERE slot_id = ? AND booked_by IS NOT NULL"
                ),
                (slot_id,),
            )
            return bool(done.rowcount)
