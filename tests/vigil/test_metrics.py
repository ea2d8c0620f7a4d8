"""``vigil run``'s Prometheus metrics and JSON logs (issue 10), as a process against a real
Mosquitto: a scrape counts what was received, stored and refused (by reason), and every
log line is one JSON object with no secret in it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

import schemas
from schemas.topics import telemetry_topic
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto]

PASSWORD = "a-broker-password-never-logged"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, by name and labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"band-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_a_scrape_counts_what_was_stored_and_refused_and_logs_are_json(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    metrics_port = free_port()
    runner = VigilRun(
        {
            "VIGIL_MQTT_PORT": str(mosquitto.port),
            "VIGIL_MQTT_USERNAME": "vigil-ingest",
            "VIGIL_MQTT_PASSWORD": PASSWORD,
            "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
            "VIGIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.db'}",
            "VIGIL_METRICS_PORT": str(metrics_port),
            "VIGIL_LOG_FORMAT": "json",
            "VIGIL_LOG_LEVEL": "INFO",
        }
    )
    runner.start()
    try:
        before = scrape(metrics_port)
        assert before[("vigil_ingest_messages_received_total", ())] == 0
        now = dt.datetime.now(dt.UTC)
        good = [vitals_batch(seq, device_id="wb-0001", at=now) for seq in (1, 2)]
        publish(
            mosquitto.port,
            [
                *((telemetry_topic("wb-0001"), schemas.encode(b)) for b in good),
                (telemetry_topic("wb-0001"), schemas.encode(good[0])),  # a repeat
                (telemetry_topic("wb-0002"), b"{not json"),
            ],
        )
        wait_for(
            lambda: scrape(metrics_port)[("vigil_ingest_messages_received_total", ())] == 4,
            20,
            "four messages counted",
        )
        seen = scrape(metrics_port)
    finally:
        assert runner.terminate() == 0, "".join(runner.log[-20:])
    assert seen[("vigil_ingest_messages_stored_total", ())] == 2
    assert seen[("vigil_ingest_duplicates_total", ())] == 1
    assert seen[("vigil_ingest_samples_total", ())] == 10
    refused = {k[1]: v for k, v in seen.items() if k[0] == "vigil_dead_letters_total"}
    assert refused == {(("reason", "invalid_json"),): 1}
    assert seen[("vigil_ingest_chunks_in_flight", ())] == 0
    assert seen[("vigil_ingest_commit_seconds", ())] > 0
    assert ("vigil_ladder_outbox_messages", (("status", "failed"),)) in seen
    lines = [line for line in runner.log if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records, "".join(lines[-10:])
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any("ready: ingesting" in r["message"] for r in records)
    assert PASSWORD not in "".join(runner.log)
