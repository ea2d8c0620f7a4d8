"""``vigil gateway`` end to end (issue 7's "done when"): virtual wristbands' notifications
reach storage through the gateway's ordinary bleak code, the broker and ``vigil run``, with
the broker stopped and restarted in the middle, bands dropping their links and sending
malformed notifications, and no reading lost or duplicated.

No Bluetooth here (no ``/dev/vhci``): the bands are bumble peripherals on a virtual link
(``device_sim/ble_air.py``) and bleak runs over bumble (``device_sim/bumble_bleak.py``);
everything above bleak's backend is the code that runs on BlueZ.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from storage.sqlite import SqliteStore
from tests.vigil.service_process import VigilRun, wait_for
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

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
        out, _ = self.process.communicate(timeout=30)
        last = [line for line in out.splitlines() if line.startswith("{")][-1]
        sent: dict[str, dict[str, int]] = json.loads(last)
        return sent


def stored(db: Path) -> tuple[int, int]:
    store = SqliteStore(db)
    try:
        return store.count_readings(), len(store.dead_letters())
    finally:
        store.close()


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
              "--malformed-every", "2")  # fmt: skip
    runner = VigilRun(env)
    gateway = VigilRun(gateway_env, ("gateway",), ready="ready: gateway")
    runner.start()
    gateway.start()
    try:
        wait_for(lambda: stored(db)[0] >= 20, 30, "the first readings stored")
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
            air.process.kill()
        assert gateway.terminate() == 0, "".join(gateway.log[-40:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    log = "".join(gateway.log)
    assert "malformed notification" in log
    assert "unreachable" in log, "the broker's outage was seen"
    assert sum(band["malformed"] for band in sent.values()) > 0
    assert log.count("band wb-0001 connected") >= 2, "reconnected after a drop"
