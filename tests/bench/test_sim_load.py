"""``python -m bench.sim_load`` on a tiny fleet: it runs end to end and reports its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.local_servers import find_mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
def test_the_load_benchmark_reports_rates_and_writes_its_section(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    tiny = ["--devices", "6", "--rate", "20", "--seconds", "1", "--processes", "2"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.sim_load", *tiny],
        cwd=ROOT,
        env={**os.environ, "VIGIL_BENCHMARKS_MD": str(output)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["messages"] == 120  # 6 bands x 20 a second x 1 s
    assert figures["target_messages_per_s"] == 120
    assert figures["broker_baseline_messages_per_s"] > 0
    assert 0 < figures["sim_2_processes_messages_per_s"] <= 120 * 1.05
    assert figures["ratio_to_baseline"] == pytest.approx(
        figures["sim_2_processes_messages_per_s"] / figures["broker_baseline_messages_per_s"],
        rel=0.05,
    )
    section = output.read_text(encoding="utf-8")
    assert "<!-- bench:sim_load -->" in section
    assert "python -m bench.sim_load --devices 6 --rate 20 --seconds 1 --processes 2" in section
