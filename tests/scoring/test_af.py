"""AF detectors: published properties on built RR series, and the CinC 2017 evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scoring.af import COSEN_THRESHOLD, cosen, dash

RNG = np.random.default_rng(2017)


def sinus(n: int, mean_ms: float = 850.0) -> np.ndarray:
    """Regular rhythm with respiratory sinus arrhythmia (a few percent, smooth)."""
    wave = 25.0 * np.sin(np.arange(n) * 2 * np.pi / 4.5)
    return np.asarray(mean_ms + wave + RNG.normal(0, 6, n), dtype=np.float64)


def fibrillation(n: int) -> np.ndarray:
    """Irregularly irregular: independent intervals, 400-1000 ms."""
    return np.asarray(RNG.uniform(400, 1000, n), dtype=np.float64)


def test_dash_calls_random_intervals_af_and_sinus_rhythm_not() -> None:
    af, nsr = dash(fibrillation(128)), dash(sinus(128))
    assert af is not None
    assert af.af
    assert nsr is not None
    assert not nsr.af
    # A random series has 2/3 turning points (Dash's window 0.54-0.77 is built round it).
    assert af.turning_point_ratio == pytest.approx(2 / 3, abs=0.1)


def test_dash_trims_the_eight_longest_and_shortest_intervals() -> None:
    rr = sinus(128)
    spiked = rr.copy()
    spiked[::16] = 2500.0  # 8 long pauses: removed by the trim
    base, trimmed = dash(rr), dash(spiked)
    assert base is not None
    assert trimmed is not None
    assert not trimmed.af
    assert trimmed.nrmssd == pytest.approx(base.nrmssd, rel=0.25)


def test_cosen_separates_fibrillation_from_sinus_rhythm_at_minus_1_4() -> None:
    af = [cosen(fibrillation(40)) for _ in range(20)]
    nsr = [cosen(sinus(40)) for _ in range(20)]
    assert all(v is not None and v > COSEN_THRESHOLD for v in af)
    assert all(v is not None and v < COSEN_THRESHOLD for v in nsr)


def brute_force_cosen(rr_ms: list[float]) -> float:
    """Lake & Moorman 2011 written out loop by loop, as an independent check."""
    rr = [v / 1000 for v in rr_ms]
    n = len(rr)
    r = 0.030
    while True:
        a = sum(
            1
            for i in range(n - 2)
            for j in range(i + 1, n - 2)
            if abs(rr[i] - rr[j]) <= r + 1e-12 and abs(rr[i + 1] - rr[j + 1]) <= r + 1e-12
        )
        if a >= 5:
            break
        r += 0.010
    b = sum(1 for i in range(n - 1) for j in range(i + 1, n - 1) if abs(rr[i] - rr[j]) <= r + 1e-12)
    return float(-np.log(a / b) + np.log(2 * r) - np.log(np.mean(rr)))


@pytest.mark.parametrize(
    "rr",
    [
        [600.0, 700.0, 800.0, 900.0] * 5,  # r stays at 30 ms (exact repeats)
        [500.0 + 37.0 * ((i * 7) % 13) for i in range(16)],  # r must grow past 30 ms
        list(RNG.uniform(400, 1000, 30)),
    ],
)
def test_cosen_matches_a_loop_by_loop_reading_of_the_paper(rr: list[float]) -> None:
    assert cosen(rr) == pytest.approx(brute_force_cosen(rr))


def test_short_series_give_none_not_an_error() -> None:
    assert cosen([800.0] * 11) is None
    assert dash([800.0, 810.0, 790.0]) is None


@settings(max_examples=100, deadline=None)
@example(np.full(12, 5e-324))  # intervals that vanish in seconds (found by Hypothesis in CI)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 200),
        elements=st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False),
            st.just(float("nan")),
            st.just(float("inf")),
        ),
    )
)
def test_detectors_never_raise_on_any_input(rr: np.ndarray) -> None:
    value = cosen(rr)
    assert value is None or np.isfinite(value)
    features = dash(rr)
    assert features is None or 0 <= features.turning_point_ratio <= 1


def test_cinc2017_shipped_detector_beats_the_dash_rule_by_0_10_f1(ecg_data: Path) -> None:
    from vigil.af_validation import evaluate_af

    result = evaluate_af(ecg_data / "cinc2017-dev")
    assert result.records == 154
    assert result.shipped.f1 >= result.dash_plain.f1 + 0.10, result
    assert result.shipped.specificity >= 0.95, result
    # Noisy strips are unreadable, not AF or normal (14 of 15 at the time of writing).
    assert result.noisy_unreadable >= 14, result
    assert result.confusion["~"].get("normal", 0) == 0
    # Few clean strips are given up as unreadable.
    assert result.clean_unreadable <= 0.1 * (result.records - 15)
