"""Chaos (issue 10): ``vigil api`` killed with SIGKILL mid-stream, beside ``vigil run``.

An SOS raises a consultation request in the API's background intake and a family member
acknowledges the ladder; the API is killed at once and started again. What it accepted
holds: the acknowledgement (queued durably before the 202) stops the ladder, the request
exists once (the intake's cursor does not replay it), nobody else is called, and the
audit chain still verifies.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, set_contacts
from tests.vigil.service_process import VigilRun, wait_for
from tests.vigil.test_api_service import sealing_env, token
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.chaos, pytest.mark.mosquitto, pytest.mark.slow]


def test_a_killed_api_loses_no_acknowledgement_and_raises_no_second_request(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    port = free_port()
    env = sealing_env(mosquitto, tmp_path / "vigil.db", port, tmp_path)
    set_contacts(env, tmp_path, CONTACTS.replace("call_timeout_s = 4", "call_timeout_s = 60"))
    admin, reviewer, mary, anna = (
        {"Authorization": "Bearer " + token(env, *args)}
        for args in (
            ("--sub", "admin-a", "--role", "admin", "--tenant", "clinic-a"),
            ("--sub", "rev-a", "--role", "reviewer", "--tenant", "clinic-a"),
            ("--sub", "mary", "--role", "wearer", "--device", "wb-0001"),
            ("--sub", "anna", "--role", "family", "--name", "Anna"),
        )
    )
    runner = VigilRun(env)
    api = VigilRun(env, ("api",), ready="ready: the API")
    runner.start()
    api.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.put("/v1/wearers/wb-0001/enrolment", headers=admin).status_code == 200
            granted = http.post(
                "/v1/wearers/wb-0001/grants",
                json={"viewer": "anna", "categories": ["alerts"]},
                headers=mary,
            )
            assert granted.status_code == 201, granted.text
            publish_sos(mosquitto.port, "wb-0001")

            def queue() -> list[dict[str, object]]:
                found: list[dict[str, object]] = http.get(
                    "/v1/consultations", headers=reviewer
                ).json()
                return found

            wait_for(lambda: len(queue()) == 1, 30, "the SOS raised a consultation")
            wait_for(lambda: lines(runner, "-> call +447700900101") == 1, 30, "Anna called")
            (ladder,) = http.get("/v1/wearers/wb-0001/ladders", headers=anna).json()
            acked = http.post(f"/v1/ladders/{ladder['ladder_id']}/ack", headers=anna)
            assert acked.status_code == 202, acked.text
            api.kill9()  # at once: whatever it had in hand is gone
            api = VigilRun(env, ("api",), ready="ready: the API")
            api.start()

            def phase() -> str:
                shown = http.get("/v1/wearers/wb-0001/ladders", headers=anna).json()
                return str(shown[0]["phase"])

            wait_for(lambda: phase() == "acknowledged", 30, "the ladder acknowledged")
            wait_for(lambda: len(queue()) >= 1, 10, "the request still there")
            assert len(queue()) == 1, queue()
    finally:
        assert api.terminate() == 0, "".join(api.log[-30:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    assert lines(runner, "-> call +447700900102") == 0, "Ben was not called"
    verified = subprocess.run(
        [sys.executable, "-m", "vigil", "audit", "verify"],
        env=VigilRun(env).env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
