"""``vigil demo --json``: the README's first command, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_json_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "demo", "--seconds", "8", "--devices", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["readings_stored"] > 0
    assert summary["dead_letters"] == 0
    assert summary["messages_stored"] == summary["published_batches"] == 4 * 8
    assert summary["alerts"]["orange"] + summary["alerts"]["red"] >= 1
    assert set(summary["alerts"]) == {"yellow", "orange", "red"}
    assert summary["expectations"]["wb-0001"]["highest_level"] in ("orange", "red")
    assert all(r["ok"] for r in summary["expectations"].values())
    assert "[RED]" in result.stderr or "[ORANGE]" in result.stderr


def test_the_wandering_scenario_breaches_its_home_fence_in_simulation() -> None:
    # Pure: the simulated band and the processor, no broker. The scenario leaves home at
    # 10 min and comes back by 25 min; the fence must see both, and nothing above orange.
    import datetime as dt

    from device_sim.scenario import load_scenario
    from device_sim.wristband import SimulatedWristband
    from schemas import Alert, AlertLevel
    from stream_processors.device import ProcessorSettings, step
    from vigil.demo import wearer_profile

    scenario = load_scenario("wandering")
    band = SimulatedWristband("wb-9", scenario, dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    profile, settings = wearer_profile(scenario), ProcessorSettings()
    state = None
    alerts: list[Alert] = []
    for t in range(0, 1800, 10):
        result = step(state, band.batch(t, t + 10), profile, settings)
        state = result.state
        alerts += result.alerts
    fence = [(a.level, a.summary.split(":")[0]) for a in alerts if a.source == "geofence"]
    assert fence == [
        (AlertLevel.ORANGE, "Fence breached"),
        (AlertLevel.NONE, "Fence respected again"),
    ]
    assert max(a.level for a in alerts) == AlertLevel.ORANGE
