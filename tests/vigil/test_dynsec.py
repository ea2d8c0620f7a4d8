"""Broker identities through Mosquitto's dynamic-security plugin (issue 10), on a real
Mosquitto loading it: ``vigil devices provision`` and ``revoke`` take effect at once, with
no reload. A band publishes and hears only as itself, a gateway only for its bands, a new
password ends the old one, and a revoked band cannot connect.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.topics import alert_topic, event_topic, gateway_status_topic, telemetry_topic
from tests.vigil.service_process import VigilRun
from tests.vigil.test_broker_auth import NOT_AUTHORIZED, Client
from vigil.dynsec import DynsecAdmin, DynsecError
from vigil.local_servers import MosquittoProcess, find_dynsec_plugin, find_mosquitto

pytestmark = [pytest.mark.mosquitto]
if find_mosquitto() is None or find_dynsec_plugin() is None:
    pytest.skip("Mosquitto's dynamic-security plugin is not installed", allow_module_level=True)

NO_SUBSCRIBERS = 0x10
ADMIN, ADMIN_PASSWORD = "dynsec-admin", "an-admin-password-for-the-test"


def devices(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "devices", *args],
        env=VigilRun(env).env,
        capture_output=True,
        text=True,
        check=False,
    )


def provisioned(env: dict[str, str], *args: str) -> str:
    made = devices(env, "provision", *args)
    assert made.returncode == 0, made.stderr
    assert "dynamic-security plugin" in made.stdout
    return next(x.split(": ", 1)[1] for x in made.stdout.splitlines() if x.startswith("password"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    state = tmp_path / "dynamic-security.json"
    subprocess.run(
        ["mosquitto_ctrl", "dynsec", "init", str(state), ADMIN, ADMIN_PASSWORD],
        check=True,
        capture_output=True,
    )
    with MosquittoProcess(tmp_path / "mqtt", dynsec=state) as running:
        yield running


def test_identities_applied_through_the_plugin_hold_at_once(
    broker: MosquittoProcess, tmp_path: Path
) -> None:
    env = {
        "VIGIL_MQTT_PORT": str(broker.port),
        "VIGIL_BROKER_AUTH_DIR": str(tmp_path / "broker-auth"),
        "VIGIL_DYNSEC_ADMIN_USERNAME": ADMIN,
        "VIGIL_DYNSEC_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    first = provisioned(env, "wb-0001")
    second = provisioned(env, "wb-0002")
    gateway = provisioned(env, "gw-bedside", "--gateway", "--bands", "wb-0003")
    backend = Client(broker.port, "vigil-backend", provisioned(env, "vigil-backend", "--service"))
    band = Client(broker.port, "wb-0001", first)
    other = Client(broker.port, "wb-0002", second)
    bedside = Client(broker.port, "gw-bedside", gateway)
    try:
        assert backend.accepted
        assert band.accepted
        backend.subscribe("vigil/v1/telemetry/+")
        other.subscribe(alert_topic("wb-0002"))
        band.subscribe(alert_topic("wb-0002"))  # another band's commands: refused
        assert band.publish(telemetry_topic("wb-0001"), b"{}") == 0
        assert band.publish(telemetry_topic("wb-0002"), b"{}") == NOT_AUTHORIZED
        assert band.publish(event_topic("wb-0002"), b"{}") == NOT_AUTHORIZED
        assert band.publish(alert_topic("wb-0002"), b"{}") == NOT_AUTHORIZED
        assert bedside.publish(telemetry_topic("wb-0003"), b"{}") == 0
        # Accepted, nobody subscribed: 0x10 "no matching subscribers", not a refusal.
        assert bedside.publish(gateway_status_topic("gw-bedside"), b"{}") == NO_SUBSCRIBERS
        assert bedside.publish(telemetry_topic("wb-0001"), b"{}") == NOT_AUTHORIZED
        assert sorted(backend.drain()) == [telemetry_topic("wb-0001"), telemetry_topic("wb-0003")]
        assert backend.publish(alert_topic("wb-0002"), b"{}") == 0
        assert other.drain() == [alert_topic("wb-0002")]
        assert band.drain(0.2) == []
    finally:
        for client in (backend, band, other, bedside):
            client.close()

    renewed = provisioned(env, "wb-0001")  # a new password: the old one stops working
    assert not Client(broker.port, "wb-0001", first).accepted
    again = Client(broker.port, "wb-0001", renewed)
    assert again.accepted
    again.close()

    revoked = devices(env, "revoke", "wb-0002")
    assert revoked.returncode == 0, revoked.stderr
    assert not Client(broker.port, "wb-0002", second).accepted
    listed = devices(env, "list").stdout
    assert "wb-0002" not in listed
    assert "wb-0001" in listed


def test_a_wrong_admin_gets_a_clear_error(broker: MosquittoProcess) -> None:
    admin = DynsecAdmin("127.0.0.1", broker.port, ADMIN, "not-the-password", timeout_s=2)
    with pytest.raises(DynsecError, match="refused 'dynsec-admin': Not authorized"):
        admin.send([{"command": "listClients"}])
