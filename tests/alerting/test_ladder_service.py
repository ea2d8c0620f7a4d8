"""``vigil run`` with its alert ladder: an SOS over real MQTT, a kill -9 mid-ladder, a restart.

The sender is the console (no Twilio account configured): each SMS and call is one
printed line, which the test reads from the child's output.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from alerting.ladder_store import SqliteLadderStore
from schemas.events import Sos
from schemas.topics import event_topic
from tests.vigil.service_process import VigilRun, wait_for
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

CONTACTS = """
wearer_name = "Mary"
wearer_phone = "+447700900100"
emergency_services = "+447700900999"

[policy]
grace_s = 0
call_timeout_s = 4
services_attempts = 1

[[contacts]]
contact_id = "anna"
name = "Anna"
phone = "+447700900101"
emergency = true

[[contacts]]
contact_id = "ben"
name = "Ben"
phone = "+447700900102"
emergency = true
"""


def publish_sos(port: int, device_id: str) -> None:
    event = schemas.EventV1(
        device_id=device_id,
        boot_id=1,
        seq=1,
        occurred_at=dt.datetime.now(dt.UTC),
        event=Sos(press_duration_s=4.0),
    )
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="sos-band", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(event_topic(device_id), schemas.encode(event), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def lines(run: VigilRun, text: str) -> int:
    return sum(text in line for line in run.log)


def test_a_ladder_killed_mid_climb_resumes_after_a_restart_and_repeats_nothing(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    env = {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
    }
    contacts = tmp_path / "mary.toml"
    contacts.write_text(CONTACTS)
    subprocess.run(
        [sys.executable, "-m", "vigil", "contacts", "set", "wb-0001", str(contacts)],
        env={**VigilRun(env).env},
        check=True,
        capture_output=True,
    )
    first = VigilRun(env)
    first.start()
    publish_sos(mosquitto.port, "wb-0001")
    wait_for(lambda: lines(first, "-> call +447700900101") == 1, 30, "Anna called")
    first.kill9()
    assert lines(first, "-> call +447700900102") == 0, "killed before Ben's turn"

    second = VigilRun(env)
    second.start()
    try:
        # Anna's deadline came while no runner ran: Ben's turn, then the services'.
        wait_for(lambda: lines(second, "-> call +447700900999") == 1, 30, "the services called")
        assert lines(second, "-> call +447700900102") == 1
        assert lines(second, "+447700900101") == 0, "nothing to Anna again"
    finally:
        assert second.terminate() == 0, "".join(second.log[-30:])
    ladders = SqliteLadderStore(db)
    try:
        (ladder,) = ladders.ladders_of("wb-0001")
        sent = ladders.outbox(("sent",))
    finally:
        ladders.close()
    assert ladder.cause == "sos"
    assert [e.what for e in ladder.timeline][:2] == ["opened", "calling Anna"]
    # An SMS and a call to each of Anna, Ben and the services (no grace, so no band
    # command), once each.
    assert [type(item.action).__name__ for item in sent] == ["SendSms", "PlaceCall"] * 3
    assert len({item.key for item in sent}) == 6
