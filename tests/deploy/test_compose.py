"""docker-compose.yml and its Mosquitto files, checked without Docker (none runs here).

The broker config is run for real: a private Mosquitto started with
``deploy/mosquitto/mosquitto.conf`` and ``acl`` (container paths rewritten to a
temporary directory), and the ingest and device users of ``.env.example``.
TimescaleDB itself cannot run here (no registry has it, no Docker engine): the
compose file is checked for the settings Vigil reads, and the TimescaleDB migration
variant is exercised only by its file naming (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ingest.mqtt.source import Inbound, MqttSettings, MqttSource
from vigil.cli import build_parser
from vigil.embedded_broker import free_port
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


def _deploy_config(workdir: Path, port: int) -> Path:
    """The deploy config with container paths moved into ``workdir``."""
    text = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    text = text.replace("/mosquitto/config/acl", str(ROOT / "deploy/mosquitto/acl"))
    text = text.replace("/mosquitto/data/", f"{workdir}/")
    text = re.sub(r"^listener 1883$", f"listener {port} 127.0.0.1", text, flags=re.MULTILINE)
    text = text.replace("log_dest stdout", f"log_dest file {workdir}/mosquitto.log")
    if os.geteuid() == 0:
        text += "\nuser root\n"
    config = workdir / "mosquitto.conf"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def deploy_broker(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists() or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed: apt-get install mosquitto (.ci/run does)")
    port = free_port()
    passwd = tmp_path / "passwd"
    for user, password in (("vigil-ingest", "ingest-pw"), ("wb-0001", "device-pw")):
        flags = ["-c"] if not passwd.exists() else []
        subprocess.run(
            ["mosquitto_passwd", *flags, "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    proc = subprocess.Popen([binary, "-c", str(_deploy_config(tmp_path, port))])
    try:
        import socket
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _publish(port: int, user: str, password: str, topic: str, payload: bytes) -> int:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(user, password)
    rc = client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
    client.disconnect()
    client.loop_stop()
    return int(rc)


async def test_deploy_broker_lets_a_device_publish_only_as_itself(
    deploy_broker: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, _ = deploy_broker
    s = MqttSettings(
        port=port, client_id="vigil-ingest-1", username="vigil-ingest", password="ingest-pw"
    )
    async with MqttSource(s, ["vigil/v1/telemetry/#"]) as source:
        await asyncio.to_thread(
            _publish, port, "wb-0001", "device-pw", "vigil/v1/telemetry/wb-0002", b"forged"
        )
        await asyncio.to_thread(
            _publish, port, "wb-0001", "device-pw", "vigil/v1/telemetry/wb-0001", b"own"
        )
        got: list[Inbound] = []
        async with asyncio.timeout(10):
            while not got:
                got += await source.receive(10, wait_s=0.1)
        await asyncio.sleep(0.3)
        got += await source.receive(10, wait_s=0.1)
        source.ack(got)
    assert [(m.topic, m.payload) for m in got] == [("vigil/v1/telemetry/wb-0001", b"own")]


async def test_deploy_broker_refuses_anonymous_clients(
    deploy_broker: tuple[int, subprocess.Popen[bytes]],
) -> None:
    from ingest.mqtt.errors import NotAuthorized

    port, _ = deploy_broker
    with pytest.raises(NotAuthorized):
        async with MqttSource(MqttSettings(port=port, client_id="anon"), ["#"]):
            pass
