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
