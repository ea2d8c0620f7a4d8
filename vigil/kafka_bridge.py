"""``vigil bridge``: MQTT in, Kafka ``<prefix>.ingest`` out, keyed by device id.

Each MQTT chunk is forwarded unchanged (``Forwarded``: MQTT topic, receive time,
payload) and acknowledged to the broker only once Kafka has acknowledged every
record of it (``acks=all``): a bridge killed in between leaves the chunk
unacknowledged, the broker redelivers it, and the worker's processors drop the
copies by ``(boot_id, seq)``. Validation is the worker's job, so a bad payload
reaches the dead letters there, with the rest of its chunk going on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import msgspec
from aiokafka import AIOKafkaProducer

from ingest.mqtt.source import MqttSettings, MqttSource
from schemas.topics import INGEST_FILTERS
from vigil.kafka_topics import Forwarded, KafkaTopics, encode_forwarded, partition_key

log = logging.getLogger(__name__)


class BridgeStats(msgspec.Struct, kw_only=True):
    """What the bridge forwarded."""

    forwarded: int = 0


async def forward(
    source: MqttSource,
    producer: AIOKafkaProducer,
    topics: KafkaTopics,
    stop: asyncio.Event,
    *,
    chunk_max: int = 500,
) -> BridgeStats:
    """Forward chunks until ``stop`` is set; each is acknowledged once Kafka has it."""
    stats = BridgeStats()
    while not stop.is_set():
        chunk = await source.receive(chunk_max, wait_s=0.2)
        if not chunk:
            continue
        received_at = dt.datetime.now(dt.UTC)
        sent = [
            await producer.send(
                topics.ingest,
                value=encode_forwarded(Forwarded(m.topic, received_at, m.payload, m.size)),
                key=partition_key(m.topic),
            )
            for m in chunk
        ]
        await asyncio.gather(*sent)
        source.ack(chunk)
        stats.forwarded += len(chunk)
    return stats


async def run_bridge(
    mqtt: MqttSettings, bootstrap: str, topics: KafkaTopics, stop: asyncio.Event, chunk_max: int
) -> BridgeStats:
    """Connect to both brokers and forward until ``stop``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        async with MqttSource(mqtt, INGEST_FILTERS) as source:
            log.info("bridging %s -> %s", ", ".join(INGEST_FILTERS), topics.ingest)
            return await forward(source, producer, topics, stop, chunk_max=chunk_max)
    finally:
        await producer.stop()
