"""``vigil sim --processes P``: a fleet split over processes, against a real Mosquitto."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from device_sim.load import split
from device_sim.publisher import FleetPlan, fleet_messages
from device_sim.scenario import load_scenario
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

START = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)


def test_a_split_covers_every_device_once_and_sends_what_one_process_would() -> None:
    plan = FleetPlan(devices=7, rate_hz=2, seconds=3, default=load_scenario("healthy"))
    shares = split(plan, 3)
    assert [s.devices for s in shares] == [3, 2, 2]
    whole = [(band.device_id, schemas.encode(m)) for _k, band, m in fleet_messages(plan, START)]
    parts = [
        (band.device_id, schemas.encode(m))
        for share in shares
        for _k, band, m in fleet_messages(share, START)
    ]
    assert sorted(parts) == sorted(whole)  # same ids, same seeds, same batches
    assert len({device for device, _ in whole}) == 7
    assert len(split(plan, 20)) == 7  # never an empty share
    with pytest.raises(ValueError, match="at least 1"):
        split(plan, 0)


def _subscriber(port: int, received: Counter[str], lock: threading.Lock) -> paho.Client:
    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        decoded = schemas.decode(message.topic, bytes(message.payload))  # valid wire messages
        assert isinstance(decoded, schemas.TelemetryBatchV1)
        with lock:
            received[decoded.device_id] += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(schemas.topics.TELEMETRY_FILTER, qos=1)
    client.loop_start()
    return client


def _vigil_sim(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_MQTT_PORT": str(port), "VIGIL_MQTT_HOST": "127.0.0.1"}
    return subprocess.run(
        [sys.executable, "-m", "vigil", "sim", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_three_processes_deliver_every_batch_and_report_the_rate_achieved(
    mosquitto: MosquittoProcess,
) -> None:
    received: Counter[str] = Counter()
    lock = threading.Lock()
    subscriber = _subscriber(mosquitto.port, received, lock)
    time.sleep(0.3)  # the subscription is in place before the first publish
    try:
        run = _vigil_sim(
            mosquitto.port, "--devices", "6", "--rate", "5", "--seconds", "2", "--processes", "3"
        )
        assert run.returncode == 0, run.stderr[-2000:]
        report = json.loads(run.stdout.strip().splitlines()[-1])
        deadline = time.monotonic() + 10
        while sum(received.values()) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert report["processes"] == 3
    assert report["messages"] == 60  # 6 bands x 5 batches a second x 2 s
    assert report["failed"] == 0
    assert received == {f"wb-{i:04d}": 10 for i in range(1, 7)}
    # Paced at 30 messages a second for 2 s: the rate achieved is that, not more.
    assert report["target_messages_per_s"] == 30
    assert 2.0 <= report["wall_s"] < 30
    assert report["messages_per_s"] == pytest.approx(60 / report["wall_s"], rel=0.01)
    assert 0 < report["ratio_to_target"] <= 1.0


def test_no_processes_or_devices_are_refused() -> None:
    for args in (("--processes", "0"), ("--devices", "0")):
        run = _vigil_sim(free_port(), *args, "--seconds", "1")
        assert run.returncode == 2
        assert "must be at least 1" in run.stderr


def test_no_broker_fails_at_once_with_the_reason() -> None:
    started = time.monotonic()
    run = _vigil_sim(free_port(), "--devices", "4", "--processes", "2", "--seconds", "1")
    assert run.returncode == 1
    assert "vigil sim: a load process failed" in run.stderr
    assert "Connection refused" in run.stderr or "ConnectionRefused" in run.stderr
    assert time.monotonic() - started < 60  # not the 120 s start-up wait


async def test_a_publisher_far_ahead_of_its_broker_waits_instead_of_dropping(
    mosquitto: MosquittoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paho numbers messages with 16-bit ids: 65,535 queued and a new one is dropped. The
    # publisher settles the oldest before that; a small bound makes it settle here often.
    from device_sim import publisher as publisher_module
    from device_sim.publisher import MqttPublisher, run_fleet

    monkeypatch.setattr(publisher_module, "MAX_OUTSTANDING", 40)
    settled: list[int] = []
    original = MqttPublisher.settle

    def counting_settle(self: MqttPublisher, keep: int, timeout_s: float = 30.0) -> None:
        settled.append(self.outstanding())
        original(self, keep, timeout_s)

    monkeypatch.setattr(MqttPublisher, "settle", counting_settle)
    plan = FleetPlan(devices=50, rate_hz=200, seconds=1, default=load_scenario("healthy"))
    client = MqttPublisher("127.0.0.1", mosquitto.port)
    client.connect()
    try:
        stats = await run_fleet(plan, client)
    finally:
        client.close()
    assert stats.batches == 50 * 200
    assert stats.failed == 0
    assert settled  # it did wait
    assert max(settled) <= 40 + 50  # never more than the bound and one tick's messages
