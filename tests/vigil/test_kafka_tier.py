"""The scale-out runner against a real Kafka wire protocol: same outputs, restart recovery.

``vigil bridge`` and ``vigil worker`` run as child processes against a private
Mosquitto and librdkafka's mock Kafka cluster (tests/kafka_mock.py). A recorded fleet
(deteriorating, wandering, stressed and healthy wearers, plus malformed payloads and
a repeated message) goes through them and, separately, through the embedded runner's
pipeline; the stored alerts, scores and index values must be identical. The worker
is killed with SIGKILL mid-stream and a new one started: its device states come back
from the changelog topic, and nothing is lost or stored twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from device_sim.publisher import FleetPlan, MqttPublisher, recorded_fleet
from device_sim.scenario import load_scenario
from ingest.mqtt.source import Inbound
from schemas.topics import telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.device import ProcessorSettings
from stream_processors.fleet import Fleet
from tests.vigil.service_process import VigilRun, wait_for
from vigil.kafka_topics import KafkaTopics
from vigil.local_servers import MosquittoProcess
from vigil.shard_work import ShardWork

pytest.importorskip("faust", reason="the Kafka tier needs the [kafka] extra (dev installs it)")
from tests.kafka_mock import MockKafka

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


def embedded_reference(messages: list[tuple[str, bytes]], db: Path) -> Outputs:
    """The embedded runner's pipeline over the same input, in chunks as MQTT gives them."""
    store = SqliteStore(db)
    store.migrate()
    work = ShardWork(store, Fleet(ProcessorSettings()))
    for at in range(0, len(messages), 50):
        chunk = [
            Inbound(topic=t, payload=p, qos=1, mid=i, generation=0)
            for i, (t, p) in enumerate(messages[at : at + 50])
        ]
        work.process(chunk)
    outputs = stored_outputs(store)
    assert store.count_messages() == len(messages) - 3  # two malformed, one repeat
    store.close()
    return outputs


@pytest.fixture
def kafka() -> Iterator[MockKafka]:
    broker = MockKafka()
    broker.create_topics(TOPICS.all(), PARTITIONS)
    try:
        yield broker
    finally:
        broker.close()


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


def test_the_kafka_tier_matches_the_embedded_runner_across_a_worker_kill(
    kafka: MockKafka, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    messages = recorded_input()
    reference = embedded_reference(messages, tmp_path / "embedded.db")
    assert reference["alerts"], "the recorded fleet raises alerts"
    assert reference["indices"], "and yields wellbeing index values"
    accepted = len(messages) - 3

    db = tmp_path / "kafka.db"
    early = SqliteStore(db)
    early.migrate()  # so the test can count rows before a worker has started
    early.close()
    env = tier_env(kafka, mosquitto, db)
    bridge = VigilRun(env, ("bridge",), ready="bridging")
    first = VigilRun(env, ("worker",), ready=None)
    bridge.start()
    first.start()
    try:
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
        second.start()
        try:
            wait_for(lambda: count_stored(db) == accepted, 90, "every message stored")
            store = SqliteStore(db)
            with contextlib.suppress(AssertionError):  # the assertions below say what differs
                wait_for(lambda: stored_outputs(store) == reference, 60, "the outputs")
            time.sleep(3)  # anything extra would show up now
            outputs = stored_outputs(store)
            unnotified = store.unnotified_alerts()
            store.close()
        finally:
            second.terminate()
    finally:
        if first.alive():
            first.terminate()
        bridge.terminate()
    assert outputs["alerts"] == reference["alerts"]
    assert outputs["scores"] == reference["scores"]
    assert outputs["indices"] == reference["indices"]
    assert unnotified == []
