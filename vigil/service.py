"""``vigil run``: the pipeline against the configured broker and database until signalled."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from alerting.band_commands import MqttBandSender
from alerting.console import ConsoleNotifier, ConsoleSender
from alerting.driver import LadderDriver, LadderNotifier, RoutedSender, Sender, run_deadlines
from alerting.ladder_store import open_ladder_store
from alerting.reminders import Reminder, Schedules, run_reminders
from ingest.mqtt.errors import NotAuthorized
from ingest.mqtt.source import MqttSource
from schemas.topics import INGEST_FILTERS
from storage import StorageError, Store, open_store
from vigil.pipeline import Pipeline
from vigil.profiles import ProfileBook
from vigil.settings import Settings, TwilioAccount
from vigil.shard_work import shard_work_for
from vigil.shards import LocalShard, ProcessShard, Shard, ShardError, shard_of

log = logging.getLogger(__name__)


def make_shards(settings: Settings, store: Store) -> list[Shard]:
    """The runner's shards: one in process by default; more, or child processes, on request.

    In-process shards beyond the first open their own store connection, so one shard's
    transaction does not wait on another's lock (PostgreSQL takes them concurrently).
    """
    count = settings.shards
    if settings.shard_processes:
        return [ProcessShard(i, count, capacity=settings.shard_queue) for i in range(count)]
    shards: list[Shard] = []
    for i in range(count):
        own = i > 0
        shard_store = open_store(settings.database_url) if own else store

        def owns(device_id: str, i: int = i) -> bool:
            return shard_of(device_id, count) == i

        work = shard_work_for(settings, shard_store, owns)
        shards.append(LocalShard(work, capacity=settings.shard_queue, close_store=own))
    return shards


def alert_sender(settings: Settings, band: Sender) -> Sender:
    """Band commands to ``band``; SMS and calls to Twilio when configured, else printed."""
    account = settings.twilio()
    if account is None:
        return RoutedSender(device=band, phones=ConsoleSender(sys.stdout))
    from alerting.twilio_sender import TwilioSender, twilio_client  # noqa: PLC0415

    client = twilio_client(account.account_sid, account.auth_token, api_base=account.api_base)
    twilio = TwilioSender(client, account.from_number, account.public_url)
    return RoutedSender(device=band, phones=twilio)


def band_sender(settings: Settings) -> MqttBandSender:
    """The band commands' own MQTT connection to the configured broker."""
    mqtt = settings.mqtt()
    return MqttBandSender(
        mqtt.host,
        mqtt.port,
        username=mqtt.username,
        password=mqtt.password,
        client_id=f"{settings.mqtt_client_id}-commands",
        mqtt5=mqtt.protocol == "5",
    )


def reminder_schedules(book: ProfileBook) -> Schedules:
    """Every wearer's scheduled reminders, from the stored profiles (kept fresh)."""

    def schedules() -> list[tuple[str, tuple[Reminder, ...], str]]:
        book.refresh_if_due()
        return [(d, p.reminders, p.tz) for d, p in book.items() if p.reminders]

    return schedules


async def twilio_webhooks(
    account: TwilioAccount, settings: Settings, driver: LadderDriver, stop: asyncio.Event
) -> None:
    """Twilio's callbacks served on ``VIGIL_WEBHOOK_HOST:PORT`` until ``stop``."""
    from alerting.webhooks import serve_webhooks, webhook_app  # noqa: PLC0415

    app = webhook_app(driver, auth_token=account.auth_token, public_url=account.public_url)
    log.info("Twilio callbacks on %s:%d", settings.webhook_host, settings.webhook_port)
    await serve_webhooks(app, settings.webhook_host, settings.webhook_port, stop)


async def run_service(settings: Settings) -> int:
    """Run until SIGINT or SIGTERM; the chunk in hand is finished, the rest stays queued."""
    try:
        store = open_store(settings.database_url)
        applied = store.migrate()
    except StorageError as exc:
        log.error("storage: %s", exc)  # noqa: TRY400 - the message says it all
        return 3
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    # The alert ladders, on the same database (console sender until Twilio is set up).
    ladders = open_ladder_store(settings.database_url)
    band = band_sender(settings)
    band.start()
    driver = LadderDriver(ladders, alert_sender(settings, band))
    # The reminder scheduler reads profiles from a thread, on a connection of its own.
    profiles_store = open_store(settings.database_url)
    profiles = ProfileBook(profiles_store, refresh_s=settings.profile_refresh_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pipeline = Pipeline(
        store,
        make_shards(settings, store),
        [ConsoleNotifier(sys.stdout), LadderNotifier(driver)],
        max_chunk=settings.ingest_chunk_max,
        tick_every_s=settings.silence_tick_s,
        catch_up_s=settings.catch_up_s,
    )
    try:
        await driver.start()
        seeded = await pipeline.start()
        log.info(
            "%d shard(s)%s; silence checks for %d bands heard from in the last day",
            settings.shards,
            " in child processes" if settings.shard_processes else "",
            seeded,
        )
        async with MqttSource(settings.mqtt(), INGEST_FILTERS) as source:
            log.info("ready: ingesting %s", ", ".join(INGEST_FILTERS))
            background = [
                asyncio.create_task(run_deadlines(driver, stop), name="ladder-deadlines"),
                asyncio.create_task(
                    run_reminders(driver, reminder_schedules(profiles), stop), name="reminders"
                ),
            ]
            account = settings.twilio()
            if account is not None:
                background.append(
                    asyncio.create_task(twilio_webhooks(account, settings, driver, stop))
                )
            try:
                await pipeline.run(source, stop)
            finally:
                stop.set()
                await asyncio.gather(*background)
    except NotAuthorized as exc:
        log.error("MQTT: %s", exc)  # noqa: TRY400
        return 4
    except ShardError as exc:
        log.error("%s; unacknowledged messages will be redelivered", exc)  # noqa: TRY400
        return 5
    finally:
        band.close()
        ladders.close()
        profiles_store.close()
        store.close()
    s = pipeline.stats
    log.info(
        "stopped: %d stored, %d duplicates, %d dead letters", s.stored, s.duplicates, s.dead_letters
    )
    return 0
