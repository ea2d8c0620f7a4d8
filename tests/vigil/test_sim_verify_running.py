"""``vigil sim verify --running``: a scenario checked against a ``vigil run`` already running
(a real Mosquitto, a child ``vigil run`` process, SQLite), not the embedded pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from storage import open_store
from tests.vigil.service_process import VigilRun
from vigil.local_servers import MosquittoProcess

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

WRONG = """
name = "calm_but_expected_red"
description = "Normal vitals, and an expectation they cannot meet."

[[keyframes]]
at_s = 0
heart_rate_bpm = 72
spo2_pct = 97.5
respiration_rate_per_min = 15
systolic_mmhg = 122
diastolic_mmhg = 78
temp_c = 36.8

[[keyframes]]
at_s = 900
heart_rate_bpm = 72
spo2_pct = 97.5
respiration_rate_per_min = 15
systolic_mmhg = 122
diastolic_mmhg = 78
temp_c = 36.8

[expect]
min_level = "red"
"""


def _verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "sim", "verify", *args, "--running", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=180,
        check=False,
    )


def test_scenarios_against_a_running_pipeline(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'vigil.db'}"
    env = {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_PROFILE_REFRESH_S": "0.5",
        "VIGIL_LOG_LEVEL": "INFO",
    }
    service = VigilRun(env)
    service.start()
    try:
        # The wandering wearer's fence comes from the profile the run stores for it.
        done = _verify(env, "wandering", "--seconds", "4", "--rate", "4")
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        outcome = json.loads(done.stdout.splitlines()[-1])
        assert outcome["ok"], outcome
        assert outcome["alert_sources"] == ["geofence"]
        assert outcome["readings_stored"] > 0
        device = outcome["device_id"]
        assert device.startswith("sim")
        wrong = tmp_path / "wrong.toml"
        wrong.write_text(WRONG, encoding="utf-8")
        done = _verify(env, str(wrong), "--seconds", "2", "--rate", "4")
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        outcome = json.loads(done.stdout.splitlines()[-1])
        assert outcome["problems"] == ["expected at least red, highest was none"]
        assert outcome["device_id"] != device  # each run a wearer of its own
        done = _verify(env, "healthy", "--faults", "broker_restart")
        assert done.returncode == 2
        assert "not with --running" in done.stderr
    finally:
        assert service.terminate() == 0, "".join(service.log[-30:])
    store = open_store(database_url)
    try:
        assert [a.source for a in store.alerts(device)] == ["geofence"]
        assert device in {w.device_id for w in store.wearers_since(0)}
    finally:
        store.close()
