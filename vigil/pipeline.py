"""The ingest runner: MQTT chunks -> device shards -> ordered acks -> notifications.

Each chunk is split by device over the shards (``vigil/shards.py``); each shard stores
its part, with what its processors produced, in one transaction (``vigil/shard_work.py``).
A chunk's messages are acknowledged once every part of it is durable, and chunks are
acknowledged in the order they arrived (MQTT asks PUBACKs in PUBLISH order), so a
``kill -9`` at any point loses nothing: the broker redelivers what was not acknowledged
and the store drops what it already has. Alerts are then delivered from an outbox
(``notified_at``), so an alert stored just before a crash is delivered on restart.

While the shards work on one chunk, the next is received and handed over, up to each
shard's bounded queue.

Red device events (SOS, a fall without movement) do not wait for their chunk: their
alerts are delivered as they arrive (``vigil/fast_lane.py``), and the chunk's own
delivery later skips what went out early.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

import msgspec

from alerting.notifier import Notifier
from ingest.mqtt.source import Inbound, MqttSource
from schemas import Alert, AlertLevel
from storage.base import Store
from vigil.delivery import deliver
from vigil.fast_lane import EVENT_TOPICS, urgent_alerts
from vigil.shard_work import ChunkReport, utc_now
from vigil.shards import Job, Shard, Tick, Work, route

log = logging.getLogger(__name__)

FAST_LANE_MEMORY = 10_000  # early-delivered alert ids kept for their chunk's delivery


class PipelineStats(msgspec.Struct, kw_only=True):
    """Running totals for summaries and metrics."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    dead_letters_not_kept: int = 0  # a flooding topic's, counted only
    samples: int = 0
    too_late: int = 0  # batches beyond the lateness bound: stored, not scored
    last_commit_s: float = 0.0  # the last chunk's time from dispatch to durable
    alerts: Counter[str] = msgspec.field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = msgspec.field(default_factory=Counter)


class InFlight(msgspec.Struct, kw_only=True):
    """A chunk (or a tick) handed to the shards, waiting for every part."""

    messages: list[Inbound]
    parts: list[asyncio.Future[ChunkReport | list[Alert]]]
    handed_at: float = 0.0  # time.monotonic() when handed to the shards


class Pipeline:
    """Drives chunks from an ``MqttSource`` through the shards, acks and notifiers."""

    def __init__(
        self,
        store: Store,
        shards: Sequence[Shard],
        notifiers: Sequence[Notifier],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        max_chunk: int = 500,
        tick_every_s: float = 15.0,
        catch_up_s: float = 30.0,
    ) -> None:
        if not shards:
            raise ValueError("a pipeline needs at least one shard")
        self.store = store
        self.shards = list(shards)
        self.notifiers = list(notifiers)
        self.stats = PipelineStats()
        self._clock = clock
        self._max_chunk = max_chunk
        self._tick_every_s = tick_every_s
        self._catch_up_s = catch_up_s
        self._in_flight: asyncio.Queue[InFlight | None] = asyncio.Queue()
        # Alert id -> its early delivery (the ids it delivered), until the chunk's own.
        self._early: dict[str, asyncio.Task[list[str]]] = {}

    async def deliver_pending(self) -> int:
        """Deliver alerts stored but not yet delivered; return how many were delivered."""
        pending = await asyncio.to_thread(self.store.unnotified_alerts)
        return await self._deliver(pending)

    async def _deliver(self, alerts: Sequence[Alert]) -> int:
        went_early: list[str] = []
        later = []
        for alert in alerts:
            early = self._early.pop(alert.alert_id, None)
            if early is not None and alert.alert_id in await early:
                went_early.append(alert.alert_id)
            else:
                later.append(alert)
        delivered = went_early + await deliver(later, self.notifiers)
        if delivered:
            await asyncio.to_thread(self.store.mark_notified, delivered, self._clock())
        return len(delivered)

    def fast_track(self, chunk: Sequence[Inbound]) -> None:
        """Deliver the red alerts of the chunk's device events now (``fast_lane``)."""
        urgent = [a for a in urgent_alerts(chunk, self._clock()) if a.alert_id not in self._early]
        if not urgent:
            return
        task = asyncio.create_task(deliver(urgent, self.notifiers), name="pipeline-fast-lane")
        for alert in urgent:
            self._early[alert.alert_id] = task
        if len(self._early) > FAST_LANE_MEMORY:  # ids whose messages were duplicates
            for stale in list(self._early)[: len(self._early) - FAST_LANE_MEMORY]:
                del self._early[stale]

    def backend_ok(self, source: MqttSource) -> bool:
        """Whether silence can be blamed on the bands: connected, caught up, not queued up."""
        return source.receiving(self._catch_up_s, self._max_chunk)

    async def _hand_over(self, messages: list[Inbound], jobs: Sequence[Job | None]) -> None:
        """Queue each shard its job (waiting for room: backpressure), then track them."""
        parts = [
            await shard.submit(job)
            for shard, job in zip(self.shards, jobs, strict=True)
            if job is not None
        ]
        await self._in_flight.put(
            InFlight(messages=messages, parts=parts, handed_at=time.monotonic())
        )

    async def dispatch(self, chunk: list[Inbound]) -> None:
        """Split a chunk over the shards by device and hand it over."""
        received_at = self._clock()
        jobs = [
            Work(received_at=received_at, messages=owned, observe=observed)
            if owned or observed
            else None
            for owned, observed in route(chunk, len(self.shards))
        ]
        await self._hand_over(chunk, jobs)

    async def tick(self, source: MqttSource) -> None:
        """Have every shard check its bands for a lost signal."""
        backend_ok = self.backend_ok(source)
        await self._hand_over([], [Tick(backend_ok=backend_ok) for _ in self.shards])

    async def _complete(self, source: MqttSource) -> None:
        """Acknowledge chunks in arrival order once all their parts are durable."""
        while (entry := await self._in_flight.get()) is not None:
            outcomes = await asyncio.gather(*entry.parts)
            source.ack(entry.messages)
            if entry.messages:
                self.stats.last_commit_s = time.monotonic() - entry.handed_at
            self.stats.received += len(entry.messages)
            new_alerts: list[Alert] = []
            for result in outcomes:
                if isinstance(result, ChunkReport):
                    self._count(result)
                    new_alerts.extend(result.new_alerts)
                else:
                    new_alerts.extend(result)
            for alert in new_alerts:
                self.stats.alerts[alert.level.label] += 1
            if new_alerts:
                await self._deliver(new_alerts)

    def _count(self, report: ChunkReport) -> None:
        s = self.stats
        s.stored += report.stored
        s.duplicates += report.duplicates
        s.dead_letters += report.dead_letters
        s.dead_letters_not_kept += report.dead_letters_not_kept
        s.samples += report.samples
        s.too_late += report.too_late
        s.dead_letter_reasons.update(report.dead_letter_reasons)
        if report.too_late:
            log.info(
                "%d batches arrived beyond the lateness bound: stored, not scored",
                report.too_late,
            )
        if report.dead_letters:
            log.info("%d payloads went to dead letters", report.dead_letters)

    def chunks_in_flight(self) -> int:
        """Chunks (and ticks) handed to the shards and not yet durable."""
        return self._in_flight.qsize()

    async def start(self) -> int:
        """Start the shards (each seeds its silence checks); return how many bands."""
        # Concurrently: a child-process shard spends most of its start importing.
        return sum(await asyncio.gather(*(shard.start() for shard in self.shards)))

    async def run(self, source: MqttSource, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; chunks handed over are finished first.

        The shards must be started (``start``); ``run`` closes them.
        """
        await self.deliver_pending()
        # Device events seen as they arrive, not when the loop reaches them: the loop
        # may be waiting for room in a shard's queue.
        source.watch(EVENT_TOPICS, lambda inbound: self.fast_track([inbound]))
        completer = asyncio.create_task(self._complete(source), name="pipeline-complete")
        redeliver_every = 30.0
        loop = asyncio.get_running_loop()
        next_redeliver = loop.time() + redeliver_every
        next_tick = loop.time() + self._tick_every_s
        try:
            while not stop.is_set() and not completer.done():
                chunk = await source.receive(self._max_chunk, wait_s=0.2)
                if chunk:
                    await self.dispatch(chunk)
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self._tick_every_s
                    await self.tick(source)
                if loop.time() >= next_redeliver:
                    next_redeliver = loop.time() + redeliver_every
                    await self.deliver_pending()
        finally:
            await self._in_flight.put(None)
            try:
                await completer  # raises ShardError if a shard ended
            finally:
                for shard in self.shards:
                    await shard.close()


def alert_counts_json(counts: dict[AlertLevel, int]) -> dict[str, int]:
    """Alert counts keyed ``yellow``/``orange``/``red`` for JSON output."""
    return {
        level.label: counts.get(level, 0) for level in AlertLevel if level is not AlertLevel.NONE
    }
