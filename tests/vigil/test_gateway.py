"""``vigil gateway`` end to end (issue 7's "done when"): virtual wristbands' notifications
reach storage through the gateway's ordinary bleak code, the broker and ``vigil run``, with
the broker stopped and restarted in the middle, bands dropping their links and sending
malformed notifications, and no reading lost or duplicated.

No Bluetooth here (no ``/dev/vhci``): the bands are bumble peripherals on a virtual link
(``device_sim/ble_air.py``) and bleak runs over bumble (``device_sim/bumble_bleak.py``);
everything above bleak's backend is the code that runs on BlueZ.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ingest.spool import Spool
from ingest.uplink import Uplink
from storage.sqlite import SqliteStore
from tests.vigil.service_process import VigilRun, wait_for
from vigil.embedded_broker import free_port
from vigil.gateway import Gateway, parse_bands
from vigil.local_servers import MosquittoProcess
from vigil.settings import Settings

pytest.importorskip("bleak", reason="vigil gateway needs the [gateway] extra (dev installs it)")
pytest.importorskip("bumble", reason="the virtual wristbands need bumble (the test extra)")

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


class Air:
    """``python -m device_sim.ble_air``: the virtual wristbands, as a child process."""

    def __init__(self, port: int, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "device_sim.ble_air", "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "ready" in line, line

    def stop(self) -> dict[str, dict[str, int]]:
        """Stop the bands; what each notified."""
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()  # its pipes closed here, not leaked into later tests
            self.process.communicate()
            raise
        last = [line for line in out.splitlines() if line.startswith("{")][-1]
        sent: dict[str, dict[str, int]] = json.loads(last)
        return sent


def stored(db: Path) -> tuple[int, int]:
    store = SqliteStore(db)
    try:
        return store.count_readings(), len(store.dead_letters())
    finally:
        store.close()


def gateway_status(db: Path) -> str:
    """The stored status of gw-bedside: its state and bands, as text."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT state, connected_devices FROM gateway_status WHERE gateway_id = 'gw-bedside'"
        ).fetchone()
    return "" if row is None else f"{row[0]} {row[1]}"


@pytest.mark.chaos  # kills or restarts mid-stream (docs/security.md)
def test_virtual_bands_reach_storage_through_a_broker_restart_without_loss_or_copies(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    hci_port = free_port()
    env = {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
    }
    gateway_env = {
        **env,
        "VIGIL_GATEWAY_ID": "gw-bedside",
        "VIGIL_GATEWAY_BLE_BACKEND": "bumble",
        "VIGIL_GATEWAY_HCI": f"tcp-client:127.0.0.1:{hci_port}",
        "VIGIL_GATEWAY_SPOOL": str(tmp_path / "spool.db"),
        "VIGIL_LOG_LEVEL": "INFO",
    }
    air = Air(hci_port, "--bands", "2", "--period", "0.2", "--drop-every", "3",
              "--malformed-every", "1")  # fmt: skip
    runner = VigilRun(env)
    gateway = VigilRun(gateway_env, ("gateway",), ready="ready: gateway")
    runner.start()
    gateway.start()
    try:
        wait_for(lambda: stored(db)[0] >= 20, 30, "the first readings stored")
        wait_for(lambda: "wb-0001" in gateway_status(db), 30, "the gateway's status names a band")
        mosquitto.stop()
        time.sleep(3)  # notifications go on; the gateway spools them
        mosquitto.start()
        time.sleep(4)  # and a band drop or two while the spool drains
        sent = air.stop()
        total = sum(n for band in sent.values() for k, n in band.items() if k != "malformed")
        assert total > 40, sent
        wait_for(lambda: stored(db)[0] >= total, 60, f"{total} readings stored")
        time.sleep(1.5)  # anything more would arrive now
        assert stored(db) == (total, 0), sent
    finally:
        if air.process.poll() is None:
            air.process.kill()  # and reaped, its pipes closed: not leaked into later tests
            air.process.communicate()
        assert gateway.terminate() == 0, "".join(gateway.log[-40:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    log = "".join(gateway.log)
    assert "malformed notification" in log
    assert "unreachable" in log, "the broker's outage was seen"
    malformed = sum(band["malformed"] for band in sent.values())
    assert malformed > 0
    spool = Spool(tmp_path / "spool.db")
    letters = spool.dead_letters(1000)
    spool.close()
    assert len(letters) == malformed, "each malformed notification kept as a dead letter"
    assert {d.reason for d in letters} == {"malformed_gatt"}
    assert {d.topic for d in letters} <= {"ble/wb-0001/0x2A37", "ble/wb-0002/0x2A37"}
    assert log.count("band wb-0001 connected") >= 2, "reconnected after a drop"


def test_the_allow_list_names_the_bands_a_gateway_takes(tmp_path: Path) -> None:
    assert parse_bands(" c0:ba:4d:00:00:01=wb-0001, C0:BA:4D:00:00:02 = wb-0002 ") == {
        "C0:BA:4D:00:00:01": "wb-0001",
        "C0:BA:4D:00:00:02": "wb-0002",
    }
    with pytest.raises(ValueError, match="address=device_id"):
        parse_bands("C0:BA:4D:00:00:01")
    spool = Spool(tmp_path / "spool.db")
    uplink = Uplink(spool, gateway_id="gw-1", host="127.0.0.1", port=1)

    async def make(bands: str) -> Gateway:
        return Gateway(Settings(gateway_bands=bands), spool, uplink)

    listed = asyncio.run(make("C0:BA:4D:00:00:01=wb-0001"))
    assert listed.device_of("c0:ba:4d:00:00:01", "anything") == "wb-0001"
    assert listed.device_of("C0:BA:4D:00:00:09", "wb-0009") is None, "not on the list"
    anyone = asyncio.run(make(""))
    assert anyone.device_of("C0:BA:4D:00:00:09", "wb-0009") == "wb-0009"
    assert anyone.device_of("C0:BA:4D:00:00:09", None) is None, "a band needs a name"
    spool.close()
