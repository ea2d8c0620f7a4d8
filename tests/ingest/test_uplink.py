"""The gateway's uplink on a real Mosquitto: the spool reaches ``vigil run``'s storage in
full, once, across a broker stopped and restarted mid-stream; the gateway's status and
its last will reach the backend."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from ingest.ble.batcher import BandBatcher
from ingest.spool import Spool
from ingest.uplink import Uplink
from schemas import encode
from schemas.telemetry import HeartRate
from schemas.topics import telemetry_topic
from storage.sqlite import SqliteStore
from tests.vigil.service_process import VigilRun, wait_for
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def spool_batches(spool: Spool, batcher: BandBatcher, first: int, count: int) -> None:
    """``count`` one-sample batches from two bands, as the gateway spools them."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for n in range(first, first + count):
        at = start + dt.timedelta(seconds=n)
        device = f"wb-000{n % 2 + 1}"
        sample = HeartRate(measured_at=at, heart_rate_bpm=60 + n % 20, rr_ms=(950.0,))
        (batch,) = batcher.add(device, [sample], now=float(n), at=at)
        spool.put(telemetry_topic(device), encode(batch))


def pump_until_empty(uplink: Uplink, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(uplink.spool) and time.monotonic() < deadline:
        if not uplink.pump():
            time.sleep(0.1)
    assert len(uplink.spool) == 0, f"{len(uplink.spool)} messages still spooled"


def stored(db: Path) -> tuple[int, int]:
    store = SqliteStore(db)
    try:
        return store.count_messages(), store.count_readings()
    finally:
        store.close()


def gateway_state(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT state FROM gateway_status WHERE gateway_id = 'gw-1'").fetchone()
    return None if row is None else str(row[0])


def backend(mosquitto: MosquittoProcess, db: Path) -> VigilRun:
    """``vigil run`` on the test's broker, storing to ``db``."""
    return VigilRun(
        {
            "VIGIL_MQTT_PORT": str(mosquitto.port),
            "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
            "VIGIL_DATABASE_URL": f"sqlite:///{db}",
        }
    )


def test_a_broker_restart_mid_stream_loses_and_repeats_nothing(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    runner = backend(mosquitto, db)
    spool = Spool(tmp_path / "gateway-spool.db")
    batcher = BandBatcher("gw-1", max_samples=1)
    uplink = Uplink(spool, gateway_id="gw-1", host="127.0.0.1", port=mosquitto.port)
    runner.start()
    uplink.start()
    try:
        assert uplink.connected.wait(10), "the uplink connected"
        uplink.serving(["wb-0001", "wb-0002"])
        spool_batches(spool, batcher, 0, 100)
        pump_until_empty(uplink, 30)
        wait_for(lambda: gateway_state(db) == "online", 30, "the gateway online")
        mosquitto.stop()
        wait_for(lambda: not uplink.connected.is_set(), 10, "the uplink saw the broker go")
        spool_batches(spool, batcher, 100, 150)  # spooled while the broker is down
        assert uplink.pump() == 0
        assert len(spool) == 150
        mosquitto.start()
        assert uplink.connected.wait(40), "the uplink reconnected by itself"
        pump_until_empty(uplink, 60)
        wait_for(lambda: stored(db) == (250, 250), 60, "every batch stored")
    finally:
        uplink.stop()
        spool.close()
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    assert stored(db) == (250, 250), "stored once each"


def test_the_last_will_says_offline_when_the_gateway_vanishes(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    runner = backend(mosquitto, db)
    spool = Spool(tmp_path / "gateway-spool.db")
    uplink = Uplink(spool, gateway_id="gw-1", host="127.0.0.1", port=mosquitto.port, keepalive_s=2)
    runner.start()
    try:
        uplink.start()
        assert uplink.connected.wait(10)
        wait_for(lambda: gateway_state(db) == "online", 30, "the gateway online")
        # The network thread stops without a DISCONNECT: to the broker, a lost gateway.
        uplink._client.loop_stop()
        uplink._client.socket().close()  # type: ignore[union-attr]
        wait_for(lambda: gateway_state(db) == "offline", 30, "the will stored as offline")
    finally:
        spool.close()
        assert runner.terminate() == 0, "".join(runner.log[-30:])
