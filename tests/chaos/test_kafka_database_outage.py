"""Chaos (issue 10): PostgreSQL stopped for 60 seconds under the Kafka tier mid-stream.

``vigil bridge``, ``vigil worker`` (its processors and storage sink) and ``vigil alerts``
run on a private PostgreSQL while bands publish and one presses SOS during the outage.
Kafka holds what the sink cannot store: the sink keeps its chunk and retries with
backoff, committing nothing it has not stored. When the database returns, every
distinct batch published is stored once, the SOS's ladder climbs to its end with each
contact called once, and no process has exited. The worker's ``/metrics`` shows the
outage while it lasts (``vigil_sink_failing`` 1, failures counted) and its end, and the
bridge's and the worker's counters account for every message.

Kafka is the in-process Kafka-protocol broker of the tier's tests (``vigil.kafka_mock``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, set_contacts
from tests.chaos.test_database_outage import OUTAGE_S, Bands, stored
from tests.postgres_server import PostgresProcess, postgres_bin
from tests.vigil.service_process import VigilRun, wait_for
from tests.vigil.test_kafka_tier import kafka, keep_logs, running, tier_env  # noqa: F401
from tests.vigil.test_metrics import scrape
from vigil.embedded_broker import free_port
from vigil.kafka_mock import MockKafka
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.chaos, pytest.mark.mosquitto, pytest.mark.postgres, pytest.mark.slow]
if postgres_bin() is None:
    pytest.skip("PostgreSQL is not installed (.ci/run installs it)", allow_module_level=True)


def sink_metric(port: int, name: str) -> float:
    return scrape(port)[(name, ())]


def test_a_minute_without_the_database_under_the_kafka_tier_loses_nothing(
    kafka: MockKafka,  # noqa: F811 - the tier's fixture
    mosquitto: MosquittoProcess,
    tmp_path: Path,
) -> None:
    metrics_port, bridge_metrics = free_port(), free_port()
    with PostgresProcess() as database:
        env = {
            **tier_env(kafka, mosquitto, tmp_path / "unused.db"),
            "VIGIL_DATABASE_URL": database.dsn,
            "VIGIL_MQTT_CLIENT_ID": f"vigil-bridge-{uuid.uuid4().hex[:8]}",
        }
        set_contacts(env, tmp_path, CONTACTS)
        bridge = VigilRun(
            {**env, "VIGIL_METRICS_PORT": str(bridge_metrics)}, ("bridge",), ready="bridging"
        )
        worker = VigilRun({**env, "VIGIL_METRICS_PORT": str(metrics_port)}, ("worker",), None)
        alerts = VigilRun(env, ("alerts",), ready="driving the alert ladders")
        with running(alerts, bridge, worker):
            bands = Bands(mosquitto.port)
            try:
                wait_for(lambda: stored(database.dsn) >= 30, 60, "the first batches stored")
                assert sink_metric(metrics_port, "vigil_sink_failing") == 0
                database.stop()
                time.sleep(5)
                publish_sos(mosquitto.port, "wb-0001")  # pressed while the database is down
                wait_for(
                    lambda: sink_metric(metrics_port, "vigil_sink_failing") == 1,
                    OUTAGE_S - 10,
                    "the sink's failing store shown",
                )
                time.sleep(max(0.0, OUTAGE_S - 5 - 10))
                for run in (bridge, worker, alerts):
                    assert run.alive(), "".join(run.log[-20:])
                database.start()
                time.sleep(5)
                sent = bands.close()
                wait_for(lambda: stored(database.dsn) == sent, 120, f"all {sent} batches stored")
                wait_for(lambda: lines(alerts, "-> call +447700900102") >= 1, 90, "Ben called")
                time.sleep(2)
                assert stored(database.dsn) == sent
                failures = sink_metric(metrics_port, "vigil_sink_store_failures_total")
                assert failures >= 1
                assert sink_metric(metrics_port, "vigil_sink_failing") == 0
                # Every batch (repeats too) and the SOS crossed the bridge; the worker took
                # each, with the bridge's heartbeats; the sink stored them and the outputs.
                forwarded = sink_metric(bridge_metrics, "vigil_bridge_messages_forwarded_total")
                assert forwarded >= sent + 1
                assert sink_metric(metrics_port, "vigil_worker_records_total") >= forwarded
                assert sink_metric(metrics_port, "vigil_worker_alerts_raised_total") >= 1
                assert sink_metric(metrics_port, "vigil_sink_records_stored_total") >= forwarded
                for run in (bridge, worker, alerts):
                    assert run.alive(), "".join(run.log[-20:])
            finally:
                if not bands.stop.is_set():
                    bands.close()
                keep_logs(tmp_path, bridge=bridge, worker=worker, alerts=alerts)
    assert lines(alerts, "-> call +447700900101") == 1, "Anna called once"
    assert lines(alerts, "-> call +447700900102") == 1, "Ben called once"
