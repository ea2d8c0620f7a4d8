"""``vigil api``: the API (``consult_bridge``) over the configured database, on uvicorn.

The API's ladder desk is the ladder store: reads directly, acknowledgements and cancels
as requests for the process driving the ladders (``vigil/ladder_side.py``), which may be
another process on the same database. Access, stored data, the audit log and notices
share one connection to the main database (``storage/sql_desk.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import signal
import uuid
from typing import Literal

from alerting.ladder import Ladder
from alerting.ladder_store import LadderRequest, LadderStore, open_ladder_store
from alerting.snooze import Snooze, check_snooze
from alerting.webhooks import serve_webhooks
from consult_bridge.app import create_app
from consult_bridge.audit import link
from consult_bridge.desks import LadderView, Publisher, SnoozeView, TimelineEntry
from storage import StorageError, open_store
from storage.access import AccessStore
from storage.audit import AuditLog
from storage.clinic_staff import ClinicStaffStore
from storage.consultations import ConsultationStore
from storage.health_reads import HealthReader
from storage.notices import NoticeBoard
from storage.play_links import PlayLinkStore
from storage.sealing import Sealer
from storage.sql_desk import open_desk
from vigil.consult_intake import ConsultIntake, run_consult_intake

log = logging.getLogger(__name__)


def _view(ladder: Ladder) -> LadderView:
    return LadderView(
        ladder_id=ladder.ladder_id,
        device_id=ladder.device_id,
        cause=ladder.cause,
        level=ladder.level.label,
        phase=ladder.phase,
        is_open=ladder.is_open,
        opened_at=ladder.opened_at,
        summary=ladder.summary,
        timeline=[TimelineEntry(at=e.at, what=e.what, detail=e.detail) for e in ladder.timeline],
    )


def _snooze_view(s: Snooze) -> SnoozeView:
    return SnoozeView(what=s.what, until=s.until, by=s.by, reason=s.reason)


class StoreLadderDesk:
    """``consult_bridge.desks.LadderDesk`` over the ladder store."""

    def __init__(self, store: LadderStore) -> None:
        self.store = store

    def ladders_of(self, device_id: str) -> list[LadderView]:
        return [_view(x) for x in self.store.ladders_of(device_id)]

    def ladder(self, ladder_id: str) -> LadderView | None:
        found = self.store.get(ladder_id)
        return None if found is None else _view(found)

    def request(
        self, ladder_id: str, kind: Literal["ack", "cancel"], by: str, at: dt.datetime
    ) -> str:
        request = LadderRequest(
            request_id=uuid.uuid4().hex, ladder_id=ladder_id, kind=kind, by=by, at=at
        )
        self.store.put_request(request)
        return request.request_id

    def snoozes_of(self, device_id: str, now: dt.datetime) -> list[SnoozeView]:
        return [_snooze_view(s) for s in self.store.snoozes_of(device_id, now)]

    def snooze(
        self,
        device_id: str,
        what: str,
        *,
        minutes: float,
        by: str,
        reason: str,
        now: dt.datetime,
    ) -> SnoozeView:
        check_snooze(what, minutes * 60)  # SnoozeError is a ValueError
        snooze = Snooze(
            device_id=device_id,
            what=what,
            until=now + dt.timedelta(minutes=minutes),
            by=by,
            reason=reason,
            set_at=now,
        )
        self.store.put_snooze(snooze)
        return _snooze_view(snooze)

    def clear_snooze(self, device_id: str, what: str) -> bool:
        return self.store.clear_snooze(device_id, what)


def audit_log(database_url: str, key: bytes) -> AuditLog:
    """The audit log of a database, chained under ``key``."""
    return AuditLog(open_desk(database_url), functools.partial(link, key))


async def api_service(
    database_url: str,
    secret: str,
    host: str,
    port: int,
    *,
    audit_key: bytes = b"",
    consult_grace_s: float = 900.0,
    publisher: Publisher | None = None,
    sealer: Sealer | None = None,
) -> int:
    """Serve the API until SIGINT or SIGTERM; the exit code."""
    try:
        store = open_store(database_url)
        applied = store.migrate()
        store.close()
    except StorageError as exc:
        log.error("storage: %s", exc)  # noqa: TRY400 - the message says it all
        return 3
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    ladders = open_ladder_store(database_url)
    desk = open_desk(database_url)
    access = AccessStore(desk)
    notices = NoticeBoard(desk, sealer)
    consults = ConsultationStore(desk, sealer)
    app = create_app(
        secret=secret,
        ladders=StoreLadderDesk(ladders),
        access=access,
        health=HealthReader(desk),
        audit=AuditLog(desk, functools.partial(link, audit_key)),
        notices=notices,
        consults=consults,
        links=PlayLinkStore(desk),
        clinic=ClinicStaffStore(desk),
        publisher=publisher,
    )
    # Its own connection: the intake's transactions do not queue behind requests.
    intake_desk = open_desk(database_url)
    intake = ConsultIntake(
        ConsultationStore(intake_desk, sealer),
        AccessStore(intake_desk),
        NoticeBoard(intake_desk, sealer),
        grace_s=consult_grace_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    intake_task = asyncio.create_task(run_consult_intake(intake, stop))

    def listening() -> None:
        log.info("ready: the API on http://%s:%d (docs at /docs)", host, port)

    try:
        await serve_webhooks(app, host, port, stop, on_listening=listening)
    finally:
        stop.set()
        await intake_task
        ladders.close()
        desk.close()
        intake_desk.close()
    log.info("stopped")
    return 0
