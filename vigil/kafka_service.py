"""``vigil bridge`` and ``vigil worker``: the scale-out runner's two processes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alerting.console import ConsoleNotifier
from ingest.mqtt.errors import NotAuthorized
from storage import StorageError, open_store
from vigil.dead_letter_valve import DeadLetterValve
from vigil.metrics import (
    Field,
    StatsCollector,
    bridge_fields,
    registry_of,
    serve_metrics,
    sink_fields,
    worker_fields,
)
from vigil.profiles import ProfileBook
from vigil.settings import Settings

if TYPE_CHECKING:
    from vigil.kafka_worker import WorkerConfig

log = logging.getLogger(__name__)


async def bridge_service(settings: Settings) -> int:
    """Forward MQTT to Kafka until SIGINT or SIGTERM."""
    from vigil.kafka_bridge import (  # noqa: PLC0415 - Kafka is an optional extra
        BridgeStats,
        BridgeTiming,
        run_bridge,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stats = BridgeStats()
    stop_metrics = serve_stats(settings, [(stats, bridge_fields())])
    try:
        await run_bridge(
            settings.mqtt(),
            settings.kafka_bootstrap,
            settings.kafka_topics(),
            stop,
            chunk_max=settings.ingest_chunk_max,
            timing=BridgeTiming(
                heartbeat_s=settings.bridge_heartbeat_s, catch_up_s=settings.catch_up_s
            ),
            stats=stats,
        )
    except NotAuthorized as exc:
        log.error("MQTT: %s", exc)  # noqa: TRY400
        return 4
    finally:
        stop_metrics()
    log.info("stopped: %d messages forwarded", stats.forwarded)
    return 0


def worker_service(settings: Settings, *, sink: bool = True) -> int:
    """Run a Faust worker (processors, and the storage sink unless ``sink`` is off)."""
    from vigil.kafka_sink import Sink  # noqa: PLC0415
    from vigil.kafka_worker import WorkerStats, build_app  # noqa: PLC0415

    topics = settings.kafka_topics()
    # The store holds the wearer profiles every worker reads, and takes the sink's writes.
    try:
        store = open_store(settings.database_url, settings.record_sealer())
        applied = store.migrate()
    except ValueError as exc:
        log.error("settings: %s", exc)  # noqa: TRY400
        return 2
    except StorageError as exc:
        log.error("storage: %s", exc)  # noqa: TRY400
        return 3
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    profiles = ProfileBook(store, refresh_s=settings.profile_refresh_s)
    storage_sink = None
    if sink:
        valve = DeadLetterValve(settings.dead_letter_limits())
        storage_sink = Sink(store, topics, [ConsoleNotifier(sys.stdout)], valve)
    stats = WorkerStats()
    app = build_app(
        worker_config(settings),
        profiles=profiles,
        refresh_profiles=profiles.refresh_if_due,
        sink=storage_sink,
        stats=stats,
    )
    counted: list[tuple[object, Sequence[Field]]] = [(stats, worker_fields())]
    if storage_sink is not None:
        counted.append((storage_sink.stats, sink_fields()))
    stop_metrics = serve_stats(settings, counted)
    try:
        return run_faust_app(app, settings.log_level)
    finally:
        stop_metrics()


def serve_stats(
    settings: Settings, counted: Sequence[tuple[object, Sequence[Field]]]
) -> Callable[[], None]:
    """Serve ``counted``, stats structs with their metrics, if ``VIGIL_METRICS_PORT`` is set.

    Returns the function that stops serving.
    """
    at = settings.metrics_at()
    if at is None:
        return lambda: None
    registry = registry_of(*(StatsCollector(stats, fields) for stats, fields in counted))
    return serve_metrics(registry, *at)


def worker_config(settings: Settings) -> WorkerConfig:
    """A worker's Kafka and processor configuration, from the settings."""
    from vigil.kafka_worker import WorkerConfig  # noqa: PLC0415 - Kafka is an optional extra

    return WorkerConfig(
        bootstrap=settings.kafka_bootstrap,
        topics=settings.kafka_topics(),
        partitions=settings.kafka_partitions,
        declare_topics=settings.kafka_declare_topics,
        chunk_max=settings.worker_chunk_max,
        session_timeout_s=settings.kafka_session_timeout_s,
        rebalance_timeout_s=settings.kafka_rebalance_timeout_s,
        heartbeat_s=settings.kafka_heartbeat_s,
        commit_interval_s=settings.kafka_commit_interval_s,
        progress_commit_s=settings.kafka_progress_commit_s,
        checkpoint_s=settings.kafka_checkpoint_s,
        processor=settings.processor(),
        bridge_heartbeat_s=settings.bridge_heartbeat_s,
        silence_tick_s=settings.silence_tick_s,
    )


def run_faust_app(app: Any, log_level: str) -> int:
    """Run a Faust app as ``faust -A ... worker`` would, until signalled; the exit code."""
    from faust.worker import Worker  # noqa: PLC0415 - Kafka is an optional extra

    app.finalize()
    app.worker_init()
    app.worker_init_post_autodiscover()
    worker = Worker(app, loglevel=log_level.lower(), quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG when the level is WARNING
    # or above, and then every debug call of Faust and aiokafka builds a log record.
    worker.spinner = None
    try:
        worker.execute_from_commandline()  # runs until signalled, then raises SystemExit
    except SystemExit as exc:
        return int(exc.code or 0)
