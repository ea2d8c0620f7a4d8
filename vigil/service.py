"""``vigil run``: the pipeline against the configured broker and database until signalled."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from alerting.console import ConsoleNotifier
from ingest.mqtt.errors import NotAuthorized
from ingest.mqtt.source import MqttSource
from schemas.topics import INGEST_FILTERS
from storage import StorageError, open_store
from stream_processors.fleet import Fleet
from vigil.pipeline import Pipeline
from vigil.settings import Settings

log = logging.getLogger(__name__)


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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pipeline = Pipeline(
        store,
        Fleet(settings.processor()),
        [ConsoleNotifier(sys.stdout)],
        max_chunk=settings.ingest_chunk_max,
    )
    try:
        async with MqttSource(settings.mqtt(), INGEST_FILTERS) as source:
            log.info("ready: ingesting %s", ", ".join(INGEST_FILTERS))
            await pipeline.run(source, stop)
    except NotAuthorized as exc:
        log.error("MQTT: %s", exc)  # noqa: TRY400
        return 4
    finally:
        store.close()
    s = pipeline.stats
    log.info(
        "stopped: %d stored, %d duplicates, %d dead letters", s.stored, s.duplicates, s.dead_letters
    )
    return 0
