"""The Kafka tier's storage sink against a real Kafka wire protocol (librdkafka's mock).

The sink commits a chunk's offsets only after the chunk is stored: a store that fails
is retried and nothing past it is committed, so a sink stopped (or killed) meanwhile
leaves the chunk for the next one. Each test runs on SQLite and on PostgreSQL. The
failing store is simulated by a ``Sink`` whose first transactions raise (an outage
cannot be injected into one transaction of a real database at a chosen moment).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator

import msgspec
import pytest

from schemas import Alert
from schemas.records import DeadLetter
from storage import Store
from stream_processors.device import WearerProfile

pytest.importorskip("faust", reason="the Kafka tier needs the [kafka] extra (dev installs it)")
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.vigil.kafka_doubles import DictTable
from tests.vigil.test_kafka_worker import SETTINGS, deteriorating, forwarded, run
from vigil.dead_letter_valve import DeadLetterValve, ValveLimits
from vigil.kafka_mock import MockKafka
from vigil.kafka_sink import Prepared, Sink, SinkConfig, run_sink
from vigil.kafka_tables import DeviceStates, DeviceTable
from vigil.kafka_topics import KafkaTopics, partition_key

TOPICS = KafkaTopics(prefix="t", app_id="sink-test")
PARTITIONS = 2


class FailingSink(Sink):
    """A sink whose first ``failures`` stores raise, as during a database outage."""

    def __init__(self, store: Store, failures: int, valve: DeadLetterValve | None = None) -> None:
        super().__init__(store, TOPICS, [], valve)
        self.failures = failures
        self.attempts = 0

    def store_prepared(self, chunk: Prepared) -> list[Alert]:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("the database is away")
        return super().store_prepared(chunk)


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    with MockKafka() as broker:
        broker.create_topics(TOPICS.all(), PARTITIONS)
        yield broker


Counts = tuple[int, int, int, int]  # messages, alerts, scores, index values
DEVICES = ("wb-0001", "wb-0002")


def tier_records() -> tuple[Counts, list[tuple[str, bytes, bytes]]]:
    """What a bridge and a worker write for two wearers, and what the store should hold."""
    messages = deteriorating()
    states = DeviceStates(DeviceTable(DictTable()), lambda _d: WearerProfile(), SETTINGS)
    values = [(0, forwarded(t, p)) for t, p in messages]
    result = run(values, states)
    records = [
        (TOPICS.ingest, partition_key(t), v)
        for (t, _p), (_x, v) in zip(messages, values, strict=True)
    ]
    records += [(o.topic, o.key, o.value) for o in result.outputs]
    by_topic = [sum(1 for o in result.outputs if o.topic == t) for t in TOPICS.outputs[:3]]
    scores, alerts, indices = by_topic
    assert alerts, "the deteriorating wearer raises alerts"
    assert indices, "and yields wellbeing index values"
    return (len(messages), alerts, scores, indices), records


def counts(store: Store) -> Counts:
    return (
        store.count_messages(),
        len(store.alerts()),
        sum(len(store.scores(d)) for d in DEVICES),
        sum(len(store.indices(d)) for d in DEVICES),
    )


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value=value, key=key) for topic, key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def committed_and_end(
    bootstrap: str,
) -> tuple[dict[TopicPartition, int | None], dict[TopicPartition, int]]:
    """The sink group's committed offsets next to each partition's end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=TOPICS.sink_group)
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in (TOPICS.ingest, *TOPICS.outputs)
            for p in range(PARTITIONS)
        ]
        committed = {tp: await consumer.committed(tp) for tp in tps}
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return committed, ends


async def until(check: Callable[[], bool], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


def config(kafka: MockKafka) -> SinkConfig:
    return SinkConfig(bootstrap=kafka.bootstrap, topics=TOPICS, chunk_max=50, retry_first_s=0.1)


def test_a_failed_store_is_retried_and_offsets_follow_only_what_was_stored(
    kafka: MockKafka, store: Store
) -> None:
    expected, records = tier_records()
    sink = FailingSink(store, failures=3)

    async def scenario() -> None:
        await produce(kafka.bootstrap, records)
        stop = asyncio.Event()
        task = asyncio.create_task(run_sink(config(kafka), sink, stop))
        await until(lambda: counts(store) == expected, 60)
        stop.set()
        assert await task == len(records)
        committed, ends = await committed_and_end(kafka.bootstrap)
        assert {tp: c for tp, c in committed.items() if ends[tp]} == {
            tp: e for tp, e in ends.items() if e
        }

    asyncio.run(scenario())
    assert sink.attempts > 3, "three failures, then stored"
    assert store.unnotified_alerts() == [], "new alerts went to the (no) notifiers"


def test_a_sink_stopped_while_its_store_fails_commits_nothing_and_the_next_stores_it_all(
    kafka: MockKafka, store: Store
) -> None:
    expected, records = tier_records()
    failing = FailingSink(store, failures=10**6)

    async def scenario() -> None:
        await produce(kafka.bootstrap, records)
        stop = asyncio.Event()
        task = asyncio.create_task(run_sink(config(kafka), failing, stop))
        await until(lambda: failing.attempts >= 2, 60)
        stop.set()
        assert await task == 0
        committed, _ends = await committed_and_end(kafka.bootstrap)
        assert set(committed.values()) == {None}, "nothing committed past an unstored chunk"
        assert counts(store) == (0, 0, 0, 0)

        stop = asyncio.Event()
        task = asyncio.create_task(run_sink(config(kafka), Sink(store, TOPICS, []), stop))
        await until(lambda: counts(store) == expected, 60)
        stop.set()
        assert await task == len(records)

    asyncio.run(scenario())


def test_the_sink_caps_a_flooding_topics_dead_letters_and_counts_a_retried_chunk_once(
    kafka: MockKafka, store: Store
) -> None:
    now = dt.datetime.now(dt.UTC)
    letters = [
        DeadLetter.of(
            received_at=now, topic="vigil/v1/telemetry/wb-0666", reason="invalid_json",
            detail="", payload=b"{%d" % i,
        )
        for i in range(40)
    ]  # fmt: skip
    records = [(TOPICS.dead_letters, b"wb-0666", msgspec.json.encode(x)) for x in letters]
    sink = FailingSink(store, failures=2, valve=DeadLetterValve(ValveLimits(burst=10)))

    async def scenario() -> None:
        await produce(kafka.bootstrap, records)
        stop = asyncio.Event()
        task = asyncio.create_task(run_sink(config(kafka), sink, stop))
        await until(lambda: sink.stats.records == len(records), 60)
        stop.set()
        await task

    asyncio.run(scenario())
    assert sink.attempts > 2, "two failures, then stored"
    assert store.count_dead_letters() == 10
    assert sink.stats.dead_letters_not_kept == 30  # not 30 per attempt
    assert sink.stats.store_failures >= 1
