"""The Kafka tier's storage sink: its own consumer group, offsets committed after storing.

The sink reads ``<prefix>.ingest`` (the forwarded messages) and the output topics,
stores each chunk in one transaction, hands the alerts that were new to the
notifiers (the outbox, as in the embedded runner), and only then commits the
chunk's offsets. A chunk that fails to store is retried, with backoff, and its
offsets are not committed meanwhile; a sink killed between storing and committing
reads the chunk again, and the store keeps one copy (alerts by id, scores by device
and time, index values by device, time and name, messages by device and sequence).

Why not a Faust agent: in 2 of about 30 runs of the tier test on busy cores, the
sink that was a Faust agent lost the first output records of a partition: offsets
were committed for records never stored (faust-streaming 0.15.3; where in Faust's
offset bookkeeping was not found). With a plain consumer the rule is short enough
to check by reading: commit exactly the offsets that follow what this sink stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from alerting.notifier import Notifier
from ingest.intake import intake
from schemas import Alert
from schemas.records import DeadLetter, Received
from schemas.scores import IndexRecord, ScoreRecord
from storage.base import Store
from vigil.dead_letter_valve import DeadLetterValve, ValveLimits
from vigil.delivery import deliver
from vigil.kafka_topics import Forwarded, KafkaTopics, decode_forwarded

log = logging.getLogger(__name__)


class SinkStats(msgspec.Struct, kw_only=True):
    """What the sink has done (its metrics)."""

    records: int = 0
    new_alerts: int = 0
    dead_letters_not_kept: int = 0  # a flooding topic's (vigil/dead_letter_valve.py)
    store_failures: int = 0
    failing: bool = False


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk decoded for the store: what one transaction writes."""

    messages: list[Received]
    scores: list[ScoreRecord]
    alerts: list[Alert]
    indices: list[IndexRecord]
    letters: list[DeadLetter]  # those the valve keeps, and its summaries
    records: int
    not_kept: int


class Sink:
    """Stores a chunk of the tier's topics in one transaction, then delivers new alerts."""

    def __init__(
        self,
        store: Store,
        topics: KafkaTopics,
        notifiers: Sequence[Notifier],
        valve: DeadLetterValve | None = None,
    ) -> None:
        self.store = store
        self.topics = topics
        self.notifiers = list(notifiers)
        self.valve = valve or DeadLetterValve(ValveLimits())
        self.stats = SinkStats()

    def prepare(self, records: Sequence[tuple[str, bytes]]) -> Prepared:
        """Decode a chunk, once however often its store is tried (the valve counts once)."""
        t = self.topics
        messages: list[Received] = []
        scores: list[ScoreRecord] = []
        alerts: list[Alert] = []
        indices: list[IndexRecord] = []
        letters: list[DeadLetter] = []
        for topic, value in records:
            if topic == t.ingest:
                try:
                    item: Forwarded = decode_forwarded(value)
                except msgspec.DecodeError:
                    continue  # the process agent dead-letters it
                if item.kind != "message":
                    continue  # heartbeats and copies: for the processors only
                received = intake(item.topic, item.payload, item.received_at, size=item.size)
                if isinstance(received, Received):
                    messages.append(received)
                continue
            try:
                if topic == t.scores:
                    scores.append(msgspec.json.decode(value, type=ScoreRecord))
                elif topic == t.alerts:
                    alerts.append(msgspec.json.decode(value, type=Alert))
                elif topic == t.indices:
                    indices.append(msgspec.json.decode(value, type=IndexRecord))
                elif topic == t.dead_letters:
                    letters.append(msgspec.json.decode(value, type=DeadLetter))
            except msgspec.DecodeError as exc:
                # Only workers write these topics, but a stray producer must not stop the
                # sink (the chunk would fail again on every restart).
                log.error("a record on %s is not one Vigil wrote: %s", topic, exc)  # noqa: TRY400
                letters.append(
                    DeadLetter.of(
                        received_at=dt.datetime.now(dt.UTC),
                        topic=topic,
                        reason="bad_output_record",
                        detail=str(exc),
                        payload=value,
                    )
                )
        letters, not_kept = self.valve.admit(letters, dt.datetime.now(dt.UTC))
        return Prepared(
            messages=messages,
            scores=scores,
            alerts=alerts,
            indices=indices,
            letters=letters,
            records=len(records),
            not_kept=not_kept,
        )

    def store_prepared(self, chunk: Prepared) -> list[Alert]:
        """Store a prepared chunk in one transaction; the alerts not stored before."""
        with self.store.transaction() as tx:
            tx.add_messages(chunk.messages)
            tx.add_scores(chunk.scores)
            tx.add_indices(chunk.indices)
            new_alerts = tx.add_alerts(chunk.alerts)
            tx.add_dead_letters(chunk.letters)
        self.stats.records += chunk.records
        self.stats.dead_letters_not_kept += chunk.not_kept
        self.stats.new_alerts += len(new_alerts)
        return new_alerts

    async def handle(self, chunk: Prepared) -> None:
        """Store a chunk and deliver its new alerts (undelivered ones stay in the outbox).

        The store is called in a thread: the database must not stall the worker's loop.
        """
        await self._deliver(await asyncio.to_thread(self.store_prepared, chunk))

    async def deliver_pending(self) -> None:
        """Deliver alerts stored earlier but not delivered (e.g. before a crash)."""
        await self._deliver(await asyncio.to_thread(self.store.unnotified_alerts))

    async def _deliver(self, alerts: Sequence[Alert]) -> None:
        delivered = await deliver(alerts, self.notifiers)
        if delivered:
            await asyncio.to_thread(self.store.mark_notified, delivered, dt.datetime.now(dt.UTC))


class SinkConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the sink reaches Kafka, chunks its input and retries a failed store."""

    bootstrap: str = "127.0.0.1:9092"
    topics: KafkaTopics = KafkaTopics()
    chunk_max: int = 500
    session_timeout_s: float = 10.0
    heartbeat_s: float = 3.0
    retry_first_s: float = 0.5
    retry_max_s: float = 30.0


async def _store_until_done(
    sink: Sink, records: Sequence[tuple[str, bytes]], stop: asyncio.Event, config: SinkConfig
) -> bool:
    """Store a chunk, retrying with backoff; False if stopped before it was stored."""
    wait_s = config.retry_first_s
    chunk = sink.prepare(records)
    while True:
        try:
            await sink.handle(chunk)
        except Exception as exc:  # noqa: BLE001 - any store failure: keep the chunk, retry
            sink.stats.store_failures += 1
            sink.stats.failing = True
            log.error(  # noqa: TRY400 - the traceback adds nothing for an outage
                "storing %d records failed (%s: %s); retrying in %.1f s",
                len(records),
                type(exc).__name__,
                exc,
                wait_s,
            )
        else:
            sink.stats.failing = False
            return True
        try:
            await asyncio.wait_for(stop.wait(), wait_s)
        except TimeoutError:
            wait_s = min(wait_s * 2, config.retry_max_s)
        else:
            return False


async def consume_into(
    consumer: AIOKafkaConsumer, sink: Sink, stop: asyncio.Event, config: SinkConfig
) -> int:
    """Store what ``consumer`` reads until ``stop``; commit after each stored chunk.

    Returns the number of records stored.
    """
    stored = 0
    await sink.deliver_pending()  # stored before a crash, never delivered
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=200, max_records=config.chunk_max)
        if not batch:
            continue
        records = [(tp.topic, r.value) for tp, rs in batch.items() for r in rs if r.value]
        if not await _store_until_done(sink, records, stop, config):
            return stored
        stored += len(records)
        offsets = {
            TopicPartition(tp.topic, tp.partition): rs[-1].offset + 1 for tp, rs in batch.items()
        }
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance took partitions away: their new owner reads the chunk again
            # from the last commit, and the store keeps one copy.
            log.warning("commit after storing failed (%s); records will be read again", exc)
    return stored


async def run_sink(config: SinkConfig, sink: Sink, stop: asyncio.Event) -> int:
    """Join the sink's consumer group and store until ``stop``; the records stored."""
    topics = config.topics
    consumer = AIOKafkaConsumer(
        topics.ingest,
        *topics.outputs,
        bootstrap_servers=config.bootstrap,
        group_id=topics.sink_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(config.session_timeout_s * 1000),
        heartbeat_interval_ms=int(config.heartbeat_s * 1000),
    )
    await consumer.start()
    try:
        return await consume_into(consumer, sink, stop, config)
    finally:
        await consumer.stop()
