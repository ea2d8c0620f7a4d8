"""``vigil api`` as a real server beside ``vigil run``: an SOS over MQTT, its ladder read
and acknowledged through the API by a family member the wearer granted, over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from alerting.ladder_store import SqliteLadderStore, ladder_db_path
from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, runner_env
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
