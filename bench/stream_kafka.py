"""The Kafka tier's processing rate: one Faust worker against a naive agent, two against one.

librdkafka's mock cluster (``vigil/kafka_mock.py``, a real Kafka wire protocol) runs in
this process. For each run a fresh ingest topic gets the same ``--messages`` 10-sample
batches from ``--devices`` devices, in the envelope ``vigil bridge`` writes, keyed by
device; then it is drained by

* **naive**: the baseline, a Faust agent written the straightforward way: one message at
  a time, the device's state decoded from its table bytes and encoded back for every
  message, each output sent as it comes (``python -m bench.stream_kafka --naive-agent``);
* **worker x1**: one ``vigil worker --no-sink`` (chunks of ``VIGIL_WORKER_CHUNK_MAX``,
  decoded states cached, outputs acknowledged before the states are written);
* **worker x2**: two ``vigil worker --no-sink`` in one consumer group.

Each run is a consumer group of its own started on an empty topic; 15 s later (the
group has joined, a second worker has taken its partitions) a warm-up message goes to
each of 64 devices of their own, and once those are committed the batches are
produced. The rate counts input offsets the group committed (every 0.5 s in all runs)
from the first commit after the warm-up to the last, so start-up and joining are not
counted. The producer's own rate is reported
beside, to show it is not the limit.

Usage: ``python -m bench.stream_kafka [--devices 2000] [--messages 20000] [--partitions 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._report import final_line, write_section
from bench.stream import fleet_payloads
from vigil.kafka_topics import Forwarded, KafkaTopics, encode_forwarded, partition_key

SAMPLES = 10
COMMIT_INTERVAL_S = 0.5
SETTLE_S = 15.0  # start-up and group join (session timeout 6 s, rebalance timeout 5 s)


def forwarded_values(devices: int, messages: int, prefix: str = "wb") -> list[tuple[bytes, bytes]]:
    """``(key, value)`` records as ``vigil bridge`` writes them."""
    received_at = dt.datetime.now(dt.UTC)
    return [
        (partition_key(topic), encode_forwarded(Forwarded(topic, received_at, payload)))
        for topic, payload in fleet_payloads(devices, messages, prefix)
    ]


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Send every record (acks=all); the seconds it took."""
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - the [kafka] extra

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
        return time.perf_counter() - t0
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Input offsets the group has committed, over all partitions."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        total = 0
        for p in range(partitions):
            offset = await consumer.committed(TopicPartition(topic, p))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


def env_for(bootstrap: str, topics: KafkaTopics, partitions: int, db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_KAFKA_BOOTSTRAP": bootstrap,
        "VIGIL_KAFKA_TOPIC_PREFIX": topics.prefix,
        "VIGIL_KAFKA_APP_ID": topics.app_id,
        "VIGIL_KAFKA_PARTITIONS": str(partitions),
        "VIGIL_KAFKA_DECLARE_TOPICS": "false",
        "VIGIL_KAFKA_COMMIT_INTERVAL_S": str(COMMIT_INTERVAL_S),
        "VIGIL_KAFKA_PROGRESS_COMMIT_S": str(COMMIT_INTERVAL_S),
        "VIGIL_KAFKA_SESSION_TIMEOUT_S": "6",
        "VIGIL_KAFKA_REBALANCE_TIMEOUT_S": "5",
        "VIGIL_KAFKA_HEARTBEAT_S": "1",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
        "VIGIL_LOG_LEVEL": "WARNING",
    }


async def wait_committed(
    bootstrap: str, topics: KafkaTopics, partitions: int, *, floor: int, target: int
) -> tuple[float, int, float]:
    """Poll until ``target`` offsets are committed.

    Returns when the count first passed ``floor``, the count then, and when it reached
    ``target``.
    """
    first_t, first_n = 0.0, 0
    deadline = time.perf_counter() + 900
    while True:
        n = await committed(bootstrap, topics.app_id, topics.ingest, partitions)
        now = time.perf_counter()
        if n > floor and not first_t:
            first_t, first_n = now, n
        if n >= target:
            return first_t, first_n, now
        if now > deadline:
            raise RuntimeError(f"{topics.app_id}: {n} of {target} committed")
        await asyncio.sleep(0.05)


def drain(
    broker: Any,
    kind: str,
    processes: int,
    *,
    warmup: list[tuple[bytes, bytes]],
    records: list[tuple[bytes, bytes]],
    partitions: int,
    tmp: Path,
) -> tuple[float, float]:
    """Messages/s of ``processes`` consumers of ``kind``; and the producer's messages/s."""
    run = f"{kind}{processes}-{uuid.uuid4().hex[:6]}"
    topics = KafkaTopics(prefix=run, app_id=f"{run}-app")
    broker.create_topics(topics.all(), partitions)
    env = env_for(broker.bootstrap, topics, partitions, tmp / f"{run}.db")
    command = (
        [sys.executable, "-m", "bench.stream_kafka", "--naive-agent"]
        if kind == "naive"
        else [sys.executable, "-m", "vigil", "worker", "--no-sink"]
    )
    consumers = [subprocess.Popen(command, env=env) for _ in range(processes)]
    try:
        # Let the group settle before any record: a Faust agent whose partitions are
        # handed over mid-chunk does not commit them again until newer records arrive
        # (faust-streaming 0.15.3), and the naive agent's warm-up would never be seen
        # committed (a vigil worker commits its applied progress itself).
        time.sleep(SETTLE_S)
        asyncio.run(produce(broker.bootstrap, topics.ingest, warmup))
        warm = len(warmup)
        asyncio.run(wait_committed(broker.bootstrap, topics, partitions, floor=0, target=warm))
        time.sleep(3 * COMMIT_INTERVAL_S)  # every warm-up chunk committed
        for c in consumers:
            if c.poll() is not None:
                raise RuntimeError(f"{kind} exited early with code {c.returncode}")
        produce_s = asyncio.run(produce(broker.bootstrap, topics.ingest, records))
        target = warm + len(records)
        first_t, first_n, last_t = asyncio.run(
            wait_committed(broker.bootstrap, topics, partitions, floor=warm, target=target)
        )
        if first_n >= target or last_t <= first_t:
            raise RuntimeError("everything committed at once: too few messages to time")
        return (target - first_n) / (last_t - first_t), len(records) / produce_s
    finally:
        for c in consumers:
            c.terminate()
        for c in consumers:
            c.wait(timeout=60)


def naive_agent() -> int:
    """The baseline agent, configured like ``vigil worker`` from ``VIGIL_*`` settings."""
    from ingest.intake import intake  # noqa: PLC0415
    from schemas import GatewayStatusV1  # noqa: PLC0415
    from schemas.records import DeadLetter  # noqa: PLC0415
    from stream_processors.device import WearerProfile  # noqa: PLC0415
    from stream_processors.event_time import step_in_order  # noqa: PLC0415
    from stream_processors.state_codec import decode_state, encode_state  # noqa: PLC0415
    from vigil.kafka_service import run_faust_app, worker_config  # noqa: PLC0415
    from vigil.kafka_topics import decode_forwarded  # noqa: PLC0415
    from vigil.kafka_worker import bytes_table, faust_app, raw_schema  # noqa: PLC0415
    from vigil.settings import Settings  # noqa: PLC0415

    settings = Settings()
    config = worker_config(settings)  # the same app settings as ``vigil worker``
    topics = config.topics
    processor = config.processor
    profile = WearerProfile()
    app = faust_app(config)
    ingest = app.topic(topics.ingest, schema=raw_schema(), partitions=config.partitions)
    out = {name: app.topic(name, schema=raw_schema()) for name in topics.outputs}
    table = bytes_table(app, "device_state", config.partitions)

    @app.agent(ingest, name="process")
    async def process(stream: Any) -> None:
        import msgspec  # noqa: PLC0415

        async for value in stream:
            item = decode_forwarded(value)
            received = intake(item.topic, item.payload, item.received_at, size=item.size)
            if isinstance(received, DeadLetter):
                await out[topics.dead_letters].send(value=msgspec.json.encode(received))
                continue
            message = received.message
            if isinstance(message, GatewayStatusV1):
                continue
            key = message.device_id.encode()
            raw = table.get(key)
            state = decode_state(raw, profile, processor) if raw is not None else None
            result = step_in_order(state, message, profile, processor)
            for s in result.scores:
                await out[topics.scores].send(key=key, value=msgspec.json.encode(s))
            for a in result.alerts:
                await out[topics.alerts].send(key=key, value=msgspec.json.encode(a))
            for i in result.indices:
                await out[topics.indices].send(key=key, value=msgspec.json.encode(i))
            table[key] = encode_state(result.state)

    return run_faust_app(app, settings.log_level)


def main() -> None:
    """Run the three drains and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--naive-agent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_agent:
        raise SystemExit(naive_agent())

    from vigil.kafka_mock import MockKafka  # noqa: PLC0415 - confluent-kafka, [dev]

    # Warm-up devices of their own, one message each, spread over every partition.
    warmup = forwarded_values(64, 64, prefix="warm")
    records = forwarded_values(args.devices, args.messages)
    broker = MockKafka()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            common: dict[str, Any] = {
                "warmup": warmup,
                "records": records,
                "partitions": args.partitions,
                "tmp": Path(tmp),
            }
            naive, produced = drain(broker, "naive", 1, **common)
            one, _ = drain(broker, "worker", 1, **common)
            two, _ = drain(broker, "worker", 2, **common)
    finally:
        broker.close()

    figures = {
        "devices": args.devices,
        "messages": args.messages,
        "samples_per_message": SAMPLES,
        "partitions": args.partitions,
        "naive_agent_messages_per_s": round(naive),
        "worker_messages_per_s": round(one),
        "worker_ratio_to_naive": round(one / naive, 2),
        "two_workers_messages_per_s": round(two),
        "two_workers_ratio_to_one": round(two / one, 2),
        "producer_messages_per_s": round(produced),
    }
    write_section(
        "stream_kafka",
        f"python -m bench.stream_kafka --devices {args.devices} --messages {args.messages} "
        f"--partitions {args.partitions}",
        figures,
        "The Kafka tier's processors on librdkafka's mock cluster (in the benchmark's "
        "process), each run draining a fresh topic of the same 10-sample batches in its "
        "own consumer group, from the first offset commit after a warm-up to the last "
        "(commits every 0.5 s). Baseline: a naive Faust agent, one message at a time, "
        "decoding and encoding the device's state for each. `vigil worker --no-sink` "
        "runs once alone and once as two workers in one group. The producer's rate (the "
        "same records, acks=all) shows it is not the limit.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
