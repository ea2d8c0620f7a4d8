"""Prometheus metrics of ``vigil run`` (issue 10), on ``VIGIL_METRICS_PORT`` when set.

Read at scrape time from what the process already keeps, so the hot path pays nothing:
the pipeline's running totals (``PipelineStats``), its queues, and the ladder store. The
metrics and what each means are listed in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from alerting.ladder_store import LadderStore
    from vigil.pipeline import Pipeline


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
        for name, value, text in (
            (
                "vigil_ingest_messages_received",
                s.received,
                "MQTT messages taken in and acknowledged",
            ),
            ("vigil_ingest_messages_stored", s.stored, "messages stored (first copies)"),
            ("vigil_ingest_duplicates", s.duplicates, "repeats of a stored message, dropped"),
            ("vigil_ingest_samples", s.samples, "samples in the stored telemetry"),
            ("vigil_ingest_too_late_batches", s.too_late, "batches beyond the lateness bound"),
        ):
            yield CounterMetricFamily(name, text, value=value)
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
        yield GaugeMetricFamily(
            "vigil_ingest_commit_seconds",
            "the last chunk's time from dispatch to durable (stored and scored)",
            value=s.last_commit_s,
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


def serve_metrics(collector: Collector, host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` in a thread; the function that stops it."""
    from prometheus_client import start_http_server  # noqa: PLC0415 - only with the setting

    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
