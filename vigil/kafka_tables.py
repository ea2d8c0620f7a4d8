"""The Kafka worker's tables: one record per device, written in bulk by its own producer.

A device's record (``DeviceRecord``) holds its ingest partition, its band contact (the
silence checks, ``vigil/kafka_silence.py``) and its processor state
(``stream_processors/state_codec.py`` bytes), in one Faust table backed by a
changelog topic. One record rather than a table each: a chunk writes one changelog
record per device it touched, not two (``bench.stream_kafka``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import msgspec

from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState
from stream_processors.silence import Contact
from stream_processors.state_codec import decode_state, encode_state

Profiles = Callable[[str], WearerProfile]

log = logging.getLogger(__name__)

# Keys of the device table that are not devices (``vigil/kafka_progress.py``): device
# ids start with a letter or digit (``schemas.common.DeviceId``).
RESERVED_PREFIX = b"\x00"


class StateTable(Protocol):
    """Where state bytes live: a Faust table (``FaustStateTable``) or, in tests, a dict."""

    def get(self, key: bytes) -> bytes | None:
        """The bytes stored under ``key``."""
        ...

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Store ``value``, its changelog record in ``partition``."""
        ...

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value held here (the partitions this worker has had)."""
        ...


class Record(msgspec.Struct, frozen=True, array_like=True):
    """One record to send: to a partition of its own, or by its key's hash (``None``)."""

    topic: str
    key: bytes
    value: bytes
    partition: int | None = None


class RecordSender:
    """The worker's own aiokafka producer for outputs and changelog records.

    ``send_all`` sends a chunk's records and awaits every acknowledgement (acks=all).
    Faust's ``Topic.send`` wraps each record in its own futures, callbacks and a debug
    log record, a large share of the worker's time before this (``bench.stream_kafka``,
    docs/scale-out.md). Faust still reads the changelog topics on recovery: which
    producer wrote them does not matter.
    """

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: Any = None
        self._starting = asyncio.Lock()

    async def _started(self) -> Any:
        async with self._starting:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - the [kafka] extra

                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap, acks="all", linger_ms=2
                )
                await producer.start()
                self._producer = producer
        return self._producer

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send ``records`` and await their acknowledgements."""
        if not records:
            return
        producer = await self._started()
        pending = [
            await producer.send(r.topic, value=r.value, key=r.key, partition=r.partition)
            for r in records
        ]
        await asyncio.gather(*pending)

    async def stop(self) -> None:
        """Flush and close the producer, if it was started."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class FaustStateTable:
    """A Faust table written with an explicit changelog partition, its records in bulk.

    ``table[key] = value`` takes the partition from the stream's current event, and
    a chunk (``take_events``) has none; the partition of the device's own ingest
    record is the right one (co-partitioning: a worker that owns a device's ingest
    partition owns its state).

    ``put`` writes the local store and stages the changelog record; ``flush`` sends the
    staged records straight to the changelog topic and awaits their acknowledgements.
    Faust's own ``send_changelog`` queues each record through its producer buffer, sent
    one at a time by a single task, which held the worker back (``bench.stream_kafka``).
    """

    def __init__(self, table: Any, sender: RecordSender) -> None:
        self._table = table
        self._sender = sender
        # key -> (partition, value): a key written twice before a flush sends one record.
        self._staged: dict[bytes, tuple[int, bytes]] = {}

    def get(self, key: bytes) -> bytes | None:
        """The bytes stored under ``key`` (recovered from the changelog at start)."""
        value: bytes | None = self._table.get(key)
        return value

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Write the local store and stage the changelog record."""
        self._table.data[key] = value
        self._staged[key] = (partition, value)

    async def flush(self) -> None:
        """Send the staged changelog records and await their acknowledgements."""
        staged, self._staged = self._staged, {}
        topic = self._table.changelog_topic.get_topic_name()
        await self._sender.send_all([Record(topic, k, v, p) for k, (p, v) in staged.items()])

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value of the local store."""
        items: Iterable[tuple[bytes, bytes]] = self._table.data.items()
        return items


class DeviceRecord(msgspec.Struct, frozen=True, array_like=True):
    """What a worker keeps of one device (MessagePack, its table's value)."""

    partition: int  # the device's ingest partition, which its changelog record follows
    contact: Contact | None = None
    state: bytes | None = None  # ``state_codec`` bytes


_device_record = msgspec.msgpack.Decoder(DeviceRecord)


class DeviceTable:
    """Device records over a table of bytes; contact and state written apart or together."""

    def __init__(self, table: StateTable) -> None:
        self.table = table

    def get(self, device_id: str) -> DeviceRecord | None:
        """The device's record, if it has one."""
        raw = self.table.get(device_id.encode())
        return None if raw is None else _device_record.decode(raw)

    def put(
        self,
        device_id: str,
        partition: int,
        *,
        contact: Contact | None = None,
        state: bytes | None = None,
    ) -> None:
        """Write the device's record; a part given as ``None`` keeps its stored value."""
        old = self.get(device_id)
        if old is not None:
            contact = old.contact if contact is None else contact
            state = old.state if state is None else state
        record = DeviceRecord(partition, contact, state)
        self.table.put(partition, device_id.encode(), msgspec.msgpack.encode(record))

    def items(self) -> Iterator[tuple[str, DeviceRecord]]:
        """Every device's record held here (the partitions this worker has had)."""
        for key, raw in list(self.table.items()):
            if not key.startswith(RESERVED_PREFIX):
                yield key.decode(), _device_record.decode(raw)


class DeviceStates:
    """Decoded device states over the device table, each state decoded once."""

    def __init__(
        self, devices: DeviceTable, profiles: Profiles, settings: ProcessorSettings
    ) -> None:
        self.devices = devices
        self._profiles = profiles
        self._settings = settings
        self._decoded: dict[str, tuple[bytes, OrderedState]] = {}

    def get(self, device_id: str) -> OrderedState | None:
        """The device's state, decoded again only if its stored bytes changed.

        They change under us when the partition was recovered from the changelog (a
        restart, or a partition handed over and back).
        """
        record = self.devices.get(device_id)
        raw = None if record is None else record.state
        if raw is None:
            self._decoded.pop(device_id, None)
            return None
        cached = self._decoded.get(device_id)
        if cached is not None and cached[0] == raw:
            return cached[1]
        state = decode_state(raw, self._profiles(device_id), self._settings)
        if cached is not None:
            # A partition recovered again (handed over and back, or a rebalance).
            log.info(
                "device %s: state replaced under this worker (newest batch %s, was %s)",
                device_id,
                _newest(state),
                _newest(cached[1]),
            )
        self._decoded[device_id] = (raw, state)
        return state

    def put(
        self, device_id: str, partition: int, state: OrderedState, *, contact: Contact | None = None
    ) -> None:
        """Write a state (and a new contact, if given) to the table and its changelog."""
        raw = encode_state(state)
        self.devices.put(device_id, partition, contact=contact, state=raw)
        self._decoded[device_id] = (raw, state)


def _newest(state: OrderedState) -> str:
    """The newest retained batch as ``time boot:seq``, for a log line."""
    if not state.retained:
        return "none"
    at, boot, seq = state.retained[-1].key
    return f"{at.isoformat()} {boot}:{seq}"
