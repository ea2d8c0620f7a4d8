"""Prometheus metrics (issue 10), served on ``VIGIL_METRICS_PORT`` when it is set.

``vigil run``'s (``PipelineCollector``) are read at scrape time from what the process
already keeps, so the hot path pays nothing: the pipeline's running totals
(``PipelineStats``), its queues, and the ladder store. The HTTP servers' are in
``vigil/http_edge.py``. Every metric and what it means is listed in docs/operations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from alerting.ladder_store import LadderStore
    from vigil.pipeline import Pipeline


log = logging.getLogger(__name__)


class PipelineCollector(Collector):
    """Metrics of one running pipeline and its alert ladders."""

    def __init__(
        self,
        pipeline: Pipeline,
        ladders: LadderStore,
        backlog: Callable[[], int],
    ) -> None:
        self.pipeline = pipeline
        self.ladders = ladders
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        """Every metric, as it stands now."""
        s = self.pipeline.stats
        yield from StatsCollector(s, pipeline_fields()).collect()
        letters = CounterMetricFamily(
            "vigil_dead_letters", "payloads refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(s.dead_letter_reasons.items()):
            letters.add_metric([reason], count)
        yield letters
        alerts = CounterMetricFamily(
            "vigil_alerts_raised", "alerts raised, by level", labels=["level"]
        )
        for level in ("yellow", "orange", "red"):
            alerts.add_metric([level], s.alerts.get(level, 0))
        yield alerts
        yield GaugeMetricFamily(
            "vigil_ingest_backlog_messages",
            "messages received from the broker, not yet taken into a chunk",
            value=self.backlog(),
        )
        yield GaugeMetricFamily(
            "vigil_ingest_chunks_in_flight",
            "chunks handed to the shards, not yet durable",
            value=self.pipeline.chunks_in_flight(),
        )
        outbox = GaugeMetricFamily(
            "vigil_ladder_outbox_messages",
            "the ladders' messages and calls by sending status (failed, unknown: not sent)",
            labels=["status"],
        )
        counts = self.ladders.outbox_counts()
        for status in ("pending", "sending", "sent", "failed", "unknown"):
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox
        yield GaugeMetricFamily(
            "vigil_ladders_open",
            "alert ladders still climbing",
            value=len(self.ladders.open_ladders()),
        )


class Field(msgspec.Struct, frozen=True):
    """One metric read from a field of a stats struct."""

    field: str
    name: str
    text: str
    kind: Literal["counter", "gauge"] = "counter"


class StatsCollector(Collector):
    """Metrics read at scrape time from the fields of a running stats struct."""

    def __init__(self, stats: object, fields: Sequence[Field]) -> None:
        self.stats = stats
        self.fields = list(fields)

    def collect(self) -> Iterator[Metric]:
        """Every field, as it stands now."""
        for f in self.fields:
            value = float(getattr(self.stats, f.field))
            family = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
            yield family(f.name, f.text, value=value)


def registry_of(*collectors: Collector) -> CollectorRegistry:
    """A registry holding ``collectors``."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    return registry


def pipeline_fields() -> list[Field]:
    """``vigil run``'s running totals (``PipelineStats``)."""
    return [
        Field(
            "received", "vigil_ingest_messages_received", "MQTT messages taken in and acknowledged"
        ),
        Field("stored", "vigil_ingest_messages_stored", "messages stored (first copies)"),
        Field("duplicates", "vigil_ingest_duplicates", "repeats of a stored message, dropped"),
        Field("samples", "vigil_ingest_samples", "samples in the stored telemetry"),
        Field("too_late", "vigil_ingest_too_late_batches", "batches beyond the lateness bound"),
        Field(
            "dead_letters_not_kept",
            "vigil_dead_letters_not_kept",
            "dead letters of a flooding topic, counted and summed up, not kept",
        ),
        Field(
            "last_commit_s",
            "vigil_ingest_commit_seconds",
            "the last chunk's time from dispatch to durable (stored and scored)",
            "gauge",
        ),
    ]


def bridge_fields() -> list[Field]:
    """``vigil bridge``'s metrics (``BridgeStats``)."""
    return [
        Field("forwarded", "vigil_bridge_messages_forwarded", "MQTT messages Kafka has taken"),
        Field(
            "backlog",
            "vigil_bridge_backlog_messages",
            "messages received from the broker, not yet forwarded",
            "gauge",
        ),
    ]


def worker_fields() -> list[Field]:
    """``vigil worker``'s processors' metrics (``WorkerStats``)."""
    return [
        Field("records", "vigil_worker_records", "ingest records processed"),
        Field("duplicates", "vigil_worker_duplicates", "repeats of a processed batch, dropped"),
        Field("too_late", "vigil_worker_too_late_batches", "batches beyond the lateness bound"),
        Field("dead_letters", "vigil_worker_dead_letters", "records the processors refused"),
        Field("alerts", "vigil_worker_alerts_raised", "alerts the processors raised"),
    ]


def sink_fields() -> list[Field]:
    """``vigil worker``'s storage sink's metrics (``SinkStats``)."""
    return [
        Field("records", "vigil_sink_records_stored", "records the sink has stored"),
        Field("new_alerts", "vigil_sink_alerts_stored", "alerts stored the first time"),
        Field(
            "dead_letters_not_kept",
            "vigil_sink_dead_letters_not_kept",
            "dead letters of a flooding topic, counted and summed up, not kept",
        ),
        Field(
            "store_failures",
            "vigil_sink_store_failures",
            "failed attempts to store a chunk (each is retried with backoff)",
        ),
        Field(
            "failing",
            "vigil_sink_failing",
            "1 while the sink's last attempt to store failed (the database is away)",
            "gauge",
        ),
    ]


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` in a thread; the function that stops it."""
    from prometheus_client import start_http_server  # noqa: PLC0415 - only with the setting

    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
