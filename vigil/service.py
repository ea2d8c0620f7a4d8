"""``vigil run``: the pipeline against the configured broker and database until signalled."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from alerting.console import ConsoleNotifier
from alerting.driver import LadderDriver
from alerting.ladder_store import open_ladder_store
from ingest.mqtt.errors import NotAuthorized
from ingest.mqtt.source import MqttSource
from schemas.topics import INGEST_FILTERS
from storage import StorageError, Store, open_store
from vigil.ladder_side import LadderSide, LeadingNotifier, alert_sender, band_sender
from vigil.pipeline import Pipeline
from vigil.profiles import ProfileBook
from vigil.settings import Settings
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
        shard_store = open_store(settings.database_url, settings.record_sealer()) if own else store

        def owns(device_id: str, i: int = i) -> bool:
            return shard_of(device_id, count) == i

        work = shard_work_for(settings, shard_store, owns)
        shards.append(LocalShard(work, capacity=settings.shard_queue, close_store=own))
    return shards


def _metrics(
    settings: Settings, pipeline: Pipeline, side: LadderSide, source: MqttSource
) -> Callable[[], None]:
    """Serve Prometheus metrics when ``VIGIL_METRICS_PORT`` is set; the function that stops."""
    at = settings.metrics_at()
    if at is None:
        return lambda: None
    from vigil.metrics import PipelineCollector, registry_of, serve_metrics  # noqa: PLC0415

    collector = PipelineCollector(pipeline, side.ladders, source.pending)
    return serve_metrics(registry_of(collector, side.webhook_meter.registry), *at)


async def run_service(settings: Settings) -> int:
    """Run until SIGINT or SIGTERM; the chunk in hand is finished, the rest stays queued."""
    try:
        sealer = settings.record_sealer()
    except ValueError as exc:
        log.error("settings: %s", exc)  # noqa: TRY400 - the message says it all
        return 2
    try:
        store = open_store(settings.database_url, sealer)
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
    # The ladder side reads alerts and profiles from threads, on connections of its own.
    side_store = open_store(settings.database_url)
    profiles = ProfileBook(side_store, refresh_s=settings.profile_refresh_s)
    side = LadderSide(settings, side_store, ladders, driver, profiles)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pipeline = Pipeline(
        store,
        make_shards(settings, store),
        [ConsoleNotifier(sys.stdout), LeadingNotifier(driver, lambda: side.leading)],
        max_chunk=settings.ingest_chunk_max,
        tick_every_s=settings.silence_tick_s,
        catch_up_s=settings.catch_up_s,
    )
    try:
        # Lead the ladders (if no other process does) before ingesting: what was stored
        # and not taken in goes to the ladders before anything new.
        await side.try_lead()
        seeded = await pipeline.start()
        log.info(
            "%d shard(s)%s; silence checks for %d bands heard from in the last day",
            settings.shards,
            " in child processes" if settings.shard_processes else "",
            seeded,
        )
        async with MqttSource(settings.mqtt(), INGEST_FILTERS) as source:
            stop_metrics = _metrics(settings, pipeline, side, source)
            log.info("ready: ingesting %s", ", ".join(INGEST_FILTERS))
            background = [asyncio.create_task(side.run(stop), name="ladder-side")]
            try:
                await pipeline.run(source, stop)
            finally:
                stop.set()
                await asyncio.gather(*background)
                stop_metrics()
    except NotAuthorized as exc:
        log.error("MQTT: %s", exc)  # noqa: TRY400
        return 4
    except ShardError as exc:
        log.error("%s; unacknowledged messages will be redelivered", exc)  # noqa: TRY400
        return 5
    finally:
        band.close()
        ladders.close()
        side_store.close()
        store.close()
    _stopped(pipeline)
    return 0


def _stopped(pipeline: Pipeline) -> None:
    s = pipeline.stats
    log.info(
        "stopped: %d stored, %d duplicates, %d dead letters", s.stored, s.duplicates, s.dead_letters
    )
