"""Play links handed out, and the wearer's consent to publish them (migration ``0018``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.consultation import PlayLink
from storage.sql_desk import SqlDesk

_COLUMNS = (
    "link_id, consult_id, recording_id, audience, expires_at, created_by, created_at, "
    "revoked_at, published_at"
)


class PlayLinkStore:
    """Add, list, revoke and mark published the play links; the consent to publish."""

    def __init__(self, desk: SqlDesk) -> None:
        self.desk = desk

    def _link(self, r: tuple[Any, ...]) -> PlayLink:
        out = self.desk.time_out
        return PlayLink(
            link_id=r[0],
            consult_id=r[1],
            recording_id=r[2],
            audience=r[3],
            expires_at=out(r[4]),
            created_by=r[5],
            created_at=out(r[6]),
            revoked_at=None if r[7] is None else out(r[7]),
            published_at=None if r[8] is None else out(r[8]),
        )

    def add(self, link: PlayLink) -> None:
        """Store a link handed out."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(
                desk.q(f"INSERT INTO play_links ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"),
                (
                    link.link_id,
                    link.consult_id,
                    link.recording_id,
                    link.audience,
                    desk.time_in(link.expires_at),
                    link.created_by,
                    desk.time_in(link.created_at),
                    None,
                    None,
                ),
            )

    def get(self, link_id: str) -> PlayLink | None:
        """One link."""
        rows = self.desk.rows(f"SELECT {_COLUMNS} FROM play_links WHERE link_id = ?", (link_id,))
        return self._link(rows[0]) if rows else None

    def of_consult(self, consult_id: str) -> list[PlayLink]:
        """A consultation's links, oldest first."""
        rows = self.desk.rows(
            f"SELECT {_COLUMNS} FROM play_links WHERE consult_id = ? ORDER BY created_at, link_id",
            (consult_id,),
        )
        return [self._link(r) for r in rows]

    def _stamp(self, column: str, link_id: str, at: dt.datetime) -> bool:
        desk = self.desk
        with desk.tx() as conn:
            done = conn.execute(
                desk.q(
                    f"UPDATE play_links SET {column} = ? WHERE link_id = ? AND {column} IS NULL"
                ),
                (desk.time_in(at), link_id),
            )
            return bool(done.rowcount)

    def revoke(self, link_id: str, at: dt.datetime) -> bool:
        """Withdraw a link now; False if it was withdrawn already (or never was)."""
        return self._stamp("revoked_at", link_id, at)

    def mark_published(self, link_id: str, at: dt.datetime) -> bool:
        """Record a publication; False if it was published already."""
        return self._stamp("published_at", link_id, at)

    def set_consent(self, consult_id: str, consent: bool, at: dt.datetime) -> None:
        """The wearer gives or withdraws consent to publish the consultation's links."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(desk.q("DELETE FROM publish_consents WHERE consult_id = ?"), (consult_id,))
            conn.execute(
                desk.q(
                    "INSERT INTO publish_consents (consult_id, consent, changed_at) "
                    "VALUES (?, ?, ?)"
                ),
                (consult_id, consent, desk.time_in(at)),
            )

    def consent(self, consult_id: str) -> bool:
        """Whether the wearer consents now to publishing (no answer: no)."""
        rows = self.desk.rows(
            "SELECT consent FROM publish_consents WHERE consult_id = ?", (consult_id,)
        )
        return bool(rows and rows[0][0])
