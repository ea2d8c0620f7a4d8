"""The wearer's health record (``schemas/health_profile.py``), sealed at rest.

Migration ``0020_health_profiles``. The row id bound into the seal is the band's id.
"""

from __future__ import annotations

import msgspec

from schemas.health_profile import HealthProfile
from storage.sealing import Sealer, open_text, seal_text
from storage.sql_desk import SqlDesk

_profile = msgspec.json.Decoder(HealthProfile)


class HealthProfileStore:
    """Read and write one record per wearer."""

    def __init__(self, desk: SqlDesk, sealer: Sealer | None = None) -> None:
        self.desk = desk
        self.sealer = sealer

    def get(self, device_id: str) -> HealthProfile | None:
        """The wearer's record, if one was written."""
        rows = self.desk.rows("SELECT body FROM health_profiles WHERE device_id = ?", (device_id,))
        if not rows:
            return None
        return _profile.decode(open_text(self.sealer, rows[0][0], f"profile:{device_id}"))

    def put(self, device_id: str, profile: HealthProfile) -> None:
        """Write the wearer's record (replacing the one before)."""
        assert profile.updated_at is not None  # noqa: S101 - the API stamps it
        desk = self.desk
        body = seal_text(self.sealer, msgspec.json.encode(profile).decode(), f"profile:{device_id}")
        with desk.tx() as conn:
            conn.execute(desk.q("DELETE FROM health_profiles WHERE device_id = ?"), (device_id,))
            conn.execute(
                desk.q(
                    "INSERT INTO health_profiles (device_id, body, updated_at) VALUES (?, ?, ?)"
                ),
                (device_id, body, desk.time_in(profile.updated_at)),
            )

    def scoring_raw(self, device_id: str) -> tuple[bytes, int] | None:
        """The wearer's stored scoring profile (JSON) and its revision, if any."""
        rows = self.desk.rows(
            "SELECT $JSON(profile), revision FROM wearers WHERE device_id = ?", (device_id,)
        )
        if not rows:
            return None
        raw = rows[0][0]
        return (raw.encode() if isinstance(raw, str) else bytes(raw)), int(rows[0][1])
