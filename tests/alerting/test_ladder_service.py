"""``vigil run`` with its alert ladder: an SOS over real MQTT, a kill -9 mid-ladder, a restart;
and the same path through Twilio (the project's fake over real HTTP) and back.

Without a Twilio account the sender is the console: each SMS and call is one printed
line, which the test reads from the child's output.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from alerting.ladder_store import SqliteLadderStore, ladder_db_path
from device_sim.fake_twilio import FakeTwilio, Script
from schemas.events import Cancel, Sos
from schemas.topics import alert_topic, event_topic
from tests.vigil.service_process import VigilRun, wait_for
from vigil.embedded_broker import free_port
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


def runner_env(mosquitto: MosquittoProcess, db: Path, **extra: str) -> dict[str, str]:
    """``vigil run``'s settings for the test's broker and database."""
    return {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
        **extra,
    }


def set_contacts(env: dict[str, str], folder: Path, toml: str) -> None:
    """Store Mary's contacts with ``vigil contacts set``, as a carer would."""
    contacts = folder / "mary.toml"
    contacts.write_text(toml)
    subprocess.run(
        [sys.executable, "-m", "vigil", "contacts", "set", "wb-0001", str(contacts)],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
    )


def lines(run: VigilRun, text: str) -> int:
    return sum(text in line for line in run.log)


@pytest.mark.chaos  # kills or restarts mid-stream (docs/security.md)
def test_a_ladder_killed_mid_climb_resumes_after_a_restart_and_repeats_nothing(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    env = runner_env(mosquitto, db)
    set_contacts(env, tmp_path, CONTACTS)
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
    ladders = SqliteLadderStore(ladder_db_path(db))
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


def test_an_sos_over_mqtt_reaches_twilio_and_the_signed_callbacks_climb_the_ladder(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The issue's path end to end: MQTT publish -> ``vigil run`` -> Twilio REST requests
    (the fake) -> signed status and keypad callbacks -> ``vigil run``'s webhooks."""
    sid, token = "AC" + "1" * 32, "e2e-token"
    scripts = {
        "+447700900101": Script(call="voicemail"),  # Anna: a voicemail is no answer
        "+447700900102": Script(call="confirm"),  # Ben presses 1
    }
    db = tmp_path / "vigil.db"
    port = free_port()
    with FakeTwilio(sid, token, scripts, ring_s=0.3) as fake:
        env = runner_env(
            mosquitto,
            db,
            VIGIL_TWILIO_ACCOUNT_SID=sid,
            VIGIL_TWILIO_AUTH_TOKEN=token,
            VIGIL_TWILIO_FROM="+447700900000",
            VIGIL_TWILIO_API_BASE=fake.base_url,
            VIGIL_PUBLIC_URL=f"http://127.0.0.1:{port}",
            VIGIL_WEBHOOK_PORT=str(port),
        )
        set_contacts(env, tmp_path, CONTACTS.replace("call_timeout_s = 4", "call_timeout_s = 60"))
        service = VigilRun(env)
        service.start()
        try:
            publish_sos(mosquitto.port, "wb-0001")
            ladders = SqliteLadderStore(ladder_db_path(db))
            try:

                def phase() -> str:
                    found = ladders.ladders_of("wb-0001")
                    return found[0].phase if found else "none"

                wait_for(lambda: phase() == "acknowledged", 30, "Ben's key press")
            finally:
                ladders.close()
            # Each message and call ends with a status callback, and Ben's key press.
            wait_for(
                lambda: len(fake.callbacks) == len(fake.requests) + 1, 10, "the last callbacks"
            )
        finally:
            assert service.terminate() == 0, "".join(service.log[-30:])
        calls = [r.to for r in fake.requests if r.kind == "Calls"]
        assert calls == ["+447700900101", "+447700900102"]
        texts = [(r.to, r.form["Body"][0]) for r in fake.requests if r.kind == "Messages"]
        assert texts[-1] == (
            "+447700900101",
            "Vigil: +447700900102 is handling the alert for Mary.",
        )
        assert {status for _, _, status in fake.callbacks} == {200}
        assert token not in "".join(service.log), "the auth token never reaches the log"


def test_the_band_is_told_and_a_cancel_on_it_stops_the_ladder_in_its_grace_period(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The band gets the grace command over MQTT; its cancel event stops the ladder."""
    db = tmp_path / "vigil.db"
    env = runner_env(mosquitto, db)
    set_contacts(env, tmp_path, CONTACTS.replace("grace_s = 0", "grace_s = 20"))
    commands: list[dict[str, object]] = []
    band = paho.Client(CallbackAPIVersion.VERSION2, client_id="the-band", protocol=paho.MQTTv5)
    band.on_message = lambda _c, _u, msg: commands.append(json.loads(msg.payload))
    band.connect("127.0.0.1", mosquitto.port)
    band.subscribe(alert_topic("wb-0001"), qos=1)
    band.loop_start()
    service = VigilRun(env)
    service.start()
    try:
        publish_sos(mosquitto.port, "wb-0001")
        wait_for(lambda: len(commands) == 1, 30, "the band's command")
        (command,) = commands
        assert command["schema"] == "vigil.command.v1"
        assert command["kind"] == "grace"
        assert command["cancellable"] is True
        assert "Press the button to cancel" in str(command["text"])
        cancel = schemas.EventV1(
            device_id="wb-0001",
            boot_id=1,
            seq=2,
            occurred_at=dt.datetime.now(dt.UTC),
            event=Cancel(command_id=str(command["command_id"])),
        )
        band.publish(event_topic("wb-0001"), schemas.encode(cancel), qos=1).wait_for_publish(10)
        ladders = SqliteLadderStore(ladder_db_path(db))
        try:
            wait_for(
                lambda: ladders.ladders_of("wb-0001")[0].phase == "cancelled", 30, "the cancel"
            )
            (ladder,) = ladders.ladders_of("wb-0001")
        finally:
            ladders.close()
    finally:
        band.disconnect()
        band.loop_stop()
        assert service.terminate() == 0, "".join(service.log[-30:])
    assert ladder.timeline[-1].detail == "wb-0001 via device"
    assert lines(service, "-> SMS") + lines(service, "-> call") == 0, "nobody else was told"


def test_a_scheduled_reminder_reaches_the_band_in_the_wearers_language(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """A reminder in the stored profile, due this minute, is spoken on the band once."""
    db = tmp_path / "vigil.db"
    env = runner_env(mosquitto, db)
    set_contacts(
        env,
        tmp_path,
        CONTACTS.replace('wearer_name = "Mary"', 'wearer_name = "Mary"\nlanguage = "zh"'),
    )
    this_minute = dt.datetime.now(dt.UTC).strftime("%H:%M")
    profile = tmp_path / "mary-profile.toml"
    reminder = f'kind = "medication"\nat = ["{this_minute}"]\nnote = "蓝色药片"\n'
    profile.write_text(f'tz = "UTC"\n[[reminders]]\n{reminder}')
    subprocess.run(
        [sys.executable, "-m", "vigil", "wearer", "set", "wb-0001", str(profile)],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
    )
    commands: list[dict[str, object]] = []
    band = paho.Client(CallbackAPIVersion.VERSION2, client_id="the-band", protocol=paho.MQTTv5)
    band.on_message = lambda _c, _u, msg: commands.append(json.loads(msg.payload))
    band.connect("127.0.0.1", mosquitto.port)
    band.subscribe(alert_topic("wb-0001"), qos=1)
    band.loop_start()
    service = VigilRun(env)
    service.start()
    try:
        wait_for(lambda: len(commands) == 1, 30, "the reminder on the band")
        assert service.terminate() == 0
        # A restart in the same minute looks back again: the store knows it was sent.
        service = VigilRun(env)
        service.start()
        wait_for(lambda: lines(service, "ready: ingesting") == 1, 30, "the restarted runner")
        time.sleep(2)  # a few scheduler rounds
    finally:
        band.disconnect()
        band.loop_stop()
        assert service.terminate() == 0, "".join(service.log[-30:])
    (command,) = commands
    assert command["kind"] == "reminder_medication"
    assert command["text"] == "Mary，该吃药了：蓝色药片。"  # noqa: RUF001 - Chinese punctuation
    assert command["language"] == "zh"
    assert command["cancellable"] is False


@pytest.mark.chaos  # kills or restarts mid-stream (docs/security.md)
def test_one_process_drives_the_ladders_and_a_standby_takes_over_when_it_dies(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """``vigil alerts`` leads; ``vigil run`` on the same database stands by, only storing;
    killed, the leader's ladder goes on in ``vigil run`` from where it was."""
    db = tmp_path / "vigil.db"
    env = runner_env(mosquitto, db)
    set_contacts(env, tmp_path, CONTACTS.replace("call_timeout_s = 4", "call_timeout_s = 6"))
    alerts = VigilRun(
        {**env, "VIGIL_MQTT_CLIENT_ID": "vigil-alerts-test"},
        ("alerts",),
        ready="driving the alert ladders",
    )
    alerts.start()
    runner = VigilRun(env)
    runner.start()
    try:
        wait_for(lambda: lines(runner, "another process drives the alert ladders") == 1, 30, "")
        publish_sos(mosquitto.port, "wb-0001")
        wait_for(lambda: lines(alerts, "-> call +447700900101") == 1, 30, "Anna called")
        alerts.kill9()
        # The standby leads within RETRY_LEAD_S and goes on: Ben's turn after Anna's.
        wait_for(lambda: lines(runner, "driving the alert ladders") == 1, 30, "the takeover")
        wait_for(lambda: lines(runner, "-> call +447700900102") == 1, 30, "Ben called")
    finally:
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    assert lines(runner, "+447700900101") == 0, "nothing to Anna again"
    assert lines(alerts, "+447700900102") == 0
