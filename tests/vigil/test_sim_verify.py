"""``vigil sim verify``: every built-in scenario played on the embedded pipeline (broker,
ingest, processors, SQLite, ladders) meets its declared outcome, and a run that does not
says what differed and exits non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from device_sim.faults import FAULT_NAMES
from device_sim.scenario import builtin_names
from vigil.local_servers import find_mosquitto

pytestmark = pytest.mark.slow

# broker_restart runs a Mosquitto of the run's own (amqtt keeps no session over a restart).
HAS_MOSQUITTO = find_mosquitto() is not None
EVERY_FAULT = "all" if HAS_MOSQUITTO else ",".join(f for f in FAULT_NAMES if f != "broker_restart")


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "sim", "verify", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenario_meets_its_expected_outcome(name: str) -> None:
    """Without faults, and with every fault at once (clock skew, duplicate bursts,
    reordering, a gateway offline then backfilling, malformed payloads, the broker
    restarted): the two runs go side by side, each with its own broker and database."""
    command = [sys.executable, "-m", "vigil", "sim", "verify", name, "--json"]
    runs = {
        faults: subprocess.Popen(
            [*command, "--seconds", "3", "--rate", "4", "--faults", faults],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for faults in ("", EVERY_FAULT)
    }
    for faults, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, f"faults={faults!r}\n{out[-2000:]}{err[-2000:]}"
        outcome = json.loads(out.splitlines()[-1])
        assert (outcome["scenario"], outcome["ok"], outcome["problems"]) == (name, True, [])
        assert outcome["messages_stored"] == outcome["messages_distinct"] > 0
        if outcome["broker_restarts"]:  # one in flight may be dead-lettered twice
            malformed = outcome["malformed_sent"]
            assert malformed <= outcome["dead_letters"] <= 2 * malformed
        else:
            assert outcome["dead_letters"] == outcome["malformed_sent"]
        assert outcome["broker_restarts"] == (1 if faults == "all" else 0)
        if faults:
            assert outcome["malformed_sent"] > 0
            sent, distinct = outcome["messages_sent"], outcome["messages_distinct"]
            assert sent > distinct + outcome["malformed_sent"], "copies were sent"
        else:
            assert outcome["dead_letters"] == 0


def test_the_builtin_scenarios_cover_what_testers_need() -> None:
    # The list: AF, hypoxia, fever, bradycardia, a fall without movement, SOS,
    # wandering, off-wrist, a dying battery and a quiet healthy day.
    wanted = {"af_episode", "hypoxia", "fever", "bradycardia", "fall_still", "sos_press"}
    wanted |= {"wandering", "off_wrist", "dying_battery", "healthy"}
    assert wanted <= set(builtin_names())


WRONG = """
name = "wrong"
description = "Normal vitals, an SOS at 10 min, the band off at 11, and expectations unmet."

[wearer]
at_risk = true

[[keyframes]]
at_s = 0
heart_rate_bpm = 72
spo2_pct = 97.5
respiration_rate_per_min = 15
systolic_mmhg = 122
diastolic_mmhg = 78
temp_c = 36.8

[[keyframes]]
at_s = 2400
heart_rate_bpm = 72
spo2_pct = 97.5
respiration_rate_per_min = 15
systolic_mmhg = 122
diastolic_mmhg = 78
temp_c = 36.8

[[events]]
at_s = 600
kind = "sos"

[[events]]
at_s = 660
kind = "off_wrist"

[expect]
alerts = [
    { source = "news2", level = "red" },
    { source = "sos", level = "red", within_s = 60 },
    { source = "signal_lost", level = "yellow", mentions = "battery was low" },
]
never = ["sos"]
"""


def test_a_run_that_differs_says_what_and_exits_non_zero(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.toml"
    scenario.write_text(WRONG)
    done = verify(str(scenario), "--seconds", "5", "--rate", "4")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "wrong: NOT as expected" in out
    assert "expected a red news2 alert, none was raised" in out
    assert "expected a red sos alert within 60 s, the first came after 600 s" in out
    assert "expected no sos alert, got red" in out
    # A signal lost came, for the band taken off, but not for the cause expected.
    assert "expected a yellow signal_lost alert mentioning 'battery was low'" in out


def test_an_unknown_scenario_or_fault_is_refused() -> None:
    done = verify("no-such-scenario")
    assert done.returncode == 2
    assert "unknown scenario" in done.stderr
    done = verify("healthy", "--faults", "gremlins")
    assert done.returncode == 2
    assert "unknown faults ['gremlins']" in done.stderr


def test_a_broker_restart_without_mosquitto_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Mosquitto is installed here: its absence is simulated where the command looks for it.
    from vigil import local_servers
    from vigil.cli import main

    monkeypatch.setattr(local_servers, "find_mosquitto", lambda: None)
    code = main(["sim", "verify", "healthy", "--faults", "broker_restart", "--seconds", "1"])
    assert code == 2
    assert "the broker_restart fault needs Mosquitto" in capsys.readouterr().err
