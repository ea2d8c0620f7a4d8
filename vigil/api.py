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
from collections.abc import Sequence
from typing import Literal, cast, get_args

import msgspec

from alerting.ladder import DeviceCommand, Ladder
from alerting.ladder_store import (
    LadderRequest,
    LadderStore,
    NoticeText,
    OutboxItem,
    open_ladder_store,
)
from alerting.snooze import Snooze, check_snooze
from alerting.webhooks import serve_webhooks
from consult_bridge.app import create_app
from consult_bridge.audit import link
from consult_bridge.deps import Deps
from consult_bridge.desks import (
    DeliveryView,
    FenceShape,
    LadderView,
    Publisher,
    SnoozeView,
    TimelineEntry,
)
from schemas.health_profile import HealthProfile, ScoringView
from storage import StorageError, Store, open_store
from storage.access import AccessStore
from storage.accounts import AccountStore
from storage.audit import AuditLog
from storage.clinic_staff import ClinicStaffStore
from storage.consultations import ConsultationStore
from storage.health_profiles import HealthProfileStore
from storage.health_reads import HealthReader
from storage.notices import NoticeBoard
from storage.play_links import PlayLinkStore
from storage.sealing import Sealer
from storage.sql_desk import open_desk
from stream_processors.device import Condition, WearerProfile
from vigil.consult_intake import ConsultIntake, run_consult_intake
from vigil.http_edge import EdgeLimits, HttpEdge, HttpMeter
from vigil.metrics import serve_metrics
from vigil.profiles import decode_profile, encode_profile

log = logging.getLogger(__name__)


def masked(phone: str) -> str:
    """A phone number as the API shows it: only its last 4 digits."""
    return "…" + phone[-4:] if len(phone) > 4 else "…"


def _delivery(item: OutboxItem) -> DeliveryView:
    action = item.action
    to = action.device_id if isinstance(action, DeviceCommand) else masked(action.to)
    return DeliveryView(
        channel=type(action).__struct_config__.tag,  # type: ignore[arg-type]
        to=to,
        template=action.template,
        status=item.status,
        error=item.error,
    )


def _view(ladder: Ladder, outbox: Sequence[OutboxItem] = ()) -> LadderView:
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
        deliveries=[_delivery(item) for item in outbox],
    )


def _snooze_view(s: Snooze) -> SnoozeView:
    return SnoozeView(what=s.what, until=s.until, by=s.by, reason=s.reason)


class StoreLadderDesk:
    """``consult_bridge.desks.LadderDesk`` over the ladder store."""

    def __init__(self, store: LadderStore) -> None:
        self.store = store

    def ladders_of(self, device_id: str) -> list[LadderView]:
        return [
            _view(x, self.store.outbox_of(x.ladder_id)) for x in self.store.ladders_of(device_id)
        ]

    def ladder(self, ladder_id: str) -> LadderView | None:
        found = self.store.get(ladder_id)
        return None if found is None else _view(found, self.store.outbox_of(ladder_id))

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


class StoreProfileDesk:
    """``consult_bridge.desks.ProfileDesk`` over the record store and the main store.

    The health record is sealed; the conditions are written into the scoring profile the
    runners read (a new revision per change, so they pick it up on their next refresh).
    """

    def __init__(self, records: HealthProfileStore, main: Store) -> None:
        self.records = records
        self.main = main

    def record(self, device_id: str) -> HealthProfile | None:
        return self.records.get(device_id)

    def put_record(self, device_id: str, profile: HealthProfile) -> None:
        self.records.put(device_id, profile)

    def _current(self, device_id: str) -> tuple[WearerProfile, int]:
        stored = self.records.scoring_raw(device_id)
        if stored is None:
            return WearerProfile(), 0
        return decode_profile(stored[0]), stored[1]

    @staticmethod
    def _view(profile: WearerProfile, revision: int) -> ScoringView:
        return ScoringView(
            conditions=tuple(sorted(profile.conditions)),
            on_oxygen=profile.on_oxygen,
            spo2_scale=profile.effective_spo2_scale,
            at_risk=profile.at_risk,
            revision=revision,
        )

    def scoring(self, device_id: str) -> ScoringView:
        return self._view(*self._current(device_id))

    def fences(self, device_id: str) -> list[FenceShape]:
        profile, _ = self._current(device_id)
        return [FenceShape(f.name, f.shape, f.rule) for f in profile.fences]

    def set_conditions(
        self, device_id: str, conditions: Sequence[str], on_oxygen: bool | None
    ) -> ScoringView:
        known: tuple[str, ...] = get_args(Condition)
        for name in conditions:
            if name not in known:
                raise ValueError(f"unknown condition {name!r}; known: {', '.join(known)}")
        profile, _ = self._current(device_id)
        changed = msgspec.structs.replace(
            profile,
            conditions=frozenset(cast("list[Condition]", list(conditions))),
            on_oxygen=profile.on_oxygen if on_oxygen is None else on_oxygen,
        )
        revision = self.main.put_wearer(device_id, encode_profile(changed))
        return self._view(changed, revision)


class LadderTexts:
    """``consult_bridge.desks.TextDesk``: numbers, and SMS queued in the ladder store.

    The process driving the ladders sends them (``vigil/ladder_side.py``). A wearer's
    number is their directory's ``wearer_phone``; a doctor's, the registry's; a family
    member's, that of the wearer's contact whose id is the member's user (``sub``).
    """

    def __init__(self, ladders: LadderStore, clinic: ClinicStaffStore) -> None:
        self.ladders = ladders
        self.clinic = clinic

    def phone_of(self, recipient: str, about: str | None) -> str | None:
        kind, _, who = recipient.partition(":")
        if kind == "device":
            alerting = self.ladders.wearer_alerting(who)
            return None if alerting is None else alerting.directory.wearer_phone or None
        doctor = self.clinic.doctor(who)
        if doctor is not None:
            return doctor.phone
        if about is None:
            return None
        alerting = self.ladders.wearer_alerting(about)
        if alerting is None:
            return None
        return next((c.phone for c in alerting.directory.contacts if c.contact_id == who), None)

    def queue(self, to: str, body: str, at: dt.datetime) -> None:
        self.ladders.put_text(NoticeText(text_id=uuid.uuid4().hex, to=to, body=body, at=at))


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
    edge: EdgeLimits | None = None,
    metrics_at: tuple[str, int] | None = None,
    publisher: Publisher | None = None,
    sealer: Sealer | None = None,
    tls: tuple[str, str] | None = None,
    token_ttl_s: float = 3600.0,
) -> int:
    """Serve the API until SIGINT or SIGTERM; the exit code.

    ``edge``: the size and rate limits (``vigil/http_edge.py``; its defaults when None).
    ``metrics_at``: (host, port) to serve Prometheus metrics on.
    """
    try:
        store = open_store(database_url)
        applied = store.migrate()
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
    clinic = ClinicStaffStore(desk)
    texts = LadderTexts(ladders, clinic)
    app = create_app(
        Deps(
            secret=secret,
            ladders=StoreLadderDesk(ladders),
            access=access,
            health=HealthReader(desk, sealer),
            audit=AuditLog(desk, functools.partial(link, audit_key)),
            notices=notices,
            consults=consults,
            links=PlayLinkStore(desk),
            clinic=clinic,
            profiles=StoreProfileDesk(HealthProfileStore(desk, sealer), store),
            texts=texts,
            publisher=publisher,
            accounts=AccountStore(desk),
            token_ttl_s=token_ttl_s,
        )
    )
    meter = HttpMeter("api")
    app.add_middleware(HttpEdge, limits=edge or EdgeLimits(), meter=meter)
    stop_metrics = serve_metrics(meter.registry, *metrics_at) if metrics_at else lambda: None
    # Its own connection: the intake's transactions do not queue behind requests.
    intake_desk = open_desk(database_url)
    intake = ConsultIntake(
        ConsultationStore(intake_desk, sealer),
        AccessStore(intake_desk),
        NoticeBoard(intake_desk, sealer),
        grace_s=consult_grace_s,
        texts=LadderTexts(ladders, ClinicStaffStore(intake_desk)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    intake_task = asyncio.create_task(run_consult_intake(intake, stop))

    scheme = "https" if tls else "http"

    def listening() -> None:
        log.info("ready: the API on %s://%s:%d (docs at /docs)", scheme, host, port)

    try:
        await serve_webhooks(app, host, port, stop, on_listening=listening, tls=tls)
    finally:
        stop.set()
        await intake_task
        stop_metrics()
        ladders.close()
        desk.close()
        intake_desk.close()
        store.close()
    log.info("stopped")
    return 0
