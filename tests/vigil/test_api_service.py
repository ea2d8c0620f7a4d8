"""``vigil api`` as a real server beside ``vigil run``: an SOS over MQTT, its ladder read
and acknowledged through the API by a family member the wearer granted, over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from alerting.ladder_store import SqliteLadderStore, ladder_db_path
from schemas.topics import telemetry_topic
from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, runner_env
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

SECRET = "an-api-secret-of-at-least-32-bytes!"


def token(env: dict[str, str], *args: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "vigil", "api", "token", *args],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
        text=True,
    )
    return made.stdout.strip()


def set_contacts(env: dict[str, str], tmp_path: Path, text: str) -> None:
    """``vigil contacts set`` for Mary's band."""
    contacts = tmp_path / "mary.toml"
    contacts.write_text(text)
    subprocess.run(
        [sys.executable, "-m", "vigil", "contacts", "set", "wb-0001", str(contacts)],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
    )


def test_a_granted_family_member_acknowledges_an_sos_through_the_api(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "vigil.db"
    port = free_port()
    env = runner_env(mosquitto, db, VIGIL_API_JWT_SECRET=SECRET, VIGIL_API_PORT=str(port))
    contacts = tmp_path / "mary.toml"
    contacts.write_text(CONTACTS.replace("call_timeout_s = 4", "call_timeout_s = 60"))
    subprocess.run(
        [sys.executable, "-m", "vigil", "contacts", "set", "wb-0001", str(contacts)],
        env=VigilRun(env).env,
        check=True,
        capture_output=True,
    )
    mary = token(env, "--sub", "mary", "--role", "wearer", "--device", "wb-0001")
    anna = token(env, "--sub", "anna", "--role", "family", "--name", "Anna")
    runner = VigilRun(env)
    api = VigilRun(env, ("api",), ready="ready: the API")
    runner.start()
    api.start()
    base = f"http://127.0.0.1:{port}"
    try:
        publish_sos(mosquitto.port, "wb-0001")
        wait_for(lambda: lines(runner, "-> call +447700900101") == 1, 30, "Anna called")
        with httpx.Client(base_url=base, timeout=10) as http:
            as_anna = {"Authorization": f"Bearer {anna}"}
            # Before Mary's grant, Anna sees nothing of her.
            assert http.get("/v1/wearers/wb-0001/ladders", headers=as_anna).status_code == 404
            granted = http.post(
                "/v1/wearers/wb-0001/grants",
                json={"viewer": "anna", "categories": ["alerts"]},
                headers={"Authorization": f"Bearer {mary}"},
            )
            assert granted.status_code == 201, granted.text
            (ladder,) = http.get("/v1/wearers/wb-0001/ladders", headers=as_anna).json()
            assert (ladder["cause"], ladder["phase"]) == ("sos", "calling")
            acked = http.post(f"/v1/ladders/{ladder['ladder_id']}/ack", headers=as_anna)
            assert acked.status_code == 202, acked.text

            def phase() -> str:
                shown = http.get("/v1/wearers/wb-0001/ladders", headers=as_anna).json()
                return str(shown[0]["phase"])

            wait_for(lambda: phase() == "acknowledged", 30, "the ladder acknowledged")
            again = http.post(f"/v1/ladders/{ladder['ladder_id']}/ack", headers=as_anna)
            assert again.status_code == 409
        # Those told hear who is handling it; nobody else is called.
        wait_for(lambda: lines(runner, "Anna is handling the alert") >= 1, 30, "handled")
    finally:
        assert api.terminate() == 0, "".join(api.log[-30:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    assert lines(runner, "-> call +447700900102") == 0, "Ben was not called"
    ladders = SqliteLadderStore(ladder_db_path(db))
    try:
        (done,) = ladders.ladders_of("wb-0001")
        assert ladders.pending_requests() == []
    finally:
        ladders.close()
    assert done.timeline[-1].what == "acknowledged"
    assert done.timeline[-1].detail == "Anna via api"
    assert SECRET not in "".join(api.log + runner.log)


def after_the_case(env: dict[str, str], log: str) -> None:
    """The audit chain holds; no secret reached a log."""
    verified = subprocess.run(
        [sys.executable, "-m", "vigil", "audit", "verify"],
        env=VigilRun(env).env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (SECRET in log, env["VIGIL_AUDIT_KEY"] in log) == (False, False)


def assert_sealed(db: Path, plain: str) -> None:
    """The request (its reason, history and report) and the readings are sealed."""
    with sqlite3.connect(db) as raw:
        (body,) = raw.execute("SELECT body FROM consultations").fetchone()
        readings = raw.execute("SELECT spo2_pct, temp_c FROM readings").fetchall()
        (batch,) = raw.execute("SELECT sealed FROM sealed_batches").fetchone()
    assert body.startswith("vg1:k1:")
    assert plain not in body
    assert (len(readings), set(readings)) == (5, {(None, None)})
    assert batch.startswith("vg1:k1:")
    assert "96.5" not in batch


def sealing_env(mosquitto: MosquittoProcess, db: Path, port: int, tmp_path: Path) -> dict[str, str]:
    """Both processes' settings, with audit and record keys; Mary's contacts set."""
    env = runner_env(mosquitto, db, VIGIL_API_JWT_SECRET=SECRET, VIGIL_API_PORT=str(port))
    env["VIGIL_AUDIT_KEY"] = "an-audit-key-of-at-least-32-bytes!!"
    env["VIGIL_RECORD_KEYS"] = "k1:" + base64.b64encode(b"r" * 32).decode()
    set_contacts(env, tmp_path, CONTACTS)
    return env


def assert_vitals_read_back(http: httpx.Client, headers: dict[str, str]) -> None:
    """Stored sealed by ``vigil run``, opened for the wearer by ``vigil api``."""

    def vitals() -> list[dict[str, object]]:
        page = http.get("/v1/wearers/wb-0001/records/vitals", headers=headers)
        assert page.status_code == 200, page.text
        found: list[dict[str, object]] = page.json()["records"]
        return found

    wait_for(lambda: len(vitals()) == 5, 30, "the vitals were stored")
    by_type = {r["type"]: r["values"] for r in vitals()}
    assert by_type["spo2"] == {"spo2_pct": 96.5}
    assert by_type["heart_rate"] == {
        "heart_rate_bpm": 72,
        "rr_ms": [830.0, 845.5],
        "sensor_contact": None,
    }


def publish_vitals(port: int, batch: schemas.TelemetryBatchV1) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="vitals-band", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    topic = telemetry_topic(batch.device_id)
    client.publish(topic, schemas.encode(batch), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_an_sos_from_the_band_becomes_a_consultation_worked_to_its_report(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    """The issue's "done when": a red alert becomes a request that a clinician reviews,
    schedules, runs live then recorded, and closes with a report, all through the API."""
    db = tmp_path / "vigil.db"
    port = free_port()
    env = sealing_env(mosquitto, db, port, tmp_path)
    admin, reviewer, doctor, mary = (
        token(env, *args)
        for args in (
            ("--sub", "admin-a", "--role", "admin", "--tenant", "clinic-a"),
            ("--sub", "rev-a", "--role", "reviewer", "--tenant", "clinic-a"),
            ("--sub", "dr-li", "--role", "clinician", "--tenant", "clinic-a"),
            ("--sub", "mary", "--role", "wearer", "--device", "wb-0001"),
        )
    )
    runner = VigilRun(env)
    api = VigilRun(env, ("api",), ready="ready: the API")
    runner.start()
    api.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            def as_(who: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {who}"}

            enrolled = http.put("/v1/wearers/wb-0001/enrolment", headers=as_(admin))
            assert enrolled.status_code == 200, enrolled.text
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            publish_vitals(mosquitto.port, vitals_batch(1, device_id="wb-0001", at=now, spo2=96.5))
            publish_sos(mosquitto.port, "wb-0001")

            assert_vitals_read_back(http, as_(mary))

            def queue() -> list[dict[str, object]]:
                found: list[dict[str, object]] = http.get(
                    "/v1/consultations", headers=as_(reviewer)
                ).json()
                return found

            wait_for(lambda: len(queue()) == 1, 30, "the SOS raised a consultation")
            (request,) = queue()
            assert (request["priority"], request["state"]) == ("green", "submitted")
            cid = request["consult_id"]

            def act(who: str, action: str, **body: object) -> dict[str, object]:
                done = http.post(f"/v1/consultations/{cid}/{action}", json=body, headers=as_(who))
                assert done.status_code == 200, (action, done.text)
                answer: dict[str, object] = done.json()
                return answer

            act(reviewer, "review")
            act(reviewer, "approve", doctor="dr-li", planned_at="2030-01-01T09:00:00Z")
            act(doctor, "start", mode="live")
            act(mary, "join")
            act(doctor, "switch_mode", mode="recorded")
            ended = act(doctor, "end", diagnosis="fall, no injury", medical_record="observed")
            # The notices went by SMS too, sent by `vigil run` through the alerts' sender.
            wait_for(lambda: lines(runner, "Vigil: The consultation has ended") >= 1, 30, "texted")
            assert (ended["state"], ended["viewers"]) == ("ended", [])
            refused = http.post(f"/v1/consultations/{cid}/start", json={}, headers=as_(doctor))
            assert (refused.status_code, refused.json()["allowed"]) == (409, [])
            bundle = http.get(f"/v1/consultations/{cid}/bundle", headers=as_(doctor)).json()
            kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
            assert {"Patient", "Flag", "ServiceRequest", "Encounter"} <= kinds
            audit = http.get("/v1/wearers/wb-0001/audit", headers=as_(mary)).json()
            assert {"review", "approve", "start", "end"} <= {e["action"] for e in audit}
    finally:
        assert api.terminate() == 0, "".join(api.log[-30:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    after_the_case(env, "".join(api.log + runner.log))
    assert_sealed(db, "fall, no injury")
