"""``vigil demo --json``: the README's first command, as a user runs it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from device_sim.scenario import load_scenario


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
    # Four bands live for 8 s, and the stressed band's recorded history uploaded first.
    backlog = summary["published_batches"] - 4 * 8
    history_s = load_scenario("stressed").history_s
    assert history_s > 0
    assert backlog == math.ceil(history_s / min(60.0, summary["speed"]))
    assert summary["messages_stored"] == summary["published_batches"]
    assert summary["alerts"]["orange"] + summary["alerts"]["red"] >= 1
    assert set(summary["alerts"]) == {"yellow", "orange", "red"}
    assert summary["expectations"]["wb-0001"]["highest_level"] in ("orange", "red")
    assert all(r["ok"] for r in summary["expectations"].values())
    assert summary["expectations"]["wb-0003"]["index_warnings"] == ["stress"]
    assert summary["expectations"]["wb-0003"]["index_values"] >= 12
    assert "[RED]" in result.stderr or "[ORANGE]" in result.stderr
    # The ladders (vigil/demo_ladder.py): a red one climbs past the scripted phones (no
    # answer, voicemail, busy) to the emergency services, who answer; an orange one
    # tells the emergency contacts by SMS and waits.
    ladders = {(ladder["device"], ladder["cause"]): ladder for ladder in summary["ladders"]}
    news2 = ladders["wb-0001", "news2"]
    red = summary["expectations"]["wb-0001"]["highest_level"] == "red"
    assert news2["phase"] == ("handed_over" if red else "open"), news2["timeline"]
    if red:
        assert "-> call +447700900999" in result.stderr  # the emergency services
        assert "<- +447700900102: voicemail" in result.stderr
    # The healthy wearer's medication reminder, scheduled for the minute the demo began.
    assert ladders["wb-0004", "reminder:medication"]["phase"] == "reminded"
    assert "-> band wb-0004: the wearer of wb-0004, it is time to take your medication" in (
        result.stderr
    )


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


def test_the_stressed_scenario_gives_one_stress_reminder_in_simulation() -> None:
    # Pure: the band's uploaded history and 30 live minutes through the processor.
    import datetime as dt

    from device_sim.wristband import SimulatedWristband
    from schemas import Alert, AlertLevel
    from schemas.scores import IndexRecord
    from stream_processors.device import ProcessorSettings, WearerProfile, step

    scenario = load_scenario("stressed")
    start = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    band = SimulatedWristband("wb-9", scenario, start)
    state = None
    alerts: list[Alert] = []
    indices: list[IndexRecord] = []
    for t in range(-int(scenario.history_s), 1800, 60):
        result = step(state, band.batch(t, t + 60), WearerProfile(), ProcessorSettings())
        state = result.state
        alerts += result.alerts
        indices += result.indices
    assert [(a.level, a.source) for a in alerts] == [(AlertLevel.YELLOW, "stress")]
    # The pulse quickens and its variability drops at the last keyframe; windows (5 min,
    # ``evaluated_at`` at their end) ending by then are calm, those after it tense.
    change = start + dt.timedelta(seconds=scenario.keyframes[-1].at_s)
    stress = [(i.evaluated_at, i.value) for i in indices if i.name == "mental_stress"]
    calm = [v for at, v in stress if at <= change and v is not None]
    tense = [v for at, v in stress if at >= change + dt.timedelta(minutes=5)]
    assert calm
    assert calm[-1] < 85
    assert len(tense) >= 5
    assert all(v is not None and v >= 85 for v in tense)
