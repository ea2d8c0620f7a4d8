"""Sleep scoring: by hand, and epoch for epoch against pyActigraphy on its real recording.

pyActigraphy runs in its own virtualenv (``.ci/reference-env``; its pinned dependencies
cannot share ours): the test runs ``pyactigraphy_reference.py`` there as a subprocess and
compares. ``VIGIL_REFERENCE_PYTHON`` names that interpreter (``.ci/run`` sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.actigraphy import ActigraphyError, read_awd
from scoring.sleep import (
    WebsterRules,
    cole_kripke,
    cole_kripke_d,
    deep_light_estimate,
    sadeh,
    webster_rescore,
)

PYACTIGRAPHY_RULES = WebsterRules(surrounded=((6, 10), (10, 20)))  # its code's values


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    python = os.environ.get("VIGIL_REFERENCE_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.skip("VIGIL_REFERENCE_PYTHON unset: run `bash .ci/reference-env` (CI does)")
    script = Path(__file__).with_name("pyactigraphy_reference.py")
    done = subprocess.run([python, str(script)], capture_output=True, check=True, timeout=300)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def string(values: np.ndarray) -> str:
    return "".join("." if np.isnan(v) else str(int(v)) for v in values)


def test_awd_reader_gives_pyactigraphys_counts(reference: dict[str, Any]) -> None:
    recording = read_awd(reference["path"])
    assert recording.epoch_s == 60
    np.testing.assert_array_equal(recording.counts, reference["counts"])


def test_cole_kripke_equals_pyactigraphy_on_every_scored_epoch(reference: dict[str, Any]) -> None:
    ours = cole_kripke(read_awd(reference["path"]).counts)
    theirs = np.asarray(reference["ck"], dtype=float)
    # pyActigraphy's centred 9-minute window leaves its first and last 4 epochs unscored
    # (returned as wake); ours needs 4 before and 2 after. Compare where both score.
    both = ~np.isnan(ours)
    both[:4] = both[-4:] = False
    assert both.sum() > 18_000
    np.testing.assert_array_equal(ours[both], theirs[both])


def test_webster_rescoring_differs_only_where_the_readings_differ(
    reference: dict[str, Any],
) -> None:
    raw = cole_kripke(read_awd(reference["path"]).counts)
    raw_filled = np.where(np.isnan(raw), 0.0, raw)
    ours = webster_rescore(raw_filled, PYACTIGRAPHY_RULES)
    theirs = np.asarray(reference["ck_rescored"], dtype=float)
    differing = np.flatnonzero(ours != theirs)
    n = len(raw)
    for i in differing:
        if i >= n - 4:
            continue  # the unscored tail of pyActigraphy's window
        # Otherwise it must be a sleep bout shorter than a rule's M minutes after at least
        # N wake minutes: we rescore the whole bout, pyActigraphy skips the rule.
        start = i
        while start > 0 and raw_filled[start - 1] == 1:
            start -= 1
        stop = i
        while stop < n and raw_filled[stop] == 1:
            stop += 1
        wake_before = 0
        while start - wake_before - 1 >= 0 and raw_filled[start - wake_before - 1] == 0:
            wake_before += 1
        explained = any(
            wake_before >= min_wake and stop - start < minutes
            for min_wake, minutes in PYACTIGRAPHY_RULES.after_wake
        )
        assert explained, (i, string(raw_filled[i - 20 : i + 10]))
        assert ours[i] == 0  # and we are the more cautious one
        assert theirs[i] == 1
    assert len(differing) <= 0.001 * n


def test_sadeh_equals_pyactigraphy_under_its_reading_and_mostly_under_the_paper(
    reference: dict[str, Any],
) -> None:
    counts = read_awd(reference["path"]).counts
    theirs = np.asarray(reference["sadeh"], dtype=float)
    compat = sadeh(counts, convention="pyactigraphy")
    scored = ~np.isnan(compat)
    np.testing.assert_array_equal(compat[scored], theirs[scored])
    paper = sadeh(counts)
    assert np.mean(paper[scored] == theirs[scored]) > 0.97


def test_cole_kripke_formula_by_hand() -> None:
    counts = np.array([0, 0, 0, 0, 300, 0, 0, 0, 0], dtype=float)
    d = cole_kripke_d(counts)
    # The spike (300 / 30 = 10) at index 4 weighs 230 there, 76 one minute later, ...
    assert d[4] == pytest.approx(0.001 * 230 * 10)
    assert d[5] == pytest.approx(0.001 * 76 * 10)
    assert d[6] == pytest.approx(0.001 * 58 * 10)
    assert string(cole_kripke(counts)) == "....011.."  # 4 before and 2 after needed


def test_webster_rules_by_hand() -> None:
    s = np.array([0.0] * 12 + [1.0] * 6 + [0.0] * 16 + [1.0] * 3 + [0.0] * 16 + [1.0] * 8)
    out = webster_rescore(s)
    # 12 wake -> the first 3 of the 6-minute bout; the 3-minute bout between two 16-minute
    # wake bouts is wake; 16 wake -> the first 4 of the final bout.
    assert string(out) == "0" * 15 + "111" + "0" * 35 + "0000" + "1111"


def test_deep_light_is_labelled_an_estimate() -> None:
    sleep = np.array([1.0] * 8 + [0.0] * 2)
    hr = np.array([50, 52, 60, 61, 62, 63, 49, 64, np.nan, 70], dtype=float)
    rmssd = np.array([60, 55, 30, 31, 32, 33, 70, 20, 40, 10], dtype=float)
    estimate = deep_light_estimate(sleep, hr, rmssd)
    assert "estimate" in estimate.label
    assert estimate.sleep_minutes == 8
    assert estimate.deep_like_minutes == 2  # minutes 0 and 6: lowest HR, highest RMSSD
    assert estimate.light_like_minutes == 6


def test_awd_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "x.AWD"
    bad.write_text("name\n23-Jan-1918\n13:58\n 9 \n0\nV1\nX\n1\n", encoding="utf-8")
    with pytest.raises(ActigraphyError, match="epoch code '9'"):
        read_awd(bad)
    bad.write_text("name\n23-Jan-1918\n13:58\n 4 \n0\nV1\nX\n1\nlots\n", encoding="utf-8")
    with pytest.raises(ActigraphyError, match=r"x\.AWD:9"):
        read_awd(bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 5000), st.just(float("nan"))), max_size=200))
def test_any_counts_give_scores_or_nan_never_an_error(counts: list[float]) -> None:
    for scores in (cole_kripke(counts), sadeh(counts)):
        assert set(np.unique(scores[~np.isnan(scores)])) <= {0.0, 1.0}
        rescored = webster_rescore(scores)
        assert np.all((rescored <= scores) | np.isnan(scores))  # rescoring only adds wake
