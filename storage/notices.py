"""In-app notices: what the API tells a user (a break-glass opening on their record, ...).

A notice goes to a recipient key: ``device:<id>`` for a wearer (a wearer's token names
their band), ``user:<sub>`` for anyone else. Migration ``0016_records_audit``. The text
(it may tell of a consultation) is sealed at rest when record keys are configured.
"""

from __future__ import annotations

from schemas.health_records import Notice
from storage.sealing import Sealer, open_text, seal_text
from storage.sql_desk import SqlDesk


class NoticeBoard:
    """Post notices and read a recipient's."""

    def __init__(self, desk: SqlDesk, sealer: Sealer | None = None) -> None:
        self.desk = desk
        self.sealer = sealer

    def post(self, notice: Notice) -> None:
        """Store a notice."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(
                desk.q(
                    "INSERT INTO notices (notice_id, recipient, at, kind, text) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (
                    notice.notice_id,
                    notice.recipient,
                    desk.time_in(notice.at),
                    notice.kind,
                    seal_text(self.sealer, notice.text, notice.notice_id),
                ),
            )

    def of(self, recipient: str, limit: int = 200) -> list[Notice]:
        """A recipient's notices, newest first."""
        desk = self.desk
        rows = desk.rows(
            "SELECT notice_id, recipient, at, kind, text FROM notices WHERE recipient = ? "
            "ORDER BY at DESC, notice_id LIMIT ?",
            (recipient, limit),
        )
        return [
            Notice(
                notice_id=r[0],
                recipient=r[1],
                at=desk.time_out(r[2]),
                kind=r[3],
                text=open_text(self.sealer, r[4], r[0]),
            )
            for r in rows
        ]
