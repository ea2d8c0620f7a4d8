"""The scale-out runner against a real Kafka wire protocol: same outputs, restart recovery.

``vigil bridge`` and ``vigil worker`` run as child processes against a private
Mosquitto and librdkafka's mock Kafka cluster (vigil/kafka_mock.py). A recorded fleet
(deteriorating, wandering, stressed and healthy wearers, plus malformed payloads and
a repeated message) goes through them and, separately, through the embedded runner's
pipeline; the stored alerts, scores and index values must be identical. The worker
is killed with SIGKILL mid-stream and a new one started: its device states come back
from the changelog topic, and nothing is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from device_sim.publisher import FleetPlan, MqttPublisher, recorded_fleet
from device_sim.scenario import load_scenario
from ingest.mqtt.source import Inbound
from schemas import Alert, EventV1, Sos, encode
from schemas.topics import event_topic, telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.fleet import Fleet
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from vigil.demo import wearer_profile
from vigil.kafka_topics import KafkaTopics, decode_forwarded
from vigil.local_servers import MosquittoProcess
from vigil.profiles import ProfileBook, encode_profile
from vigil.shard_work import ShardWork

pytest.importorskip("faust", reason="the Kafka tier needs the [kafka] extra (dev installs it)")
from aiokafka import AIOKafkaConsumer, TopicPartition

from vigil.kafka_mock import MockKafka

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

PARTITIONS = 4
TOPICS = KafkaTopics(prefix="t", app_id="vigil-test-worker")
START = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
DEVICES = ("wb-0001", "wb-0002", "wb-0003", "wb-0004")


def recorded_input() -> list[tuple[str, bytes]]:
    """Four wearers for 20 device minutes, two malformed payloads, one repeat."""
    plan = FleetPlan(
        devices=4,
        rate_hz=1,
        seconds=80,
        speed=15,
        scenarios={
            "wb-0001": load_scenario("deteriorating"),
            "wb-0002": load_scenario("wandering"),
            "wb-0003": load_scenario("stressed"),
            "wb-0004": load_scenario("healthy"),
        },
    )
    messages = recorded_fleet(plan, START)
    late = len(messages) * 3 // 4  # all in the second half
    messages.insert(late, (telemetry_topic("wb-0002"), b'{"schema": "nonsense"'))
    messages.insert(late + 7, messages[late - 3])  # a QoS 1 redelivery, say
    messages.append((telemetry_topic("wb-0001"), b"\xff\xfe not json"))
    return messages


Outputs = dict[str, list[bytes]]


def stored_outputs(store: SqliteStore) -> Outputs:
    """Everything the processors produced, as bytes, in a stable order."""
    alerts = sorted(store.alerts(), key=lambda a: a.alert_id)
    return {
        "alerts": [msgspec.json.encode(a) for a in alerts],
        "scores": [msgspec.json.encode(s) for d in DEVICES for s in store.scores(d)],
        "indices": [msgspec.json.encode(i) for d in DEVICES for i in store.indices(d)],
    }


def store_profiles(db: Path) -> None:
    """The wandering wearer's fence, stored as ``vigil wearer set`` stores it."""
    store = SqliteStore(db)
    store.migrate()
    store.put_wearer("wb-0002", encode_profile(wearer_profile(load_scenario("wandering"))))
    store.close()


def embedded_reference(messages: list[tuple[str, bytes]], db: Path) -> Outputs:
    """The embedded runner's pipeline over the same input, in chunks as MQTT gives them."""
    store_profiles(db)
    store = SqliteStore(db)
    book = ProfileBook(store)
    work = ShardWork(store, Fleet(ProcessorSettings(), book), profiles=book)
    for at in range(0, len(messages), 50):
        chunk = [
            Inbound(topic=t, payload=p, qos=1, mid=i, generation=0)
            for i, (t, p) in enumerate(messages[at : at + 50])
        ]
        work.process(chunk)
    outputs = stored_outputs(store)
    assert store.count_messages() == len(messages) - 3  # two malformed, one repeat
    assert any(a.source == "geofence" for a in store.alerts("wb-0002")), "the fence is used"
    store.close()
    return outputs


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    with MockKafka() as broker:
        broker.create_topics(TOPICS.all(), PARTITIONS)
        yield broker


def tier_env(kafka: MockKafka, mosquitto: MosquittoProcess, db: Path) -> dict[str, str]:
    return {
        "VIGIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "VIGIL_KAFKA_TOPIC_PREFIX": TOPICS.prefix,
        "VIGIL_KAFKA_APP_ID": TOPICS.app_id,
        "VIGIL_KAFKA_PARTITIONS": str(PARTITIONS),
        "VIGIL_KAFKA_DECLARE_TOPICS": "false",  # the mock has no CreateTopics
        "VIGIL_KAFKA_SESSION_TIMEOUT_S": "6",
        "VIGIL_KAFKA_REBALANCE_TIMEOUT_S": "5",
        "VIGIL_KAFKA_HEARTBEAT_S": "1",
        # Small chunks: many chunk boundaries, where Faust skipped records
        # (vigil/kafka_progress.py); with 500 the first half is often one chunk.
        "VIGIL_WORKER_CHUNK_MAX": "16",
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": "vigil-bridge-test",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
    }


def publish(mosquitto: MosquittoProcess, messages: list[tuple[str, bytes]]) -> None:
    publisher = MqttPublisher("127.0.0.1", mosquitto.port, client_id="recorded-fleet")
    publisher.connect()
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
        assert publisher.flush() == 0
    finally:
        publisher.close()


def count_stored(db: Path) -> int:
    store = SqliteStore(db)
    try:
        return store.count_messages()
    finally:
        store.close()


def settled_outputs(db: Path, reference: Outputs, timeout_s: float) -> tuple[Outputs, list[Alert]]:
    """The stored outputs once equal to ``reference`` (or after ``timeout_s``: the
    assertions then say what differs) and a moment longer, and the unnotified alerts."""
    store = SqliteStore(db)
    try:
        with contextlib.suppress(AssertionError):
            wait_for(lambda: stored_outputs(store) == reference, timeout_s, "the outputs")
        time.sleep(3)  # anything extra would show up now
        return stored_outputs(store), store.unnotified_alerts()
    finally:
        store.close()


@contextlib.contextmanager
def running(*runs: VigilRun) -> Iterator[None]:
    """The children started, in order; those still alive at the end are stopped."""
    try:
        for run in runs:
            run.start()
        yield
    finally:
        for run in reversed(runs):
            if run.process is not None and run.alive():
                run.terminate()


def keep_logs(tmp_path: Path, **runs: VigilRun) -> None:
    """The children's whole logs, kept with the test's tmp_path for a failure to be read."""
    for name, run in runs.items():
        (tmp_path / f"{name.replace('_', '-')}.log").write_text("".join(run.log))


@pytest.mark.chaos  # kills or restarts mid-stream (docs/security.md)
def test_the_kafka_tier_matches_the_embedded_runner_across_a_worker_kill(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    messages = recorded_input()
    reference = embedded_reference(messages, tmp_path / "embedded.db")
    assert reference["alerts"], "the recorded fleet raises alerts"
    assert reference["indices"], "and yields wellbeing index values"
    accepted = len(messages) - 3

    db = tmp_path / "kafka.db"
    store_profiles(db)  # and the test can count rows before a worker has started
    env = tier_env(kafka, mosquitto, db)
    bridge = VigilRun(env, ("bridge",), ready="bridging")
    first = VigilRun(env, ("worker",), ready=None)
    with running(bridge, first):
        # The first half is processed and its offsets committed (Faust commits every
        # 2.8 s): the second worker must take those devices' states from the changelog.
        half = len(messages) // 2
        publish(mosquitto, messages[:half])
        wait_for(lambda: count_stored(db) == half, 90, "the first half stored")
        time.sleep(4)
        # Then the worker is killed part-way through the second half.
        publish(mosquitto, messages[half:])
        wait_for(lambda: count_stored(db) >= half + (accepted - half) // 3, 60, "more stored")
        first.kill9()
        second = VigilRun(env, ("worker",), ready=None)
        with running(second):
            wait_for(lambda: count_stored(db) == accepted, 90, "every message stored")
            outputs, unnotified = settled_outputs(db, reference, 60)
    keep_logs(tmp_path, bridge=bridge, first_worker=first, second_worker=second)
    # Records each worker's ingest gate held back or found delivered again: what a
    # failure needs to tell apart (vigil/kafka_progress.py).
    trail = "".join(
        line
        for run in (first, second)
        for line in run.log
        if "ingest partition" in line or "delivered again" in line
    )
    assert outputs["alerts"] == reference["alerts"], trail
    assert outputs["scores"] == reference["scores"], trail
    assert outputs["indices"] == reference["indices"], trail
    assert unnotified == []


def on_kafka(kafka: MockKafka) -> int:
    """How many MQTT messages the bridge has put on the ingest topic (heartbeats aside)."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(TOPICS.ingest, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            seen = 0
            while any([await consumer.position(tp) < end[tp] for tp in partitions]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += sum(decode_forwarded(r.value).kind == "message" for r in records)
            return seen
        finally:
            await consumer.stop()

    return asyncio.run(count())


def commit_workers_at_the_end(kafka: MockKafka) -> None:
    """Commit the workers' group at the end of every ingest partition: records no
    worker applied, as Faust's consumer has committed past (vigil/kafka_progress.py)."""

    async def commit() -> None:
        consumer = AIOKafkaConsumer(
            TOPICS.ingest,
            bootstrap_servers=kafka.bootstrap,
            group_id=TOPICS.app_id,  # a member of the (empty) group: its commits count
            enable_auto_commit=False,
            # Were it not to leave cleanly, the next worker waits this long, not minutes.
            session_timeout_ms=6000,
            rebalance_timeout_ms=5000,
            heartbeat_interval_ms=1000,
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(TOPICS.ingest, p) for p in range(PARTITIONS)]
            while len(consumer.assignment()) < PARTITIONS:
                await consumer.getmany(timeout_ms=200)
            await consumer.commit(await consumer.end_offsets(partitions))
        finally:
            await consumer.stop()

    asyncio.run(commit())


def test_a_worker_applies_what_its_group_committed_but_no_worker_applied(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """Faust's committed offsets are not trusted: the ingest progress in the changelog is."""
    messages = recorded_input()
    reference = embedded_reference(messages, tmp_path / "embedded.db")
    db = tmp_path / "kafka.db"
    store_profiles(db)
    env = {**tier_env(kafka, mosquitto, db), "VIGIL_BRIDGE_HEARTBEAT_S": "1"}
    bridge = VigilRun(env, ("bridge",), ready="bridging")
    first = VigilRun(env, ("worker",), ready=None)
    half = len(messages) // 2
    with running(bridge, first):
        publish(mosquitto, messages[:half])
        wait_for(lambda: count_stored(db) == half, 90, "the first half stored")
        time.sleep(4)
        first.terminate()
        # The second half reaches Kafka while no worker runs, and the group's offsets
        # are then moved past it, as if a worker had processed it.
        publish(mosquitto, messages[half:])
        wait_for(lambda: on_kafka(kafka) == len(messages), 60, "every message on Kafka")
        commit_workers_at_the_end(kafka)
        second = VigilRun(env, ("worker",), ready=None)
        with running(second):
            outputs, _ = settled_outputs(db, reference, 90)
    keep_logs(tmp_path, bridge=bridge, first_worker=first, second_worker=second)
    assert outputs == reference
    assert any("reading again from" in line for line in second.log), "the gate sought back"


def group_behind(kafka: MockKafka, partitions: list[TopicPartition]) -> int:
    """How many ingest records the workers' group has not committed, over ``partitions``
    at their end offsets now."""

    async def behind() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=TOPICS.app_id)
        await consumer.start()  # not subscribed: it does not join the group
        try:
            end = await consumer.end_offsets(partitions)
            return sum([end[tp] - (await consumer.committed(tp) or 0) for tp in partitions])
        finally:
            await consumer.stop()

    return asyncio.run(behind())


def test_the_group_commits_what_the_worker_applied_when_faust_does_not(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A worker commits its applied progress itself (vigil/kafka_progress.py).

    After a rebalance Faust forgets what it acknowledged and commits it only when a
    newer record comes; here its own commits are an hour apart, so every commit seen
    is the worker's.
    """
    messages = recorded_input()[:40]
    db = tmp_path / "kafka.db"
    store_profiles(db)
    env = {
        **tier_env(kafka, mosquitto, db),
        "VIGIL_KAFKA_COMMIT_INTERVAL_S": "3600",
        "VIGIL_KAFKA_PROGRESS_COMMIT_S": "0.5",
        "VIGIL_BRIDGE_HEARTBEAT_S": "3600",  # no heartbeat records after the first
    }
    bridge = VigilRun(env, ("bridge",), ready="bridging")
    worker = VigilRun(env, ("worker",), ready=None)
    partitions = [TopicPartition(TOPICS.ingest, p) for p in range(PARTITIONS)]
    with running(bridge, worker):
        publish(mosquitto, messages)
        wait_for(lambda: count_stored(db) == len(messages), 90, "every message stored")
        wait_for(lambda: group_behind(kafka, partitions) == 0, 30, "the group's offsets at the end")
    keep_logs(tmp_path, bridge=bridge, worker=worker)


def test_workers_raise_signal_lost_from_the_bridges_heartbeats(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A silent band at risk is alerted; a silent bridge is not blamed on the bands."""
    db = tmp_path / "kafka.db"
    store = SqliteStore(db)
    store.migrate()
    store.put_wearer("wb-1", encode_profile(WearerProfile(at_risk=True)))
    env = {
        **tier_env(kafka, mosquitto, db),
        "VIGIL_SIGNAL_LOST_AFTER_S": '{"medium": 10}',  # at risk counts as medium at least
        "VIGIL_SILENCE_TICK_S": "0.5",
        "VIGIL_BRIDGE_HEARTBEAT_S": "1",  # a partition without one for 3 s is not receiving
        "VIGIL_CATCH_UP_S": "0",
    }
    now = dt.datetime.now(dt.UTC)

    def batch(device: str, seq: int) -> tuple[str, bytes]:
        at = now + dt.timedelta(seconds=seq)
        return telemetry_topic(device), encode(vitals_batch(seq, device_id=device, at=at))

    def lost(device: str) -> list[Alert]:
        return [a for a in store.alerts(device) if a.source == "signal_lost"]

    bridge = VigilRun(env, ("bridge",), ready="bridging")
    worker = VigilRun(env, ("worker",), ready=None)
    bridge.start()
    worker.start()
    try:
        publish(mosquitto, [batch("wb-1", 1), batch("wb-2", 1)])
        wait_for(lambda: any(a.change == "raised" for a in lost("wb-1")), 60, "signal lost")
        assert lost("wb-2") == [], "wb-2's wearer is not at risk"
        publish(mosquitto, [batch("wb-1", 2)])
        wait_for(lambda: any(a.change == "resolved" for a in lost("wb-1")), 30, "resolved")
        bridge.terminate()  # from now on wb-1's silence is the bridge's
        time.sleep(15)
        assert len(lost("wb-1")) == 2, "nothing raised while the bridge was down"
        bridge = VigilRun(env, ("bridge",), ready="bridging")
        bridge.start()
        wait_for(lambda: len(lost("wb-1")) == 3, 30, "signal lost once the bridge is back")
    finally:
        worker.terminate()
        if bridge.alive():
            bridge.terminate()
        store.close()
    assert [line for line in worker.log if "ERROR" in line] == []


def test_an_sos_through_the_kafka_tier_climbs_its_ladder_in_vigil_alerts(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The sinks only store alerts; ``vigil alerts`` takes them in and drives the ladder."""
    db = tmp_path / "kafka.db"
    env = tier_env(kafka, mosquitto, db)
    contacts = tmp_path / "mary.toml"
    contacts.write_text(
        'wearer_name = "Mary"\nemergency_services = "+447700900999"\n'
        "[policy]\ngrace_s = 0\ncall_timeout_s = 3\nservices_attempts = 1\n"
        '[[contacts]]\ncontact_id = "anna"\nname = "Anna"\nphone = "+447700900101"\n'
        "emergency = true\n"
    )
    subprocess.run(
        [sys.executable, "-m", "vigil", "contacts", "set", "wb-0001", str(contacts)],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
    )
    sos = EventV1(
        device_id="wb-0001",
        boot_id=1,
        seq=1,
        occurred_at=dt.datetime.now(dt.UTC),
        event=Sos(press_duration_s=4.0),
    )
    bridge = VigilRun(env, ("bridge",), ready="bridging")
    worker = VigilRun(env, ("worker",), ready=None)
    alerts = VigilRun(env, ("alerts",), ready="driving the alert ladders")
    with running(alerts, bridge, worker):
        publish(mosquitto, [(event_topic("wb-0001"), encode(sos))])
        wait_for(lambda: any("-> call +447700900101" in x for x in alerts.log), 90, "Anna called")
        # Anna does not answer within 3 s: the emergency services next.
        wait_for(lambda: any("-> call +447700900999" in x for x in alerts.log), 30, "services")
    keep_logs(tmp_path, bridge=bridge, worker=worker, alerts=alerts)
    assert not any("-> call" in x for x in worker.log), "the worker's sink only stores"
    store = SqliteStore(db)
    try:
        assert store.unladdered_alerts() == []
        assert [a.source for a in store.alerts("wb-0001")] == ["sos"]
    finally:
        store.close()
