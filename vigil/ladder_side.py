"""The alert ladders' side of a runner: one process per database drives them.

Every runner stores alerts; one process per database drives the ladders (two would each
step the same ladder and call the same person twice). That process holds the ladder
store's lead (``LadderStore.lead``: a PostgreSQL advisory lock, or a file lock beside
the SQLite file) and runs, until it stops or loses the lead:

* the intake: alerts stored but not yet taken in (``Store.unladdered_alerts``), from
  any runner on the database (``vigil run``, the Kafka tier's sinks), go to their
  ladders in the order stored; acknowledgements and cancels asked for through the API
  (``LadderStore.pending_requests``, written by ``vigil api``) are applied;
* the ladders' deadlines, the scheduled reminders, and Twilio's callbacks when Twilio
  is configured.

The others stand by and try for the lead every ``RETRY_LEAD_S``: a standby takes over
when the leader's process or its database connection dies. ``vigil run`` also hands
its own new alerts straight to its driver while it leads (``LeadingNotifier``), for
latency; the intake then finds them taken and only marks them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys
from collections.abc import Callable

from alerting.band_commands import MqttBandSender
from alerting.console import ConsoleSender
from alerting.driver import (
    RETRY_AFTER_S,
    LadderDriver,
    LadderNotifier,
    RoutedSender,
    Sender,
    SendError,
    run_deadlines,
)
from alerting.ladder import Acknowledged, Cancelled, Event, SendSms
from alerting.ladder_store import LadderStore, open_ladder_store
from alerting.reminders import Reminder, Schedules, run_reminders
from schemas import Alert
from storage import StorageError, Store
from vigil.http_edge import HttpEdge, HttpMeter
from vigil.profiles import ProfileBook
from vigil.settings import Settings, TwilioAccount

log = logging.getLogger(__name__)

RETRY_LEAD_S = 5.0  # a standby's tries for the lead; also how often the leader checks it
INTAKE_EVERY_S = 0.25
INTAKE_CHUNK = 500


def band_sender(settings: Settings) -> MqttBandSender:
    """The band commands' own MQTT connection to the configured broker."""
    mqtt = settings.mqtt()
    return MqttBandSender(
        mqtt.host,
        mqtt.port,
        username=mqtt.username,
        password=mqtt.password,
        tls_ca=mqtt.tls_ca,
        client_id=f"{settings.mqtt_client_id}-commands",
        mqtt5=mqtt.protocol == "5",
    )


def alert_sender(settings: Settings, band: Sender) -> Sender:
    """Band commands to ``band``; SMS and calls to Twilio when configured, else printed."""
    account = settings.twilio()
    if account is None:
        return RoutedSender(device=band, phones=ConsoleSender(sys.stdout))
    from alerting.twilio_sender import TwilioSender, twilio_client  # noqa: PLC0415

    client = twilio_client(account.account_sid, account.auth_token, api_base=account.api_base)
    twilio = TwilioSender(client, account.from_number, account.public_url)
    return RoutedSender(device=band, phones=twilio)


async def twilio_webhooks(
    account: TwilioAccount,
    settings: Settings,
    driver: LadderDriver,
    meter: HttpMeter,
    stop: asyncio.Event,
) -> None:
    """Twilio's callbacks served on ``VIGIL_WEBHOOK_HOST:PORT`` until ``stop``."""
    from alerting.webhooks import serve_webhooks, webhook_app  # noqa: PLC0415

    app = webhook_app(driver, auth_token=account.auth_token, public_url=account.public_url)
    app.add_middleware(HttpEdge, limits=settings.edge_limits(), meter=meter)
    log.info("Twilio callbacks on %s:%d", settings.webhook_host, settings.webhook_port)
    await serve_webhooks(app, settings.webhook_host, settings.webhook_port, stop)


def reminder_schedules(book: ProfileBook) -> Schedules:
    """Every wearer's scheduled reminders, from the stored profiles (kept fresh)."""

    def schedules() -> list[tuple[str, tuple[Reminder, ...], str]]:
        book.refresh_if_due()
        return [(d, p.reminders, p.tz) for d, p in book.items() if p.reminders]

    return schedules


async def take_in(store: Store, driver: LadderDriver, limit: int = INTAKE_CHUNK) -> int:
    """Hand stored alerts the ladders have not taken in to the driver; how many."""
    alerts = await asyncio.to_thread(store.unladdered_alerts, limit)
    taken: list[str] = []
    try:
        for alert in alerts:
            # An error leaves the rest for the next round (taking in is idempotent).
            await driver.on_alert(alert, wait=False)
            taken.append(alert.alert_id)
    finally:
        if taken:
            await asyncio.to_thread(store.mark_laddered, taken, dt.datetime.now(dt.UTC))
    return len(alerts)


async def apply_requests(ladders: LadderStore, driver: LadderDriver) -> int:
    """Apply the acknowledgements and cancels asked for through the API; how many."""
    requests = await asyncio.to_thread(ladders.pending_requests)
    for request in requests:
        event: Event
        if request.kind == "ack":
            event = Acknowledged(at=request.at, by=request.by, via="api")
        else:
            event = Cancelled(at=request.at, by=request.by, via="api")
        await driver.on_event(request.ladder_id, event, wait=False)
        await asyncio.to_thread(ladders.mark_request_taken, request.request_id, driver.clock())
    return len(requests)


#: A notice's SMS failing for a reason that may pass is tried this many times in all.
TEXT_ATTEMPTS = 5


async def send_texts(ladders: LadderStore, sender: Sender, clock: Callable[[], dt.datetime]) -> int:
    """Send the SMS the API queued (consultation and appointment notices); how many tried.

    Through the ladders' own sender (Twilio, or the console), each once: a provider that
    refuses for good marks the text failed; one that may recover is tried again after the
    alerts' backoff (``RETRY_AFTER_S``), up to ``TEXT_ATTEMPTS`` in all.
    """
    pending = await asyncio.to_thread(ladders.pending_texts, clock())
    for text, attempts in pending:
        action = SendSms(
            key=f"text:{text.text_id}", to=text.to, template="notice", language="en", params={}
        )
        try:
            sid = await sender.send(action, text.body)
        except SendError as exc:
            now = clock()
            retry_at = None
            if not exc.permanent and attempts + 1 < TEXT_ATTEMPTS:
                wait = RETRY_AFTER_S[min(attempts, len(RETRY_AFTER_S) - 1)]
                retry_at = now + dt.timedelta(seconds=wait)
            outcome = f"retrying: {exc}" if retry_at else f"failed: {exc}"
            await asyncio.to_thread(
                ladders.mark_text, text.text_id, now, outcome, retry_at=retry_at
            )
            continue
        await asyncio.to_thread(
            ladders.mark_text, text.text_id, clock(), f"sent {sid or ''}".strip()
        )
    return len(pending)


async def run_intake(
    store: Store, ladders: LadderStore, driver: LadderDriver, stop: asyncio.Event
) -> None:
    """``apply_requests`` and ``take_in`` until ``stop``, every ``INTAKE_EVERY_S``.

    At once again while the last chunk of alerts was full.
    """
    while not stop.is_set():
        try:
            await apply_requests(ladders, driver)
            await send_texts(ladders, driver.sender, driver.clock)
            if await take_in(store, driver) == INTAKE_CHUNK:
                continue
        except Exception:
            log.exception("taking alerts into the ladders failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTAKE_EVERY_S)


class LadderSide:
    """Drives the ladders while this process holds the lead; stands by otherwise."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        ladders: LadderStore,
        driver: LadderDriver,
        profiles: ProfileBook,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ladders = ladders
        self.driver = driver
        self.profiles = profiles
        self.leading = False
        # Kept across leads: the callbacks' server is started anew each time this leads.
        self.webhook_meter = HttpMeter("twilio-callbacks")

    async def try_lead(self) -> bool:
        """Try for the lead; on winning it, start the driver and take in what waits.

        What was stored before is taken in first, in order, before anything new
        (a runner calls this before it starts ingesting).
        """
        if self.leading:
            return True
        try:
            won = await asyncio.to_thread(self.ladders.lead)
        except StorageError as exc:
            log.warning("cannot try for the ladders' lead: %s", exc)
            return False
        if won:
            await self.driver.start()
            while await take_in(self.store, self.driver) == INTAKE_CHUNK:
                pass
            self.leading = True
            log.info("driving the alert ladders")
        return won

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: lead when possible, and drive the ladders while leading."""
        told_standby = False
        while not stop.is_set():
            try:
                won = await self.try_lead()
            except Exception:
                log.exception("starting the alert ladders failed; trying again")
                won = False
            if won:
                told_standby = False
                await self._drive(stop)
            elif not told_standby:
                log.info("another process drives the alert ladders; standing by")
                told_standby = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_LEAD_S)

    async def _drive(self, stop: asyncio.Event) -> None:
        inner = asyncio.Event()
        tasks = [
            asyncio.create_task(
                run_intake(self.store, self.ladders, self.driver, inner), name="ladder-intake"
            ),
            asyncio.create_task(run_deadlines(self.driver, inner), name="ladder-deadlines"),
            asyncio.create_task(
                run_reminders(self.driver, reminder_schedules(self.profiles), inner),
                name="reminders",
            ),
        ]
        account = self.settings.twilio()
        if account is not None:
            tasks.append(
                asyncio.create_task(
                    twilio_webhooks(account, self.settings, self.driver, self.webhook_meter, inner)
                )
            )
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_LEAD_S)
                if not stop.is_set() and not await asyncio.to_thread(self.ladders.leading):
                    log.error("lost the alert ladders' lead (database connection); standing by")
                    break
        finally:
            self.leading = False
            inner.set()
            await asyncio.gather(*tasks)


class LeadingNotifier:
    """``LadderNotifier`` while ``leading()``; otherwise the leader's intake takes it."""

    def __init__(self, driver: LadderDriver, leading: Callable[[], bool]) -> None:
        self._ladder = LadderNotifier(driver)
        self._leading = leading

    async def notify(self, alert: Alert) -> None:
        """Hand the alert to this process's driver if it drives the ladders."""
        if self._leading():
            await self._ladder.notify(alert)


async def alerts_service(settings: Settings) -> int:
    """``vigil alerts``: drive the ladders of the configured database until signalled.

    For runners that only store alerts (the Kafka tier's sinks) and for a deployment
    that runs the alert workers apart; several may run: one leads, the others stand by.
    """
    from storage import open_store  # noqa: PLC0415

    try:
        store = open_store(settings.database_url)
        applied = store.migrate()
    except StorageError as exc:
        log.error("storage: %s", exc)  # noqa: TRY400 - the message says it all
        return 3
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    ladders = open_ladder_store(settings.database_url)
    band = band_sender(settings)
    band.start()
    driver = LadderDriver(ladders, alert_sender(settings, band))
    profiles = ProfileBook(store, refresh_s=settings.profile_refresh_s)
    side = LadderSide(settings, store, ladders, driver, profiles)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("ready: the alert ladders of this database")
    try:
        await side.run(stop)
    finally:
        band.close()
        ladders.close()
        store.close()
    log.info("stopped")
    return 0
