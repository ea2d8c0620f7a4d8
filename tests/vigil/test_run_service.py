"""``vigil run`` end to end: real Mosquitto, real PostgreSQL (or SQLite), real clients."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from schemas.topics import telemetry_topic
from storage import Store, open_store
from tests.vigil.service_process import VigilRun, wait_for
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigil.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
def service_env(mosquitto: MosquittoProcess, database_url: str) -> dict[str, str]:
    return {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    s.migrate()
    yield s
    s.close()


def doc_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "wire-protocol.md").read_text(encoding="utf-8")
    return [shlex.split(line) for line in text.splitlines() if line.startswith("mosquitto_pub ")]


def test_documented_payloads_via_mosquitto_pub_are_stored_and_bad_ones_dead_lettered(
    mosquitto: MosquittoProcess, service_env: dict[str, str], store: Store
) -> None:
    service = VigilRun(service_env)
    service.start()
    try:
        for args in doc_commands():
            args[args.index("-p") + 1] = str(mosquitto.port)
            subprocess.run(args, check=True, timeout=10)
        wait_for(
            lambda: store.count_dead_letters() == 1 and store.count_messages() == 2,
            15,
            "2 messages and 1 dead letter",
        )
        assert store.count_readings() == 7  # the telemetry example's seven samples
        (letter,) = store.dead_letters()
        assert letter.reason == "invalid_schema"
        assert "spo2_pct" in letter.detail
        assert [a.source for a in store.alerts()] == ["sos"]  # the SOS example, held 3.4 s
        assert service.alive(), "a malformed payload must not stop the pipeline"
        # ... and it keeps ingesting after the dead letter.
        args = doc_commands()[0]
        args[args.index("-p") + 1] = str(mosquitto.port)
        args[args.index("-m") + 1] = args[args.index("-m") + 1].replace('"seq":1,', '"seq":50,')
        subprocess.run(args, check=True, timeout=10)
        wait_for(lambda: store.count_messages() == 3, 15, "the message after the dead letter")
    finally:
        assert service.terminate() == 0, "".join(service.log[-30:])


def _batch(seq: int, now: dt.datetime) -> bytes:
    return schemas.encode(
        schemas.TelemetryBatchV1(
            device_id=f"wb-{seq % 10}",
            boot_id=1,
            seq=seq,
            sent_at=now,
            samples=(
                schemas.HeartRate(measured_at=now, heart_rate_bpm=70 + seq % 7),
                schemas.SpO2(measured_at=now, spo2_pct=97),
            ),
        )
    )


@pytest.mark.slow
def test_kill_9_mid_stream_then_restart_loses_nothing_and_duplicates_nothing(
    mosquitto: MosquittoProcess, service_env: dict[str, str], store: Store
) -> None:
    total, samples_each = 10_000, 2
    service = VigilRun(service_env)
    service.start()  # creates the persistent session
    now = dt.datetime.now(dt.UTC)
    payloads = [(telemetry_topic(f"wb-{s % 10}"), _batch(s, now)) for s in range(total)]
    acked = threading.Event()
    failures: list[int] = []

    def publish_all() -> None:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="kill9-publisher", protocol=paho.MQTTv5
        )
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        infos = []
        for i, (topic, payload) in enumerate(payloads):
            infos.append(client.publish(topic, payload, qos=1))
            if i % 500 == 0:
                time.sleep(0.05)  # a stream, not one burst
        for info in infos:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                failures.append(info.mid)
        client.disconnect()
        client.loop_stop()
        acked.set()

    publisher = threading.Thread(target=publish_all, daemon=True)
    publisher.start()
    wait_for(lambda: store.count_messages() >= 1500, 60, "the first 1500 messages stored")
    service.kill9()
    stored_at_kill = store.count_messages()
    assert stored_at_kill < total, "the kill must land mid-stream"
    time.sleep(0.5)

    restarted = VigilRun(service_env)
    restarted.start()
    try:
        assert acked.wait(120), "the broker did not acknowledge every publish"
        assert failures == []
        wait_for(lambda: store.count_messages() >= total, 120, "all messages stored")
        time.sleep(1.0)  # would any duplicate or late redelivery add rows?
        assert store.count_messages() == total
        assert store.count_readings() == total * samples_each
    finally:
        assert restarted.terminate() == 0, "".join(restarted.log[-30:])


def test_real_rr_over_mqtt_yields_stored_stress_values_and_one_reminder(
    mosquitto: MosquittoProcess, service_env: dict[str, str], store: Store
) -> None:
    from tests.scoring.test_hrv import pyhrv_series
    from tests.stream_processors.test_wellbeing import START, batch_of, beats, stressed

    rr = pyhrv_series("SampleNNISeriesLong.npy")  # 60 minutes of real resting RR
    samples = [*beats(rr, START), *beats(stressed(rr[:1600]), START + dt.timedelta(hours=1))]
    batches = [
        batch_of(seq, samples[i : i + 20]) for seq, i in enumerate(range(0, len(samples), 20))
    ]
    service = VigilRun(service_env)
    service.start()
    try:
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        for b in batches:  # one device: QoS 1 over one connection keeps their order
            client.publish(telemetry_topic(b.device_id), schemas.encode(b), qos=1).wait_for_publish(
                10
            )
        client.disconnect()
        client.loop_stop()
        wait_for(lambda: store.count_messages() == len(batches), 30, "every batch stored")
        stress = [r for r in store.indices("wb-1") if r.name == "mental_stress"]
        assert len(stress) == 15  # 12 resting windows and 3 complete stressed ones
        assert all(r.value is None for r in stress[:7])
        assert [a.source for a in store.alerts("wb-1")] == ["stress"]
    finally:
        assert service.terminate() == 0, "".join(service.log[-30:])
