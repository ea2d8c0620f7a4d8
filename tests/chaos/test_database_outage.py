"""Chaos (issue 10): PostgreSQL stopped for 60 seconds under ``vigil run`` mid-stream.

Bands keep publishing through the outage, and one presses SOS while the database is down.
The broker holds what ``vigil run`` cannot yet acknowledge (bounded by its queue), and
when the database returns: every distinct message published is stored exactly once, the
SOS's red ladder climbs to its end, and no contact is called twice. ``vigil run`` never
exits meanwhile.

The database is a server of the test's own (``tests/postgres_server.py``): the machine's
shared one is never stopped.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from schemas.topics import telemetry_topic
from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, set_contacts
from tests.factories import vitals_batch
from tests.postgres_server import PostgresProcess, postgres_bin
from tests.vigil.service_process import VigilRun, wait_for
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.chaos, pytest.mark.mosquitto, pytest.mark.postgres, pytest.mark.slow]
if postgres_bin() is None:
    pytest.skip("PostgreSQL is not installed (.ci/run installs it)", allow_module_level=True)

OUTAGE_S = 60.0
BANDS = ("wb-0011", "wb-0012", "wb-0013")


class Bands:
    """Three bands publishing a 10-sample batch each every 0.5 s, from a thread."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bands-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )  # fmt: skip
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            seq += 1
            for band in BANDS:
                batch = vitals_batch(seq, device_id=band, at=dt.datetime.now(dt.UTC))
                info = self.client.publish(telemetry_topic(band), schemas.encode(batch), qos=1)
                info.wait_for_publish(10)
                self.sent += 1
            if seq % 4 == 0:  # a repeat now and then: must be stored once
                again = vitals_batch(seq, device_id=BANDS[0], at=dt.datetime.now(dt.UTC))
                self.client.publish(telemetry_topic(BANDS[0]), schemas.encode(again), qos=1)
            time.sleep(0.5)

    def close(self) -> int:
        """Stop publishing; how many distinct batches were sent."""
        self.stop.set()
        self.thread.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()
        return self.sent


def stored(dsn: str) -> int:
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM messages WHERE device_id = ANY(%s)", (list(BANDS),)
            ).fetchone()
    except psycopg.OperationalError:
        return -1
    return int(row[0]) if row else 0


def test_a_minute_without_the_database_loses_nothing_and_repeats_no_call(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    with PostgresProcess() as database:
        env = {
            "VIGIL_MQTT_PORT": str(mosquitto.port),
            "VIGIL_MQTT_CLIENT_ID": f"vigil-chaos-{uuid.uuid4().hex[:8]}",
            "VIGIL_DATABASE_URL": database.dsn,
        }
        set_contacts(env, tmp_path, CONTACTS)
        runner = VigilRun(env)
        runner.start()
        bands = Bands(mosquitto.port)
        try:
            wait_for(lambda: stored(database.dsn) >= 30, 30, "the first batches stored")
            database.stop()
            time.sleep(5)
            publish_sos(mosquitto.port, "wb-0001")  # pressed while the database is down
            time.sleep(OUTAGE_S - 5)
            assert runner.process is not None
            assert runner.process.poll() is None, "".join(runner.log[-20:])
            database.start()
            time.sleep(5)
            sent = bands.close()
            wait_for(lambda: stored(database.dsn) == sent, 90, f"all {sent} batches stored")
            wait_for(lambda: lines(runner, "-> call +447700900102") >= 1, 60, "Ben called")
            time.sleep(2)
            assert stored(database.dsn) == sent
        finally:
            if not bands.stop.is_set():
                bands.close()
            code = runner.terminate()
        assert code == 0, "".join(runner.log[-30:])
    assert lines(runner, "store unavailable") >= 1, "the outage was seen"
    assert lines(runner, "-> call +447700900101") == 1, "Anna called once"
    assert lines(runner, "-> call +447700900102") == 1, "Ben called once"
