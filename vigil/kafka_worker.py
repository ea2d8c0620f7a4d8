"""``vigil worker``: the per-device processors as a Faust app on Kafka, with a storage sink.

The ``process`` agent reads ``<prefix>.ingest`` (partitioned by device id) in chunks,
validates each message with the embedded runner's ``intake``, and steps the same
``step_in_order`` processor. Each device's state and band contact live in one record
of the ``device_state`` table (``vigil/kafka_tables.py``), backed by its changelog
topic, so a worker that takes over a partition, or restarts, recovers them from the
changelog.

Order of writes, and why nothing is lost or raised twice (at-least-once Kafka):

1. a chunk's records pass the ingest gate (``vigil/kafka_progress.py``): only the next
   offset of each partition after the progress the table records is processed, so
   records Faust skipped are read again and records it delivers again are not applied
   twice;
2. the chunk's outputs (scores, alerts, index values, dead letters) are sent and their
   acknowledgements awaited;
3. only then are the devices' new records written to the table, then each partition's
   progress, and their changelog records sent and acknowledged, before the agent takes
   its next chunk.

A worker killed at any point restarts from Faust's last committed offset, and the gate
seeks back if that ran past the recovered progress. A message whose new state reached
the changelog is recognised by the progress (or, failing that, by the state itself,
``step_in_order``) and yields nothing again; its outputs were already acknowledged
(step 2 before 3). A message whose state did not reach the changelog is processed
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
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
import msgspec
from faust.types import TP

from ingest.intake import intake
from schemas import GatewayStatusV1, encode
from schemas.records import DeadLetter
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState, step_in_order
from stream_processors.silence import Contact, observe, observe_gateway
from vigil.kafka_progress import Admission, IngestGate, IngestProgress
from vigil.kafka_silence import Beat, Watch, check_silence
from vigil.kafka_sink import Sink, SinkConfig, run_sink
from vigil.kafka_tables import (
    DeviceStates,
    DeviceTable,
    FaustStateTable,
    Profiles,
    Record,
    RecordSender,
)
from vigil.kafka_topics import KafkaTopics, decode_forwarded

log = logging.getLogger(__name__)


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
    progress_commit_s: float = 1.0  # the worker's own commits of its applied progress
    checkpoint_s: float = 2.0  # how often changed states go to the changelog
    processor: ProcessorSettings = ProcessorSettings()
    bridge_heartbeat_s: float = 5.0  # the bridge's (VIGIL_BRIDGE_HEARTBEAT_S)
    silence_tick_s: float = 15.0


Output = Record  # a record for an output topic, keyed by device, partitioned by its key


class Processed(msgspec.Struct, frozen=True, kw_only=True):
    """What a chunk produced, and the device states to write once it is acknowledged."""

    outputs: list[Output]
    states: dict[str, tuple[int, OrderedState]]  # device -> (partition, new state)
    contacts: dict[str, tuple[int, Contact]] = msgspec.field(default_factory=dict)
    too_late: int = 0
    duplicates: int = 0


class WorkerStats(msgspec.Struct, kw_only=True):
    """What a worker's processors have done (its metrics)."""

    records: int = 0
    duplicates: int = 0
    too_late: int = 0
    dead_letters: int = 0
    alerts: int = 0

    def add(self, records: int, result: Processed, topics: KafkaTopics) -> None:
        """Count one processed chunk."""
        self.records += records
        self.duplicates += result.duplicates
        self.too_late += result.too_late
        self.dead_letters += sum(o.topic == topics.dead_letters for o in result.outputs)
        self.alerts += sum(o.topic == topics.alerts for o in result.outputs)


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
        await self._sender.send_all(outputs)


async def admit(gate: IngestGate, consumer: Any, topic: str, events: Sequence[Any]) -> Admission:
    """The chunk's records that are next in their partitions (``vigil/kafka_progress.py``).

    ``consumer`` is the Faust app's: it tells the earliest offsets of partitions with no
    progress yet, and seeks back where records were skipped.
    """
    records = [(e.message.partition, e.message.offset, e.value) for e in events]
    unknown = gate.unknown_starts({partition for partition, _, _ in records})
    if unknown:
        try:
            earliest = await consumer.earliest_offsets(*(TP(topic, p) for p in unknown))
        except Exception as exc:  # noqa: BLE001 - their records wait; the worker goes on
            log.warning("earliest offsets of ingest partitions %s unknown: %s", unknown, exc)
        else:
            gate.set_starts({tp.partition: offset for tp, offset in earliest.items()})
    admission = gate.admit(records)
    for partition, offset in admission.seeks.items():
        try:
            await consumer.seek(TP(topic, partition), offset)
        except Exception as exc:  # noqa: BLE001 - e.g. handed to another worker meanwhile
            log.warning("ingest partition %d: seek to %d failed: %s", partition, offset, exc)
    if admission.redelivered:
        log.info("%d records delivered again: already applied", admission.redelivered)
    return admission


def ingest_partitions(app: faust.App, topic: str) -> set[int]:
    """The ingest partitions this worker is active for now."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


async def commit_progress(app: faust.App, topic: str, progress: IngestProgress) -> None:
    """Commit the group's ingest offsets up to the worker's applied progress.

    Through Faust's consumer, which then knows them as committed and leaves out a
    partition handed to another worker meanwhile. Faust 0.15.3 has no public call to
    commit offsets other than those it acknowledged, so its own bookkeeping path is
    used (``_committed_offset``, ``_commit_offsets``).
    """
    consumer: Any = app.consumer
    partitions = ingest_partitions(app, topic)
    known = consumer._committed_offset  # a defaultdict: read with get
    due = progress.due(partitions, {p: known.get(TP(topic, p)) for p in partitions})
    if not due:
        return
    try:
        await consumer._commit_offsets({TP(topic, p): offset for p, offset in due.items()})
    except Exception as exc:  # noqa: BLE001 - the next tick tries again
        log.warning("committing the applied ingest offsets failed: %s", exc)


class WorkerTables:
    """The worker's device table, what reads and writes it, and the turn they take.

    The agent, the timers and a rebalance take turns (``turn``): each reads contacts
    and states, awaits its sends, then writes them; interleaved, one would overwrite the
    other's, or a checkpoint would write a chunk's states without its progress.

    A chunk's new states, contacts and progress are staged once its outputs are
    acknowledged, and written to the changelog at a checkpoint: every ``checkpoint_s``
    rather than every chunk, so that a device changed by many chunks in between is
    encoded and sent once (``bench.stream_kafka``). A worker killed between checkpoints
    restarts from the last one and applies the records after it again: the same
    outputs under the same ids (docs/scale-out.md).
    """

    def __init__(
        self,
        table: FaustStateTable,
        config: WorkerConfig,
        profiles: Profiles,
        clock: Callable[[], float] = time.monotonic,
        stats: WorkerStats | None = None,
    ) -> None:
        self.table = table
        self.topics = config.topics
        self.stats = stats if stats is not None else WorkerStats()
        self.states = DeviceStates(DeviceTable(table), profiles, config.processor)
        self.watch = Watch(self.states, config.bridge_heartbeat_s)
        self.progress = IngestProgress(table)
        self.gate = IngestGate(self.progress)
        self.turn = asyncio.Lock()
        self._checkpoint_s = config.checkpoint_s
        self._clock = clock
        self._last = clock()

    def stage(self, result: Processed, applied: dict[int, int], records: int) -> None:
        """A chunk's new states and contacts, and the offsets it applied (of ``records``)."""
        self.stats.add(records, result, self.topics)
        for device, (partition, contact) in result.contacts.items():
            if device in result.states:
                self.states.put(device, partition, result.states[device][1], contact=contact)
            else:
                self.watch.put(device, partition, contact)
        for partition, offset in applied.items():
            self.progress.put(partition, offset)

    def checkpoint_due(self) -> bool:
        """Whether ``checkpoint_s`` has passed since the last checkpoint."""
        return self._clock() - self._last >= self._checkpoint_s

    async def checkpoint(self) -> None:
        """With the turn: what is staged to the changelog, acknowledged on return."""
        self.states.checkpoint()
        self.progress.checkpoint()  # after the states: never ahead of them in a partition
        await self.table.flush()
        self.progress.flushed()  # only now may the worker commit that progress
        self._last = self._clock()


def add_sink(app: faust.App, config: WorkerConfig, sink: Sink, outputs: OutputTopics) -> None:
    """The storage sink as a task of the worker's app (``vigil/kafka_sink.py``)."""
    sink_config = SinkConfig(
        bootstrap=config.bootstrap,
        topics=config.topics,
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


def build_app(
    config: WorkerConfig,
    *,
    profiles: Profiles | None = None,
    refresh_profiles: Callable[[], None] | None = None,
    sink: Sink | None = None,
    stats: WorkerStats | None = None,
) -> faust.App:
    """The Faust app: the ``process`` agent, its tables, the silence timer, the ``sink``.

    ``refresh_profiles`` (a ``ProfileBook``'s ``refresh_if_due``) runs in a thread
    before each chunk and each silence check. ``stats`` is counted as chunks are processed.
    """
    profile_of = profiles or (lambda _device_id: WearerProfile())
    topics = config.topics
    app = faust_app(config)
    ingest = app.topic(topics.ingest, schema=raw_schema(), partitions=config.partitions)
    sender = RecordSender(config.bootstrap)
    outputs = OutputTopics(app, config, sender)

    tables = WorkerTables(
        FaustStateTable(bytes_table(app, "device_state", config.partitions), sender),
        config,
        profile_of,
        stats=stats,
    )
    turn = tables.turn

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_sender(_app: Any, **_kwargs: Any) -> None:
        try:
            async with turn:
                await tables.checkpoint()
        except Exception as exc:  # noqa: BLE001 - the next worker applies those again
            log.warning("the last checkpoint before stopping failed: %s", exc)
        await sender.stop()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def checkpoint_before_handing_over(_app: Any, *_revoked: Any, **_kwargs: Any) -> None:
        # Whoever gets a partition next recovers its states from the changelog: all of
        # them, so that it does not apply this worker's last records again.
        async with turn:
            await tables.checkpoint()

    async def refresh() -> None:
        if refresh_profiles is not None:
            await asyncio.to_thread(refresh_profiles)

    @app.agent(ingest, name="process")
    async def process(stream: Any) -> None:
        async for events in stream.take_events(config.chunk_max, within=config.chunk_within_s):
            await refresh()
            async with turn:
                admission = await admit(tables.gate, app.consumer, topics.ingest, events)
                result = process_chunk(
                    [(partition, value) for partition, _, value in admission.records],
                    tables.states,
                    tables.watch,
                    topics=topics,
                    profiles=profile_of,
                    settings=config.processor,
                )
                await outputs.send(result.outputs)
                tables.stage(result, admission.applied, len(admission.records))
                if tables.checkpoint_due():
                    await tables.checkpoint()
            if result.too_late:
                log.info("%d batches beyond the lateness bound: not scored", result.too_late)

    @app.timer(interval=config.progress_commit_s, name="commit_progress")  # type: ignore[untyped-decorator]
    async def commit_applied() -> None:
        await commit_progress(app, topics.ingest, tables.progress)

    @app.timer(interval=config.checkpoint_s, name="checkpoint")  # type: ignore[untyped-decorator]
    async def checkpoint_when_quiet() -> None:
        # The agent checkpoints between chunks; this covers a stream gone quiet.
        async with turn:
            if tables.checkpoint_due():
                await tables.checkpoint()

    @app.timer(interval=config.silence_tick_s, name="silence")  # type: ignore[untyped-decorator]
    async def silence() -> None:
        await refresh()
        partitions = ingest_partitions(app, topics.ingest)
        async with turn:
            raised = check_silence(
                tables.watch,
                partitions,
                states=tables.states.get,
                profiles=profile_of,
                settings=config.processor,
                now=dt.datetime.now(dt.UTC),
            )
            await outputs.send(
                [Output(topics.alerts, d.encode(), msgspec.json.encode(a)) for d, _, _, a in raised]
            )
            for device, partition, contact, _ in raised:
                tables.watch.put(device, partition, contact)
            if raised:
                await tables.checkpoint()  # so that a restarted worker does not raise them again

    if sink is not None:
        add_sink(app, config, sink, outputs)

    return app
