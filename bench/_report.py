"""Shared reporting: machine facts, and the BENCHMARKS.md section of one benchmark."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
from pathlib import Path
from typing import Any

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def benchmarks_md() -> Path:
    """BENCHMARKS.md of the checkout, or ``VIGIL_BENCHMARKS_MD`` (``vigil bench --output``)."""
    return Path(os.environ.get("VIGIL_BENCHMARKS_MD") or BENCHMARKS_MD)


def machine() -> str:
    """A one-line description of where the figures were measured."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text(encoding="utf-8"))
        if match:
            cpu = match.group(1).strip()
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def write_section(name: str, command: str, figures: dict[str, Any], notes: str) -> None:
    """Replace (or add) the benchmark's section in BENCHMARKS.md."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in figures.items())
    section = (
        f"<!-- bench:{name} -->\n## {name}\n\n"
        f"Measured {today} on {machine()}.\n\nReproduce: `{command}`\n\n"
        f"| figure | value |\n|---|---|\n{rows}\n\n{notes.strip()}\n<!-- /bench:{name} -->\n"
    )
    path = benchmarks_md()
    text = (
        path.read_text(encoding="utf-8")
        if path.exists()
        else (
            "# Benchmarks\n\nEvery figure here was written by the benchmark that measured it, "
            "next to its baseline measured in the same run. Rerun a benchmark to refresh "
            "its section.\n\n"
        )
    )
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->\n", re.DOTALL)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text + section
    path.write_text(text, encoding="utf-8")


def final_line(figures: dict[str, Any]) -> None:
    """The one JSON line every benchmark ends with."""
    print(json.dumps(figures, sort_keys=True))
