"""``vigil worker``: the per-device processors as a Faust app on Kafka, with a storage sink.

The ``process`` agent reads ``<prefix>.ingest`` (partitioned by device id) in chunks,
validates each message with the embedded runner's ``intake``, and steps the same
``step_in_order`` processor. Each device's state lives in the ``device_state`` table,
backed by its changelog topic (``stream_processors.state_codec`` bytes), so a worker
that takes over a partition, or restarts, recovers the states from the changelog.

Order of writes, and why nothing is lost or raised twice (at-least-once Kafka):

1. a chunk's outputs (scores, alerts, index values, dead letters) are sent and their
   acknowledgements awaited;
2. only then are the new states written to the table, and their changelog records
   sent and acknowledged, before the agent takes its next chunk;
3. Faust commits the input offsets of a chunk only after the agent is done with it.

A worker killed at any point restarts from the last committed offset. A message whose
new state reached the changelog is recognised as a duplicate by the state itself
(``step_in_order``) and yields nothing again, and its outputs were already acknowledged
(step 1 before 2). A message whose state did not reach the changelog is processed
again from the older state and yields the same outputs under the same ids (alert ids
derive from the batch), which the sink stores once (alerts by id, scores by device and
time, index values by device, time and name). A consumer of the output topics other
than the sink should likewise treat ``alert_id`` as the identity of an alert.

The storage sink (``vigil/kafka_sink.py``) runs in the same process as a task with its
own consumer group, committing its offsets itself after each stored chunk.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import faust
import msgspec

from ingest.intake import intake
from schemas import GatewayStatusV1, encode
from schemas.records import DeadLetter
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState, step_in_order
from stream_processors.silence import Contact, observe, observe_gateway
from stream_processors.state_codec import decode_state, encode_state
from vigil.kafka_silence import Beat, Watch, check_silence
from vigil.kafka_sink import Sink, SinkConfig, run_sink
from vigil.kafka_topics import KafkaTopics, decode_forwarded

log = logging.getLogger(__name__)

Profiles = Callable[[str], WearerProfile]


class WorkerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How a worker reaches Kafka and chunks its input."""

    bootstrap: str = "127.0.0.1:9092"
    topics: KafkaTopics = KafkaTopics()
    partitions: int = 8
    declare_topics: bool = True  # False for a broker without CreateTopics (the mock)
    chunk_max: int = 500
    chunk_within_s: float = 0.2
    session_timeout_s: float = 10.0
    rebalance_timeout_s: float = 10.0
    heartbeat_s: float = 3.0
    commit_interval_s: float = 2.8  # Faust's default
    processor: ProcessorSettings = ProcessorSettings()
    bridge_heartbeat_s: float = 5.0  # the bridge's (VIGIL_BRIDGE_HEARTBEAT_S)
    silence_tick_s: float = 15.0


class Output(msgspec.Struct, frozen=True, array_like=True):
    """One record for an output topic."""

    topic: str
    key: bytes
    value: bytes


class Processed(msgspec.Struct, frozen=True, kw_only=True):
    """What a chunk produced, and the device states to write once it is acknowledged."""

    outputs: list[Output]
    states: dict[str, tuple[int, OrderedState]]  # device -> (partition, new state)
    contacts: dict[str, tuple[int, Contact]] = msgspec.field(default_factory=dict)
    too_late: int = 0
    duplicates: int = 0


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
        self._staged: list[tuple[int, bytes, bytes]] = []

    def get(self, key: bytes) -> bytes | None:
        """The bytes stored under ``key`` (recovered from the changelog at start)."""
        value: bytes | None = self._table.get(key)
        return value

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Write the local store and stage the changelog record."""
        self._table.data[key] = value
        self._staged.append((partition, key, value))

    async def flush(self) -> None:
        """Send the staged changelog records and await their acknowledgements."""
        staged, self._staged = self._staged, []
        topic = self._table.changelog_topic.get_topic_name()
        await self._sender.send_all([Record(topic, k, v, p) for p, k, v in staged])

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value of the local store."""
        items: Iterable[tuple[bytes, bytes]] = self._table.data.items()
        return items


class DeviceStates:
    """Decoded device states over a table of state bytes, each value decoded once."""

    def __init__(self, table: StateTable, profiles: Profiles, settings: ProcessorSettings) -> None:
        self._table = table
        self._profiles = profiles
        self._settings = settings
        self._decoded: dict[str, tuple[bytes, OrderedState]] = {}

    def get(self, device_id: str) -> OrderedState | None:
        """The device's state, decoded again only if the table's value changed.

        The table's value changes under us when the partition was recovered from
        the changelog (a restart, or a partition handed over and back).
        """
        raw = self._table.get(device_id.encode())
        if raw is None:
            self._decoded.pop(device_id, None)
            return None
        cached = self._decoded.get(device_id)
        if cached is not None and cached[0] is raw:
            return cached[1]
        state = decode_state(raw, self._profiles(device_id), self._settings)
        self._decoded[device_id] = (raw, state)
        return state

    def put(self, device_id: str, partition: int, state: OrderedState) -> None:
        """Write a state to the table (and so to its changelog)."""
        raw = encode_state(state)
        self._table.put(partition, device_id.encode(), raw)
        self._decoded[device_id] = (raw, state)


def _dead_letter(topics: KafkaTopics, key: bytes, letter: DeadLetter) -> Output:
    return Output(topics.dead_letters, key, msgspec.json.encode(letter))


def process_chunk(
    records: Sequence[tuple[int, bytes]],
    states: DeviceStates,
    watch: Watch,
    *,
    topics: KafkaTopics,
    profiles: Profiles,
    settings: ProcessorSettings,
) -> Processed:
    """Validate and process ``(partition, value)`` records (pure but for reading states).

    Heartbeats and gateway statuses update ``watch`` at once: they are facts about
    the bridge and gateways, true whether or not this chunk's outputs get written.
    """
    outputs: list[Output] = []
    staged: dict[str, tuple[int, OrderedState]] = {}
    contacts: dict[str, tuple[int, Contact]] = {}
    too_late = duplicates = 0
    for partition, value in records:
        try:
            item = decode_forwarded(value)
        except msgspec.DecodeError as exc:
            now = dt.datetime.now(dt.UTC)
            letter = DeadLetter.of(
                received_at=now,
                topic=topics.ingest,
                reason="bad_envelope",
                detail=str(exc),
                payload=value,
            )
            outputs.append(_dead_letter(topics, b"", letter))
            continue
        if item.kind == "heartbeat":
            watch.beats[partition] = Beat(item.received_at, item.payload == b"1")
            continue
        received = intake(item.topic, item.payload, item.received_at, size=item.size)
        if isinstance(received, DeadLetter):
            if item.kind == "message":  # a copy's original is dead-lettered once
                outputs.append(_dead_letter(topics, item.topic.encode(), received))
            continue
        message = received.message
        if isinstance(message, GatewayStatusV1):
            if item.kind == "observe":  # the original is stored by the sink
                watch.gateways[message.gateway_id] = observe_gateway(message, item.received_at)
            continue
        device = message.device_id
        key = device.encode()
        contact = contacts[device][1] if device in contacts else watch.contact(device)
        contact, resolved = observe(contact, message, item.received_at)
        contacts[device] = (partition, contact)
        if resolved is not None:
            outputs.append(Output(topics.alerts, key, msgspec.json.encode(resolved)))
        state = staged[device][1] if device in staged else states.get(device)
        try:
            result = step_in_order(state, message, profiles(device), settings)
        except Exception as exc:  # noqa: BLE001 - a bug for one message must not stop all
            log.error("processing failed for a message of %s: %s", device, exc)  # noqa: TRY400
            letter = DeadLetter.of(
                received_at=item.received_at,
                topic="(processing)",
                reason="processing_error",
                detail=f"{type(exc).__name__}: {exc}",
                payload=encode(message),
            )
            outputs.append(_dead_letter(topics, key, letter))
            continue
        staged[device] = (partition, result.state)
        too_late += result.order == "too_late"
        duplicates += result.order == "duplicate"
        outputs.extend(Output(topics.scores, key, msgspec.json.encode(s)) for s in result.scores)
        outputs.extend(Output(topics.alerts, key, msgspec.json.encode(a)) for a in result.alerts)
        outputs.extend(Output(topics.indices, key, msgspec.json.encode(i)) for i in result.indices)
    return Processed(
        outputs=outputs,
        states=staged,
        contacts=contacts,
        too_late=too_late,
        duplicates=duplicates,
    )


def raw_schema() -> faust.Schema[Any, Any]:
    """Bytes keys and values, left as they are.

    A new one for each topic and table: a table sharing its ``Schema`` object with
    a topic left that topic's agent receiving nothing (faust-streaming 0.15.3).
    """
    return faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def faust_app(config: WorkerConfig) -> faust.App:
    """A Faust app with the worker's broker, group and timing settings, and no agents."""
    return faust.App(
        config.topics.app_id,
        broker=f"kafka://{config.bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=config.partitions,
        topic_allow_declare=config.declare_topics,
        topic_disable_leader=True,
        web_enabled=False,
        broker_session_timeout=config.session_timeout_s,
        broker_rebalance_timeout=config.rebalance_timeout_s,
        broker_heartbeat_interval=config.heartbeat_s,
        broker_commit_interval=config.commit_interval_s,
        producer_acks=-1,
    )


def bytes_table(app: faust.App, name: str, partitions: int) -> Any:
    """A table of bytes keys and values, its changelog raw.

    Faust derives a table's changelog serializers from its key and value types, not
    from a schema; without bytes types it writes JSON.
    """
    return app.Table(name, default=None, partitions=partitions, key_type=bytes, value_type=bytes)


class OutputTopics:
    """The output topics, declared once (where allowed) and written by ``RecordSender``."""

    def __init__(self, app: faust.App, config: WorkerConfig, sender: RecordSender) -> None:
        self._topics = [app.topic(name, schema=raw_schema()) for name in config.topics.outputs]
        self._declare = config.declare_topics
        self._sender = sender

    async def declare(self) -> None:
        """Create the topics if missing (once).

        Faust declares only what its agents read and its tables write, and the sink's
        consumer would not see a topic created later for minutes (metadata refresh).
        """
        if self._declare:
            for topic in self._topics:
                await topic.maybe_declare()
            self._declare = False

    async def send(self, outputs: Sequence[Output]) -> None:
        """Send a chunk's outputs and await their acknowledgements."""
        await self.declare()
        await self._sender.send_all([Record(o.topic, o.key, o.value) for o in outputs])


def build_app(
    config: WorkerConfig,
    *,
    profiles: Profiles | None = None,
    refresh_profiles: Callable[[], None] | None = None,
    sink: Sink | None = None,
) -> faust.App:
    """The Faust app: the ``process`` agent, its tables, the silence timer, the ``sink``.

    ``refresh_profiles`` (a ``ProfileBook``'s ``refresh_if_due``) runs in a thread
    before each chunk and each silence check.
    """
    profile_of = profiles or (lambda _device_id: WearerProfile())
    topics = config.topics
    app = faust_app(config)
    ingest = app.topic(topics.ingest, schema=raw_schema(), partitions=config.partitions)
    sender = RecordSender(config.bootstrap)
    outputs = OutputTopics(app, config, sender)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_sender(_app: Any, **_kwargs: Any) -> None:
        await sender.stop()

    state_table = FaustStateTable(bytes_table(app, "device_state", config.partitions), sender)
    contact_table = FaustStateTable(bytes_table(app, "device_contact", config.partitions), sender)
    states = DeviceStates(state_table, profile_of, config.processor)
    watch = Watch(contact_table, config.bridge_heartbeat_s)

    async def flush_tables() -> None:
        # Acknowledged before the agent takes its next chunk, so before Faust commits
        # the chunk's offsets.
        await asyncio.gather(state_table.flush(), contact_table.flush())

    # The agent and the silence timer take turns: each reads contacts, awaits its
    # sends, then writes contacts; interleaved, one would overwrite the other's.
    turn = asyncio.Lock()

    async def refresh() -> None:
        if refresh_profiles is not None:
            await asyncio.to_thread(refresh_profiles)

    @app.agent(ingest, name="process")
    async def process(stream: Any) -> None:
        async for events in stream.take_events(config.chunk_max, within=config.chunk_within_s):
            await refresh()
            async with turn:
                records = [(e.message.partition, e.value) for e in events]
                result = process_chunk(
                    records,
                    states,
                    watch,
                    topics=topics,
                    profiles=profile_of,
                    settings=config.processor,
                )
                await outputs.send(result.outputs)
                for device, (partition, state) in result.states.items():
                    states.put(device, partition, state)
                for device, (partition, contact) in result.contacts.items():
                    watch.put(device, partition, contact)
                await flush_tables()
            if result.too_late:
                log.info("%d batches beyond the lateness bound: not scored", result.too_late)

    @app.timer(interval=config.silence_tick_s, name="silence")  # type: ignore[untyped-decorator]
    async def silence() -> None:
        await refresh()
        partitions = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.ingest
        }
        async with turn:
            raised = check_silence(
                watch,
                partitions,
                states=states.get,
                profiles=profile_of,
                settings=config.processor,
                now=dt.datetime.now(dt.UTC),
            )
            await outputs.send(
                [Output(topics.alerts, d.encode(), msgspec.json.encode(a)) for d, _, _, a in raised]
            )
            for device, partition, contact, _ in raised:
                watch.put(device, partition, contact)
            await flush_tables()

    if sink is not None:
        sink_config = SinkConfig(
            bootstrap=config.bootstrap,
            topics=topics,
            chunk_max=config.chunk_max,
            session_timeout_s=config.session_timeout_s,
            heartbeat_s=config.heartbeat_s,
        )

        @app.task  # type: ignore[untyped-decorator]
        async def store() -> None:
            # The sink's consumer would not see an output topic created later for minutes.
            await outputs.declare()
            # Runs until the worker stops (Faust cancels it); its offsets are committed
            # after each stored chunk, so a cancel in between only repeats that chunk.
            await run_sink(sink_config, sink, asyncio.Event())

    return app
