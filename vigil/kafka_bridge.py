"""``vigil bridge``: MQTT in, Kafka ``<prefix>.ingest`` out, keyed by device id.

Each MQTT chunk is forwarded unchanged (``Forwarded``: MQTT topic, receive time,
payload) and acknowledged to the broker only once Kafka has acknowledged every
record of it (``acks=all``): a bridge killed in between leaves the chunk
unacknowledged, the broker redelivers it, and the worker's processors drop the
copies by ``(boot_id, seq)``. Validation is the worker's job, so a bad payload
reaches the dead letters there, with the rest of its chunk going on.

Gateway statuses are also copied to every partition (``observe``), and every
``heartbeat_s`` each partition gets a heartbeat saying whether the bridge is receiving
(connected long enough to have caught up, and keeping up): see ``vigil/kafka_topics.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence

import msgspec
from aiokafka import AIOKafkaProducer

from ingest.mqtt.source import MqttSettings, MqttSource
from schemas.topics import INGEST_FILTERS, is_gateway_status
from vigil.kafka_topics import (
    HEARTBEAT_TOPIC,
    Forwarded,
    KafkaTopics,
    encode_forwarded,
    partition_key,
)

log = logging.getLogger(__name__)


class BridgeStats(msgspec.Struct, kw_only=True):
    """What the bridge forwarded, and what waits (its metrics)."""

    forwarded: int = 0
    backlog: int = 0


class BridgeTiming(msgspec.Struct, frozen=True, kw_only=True):
    """How often the bridge beats, and when it counts as receiving."""

    heartbeat_s: float = 5.0
    catch_up_s: float = 30.0  # connected this long before silence is the bands'


async def _heartbeat(
    producer: AIOKafkaProducer, topic: str, partitions: Sequence[int], receiving: bool
) -> None:
    beat = Forwarded(
        HEARTBEAT_TOPIC, dt.datetime.now(dt.UTC), b"1" if receiving else b"0", kind="heartbeat"
    )
    value = encode_forwarded(beat)
    sent = [await producer.send(topic, value=value, partition=p) for p in partitions]
    await asyncio.gather(*sent)


async def forward(
    source: MqttSource,
    producer: AIOKafkaProducer,
    topics: KafkaTopics,
    stop: asyncio.Event,
    *,
    chunk_max: int = 500,
    timing: BridgeTiming | None = None,
    stats: BridgeStats | None = None,
) -> BridgeStats:
    """Forward chunks until ``stop`` is set; each is acknowledged once Kafka has it."""
    timing = timing or BridgeTiming()
    stats = stats if stats is not None else BridgeStats()
    partitions = sorted(await producer.partitions_for(topics.ingest))
    loop = asyncio.get_running_loop()
    next_beat = loop.time()
    while not stop.is_set():
        if loop.time() >= next_beat:
            next_beat = loop.time() + timing.heartbeat_s
            receiving = source.receiving(timing.catch_up_s, chunk_max)
            await _heartbeat(producer, topics.ingest, partitions, receiving)
        chunk = await source.receive(chunk_max, wait_s=0.2)
        if not chunk:
            continue
        received_at = dt.datetime.now(dt.UTC)
        sent = []
        for m in chunk:
            value = encode_forwarded(Forwarded(m.topic, received_at, m.payload, m.size))
            sent.append(await producer.send(topics.ingest, value=value, key=partition_key(m.topic)))
            if is_gateway_status(m.topic):
                copy = encode_forwarded(
                    Forwarded(m.topic, received_at, m.payload, m.size, kind="observe")
                )
                sent += [
                    await producer.send(topics.ingest, value=copy, partition=p) for p in partitions
                ]
        await asyncio.gather(*sent)
        source.ack(chunk)
        stats.forwarded += len(chunk)
        stats.backlog = source.pending()
    return stats


async def run_bridge(
    mqtt: MqttSettings,
    bootstrap: str,
    topics: KafkaTopics,
    stop: asyncio.Event,
    *,
    chunk_max: int,
    timing: BridgeTiming | None = None,
    stats: BridgeStats | None = None,
) -> BridgeStats:
    """Connect to both brokers and forward until ``stop``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        async with MqttSource(mqtt, INGEST_FILTERS) as source:
            log.info("bridging %s -> %s", ", ".join(INGEST_FILTERS), topics.ingest)
            return await forward(
                source, producer, topics, stop, chunk_max=chunk_max, timing=timing, stats=stats
            )
    finally:
        await producer.stop()
