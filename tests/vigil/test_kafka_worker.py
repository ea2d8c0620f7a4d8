"""The Kafka worker's chunk processing and storage sink, without a broker.

The broker-backed behaviour (partitions, changelog recovery, a killed worker) is in
test_kafka_tier.py; here the same functions run over a dict standing in for the
Faust table, which is enough to pin what a chunk yields.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest

from device_sim.publisher import FleetPlan, recorded_fleet
from device_sim.scenario import load_scenario
from schemas import Alert, GatewayStatusV1, TelemetryBatchV1, decode, encode
from schemas.records import DeadLetter
from schemas.scores import ScoreRecord
from schemas.topics import gateway_status_topic, telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.fleet import Fleet
from stream_processors.silence import Contact
from tests.factories import vitals_batch
from tests.vigil.kafka_doubles import DictTable
from vigil.kafka_progress import progress_key
from vigil.kafka_silence import Watch, check_silence
from vigil.kafka_sink import Sink
from vigil.kafka_tables import DeviceStates, DeviceTable, FaustStateTable, Record, RecordSender
from vigil.kafka_topics import (
    HEARTBEAT_TOPIC,
    Forwarded,
    KafkaTopics,
    decode_forwarded,
    encode_forwarded,
)
from vigil.kafka_worker import Output, Processed, WorkerConfig, WorkerTables, process_chunk

pytest.importorskip("faust", reason="the Kafka tier needs the [kafka] extra (dev installs it)")

TOPICS = KafkaTopics(prefix="t")
SETTINGS = ProcessorSettings()
RECEIVED = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)


def forwarded(topic: str, payload: bytes) -> bytes:
    return encode_forwarded(Forwarded(topic, RECEIVED, payload))


def deteriorating() -> list[tuple[str, bytes]]:
    plan = FleetPlan(
        devices=2,
        rate_hz=1,
        seconds=60,
        speed=15,
        scenarios={
            "wb-0001": load_scenario("deteriorating"),
            "wb-0002": load_scenario("healthy"),
        },
    )
    return recorded_fleet(plan, dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC))


def run(
    records: list[tuple[int, bytes]], states: DeviceStates, watch: Watch | None = None
) -> Processed:
    watch = watch or Watch(states, heartbeat_s=5.0)
    result = process_chunk(
        records,
        states,
        watch,
        topics=TOPICS,
        profiles=lambda _d: WearerProfile(),
        settings=SETTINGS,
    )
    for device, (partition, state) in result.states.items():
        states.put(device, partition, state)
    for device, (partition, contact) in result.contacts.items():
        watch.put(device, partition, contact)
    states.checkpoint()
    return result


def of_topic(result: Processed, topic: str) -> list[Output]:
    return [o for o in result.outputs if o.topic == topic]


def test_a_chunk_yields_what_the_embedded_runner_yields_and_a_redelivery_nothing() -> None:
    messages = deteriorating()
    table = DictTable()
    states = DeviceStates(DeviceTable(table), lambda _d: WearerProfile(), SETTINGS)
    records = [(7, forwarded(t, p)) for t, p in messages]
    result = run(records, states)

    embedded = Fleet(SETTINGS).plan(
        [decode_forwarded_message(value) for _partition, value in records]
    )
    alerts = [msgspec.json.decode(o.value, type=Alert) for o in of_topic(result, TOPICS.alerts)]
    assert alerts == embedded.alerts
    assert alerts, "the deteriorating wearer raises alerts"
    scores = [
        msgspec.json.decode(o.value, type=ScoreRecord) for o in of_topic(result, TOPICS.scores)
    ]
    assert scores == embedded.scores
    assert {o.key for o in result.outputs} <= {b"wb-0001", b"wb-0002"}
    assert set(table.partitions.values()) == {7}  # the state follows its ingest partition

    again = run(records, states)  # a restarted worker re-reading after its last commit
    assert again.outputs == []
    # Retained batches are recognised; older ones are beyond the lateness bound anyway.
    assert again.duplicates >= 1
    assert again.duplicates + again.too_late == len(records)


def decode_forwarded_message(value: bytes) -> TelemetryBatchV1:
    item = decode_forwarded(value)
    message = decode(item.topic, item.payload)
    assert isinstance(message, TelemetryBatchV1)
    return message


def test_bad_records_become_dead_letters_and_the_chunk_goes_on() -> None:
    good_topic, good_payload = deteriorating()[0]
    status = GatewayStatusV1(gateway_id="gw-1", state="online", reported_at=RECEIVED)
    records = [
        (0, b"not an envelope"),
        (0, forwarded(telemetry_topic("wb-0001"), b'{"schema": "telemetry_batch/v1"')),
        (0, forwarded(gateway_status_topic("gw-1"), encode(status))),
        (0, forwarded(good_topic, good_payload)),
    ]
    states = DeviceStates(DeviceTable(DictTable()), lambda _d: WearerProfile(), SETTINGS)
    result = run(records, states)
    letters = of_topic(result, TOPICS.dead_letters)
    reasons = [msgspec.json.decode(o.value, type=DeadLetter).reason for o in letters]
    assert reasons[0] == "bad_envelope"
    assert len(reasons) == 2
    assert reasons[1] != "bad_envelope"  # the malformed payload, with intake's reason
    assert list(result.states) == ["wb-0001"]
    assert of_topic(result, TOPICS.scores), "the good batch was scored"


def test_the_sink_stores_a_re_read_chunk_once(tmp_path: Path) -> None:
    messages = deteriorating()
    states = DeviceStates(DeviceTable(DictTable()), lambda _d: WearerProfile(), SETTINGS)
    records = [(0, forwarded(t, p)) for t, p in messages]
    result = run(records, states)
    chunk = [(TOPICS.ingest, value) for _p, value in records]
    chunk += [(o.topic, o.value) for o in result.outputs]
    store = SqliteStore(tmp_path / "sink.db")
    store.migrate()
    sink = Sink(store, TOPICS, [])
    first = sink.store_prepared(sink.prepare(chunk))
    assert first
    assert sink.store_prepared(sink.prepare(chunk)) == []  # the same records after a restart
    assert store.count_messages() == len(messages)
    assert len(store.alerts()) == len(first)
    scores = of_topic(result, TOPICS.scores)
    assert len(store.scores("wb-0001")) + len(store.scores("wb-0002")) == len(scores)
    store.close()
    assert decode_forwarded(records[0][1]).received_at == RECEIVED


def test_a_stray_record_on_an_output_topic_is_a_dead_letter_not_a_stuck_sink(
    tmp_path: Path,
) -> None:
    messages = deteriorating()
    states = DeviceStates(DeviceTable(DictTable()), lambda _d: WearerProfile(), SETTINGS)
    result = run([(0, forwarded(t, p)) for t, p in messages], states)
    scores = of_topic(result, TOPICS.scores)
    chunk = [(TOPICS.scores, b'{"not": "a score"}'), (TOPICS.alerts, b"\x00garbage")]
    chunk += [(o.topic, o.value) for o in scores]
    store = SqliteStore(tmp_path / "sink.db")
    store.migrate()
    sink = Sink(store, TOPICS, [])
    sink.store_prepared(sink.prepare(chunk))
    letters = store.dead_letters()
    assert sorted((d.topic, d.reason) for d in letters) == [
        (TOPICS.alerts, "bad_output_record"),
        (TOPICS.scores, "bad_output_record"),
    ]
    assert len(store.scores("wb-0001")) + len(store.scores("wb-0002")) == len(scores)
    store.close()


def beat(at: dt.datetime, *, receiving: bool = True) -> bytes:
    payload = b"1" if receiving else b"0"
    return encode_forwarded(Forwarded(HEARTBEAT_TOPIC, at, payload, kind="heartbeat"))


def band(device: str, seq: int, gateway: str = "gw-1") -> bytes:
    batch = msgspec.structs.replace(
        vitals_batch(seq, device_id=device, at=RECEIVED), gateway_id=gateway
    )
    return forwarded(telemetry_topic(device), encode(batch))


def silence_at(
    watch: Watch, states: DeviceStates, now: dt.datetime, profiles: dict[str, WearerProfile]
) -> list[tuple[str, int, Contact, Alert]]:
    return check_silence(
        watch,
        {0, 1},
        states=states.get,
        profiles=lambda d: profiles.get(d, WearerProfile()),
        settings=SETTINGS,
        now=now,
    )


def test_a_worker_raises_signal_lost_only_while_the_bridge_says_it_is_receiving() -> None:
    profiles = {"wb-1": WearerProfile(at_risk=True), "wb-2": WearerProfile(at_risk=True)}
    states = DeviceStates(DeviceTable(DictTable()), lambda d: profiles[d], SETTINGS)
    watch = Watch(states, heartbeat_s=5.0)
    run([(0, band("wb-1", 1)), (1, band("wb-2", 1))], states, watch)
    later = RECEIVED + dt.timedelta(minutes=16)  # at risk: medium, 15 minutes allowed
    assert silence_at(watch, states, later, profiles) == [], "no heartbeat yet"
    run(
        [(0, beat(later - dt.timedelta(seconds=4))), (1, beat(later, receiving=False))],
        states,
        watch,
    )
    raised = silence_at(watch, states, later, profiles)
    assert [(d, p, a.source) for d, p, _c, a in raised] == [("wb-1", 0, "signal_lost")]
    assert silence_at(watch, states, later + dt.timedelta(seconds=16), profiles) == [], (
        "a heartbeat older than three intervals: the bridge or this worker is behind"
    )
    for device, partition, contact, _alert in raised:
        watch.put(device, partition, contact)
    assert silence_at(watch, states, later, profiles) == [], "raised once"
    back = run([(0, band("wb-1", 2))], states, watch)
    resolved = [msgspec.json.decode(o.value, type=Alert) for o in of_topic(back, TOPICS.alerts)]
    assert [(a.change, a.refers_to) for a in resolved] == [("resolved", raised[0][3].alert_id)]


def test_gateway_copies_tell_every_partition_the_cause_and_are_not_stored_twice(
    tmp_path: Path,
) -> None:
    profiles = {"wb-1": WearerProfile(at_risk=True)}
    states = DeviceStates(DeviceTable(DictTable()), lambda _d: profiles["wb-1"], SETTINGS)
    watch = Watch(states, heartbeat_s=5.0)
    offline = GatewayStatusV1(
        gateway_id="gw-1", state="offline", reported_at=RECEIVED + dt.timedelta(seconds=30)
    )
    status_topic = gateway_status_topic("gw-1")
    own = encode_forwarded(
        Forwarded(status_topic, RECEIVED + dt.timedelta(seconds=30), encode(offline))
    )
    copy = encode_forwarded(
        Forwarded(
            status_topic, RECEIVED + dt.timedelta(seconds=30), encode(offline), kind="observe"
        )
    )
    bad_copy = encode_forwarded(Forwarded(status_topic, RECEIVED, b"{", kind="observe"))
    later = RECEIVED + dt.timedelta(minutes=16)
    records = [(0, band("wb-1", 1)), (1, own), (0, copy), (0, bad_copy), (0, beat(later))]
    result = run(records, states, watch)
    assert of_topic(result, TOPICS.dead_letters) == [], "a bad copy's original is dead-lettered"
    assert watch.gateways["gw-1"].online is False
    (raised,) = silence_at(watch, states, later, profiles)
    assert "its gateway is offline" in raised[3].summary
    store = SqliteStore(tmp_path / "sink.db")
    store.migrate()
    sink = Sink(store, TOPICS, [])
    sink.store_prepared(sink.prepare([(TOPICS.ingest, value) for _p, value in records]))
    assert store.count_messages() == 1  # the band's batch; heartbeats and copies are not kept
    store.close()


class CapturingSender(RecordSender):
    """Keeps what would be sent (the producer is exercised by the tier tests)."""

    def __init__(self) -> None:
        super().__init__("unused:9092")
        self.sent: list[Record] = []

    async def send_all(self, records: Sequence[Record]) -> None:
        self.sent.extend(records)


def captured_table() -> tuple[FaustStateTable, CapturingSender, dict[bytes, bytes]]:
    """A ``FaustStateTable`` over what it uses of Faust's table; its sender keeps records."""
    data: dict[bytes, bytes] = {}
    faust_table = SimpleNamespace(
        data=data,
        get=data.get,
        changelog_topic=SimpleNamespace(get_topic_name=lambda: "t-changelog"),
    )
    sender = CapturingSender()
    return FaustStateTable(faust_table, sender), sender, data


def test_a_device_touched_by_a_chunk_writes_one_changelog_record_holding_contact_and_state() -> (
    None
):
    table, sender, _data = captured_table()
    states = DeviceStates(DeviceTable(table), lambda _d: WearerProfile(), SETTINGS)
    messages = deteriorating()
    run([(3, forwarded(t, p)) for t, p in messages[:6]], states)
    asyncio.run(table.flush())
    assert sorted(r.key for r in sender.sent) == [b"wb-0001", b"wb-0002"]
    assert {(r.topic, r.partition) for r in sender.sent} == {("t-changelog", 3)}
    record = states.devices.get("wb-0001")
    assert record is not None
    assert record.contact is not None
    assert record.state is not None
    # The silence check writes a contact alone; the state stays as it was.
    later = msgspec.structs.replace(record.contact, battery_event=True)
    Watch(states, heartbeat_s=5.0).put("wb-0001", 3, later)
    assert states.devices.get("wb-0001") == record, "staged until the checkpoint"
    assert states.contact("wb-0001") == later
    sender.sent.clear()
    states.checkpoint()
    asyncio.run(table.flush())
    assert [r.key for r in sender.sent] == [b"wb-0001"]
    after = states.devices.get("wb-0001")
    assert after is not None
    assert after.contact == later
    assert after.state == record.state


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_chunks_between_checkpoints_write_each_device_once_then_the_progress() -> None:
    table, sender, data = captured_table()
    clock = Ticks()
    config = WorkerConfig(topics=TOPICS, checkpoint_s=2.0, processor=SETTINGS)
    tables = WorkerTables(table, config, lambda _d: WearerProfile(), clock)
    messages = deteriorating()
    offset = 0
    for chunk in (messages[0:4], messages[4:8], messages[8:12]):
        result = process_chunk(
            [(5, forwarded(t, p)) for t, p in chunk],
            tables.states,
            tables.watch,
            topics=TOPICS,
            profiles=lambda _d: WearerProfile(),
            settings=SETTINGS,
        )
        offset += len(chunk)
        tables.stage(result, {5: offset - 1}, 1)
        clock.now += 0.5
        assert not tables.checkpoint_due()
    assert data == {}, "nothing written between checkpoints"
    assert tables.progress.applied(5) == 11, "the gate reads the staged progress"
    newest = tables.states.get("wb-0001")
    clock.now += 1.0
    assert tables.checkpoint_due()
    asyncio.run(tables.checkpoint())
    # Two devices, three chunks each: one record per device, then the progress after them.
    keys = [r.key for r in sender.sent]
    assert sorted(keys[:2]) == [b"wb-0001", b"wb-0002"]
    assert keys[2:] == [progress_key(5)]
    assert {r.partition for r in sender.sent} == {5}
    assert tables.progress.due({5}, {5: None}) == {5: 12}
    assert not tables.checkpoint_due()
    # What a worker recovering the changelog decodes is the state the chunks left.
    recovered = DeviceStates(DeviceTable(DictTable()), lambda _d: WearerProfile(), SETTINGS)
    for record in sender.sent[:2]:
        recovered.devices.table.put(5, record.key, record.value)
    assert newest is not None
    assert recovered.get("wb-0001") == newest
