"""``vigil bench``: runs benchmarks as their sections say, and rewrites BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EARLIER = """# Benchmarks

An old intro.

<!-- bench:schema_decode -->
## schema_decode

Measured 2020-01-01 on an old machine.

Reproduce: `python -m bench.schema_decode --rounds 1`

| figure | value |
|---|---|
| `vitals_msgspec_ratio_to_baseline` | 99.0 |

Old notes.
<!-- /bench:schema_decode -->
<!-- bench:scoring -->
## scoring

Measured 2026-11-22 on somewhere.

Reproduce: `python -m bench.scoring`

| figure | value |
|---|---|
| `news2_ratio_to_baseline` | 19.2 |
| `news2_vigil_us` | 1.0 |
<!-- /bench:scoring -->
<!-- bench:retired -->
## retired
A benchmark since removed from bench/.
<!-- /bench:retired -->
"""


def _vigil_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_list_names_every_benchmark_module() -> None:
    run = _vigil_bench("--list")
    assert run.returncode == 0
    expected = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem[0] != "_")
    assert run.stdout.split() == expected
    assert "schema_decode" in expected


def test_a_run_rewrites_its_section_the_summary_and_drops_retired_sections(
    tmp_path: Path,
) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(EARLIER, encoding="utf-8")
    run = _vigil_bench(
        "schema_decode", "--args", "schema_decode=--rounds 40", "--output", str(output)
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["benchmarks_failed"] == []
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n")
    assert "An old intro" not in text
    assert "retired" not in text  # no such benchmark in bench/ any more
    section = text[text.index("<!-- bench:schema_decode -->") :]
    section = section[: section.index("<!-- /bench:schema_decode -->")]
    assert "2020-01-01" not in section
    assert "Reproduce: `python -m bench.schema_decode --rounds 40`" in section
    ratio = next(
        line.split("|")[2].strip()
        for line in section.splitlines()
        if "`vitals_msgspec_ratio_to_baseline`" in line
    )
    assert ratio != "99.0"
    # The summary is built from the sections: the fresh ratio, and scoring's old one.
    summary = text[text.index("<!-- bench-summary -->") : text.index("<!-- /bench-summary -->")]
    assert "Ran: schema_decode; all succeeded." in summary
    assert f"vitals_msgspec_ratio_to_baseline {ratio}" in summary
    assert "| [scoring](#scoring) | 2026-11-22 | news2_ratio_to_baseline 19.2 |" in summary
    assert "news2_vigil_us" not in summary  # ratios only
    assert "`python -m bench.schema_decode --rounds 40`" in summary
    assert text.index("<!-- /bench-summary -->") < text.index("<!-- bench:schema_decode -->")


def test_a_failing_benchmark_fails_the_run_and_keeps_its_earlier_section(
    tmp_path: Path,
) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(EARLIER, encoding="utf-8")
    run = _vigil_bench(
        "schema_decode", "--args", "schema_decode=--no-such-flag", "--output", str(output)
    )
    assert run.returncode == 1
    assert json.loads(run.stdout.strip().splitlines()[-1])["benchmarks_failed"] == ["schema_decode"]
    text = output.read_text(encoding="utf-8")
    assert "Measured 2020-01-01 on an old machine." in text  # untouched, dated as it was
    assert "failed: schema_decode (exit 2:" in text


def test_unknown_names_are_refused_before_anything_runs(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    run = _vigil_bench("no_such_bench", "--output", str(output))
    assert run.returncode == 2
    assert "unknown benchmark" in run.stderr
    assert not output.exists()
