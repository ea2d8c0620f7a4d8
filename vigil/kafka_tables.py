"""The Kafka worker's tables: one record per device, written in bulk by its own producer.

A device's record (``DeviceRecord``) holds its ingest partition, its band contact (the
silence checks, ``vigil/kafka_silence.py``) and its processor state
(``stream_processors/state_codec.py`` bytes), in one Faust table backed by a
changelog topic. One record rather than a table each: a checkpoint writes one changelog
record per device changed since the last, not two (``bench.stream_kafka``).
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


class _Staged(msgspec.Struct):
    """A device's changes since the last checkpoint (None: as stored)."""

    partition: int
    state: OrderedState | None = None
    contact: Contact | None = None


class DeviceStates:
    """Device states and contacts over the device table, written at checkpoints.

    ``put`` stages a device's new state and contact in memory; ``checkpoint`` encodes
    what was staged into the table (one record per device, however many chunks changed
    it since), for the worker to flush to the changelog with the ingest progress after
    it (``vigil/kafka_worker.py``). Reads see the staged values first. A stored state is
    decoded once and cached.
    """

    def __init__(
        self, devices: DeviceTable, profiles: Profiles, settings: ProcessorSettings
    ) -> None:
        self.devices = devices
        self._profiles = profiles
        self._settings = settings
        self._decoded: dict[str, tuple[bytes, OrderedState]] = {}
        self._staged: dict[str, _Staged] = {}

    def get(self, device_id: str) -> OrderedState | None:
        """The device's state: the staged one, else the stored one (decoded once).

        The stored one is decoded again only if its bytes changed: they change under us
        when the partition was recovered from the changelog (a restart, or a partition
        handed over and back).
        """
        staged = self._staged.get(device_id)
        if staged is not None and staged.state is not None:
            return staged.state
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

    def contact(self, device_id: str) -> Contact | None:
        """The band's last contact (staged, else stored), if it was ever heard from."""
        staged = self._staged.get(device_id)
        if staged is not None and staged.contact is not None:
            return staged.contact
        record = self.devices.get(device_id)
        return None if record is None else record.contact

    def contacts(self, partitions: set[int]) -> Iterator[tuple[str, int, Contact]]:
        """The contacts of bands in ``partitions``: ``(device, partition, contact)``."""
        seen = set()
        for device, record in self.devices.items():
            seen.add(device)
            staged = self._staged.get(device)
            partition = record.partition if staged is None else staged.partition
            contact = record.contact
            if staged is not None and staged.contact is not None:
                contact = staged.contact
            if contact is not None and partition in partitions:
                yield device, partition, contact
        for device, staged in list(self._staged.items()):
            if device not in seen and staged.contact is not None and staged.partition in partitions:
                yield device, staged.partition, staged.contact

    def put(
        self,
        device_id: str,
        partition: int,
        state: OrderedState | None = None,
        *,
        contact: Contact | None = None,
    ) -> None:
        """Stage a new state and/or contact (a part given as None keeps its value)."""
        staged = self._staged.get(device_id)
        if staged is None:
            staged = self._staged[device_id] = _Staged(partition)
        staged.partition = partition
        if state is not None:
            staged.state = state
            self._decoded.pop(device_id, None)  # one copy of a device's state, not two
        if contact is not None:
            staged.contact = contact

    def checkpoint(self) -> int:
        """Write every staged change to the table (states encoded); how many devices."""
        staged, self._staged = self._staged, {}
        for device_id, change in staged.items():
            raw = None if change.state is None else encode_state(change.state)
            self.devices.put(device_id, change.partition, contact=change.contact, state=raw)
            if raw is not None and change.state is not None:
                self._decoded[device_id] = (raw, change.state)
        return len(staged)


def _newest(state: OrderedState) -> str:
    """The newest retained batch as ``time boot:seq``, for a log line."""
    if not state.retained:
        return "none"
    at, boot, seq = state.retained[-1].key
    return f"{at.isoformat()} {boot}:{seq}"
