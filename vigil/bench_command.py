"""``vigil bench``: run every benchmark in ``bench/`` with its baselines; rewrite BENCHMARKS.md.

Each benchmark runs as its own process, exactly as its section says to reproduce it
(``python -m bench.NAME [ARGS]`` from the project root). It measures its baselines in the
same run and replaces its own section of BENCHMARKS.md (``bench/_report.py``). This
command then rewrites what belongs to the file as a whole:

* a summary table at the top, built from the sections themselves (when each was measured,
  its ratios to its baselines, the command that reproduces it), so it never disagrees
  with them;
* the line saying when and on what machine ``vigil bench`` last ran, and which benchmarks
  failed (their sections, if any, keep their earlier figures and dates);
* sections of benchmarks no longer in ``bench/`` are dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)
SUMMARY_START, SUMMARY_END = "<!-- bench-summary -->", "<!-- /bench-summary -->"
INTRO = (
    "# Benchmarks\n\nEvery figure here was written by the benchmark that measured it, next to "
    "its baseline measured in the same run. `vigil bench` runs them all and rewrites this "
    "file; `python -m bench.NAME` reruns one and refreshes its section.\n\n"
)
_SECTION = re.compile(
    r"<!-- bench:(?P<name>[a-z0-9_]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n", re.DOTALL
)
_ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| (?P<value>[^|]*) \|$", re.MULTILINE)


class BenchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One benchmark run: its final JSON line, or why there is none."""

    name: str
    command: str
    seconds: float
    figures: dict[str, object] = msgspec.field(default_factory=dict)
    error: str | None = None


def project_root() -> Path:
    """The checkout holding ``bench/`` (benchmarks are run from a checkout, not a wheel)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "_report.py").exists():
        raise FileNotFoundError(f"no bench/ beside {root}: run vigil bench from a checkout")
    return root


def benchmark_names(root: Path) -> list[str]:
    """Every benchmark module in ``bench/`` (helpers start with an underscore)."""
    return sorted(p.stem for p in (root / "bench").glob("*.py") if not p.stem.startswith("_"))


def run_benchmark(
    name: str, args: Sequence[str], *, root: Path, output: Path, timeout_s: float
) -> BenchOutcome:
    """Run ``python -m bench.NAME ARGS`` in ``root``; its section goes to ``output``."""
    command = shlex.join(["python", "-m", f"bench.{name}", *args])
    env = {**os.environ, "VIGIL_BENCHMARKS_MD": str(output)}
    started = time.monotonic()
    try:
        run = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", f"bench.{name}", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return BenchOutcome(
            name=name,
            command=command,
            seconds=round(time.monotonic() - started, 1),
            error=f"no result within {timeout_s:.0f} s",
        )
    seconds = round(time.monotonic() - started, 1)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        return BenchOutcome(
            name=name, command=command, seconds=seconds, error=f"exit {run.returncode}: {last}"
        )
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError:
        figures = None
    if not isinstance(figures, dict):
        return BenchOutcome(
            name=name, command=command, seconds=seconds, error="no JSON line at the end"
        )
    return BenchOutcome(name=name, command=command, seconds=seconds, figures=figures)


def _summary(text: str, outcomes: Sequence[BenchOutcome], when: dt.datetime, machine: str) -> str:
    rows = []
    for match in _SECTION.finditer(text):
        body = match["body"]
        measured = re.search(r"Measured (\S+) on", body)
        command = re.search(r"Reproduce: `([^`]+)`", body)
        ratios = ", ".join(
            f"{row['key']} {row['value'].strip()}"
            for row in _ROW.finditer(body)
            if "ratio" in row["key"]
        )
        rows.append(
            f"| [{match['name']}](#{match['name']}) "
            f"| {measured[1] if measured else '?'} | {ratios or '-'} "
            f"| `{command[1] if command else 'python -m bench.' + match['name']}` |"
        )
    failed = [o for o in outcomes if o.error]
    ran = ", ".join(o.name for o in outcomes) or "none"
    status = (
        "; failed: " + "; ".join(f"{o.name} ({o.error})" for o in failed)
        if failed
        else "; all succeeded"
    )
    return (
        f"{SUMMARY_START}\nLast `vigil bench`: {when:%Y-%m-%d %H:%M} UTC on {machine}. "
        f"Ran: {ran}{status}.\n\n| benchmark | measured | ratios to baselines | reproduce |\n"
        f"|---|---|---|---|\n" + "\n".join(rows) + f"\n{SUMMARY_END}\n\n"
    )


def rewrite_benchmarks_md(
    output: Path, outcomes: Sequence[BenchOutcome], known: Sequence[str], machine: str
) -> None:
    """The intro, the summary of every section, then the sections of known benchmarks."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    sections = [m[0] for m in _SECTION.finditer(text) if m["name"] in known]
    body = "".join(sections)
    when = dt.datetime.now(dt.UTC)
    output.write_text(INTRO + _summary(body, outcomes, when, machine) + body, encoding="utf-8")


def run_all(
    names: Sequence[str],
    extra_args: Mapping[str, Sequence[str]],
    *,
    output: Path,
    timeout_s: float,
) -> list[BenchOutcome]:
    """Run the named benchmarks one after another (each has the machine to itself)."""
    root = project_root()
    if str(root) not in sys.path:  # bench/ is not installed with the package
        sys.path.insert(0, str(root))
    from bench._report import machine  # noqa: PLC0415 - bench/ exists only in a checkout

    outcomes = []
    for name in names:
        log.info("%s: running", name)
        outcome = run_benchmark(
            name, extra_args.get(name, ()), root=root, output=output, timeout_s=timeout_s
        )
        log.info("%s: %s (%.1f s)", name, outcome.error or "done", outcome.seconds)
        outcomes.append(outcome)
    rewrite_benchmarks_md(output, outcomes, benchmark_names(root), machine())
    return outcomes
