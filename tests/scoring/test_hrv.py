"""HRV against NeuroKit2 on real RR series (pyhrv's MIT-BIH NSR samples), and by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scoring.hrv import hrv, stress_index
from tests import agreement


def pyhrv_file(name: str) -> Path:
    """A file shipped inside the pyhrv wheel (found without importing pyhrv)."""
    try:
        path = agreement.pyhrv_file(name)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def pyhrv_series(name: str) -> np.ndarray:
    """An RR series shipped inside the pyhrv wheel."""
    return np.asarray(np.load(pyhrv_file(name)), dtype=np.float64)


@pytest.mark.parametrize("name", ["SampleNNISeriesShort.npy", "SampleNNISeriesLong.npy"])
def test_agrees_with_neurokit2_on_real_series(name: str) -> None:
    pytest.importorskip("neurokit2", reason="NeuroKit2 is the reference (test extra)")
    rr = pyhrv_series(name)
    assert hrv(rr).count == len(rr)  # nothing dropped as implausible
    # The comparison `python -m tests.agreement` prints for docs/hrv.md.
    compared = agreement.hrv_against_neurokit2(name)
    within_5_pct = {"lf_ms2", "hf_ms2", "lf_hf"}
    for field, row in compared.items():
        tolerance = 0.05 if field in within_5_pct else 0.01
        assert row["vigil"] == pytest.approx(row["neurokit2"], rel=tolerance), field
    assert set(compared) == {
        "mean_nn_ms",
        "sdnn_ms",
        "rmssd_ms",
        "pnn50_pct",
        "sd1_ms",
        "sd2_ms",
        "sample_entropy",
        *within_5_pct,
    }


def test_time_domain_by_hand() -> None:
    rr = [800.0, 860.0, 780.0, 840.0, 800.0]
    m = hrv(rr)
    diffs = [60.0, -80.0, 60.0, -40.0]
    assert m.mean_nn_ms == pytest.approx(816.0)
    assert m.rmssd_ms == pytest.approx(math.sqrt(sum(d * d for d in diffs) / 4))
    assert m.pnn50_pct == pytest.approx(100 * 3 / 5)  # 3 differences over 50 ms, 5 intervals
    assert m.lf_ms2 is None  # 4 seconds is far too short for a spectrum


def test_stress_index_uses_50_ms_bins_aligned_at_multiples_of_50() -> None:
    nn = np.array([810.0, 820.0, 840.0, 870.0, 910.0, 760.0])
    # Bins: 800-850 holds 3 of 6 -> AMo 50 %, Mo 0.825 s, MxDMn 0.15 s.
    assert stress_index(nn) == pytest.approx(50 / (2 * 0.825 * 0.150))


def test_spectrum_puts_a_breathing_rhythm_in_hf_and_a_slow_wave_in_lf() -> None:
    t = np.cumsum(np.full(600, 0.8))
    breathing = 800 + 40 * np.sin(2 * np.pi * 0.25 * t)
    baroreflex = 800 + 40 * np.sin(2 * np.pi * 0.1 * t)
    fast, slow = hrv(breathing), hrv(baroreflex)
    assert fast.lf_hf is not None
    assert fast.lf_hf < 0.1
    assert slow.lf_hf is not None
    assert slow.lf_hf > 10


def test_implausible_intervals_are_dropped_not_scored() -> None:
    m = hrv([800.0, 810.0, float("nan"), 100.0, 790.0, 5000.0, 805.0])
    assert m.count == 4


@settings(max_examples=80, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 400),
        elements=st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False), st.just(float("nan")), st.just(float("inf"))
        ),
    )
)
def test_any_series_gives_metrics_or_none_never_an_error(rr: np.ndarray) -> None:
    m = hrv(rr)
    for value in (m.sdnn_ms, m.rmssd_ms, m.sd1_ms, m.sd2_ms, m.stress_index, m.lf_hf):
        assert value is None or math.isfinite(value)
