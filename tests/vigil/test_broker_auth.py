"""Per-device broker identities on a real Mosquitto (issue 10): ``vigil devices``' passwords
and ACLs. A band cannot publish as another or hear another's commands; a gateway speaks
only for its own bands; a wrong or revoked password is refused; and over TLS ``vigil run``
stores what a band sent with its own credentials, while a client trusting another CA cannot
connect at all.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

import schemas
from schemas.topics import alert_topic, gateway_status_topic, telemetry_topic
from storage.sqlite import SqliteStore
from tests.certificates import ca_and_server
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from vigil.broker_auth import BrokerAuth, hash_matches, mosquitto_hash
from vigil.local_servers import MosquittoProcess, find_mosquitto

pytestmark = [pytest.mark.mosquitto]
if find_mosquitto() is None:
    pytest.skip("mosquitto is not installed (.ci/run installs it)", allow_module_level=True)

NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
NOT_AUTHORIZED = 0x87


class Client:
    """A paho MQTT 5 client that keeps what it receives and each PUBACK's reason code."""

    def __init__(self, port: int, user: str, password: str, *, ca: Path | None = None) -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, int] = {}
        self.connack: ReasonCode | None = None
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{user}-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, bytes(m.payload)))
        self.client.on_publish = self._published
        self.client.on_connect = self._connected
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        ends = time.monotonic() + 10
        while self.connack is None and time.monotonic() < ends:
            time.sleep(0.02)

    def _connected(self, *args: object) -> None:
        self.connack = args[3]  # type: ignore[assignment]

    def _published(self, _c: object, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        self.acks[mid] = reason.value

    @property
    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.3)

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish QoS 1; the PUBACK's reason code (0: accepted)."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        ends = time.monotonic() + 5
        while info.mid not in self.acks and time.monotonic() < ends:
            time.sleep(0.01)
        return self.acks[info.mid]

    def drain(self, wait_s: float = 0.8) -> list[str]:
        time.sleep(wait_s)
        found = []
        while not self.received.empty():
            found.append(self.received.get()[0])
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_hash_is_mosquittos_own_format() -> None:
    entry = mosquitto_hash("s3cret", salt=bytes(12))
    assert entry.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    assert hash_matches("s3cret", entry)
    assert not hash_matches("secret", entry)


@pytest.fixture
def auth(tmp_path: Path) -> tuple[BrokerAuth, dict[str, str]]:
    """wb-0001 and wb-0002 (bands), gw-bedside (serving wb-0003), vigil-backend (service)."""
    book = BrokerAuth(tmp_path / "broker-auth")
    passwords = {
        "wb-0001": book.provision("wb-0001", "device", now=NOW),
        "wb-0002": book.provision("wb-0002", "device", now=NOW),
        "gw-bedside": book.provision("gw-bedside", "gateway", bands=("wb-0003",), now=NOW),
        "vigil-backend": book.provision("vigil-backend", "service", now=NOW),
    }
    return book, passwords


def test_a_band_publishes_and_hears_only_as_itself(
    auth: tuple[BrokerAuth, dict[str, str]], tmp_path: Path
) -> None:
    book, passwords = auth
    with MosquittoProcess(tmp_path / "mqtt", auth=book) as broker:
        backend = Client(broker.port, "vigil-backend", passwords["vigil-backend"])
        band = Client(broker.port, "wb-0001", passwords["wb-0001"])
        try:
            assert backend.accepted
            assert band.accepted
            backend.subscribe("vigil/v1/telemetry/+")
            band.subscribe("vigil/v1/alert/#")  # granted, but only its own may arrive
            assert band.publish(telemetry_topic("wb-0001"), b"{}") == 0
            assert band.publish(telemetry_topic("wb-0002"), b"{}") == NOT_AUTHORIZED
            assert band.publish(alert_topic("wb-0002"), b"{}") == NOT_AUTHORIZED
            assert backend.drain() == [telemetry_topic("wb-0001")]
            assert backend.publish(alert_topic("wb-0002"), b"{}") == 0
            assert backend.publish(alert_topic("wb-0001"), b"{}") == 0
            assert band.drain() == [alert_topic("wb-0001")]
        finally:
            backend.close()
            band.close()


def test_a_gateway_speaks_for_its_own_bands_only(
    auth: tuple[BrokerAuth, dict[str, str]], tmp_path: Path
) -> None:
    book, passwords = auth
    with MosquittoProcess(tmp_path / "mqtt", auth=book) as broker:
        backend = Client(broker.port, "vigil-backend", passwords["vigil-backend"])
        gateway = Client(broker.port, "gw-bedside", passwords["gw-bedside"])
        try:
            backend.subscribe("vigil/v1/#")
            assert gateway.publish(gateway_status_topic("gw-bedside"), b"{}") == 0
            assert gateway.publish(telemetry_topic("wb-0003"), b"{}") == 0
            assert gateway.publish(telemetry_topic("wb-0001"), b"{}") == NOT_AUTHORIZED
            assert gateway.publish(gateway_status_topic("gw-other"), b"{}") == NOT_AUTHORIZED
            assert sorted(backend.drain()) == [
                gateway_status_topic("gw-bedside"),
                telemetry_topic("wb-0003"),
            ]
        finally:
            backend.close()
            gateway.close()


def test_a_wrong_or_revoked_password_is_refused(
    auth: tuple[BrokerAuth, dict[str, str]], tmp_path: Path
) -> None:
    book, passwords = auth
    with MosquittoProcess(tmp_path / "mqtt", auth=book) as broker:
        wrong = Client(broker.port, "wb-0001", passwords["wb-0002"])
        nobody = Client(broker.port, "wb-9999", "guess")
        assert not wrong.accepted
        assert not nobody.accepted
        wrong.close()
        nobody.close()
        rotated = book.provision("wb-0002", "device", now=NOW)  # a new password
        assert book.revoke("wb-0001")
        broker.reload()
        time.sleep(0.5)
        old = Client(broker.port, "wb-0002", passwords["wb-0002"])
        new = Client(broker.port, "wb-0002", rotated)
        revoked = Client(broker.port, "wb-0001", passwords["wb-0001"])
        try:
            assert (old.accepted, new.accepted, revoked.accepted) == (False, True, False)
        finally:
            for c in (old, new, revoked):
                c.close()
    assert passwords["wb-0002"] not in book.passwd.read_text()  # only hashes are kept
    assert oct(book.passwd.stat().st_mode & 0o777) == "0o600"


def test_over_tls_the_pipeline_stores_what_a_band_sent_with_its_own_credentials(
    auth: tuple[BrokerAuth, dict[str, str]], tmp_path: Path
) -> None:
    book, passwords = auth
    tls = ca_and_server(tmp_path / "tls")
    with MosquittoProcess(tmp_path / "mqtt", auth=book, tls=tls) as broker:
        assert broker.tls_port is not None
        db = tmp_path / "vigil.db"
        runner = VigilRun(
            {
                "VIGIL_MQTT_PORT": str(broker.tls_port),
                "VIGIL_MQTT_HOST": "localhost",
                "VIGIL_MQTT_USERNAME": "vigil-backend",
                "VIGIL_MQTT_PASSWORD": passwords["vigil-backend"],
                "VIGIL_MQTT_TLS_CA": str(tls.ca),
                "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
                "VIGIL_DATABASE_URL": f"sqlite:///{db}",
            }
        )
        runner.start()
        band = Client(broker.tls_port, "wb-0001", passwords["wb-0001"], ca=tls.ca)
        try:
            assert band.accepted
            batch = vitals_batch(1, device_id="wb-0001", at=dt.datetime.now(dt.UTC))
            assert band.publish(telemetry_topic("wb-0001"), schemas.encode(batch)) == 0
            forged = vitals_batch(1, device_id="wb-0002", at=dt.datetime.now(dt.UTC))
            assert band.publish(telemetry_topic("wb-0002"), schemas.encode(forged)) == 0x87

            def stored(device: str) -> int:
                store = SqliteStore(db)
                try:
                    return store.count_readings(device)
                finally:
                    store.close()

            wait_for(lambda: stored("wb-0001") == 5, 20, "the band's readings stored")
            time.sleep(0.5)
            assert stored("wb-0002") == 0
        finally:
            band.close()
            assert runner.terminate() == 0, "".join(runner.log[-20:])
        assert passwords["vigil-backend"] not in "".join(runner.log)
        stranger = ca_and_server(tmp_path / "other", ca_name="someone else's CA")
        context = ssl.create_default_context(cafile=str(stranger.ca))
        with (
            socket.create_connection(("127.0.0.1", broker.tls_port)) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            context.wrap_socket(raw, server_hostname="localhost")


def test_vigil_devices_provisions_lists_and_revokes(tmp_path: Path) -> None:
    env = {**os.environ, "VIGIL_BROKER_AUTH_DIR": str(tmp_path / "auth")}

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vigil", "devices", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    made = vigil("provision", "wb-0001")
    assert made.returncode == 0, made.stderr
    password = made.stdout.split("password: ")[1].split()[0]
    assert hash_matches(password, BrokerAuth(tmp_path / "auth").identities()[0].password_hash)
    gateway = vigil("provision", "gw-1", "--gateway", "--bands", "wb-0001,wb-0002")
    assert gateway.returncode == 0, gateway.stderr
    listed = vigil("list").stdout
    assert "wb-0001  device" in listed
    assert "gw-1  gateway  wb-0001,wb-0002" in listed
    assert password not in listed
    bad = vigil("provision", "wb/0001")
    assert bad.returncode == 2
    assert "letters, digits" in bad.stderr
    assert vigil("revoke", "wb-0001").returncode == 0
    assert vigil("revoke", "wb-0001").returncode == 1
    assert "topic write vigil/v1/telemetry/wb-0002" in (tmp_path / "auth" / "acl").read_text()
