"""docker-compose.yml and its Mosquitto files, checked without Docker (none runs here).

The broker config is run for real: a private Mosquitto started with
``deploy/mosquitto/mosquitto.conf`` (container paths rewritten to a temporary directory)
and identities made as docs/security.md says (``vigil devices``), bands over TLS.
TimescaleDB itself cannot run here (no registry has it, no Docker engine): the
compose file is checked for the settings Vigil reads, and the TimescaleDB migration
variant is exercised only by its file naming (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ingest.mqtt.source import Inbound, MqttSettings, MqttSource
from tests.certificates import ca_and_server
from vigil.broker_auth import BrokerAuth
from vigil.cli import build_parser
from vigil.embedded_broker import free_port
from vigil.local_servers import TlsFiles
from vigil.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_sets_only_settings_that_vigil_reads() -> None:
    fields = {f"VIGIL_{name.upper()}" for name in Settings.model_fields}
    for name, service in COMPOSE["services"].items():
        if not name.startswith("vigil"):
            continue
        unknown = {k for k in service.get("environment", {}) if k not in fields}
        assert not unknown, f"{name} sets {unknown}, which Vigil does not read"
    assert COMPOSE["services"]["vigil-run"]["command"] == ["vigil", "run"]


def test_compose_scale_out_profile_runs_the_bridge_and_workers_on_kafka() -> None:
    services = COMPOSE["services"]
    for name in ("kafka", "vigil-bridge", "vigil-worker"):
        assert services[name]["profiles"] == ["scale-out"]
    for name, command in (("vigil-bridge", "bridge"), ("vigil-worker", "worker")):
        assert services[name]["command"] == ["vigil", command]
        build_parser().parse_args([command])  # a command the CLI has
        bootstrap = services[name]["environment"]["VIGIL_KAFKA_BOOTSTRAP"]
        assert bootstrap in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka" in ROOT.joinpath("Dockerfile").read_text(encoding="utf-8")  # the extra


def test_compose_serves_the_api_over_tls_only() -> None:
    api = COMPOSE["services"]["vigil-api"]
    env = api["environment"]
    assert api["command"] == ["vigil", "api"]
    assert api["ports"] == [f"{env['VIGIL_API_PORT']}:{env['VIGIL_API_PORT']}"]
    mount, target, _ = api["volumes"][0].split(":")
    assert (ROOT / mount).is_dir()
    for name in ("VIGIL_API_TLS_CERT", "VIGIL_API_TLS_KEY"):
        assert env[name].startswith(target + "/")
    for secret in ("VIGIL_API_JWT_SECRET", "VIGIL_AUDIT_KEY", "VIGIL_RECORD_KEYS"):
        assert env[secret] == "${" + secret + "}"  # from .env, never in the file
        assert secret in (ROOT / ".env.example").read_text(encoding="utf-8")


def test_compose_mounts_files_that_exist() -> None:
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def _deploy_config(workdir: Path, port: int, tls_port: int, tls: TlsFiles) -> Path:
    """The deploy config with container paths moved into ``workdir`` and test certificates."""
    text = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("/mosquitto/auth/", f"{workdir}/auth/")
    text = text.replace("/mosquitto/tls/ca.crt", str(tls.ca))
    text = text.replace("/mosquitto/tls/mqtt.crt", str(tls.cert))
    text = text.replace("/mosquitto/tls/mqtt.key", str(tls.key))
    text = text.replace("/mosquitto/data/", f"{workdir}/")
    text = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", text, flags=re.MULTILINE)
    text = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", text, flags=re.MULTILINE)
    text = text.replace("log_dest stdout", f"log_dest file {workdir}/mosquitto.log")
    if os.geteuid() == 0:
        text += "\nuser root\n"
    config = workdir / "mosquitto.conf"
    config.write_text(text, encoding="utf-8")
    return config


class DeployBroker(NamedTuple):
    port: int
    tls_port: int
    ca: Path
    passwords: dict[str, str]


@pytest.fixture
def deploy_broker(tmp_path: Path) -> Iterator[DeployBroker]:
    """The deploy config, with identities from ``vigil devices`` (as docs/security.md says)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("mosquitto is not installed: apt-get install mosquitto (.ci/run does)")
    port, tls_port = free_port(), free_port()
    book = BrokerAuth(tmp_path / "auth")
    now = dt.datetime.now(dt.UTC)
    passwords = {
        "vigil-ingest": book.provision("vigil-ingest", "service", now=now),
        "wb-0001": book.provision("wb-0001", "device", now=now),
    }
    tls = ca_and_server(tmp_path / "tls")
    proc = subprocess.Popen([binary, "-c", str(_deploy_config(tmp_path, port, tls_port, tls))])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", tls_port)) == 0:
                    break
            time.sleep(0.05)
        yield DeployBroker(port, tls_port, tls.ca, passwords)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _publish(
    port: int, user: str, password: str, topic: str, payload: bytes, *, ca: Path | None = None
) -> int:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    rc = client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()
    return int(rc)


async def test_deploy_broker_lets_a_device_publish_only_as_itself_over_tls(
    deploy_broker: DeployBroker,
) -> None:
    b = deploy_broker
    s = MqttSettings(
        port=b.port,
        client_id="vigil-ingest-1",
        username="vigil-ingest",
        password=b.passwords["vigil-ingest"],
    )
    band = b.passwords["wb-0001"]
    async with MqttSource(s, ["vigil/v1/telemetry/#"]) as source:
        for topic, payload in (("wb-0002", b"forged"), ("wb-0001", b"own")):
            await asyncio.to_thread(
                functools.partial(_publish, ca=b.ca),
                b.tls_port,
                "wb-0001",
                band,
                f"vigil/v1/telemetry/{topic}",
                payload,
            )
        got: list[Inbound] = []
        async with asyncio.timeout(10):
            while not got:
                got += await source.receive(10, wait_s=0.1)
        await asyncio.sleep(0.3)
        got += await source.receive(10, wait_s=0.1)
        source.ack(got)
    assert [(m.topic, m.payload) for m in got] == [("vigil/v1/telemetry/wb-0001", b"own")]


async def test_deploy_broker_refuses_anonymous_clients(deploy_broker: DeployBroker) -> None:
    from ingest.mqtt.errors import NotAuthorized

    port = deploy_broker.port
    with pytest.raises(NotAuthorized):
        async with MqttSource(MqttSettings(port=port, client_id="anon"), ["#"]):
            pass
