"""Enrolments, grants and break-glass openings (``schemas/access.py``) in the main database.

The tables come from the main store's migrations (``0015_access``, ``0016_records_audit``):
the API migrates the database on start, as every runner does. SQLite and PostgreSQL share
the SQL through a desk (``storage/sql_desk.py``).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.access import EmergencyAccess, Grant
from storage.sql_desk import SqlDesk

_grant = msgspec.json.Decoder(Grant)


class AccessStore:
    """Which clinic each wearer is enrolled in, the wearer's grants, and break-glass openings."""

    def __init__(self, desk: SqlDesk) -> None:
        self.desk = desk

    def enrol(self, device_id: str, tenant: str, at: dt.datetime) -> bool:
        """Enrol a wearer in a clinic; False if another clinic has them."""
        desk = self.desk
        with desk.tx() as conn:
            rows = conn.execute(
                desk.q("SELECT tenant FROM enrolments WHERE device_id = ?"), (device_id,)
            ).fetchall()
            if rows:
                return bool(rows[0][0] == tenant)
            conn.execute(
                desk.q("INSERT INTO enrolments (device_id, tenant, enrolled_at) VALUES (?, ?, ?)"),
                (device_id, tenant, desk.time_in(at)),
            )
            return True

    def clinic_of(self, device_id: str) -> str | None:
        """The clinic a wearer is enrolled in, if any."""
        rows = self.desk.rows("SELECT tenant FROM enrolments WHERE device_id = ?", (device_id,))
        return str(rows[0][0]) if rows else None

    def known(self, device_id: str) -> bool:
        """Whether the band is known here: a profile, an enrolment or a stored message."""
        rows = self.desk.rows(
            "SELECT 1 FROM wearers WHERE device_id = ? "
            "UNION ALL SELECT 1 FROM enrolments WHERE device_id = ? "
            "UNION ALL SELECT 1 FROM (SELECT 1 FROM messages WHERE device_id = ? LIMIT 1) m",
            (device_id, device_id, device_id),
        )
        return bool(rows)

    def add_grant(self, grant: Grant) -> None:
        """Store a grant."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(
                desk.q(
                    "INSERT INTO grants (grant_id, device_id, viewer, grant_json) "
                    "VALUES (?, ?, ?, $JSON_IN)"
                ),
                (
                    grant.grant_id,
                    grant.device_id,
                    grant.viewer,
                    msgspec.json.encode(grant).decode(),
                ),
            )

    def grants_of(self, device_id: str) -> list[Grant]:
        """A wearer's grants not revoked (in force or not), oldest first."""
        rows = self.desk.rows(
            "SELECT $JSON(grant_json) FROM grants WHERE device_id = ? AND revoked_at IS NULL",
            (device_id,),
        )
        found = [_grant.decode(r[0]) for r in rows]
        return sorted(found, key=lambda g: (g.granted_at, g.grant_id))

    def granted_to(self, viewer: str) -> list[Grant]:
        """The grants not revoked that name ``viewer``, of every wearer, oldest first."""
        rows = self.desk.rows(
            "SELECT $JSON(grant_json) FROM grants WHERE viewer = ? AND revoked_at IS NULL",
            (viewer,),
        )
        found = [_grant.decode(r[0]) for r in rows]
        return sorted(found, key=lambda g: (g.granted_at, g.grant_id))

    def enrolled_in(self, tenant: str) -> list[str]:
        """The wearers (device ids) enrolled in a clinic, sorted."""
        rows = self.desk.rows(
            "SELECT device_id FROM enrolments WHERE tenant = ? ORDER BY device_id", (tenant,)
        )
        return [str(r[0]) for r in rows]

    def revoke_grant(self, device_id: str, grant_id: str, at: dt.datetime) -> bool:
        """End a grant now; False if the wearer has no such grant in place."""
        desk = self.desk
        with desk.tx() as conn:
            revoked = conn.execute(
                desk.q(
                    "UPDATE grants SET revoked_at = ? "
                    "WHERE grant_id = ? AND device_id = ? AND revoked_at IS NULL"
                ),
                (desk.time_in(at), grant_id, device_id),
            )
            return bool(revoked.rowcount)

    def add_emergency(self, opening: EmergencyAccess) -> None:
        """Store a break-glass opening."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(
                desk.q(
                    "INSERT INTO emergency_access (access_id, device_id, viewer, tenant, "
                    "reason, opened_at, until) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    opening.access_id,
                    opening.device_id,
                    opening.viewer,
                    opening.tenant,
                    opening.reason,
                    desk.time_in(opening.opened_at),
                    desk.time_in(opening.until),
                ),
            )

    def emergencies_of(self, device_id: str) -> list[EmergencyAccess]:
        """Every break-glass opening on a wearer, oldest first."""
        desk = self.desk
        rows = desk.rows(
            "SELECT access_id, device_id, viewer, tenant, reason, opened_at, until "
            "FROM emergency_access WHERE device_id = ? ORDER BY opened_at, access_id",
            (device_id,),
        )
        return [
            EmergencyAccess(
                access_id=r[0],
                device_id=r[1],
                viewer=r[2],
                tenant=r[3],
                reason=r[4],
                opened_at=desk.time_out(r[5]),
                until=desk.time_out(r[6]),
            )
            for r in rows
        ]
