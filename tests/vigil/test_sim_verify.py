"""``vigil sim verify``: every built-in scenario played on the embedded pipeline (broker,
ingest, processors, SQLite, ladders) meets its declared outcome, and a run that does not
says what differed and exits non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from device_sim.scenario import builtin_names

pytestmark = pytest.mark.slow


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
    reordering, a gateway offline then backfilling, malformed payloads): the two runs go
    side by side, each with its own embedded broker and database."""
    command = [sys.executable, "-m", "vigil", "sim", "verify", name, "--json"]
    runs = {
        faults: subprocess.Popen(
            [*command, "--seconds", "3", "--rate", "4", "--faults", faults],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for faults in ("", "all")
    }
    for faults, run in runs.items():
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, f"faults={faults!r}\n{out[-2000:]}{err[-2000:]}"
        outcome = json.loads(out.splitlines()[-1])
        assert (outcome["scenario"], outcome["ok"], outcome["problems"]) == (name, True, [])
        assert outcome["messages_stored"] == outcome["messages_distinct"] > 0
        assert outcome["dead_letters"] == outcome["malformed_sent"]
        if faults:
            assert outcome["malformed_sent"] > 0
            sent, distinct = outcome["messages_sent"], outcome["messages_distinct"]
            assert sent > distinct + outcome["malformed_sent"], "copies were sent"
        else:
            assert outcome["dead_letters"] == 0


def test_the_builtin_scenarios_cover_what_testers_need() -> None:
    assert {"healthy", "hypoxia", "fever", "bradycardia", "af_episode", "sos_press"} <= set(
        builtin_names()
    )


WRONG = """
name = "wrong"
description = "Normal vitals, an SOS at 10 minutes, and expectations they cannot meet."

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

[[events]]
at_s = 600
kind = "sos"

[expect]
alerts = [
    { source = "news2", level = "red" },
    { source = "sos", level = "red", within_s = 60 },
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


def test_an_unknown_scenario_or_fault_is_refused() -> None:
    done = verify("no-such-scenario")
    assert done.returncode == 2
    assert "unknown scenario" in done.stderr
    done = verify("healthy", "--faults", "gremlins")
    assert done.returncode == 2
    assert "unknown faults ['gremlins']" in done.stderr
