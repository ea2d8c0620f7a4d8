"""The ingest pipeline: MQTT chunk -> decode -> one durable unit of work -> ack -> notify.

For each chunk of messages, in one store transaction: new telemetry and events are
stored (duplicates by ``(device_id, boot_id, seq)`` dropped), the per-device processors
score them, and the scores, alerts and dead letters are stored. Only after the commit
are the processors' new states adopted and the messages acknowledged, so a ``kill -9``
at any point loses nothing: the broker redelivers what was not acknowledged and the
store drops what it already has. Alerts are then delivered from an outbox
(``notified_at``), so an alert stored just before a crash is delivered on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence

import msgspec

from alerting.notifier import Notifier
from ingest.intake import intake
from ingest.mqtt.source import Inbound, MqttSource, backoff_delay
from schemas import Alert, AlertLevel, GatewayStatusV1, TelemetryBatchV1, encode
from schemas.records import DeadLetter, Received
from storage.base import StorageUnavailable, Store
from stream_processors.fleet import Fleet, Plan
from vigil.delivery import deliver

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    """The receive-time clock (injected so tests can pin it)."""
    return dt.datetime.now(dt.UTC)


class ChunkResult(msgspec.Struct, frozen=True, kw_only=True):
    """What committing one chunk did."""

    plan: Plan
    stored: int
    duplicates: int
    dead_letters: int
    dead_letter_reasons: list[str]
    samples: int
    new_alerts: list[Alert]


class DecodedChunk(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk as received, split into decoded messages and dead letters."""

    messages: list[Inbound]
    received_at: dt.datetime
    accepted: list[Received]
    dead: list[DeadLetter]


class PipelineStats(msgspec.Struct, kw_only=True):
    """Running totals for summaries and metrics."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    samples: int = 0
    too_late: int = 0  # batches beyond the lateness bound: stored, not scored
    alerts: Counter[str] = msgspec.field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = msgspec.field(default_factory=Counter)


class Pipeline:
    """Drives chunks from an ``MqttSource`` through the store, processors and notifiers."""

    def __init__(
        self,
        store: Store,
        fleet: Fleet,
        notifiers: Sequence[Notifier],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        max_chunk: int = 500,
        retry_max_s: float = 10.0,
        tick_every_s: float = 15.0,
        catch_up_s: float = 30.0,
    ) -> None:
        self.store = store
        self.fleet = fleet
        self.notifiers = list(notifiers)
        self.stats = PipelineStats()
        self._clock = clock
        self._max_chunk = max_chunk
        self._retry_max_s = retry_max_s
        self._tick_every_s = tick_every_s
        self._catch_up_s = catch_up_s
        self._rng = random.Random()  # noqa: S311 - jitter only

    def decode_chunk(self, chunk: Sequence[Inbound]) -> DecodedChunk:
        """Decode and validate a chunk (pure CPU work, done while the store is busy)."""
        received_at = self._clock()
        accepted: list[Received] = []
        dead: list[DeadLetter] = []
        for m in chunk:
            item = intake(m.topic, m.payload, received_at, size=m.size)
            if isinstance(item, Received):
                accepted.append(item)
            else:
                dead.append(item)
        return DecodedChunk(
            messages=list(chunk), received_at=received_at, accepted=accepted, dead=dead
        )

    def commit_decoded(self, decoded: DecodedChunk) -> ChunkResult:
        """Store a decoded chunk and what it produced (blocking; one transaction)."""
        accepted = decoded.accepted
        dead = list(decoded.dead)
        with self.store.transaction() as tx:
            new = tx.add_messages(accepted)
            sequenced = [r.message for r in new if not isinstance(r.message, GatewayStatusV1)]
            statuses = [r.message for r in new if isinstance(r.message, GatewayStatusV1)]
            plan = self.fleet.plan(sequenced, received_at=decoded.received_at, gateways=statuses)
            for message, error in plan.failures:
                log.error("processing failed for a message of %s: %s", message.device_id, error)
                dead.append(
                    DeadLetter.of(
                        received_at=decoded.received_at,
                        topic="(processing)",
                        reason="processing_error",
                        detail=error,
                        payload=encode(message),
                    )
                )
            tx.add_scores(plan.scores)
            tx.add_indices(plan.indices)
            new_alerts = tx.add_alerts(plan.alerts)
            tx.add_dead_letters(dead)
        samples = sum(len(m.samples) if isinstance(m, TelemetryBatchV1) else 1 for m in sequenced)
        return ChunkResult(
            plan=plan,
            stored=len(new),
            duplicates=len(accepted) - len(new),
            dead_letters=len(dead),
            dead_letter_reasons=[d.reason for d in dead],
            samples=samples,
            new_alerts=new_alerts,
        )

    async def _commit_with_retry(self, decoded: DecodedChunk) -> ChunkResult:
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(self.commit_decoded, decoded)
            except StorageUnavailable as exc:
                delay = backoff_delay(attempt, 0.2, self._retry_max_s, self._rng)
                if attempt == 0:
                    log.warning(
                        "store unavailable, holding %d messages unacked: %s",
                        len(decoded.messages),
                        exc,
                    )
                attempt += 1
                await asyncio.sleep(delay)

    async def deliver_pending(self) -> int:
        """Deliver alerts stored but not yet delivered; return how many were delivered."""
        pending = await asyncio.to_thread(self.store.unnotified_alerts)
        return await self._deliver(pending)

    async def _deliver(self, alerts: Sequence[Alert]) -> int:
        delivered = await deliver(alerts, self.notifiers)
        if delivered:
            await asyncio.to_thread(self.store.mark_notified, delivered, self._clock())
        return len(delivered)

    def seed_silence_checks(self, horizon: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Know the bands heard from within ``horizon`` before a (re)start; return how many.

        Without this, a band that goes silent while Vigil is down would never be missed.
        """
        heard = self.store.last_heard(self._clock() - horizon)
        for h in heard:
            self.fleet.seed_contact(h.device_id, h.received_at, h.gateway_id, h.risk)
        return len(heard)

    def backend_ok(self, source: MqttSource) -> bool:
        """Whether silence can be blamed on the bands: connected, caught up, not queued up."""
        since = source.connected_since
        return (
            since is not None
            and time.monotonic() - since >= self._catch_up_s
            and source.pending() < self._max_chunk
        )

    def commit_tick(self, backend_ok: bool) -> tuple[Plan, list[Alert]]:
        """Store the "signal lost" alerts a tick raises (blocking; one transaction)."""
        plan = self.fleet.tick(self._clock(), backend_ok=backend_ok)
        if not plan.alerts:
            return plan, []
        with self.store.transaction() as tx:
            new_alerts = tx.add_alerts(plan.alerts)
        return plan, new_alerts

    async def tick(self, source: MqttSource) -> int:
        """Check every band for a lost signal; return how many alerts were raised."""
        try:
            plan, new_alerts = await asyncio.to_thread(self.commit_tick, self.backend_ok(source))
        except StorageUnavailable as exc:
            log.warning("store unavailable, silence checks wait: %s", exc)
            return 0
        self.fleet.adopt(plan)
        for alert in new_alerts:
            self.stats.alerts[alert.level.label] += 1
        if new_alerts:
            await self._deliver(new_alerts)
        return len(new_alerts)

    async def _finish(
        self, source: MqttSource, decoded: DecodedChunk, result: ChunkResult
    ) -> ChunkResult:
        self.fleet.adopt(result.plan)
        source.ack(decoded.messages)
        s = self.stats
        s.received += len(decoded.messages)
        s.stored += result.stored
        s.duplicates += result.duplicates
        s.dead_letters += result.dead_letters
        s.samples += result.samples
        s.too_late += result.plan.too_late
        if result.plan.too_late:
            log.info(
                "%d batches arrived beyond the lateness bound: stored, not scored",
                result.plan.too_late,
            )
        for alert in result.new_alerts:
            s.alerts[alert.level.label] += 1
        s.dead_letter_reasons.update(result.dead_letter_reasons)
        if result.dead_letters:
            log.info("%d payloads went to dead letters", result.dead_letters)
        if result.new_alerts:
            await self._deliver(result.new_alerts)
        return result

    async def _next(self, source: MqttSource, wait_s: float) -> DecodedChunk | None:
        chunk = await source.receive(self._max_chunk, wait_s=wait_s)
        return await asyncio.to_thread(self.decode_chunk, chunk) if chunk else None

    async def _next_during(
        self, source: MqttSource, commit: asyncio.Task[ChunkResult]
    ) -> DecodedChunk | None:
        """The next chunk, received and decoded while ``commit`` runs (None if it ends first)."""
        receiving = asyncio.create_task(
            source.receive(self._max_chunk, wait_s=1.0), name="pipeline-receive"
        )
        await asyncio.wait({receiving, commit}, return_when=asyncio.FIRST_COMPLETED)
        if not receiving.done():
            # Safe to cancel: receive() takes messages off the queue only after its wait.
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            return None
        chunk = receiving.result()
        return await asyncio.to_thread(self.decode_chunk, chunk) if chunk else None

    async def run(self, source: MqttSource, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; chunks in hand are finished first.

        Two chunks overlap: while the store commits one (mostly waiting on the
        server), the next is received and decoded. Scoring still sees the chunks in
        order, each against the states the previous one left.
        """
        await self.deliver_pending()
        await asyncio.to_thread(self.seed_silence_checks)
        redeliver_every = 30.0
        loop = asyncio.get_running_loop()
        next_redeliver = loop.time() + redeliver_every
        next_tick = loop.time() + self._tick_every_s
        ready: DecodedChunk | None = None
        while ready is not None or not stop.is_set():
            current = ready or await self._next(source, wait_s=0.2)
            ready = None
            if current is not None:
                commit = asyncio.create_task(
                    self._commit_with_retry(current), name="pipeline-commit"
                )
                try:
                    if not stop.is_set():
                        ready = await self._next_during(source, commit)
                finally:
                    result = await commit
                await self._finish(source, current, result)
            if loop.time() >= next_tick:
                next_tick = loop.time() + self._tick_every_s
                await self.tick(source)
            if loop.time() >= next_redeliver:
                next_redeliver = loop.time() + redeliver_every
                await self.deliver_pending()


def alert_counts_json(counts: dict[AlertLevel, int]) -> dict[str, int]:
    """Alert counts keyed ``yellow``/``orange``/``red`` for JSON output."""
    return {
        level.label: counts.get(level, 0) for level in AlertLevel if level is not AlertLevel.NONE
    }
