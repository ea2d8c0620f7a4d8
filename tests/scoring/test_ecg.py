"""R-peak detection on a real recording (MIT-BIH 100) and rhythm findings on built strips."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ingest.wfdb import read_record
from scoring.ecg import EcgError, detect_r_peaks, match_beats, rhythm_summary

FS = 250.0


def synthetic_ecg(beat_times_s: list[float], seconds: float, *, invert: bool = False) -> np.ndarray:
    """Narrow QRS spikes (Gaussian, 12 ms) with small T waves on a wandering baseline."""
    t = np.arange(int(seconds * FS)) / FS
    x = 0.15 * np.sin(2 * np.pi * 0.3 * t)  # respiration baseline wander
    for b in beat_times_s:
        x += 1.2 * np.exp(-0.5 * ((t - b) / 0.012) ** 2)
        x += 0.25 * np.exp(-0.5 * ((t - b - 0.25) / 0.04) ** 2)
    x += np.random.default_rng(1).normal(0, 0.02, len(t))
    return -x if invert else x


def test_mitdb_100_sensitivity_and_ppv_reach_99_5_percent(ecg_data: Path) -> None:
    wfdb = pytest.importorskip("wfdb", reason="wfdb reads the reference annotations")
    record = read_record(ecg_data / "mitdb" / "100")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a pandas deprecation inside wfdb, not ours
        annotations = wfdb.rdann(str(ecg_data / "mitdb" / "100"), "atr")
    beats = annotations.sample[np.isin(annotations.symbol, ["N", "A", "V"])]
    assert len(beats) == 2273  # 2239 N + 33 A + 1 V (the README's counts)
    peaks = detect_r_peaks(record.signal(0), record.fs_hz)
    result = match_beats(peaks, beats, tolerance=round(0.150 * record.fs_hz))
    assert result.sensitivity >= 0.995, result
    assert result.ppv >= 0.995, result


def test_peaks_land_on_the_beats_of_a_regular_strip_either_polarity() -> None:
    beats = [0.5 + 0.8 * i for i in range(12)]
    for invert in (False, True):
        peaks = detect_r_peaks(synthetic_ecg(beats, 10.0, invert=invert), FS)
        result = match_beats(peaks, np.round(np.array(beats) * FS), tolerance=5)
        assert (result.false_positives, result.false_negatives) == (0, 0), invert


def test_pause_bradycardia_and_tachycardia_are_reported() -> None:
    slow = [0.5 + 1.5 * i for i in range(12)]  # 40 bpm
    pause_at = slow[-1] + 2.6  # a 2.6 s pause
    fast = [pause_at + 0.5 * i for i in range(14)]  # 120 bpm
    beats = [*slow, *fast]
    peaks = detect_r_peaks(synthetic_ecg(beats, beats[-1] + 1.0), FS)
    summary = rhythm_summary(peaks, FS)
    kinds = [e.kind for e in summary.episodes]
    assert kinds[0] == "bradycardia"
    assert "pause" in kinds
    assert kinds[-1] == "tachycardia"
    (pause,) = [e for e in summary.episodes if e.kind == "pause"]
    assert pause.value == pytest.approx(2600, abs=10)
    assert summary.longest_rr_ms == pytest.approx(2600, abs=10)


def test_a_regular_normal_rate_has_no_episodes() -> None:
    beats = [0.4 + 0.75 * i for i in range(40)]  # 80 bpm
    summary = rhythm_summary(detect_r_peaks(synthetic_ecg(beats, 31.0), FS), FS)
    assert summary.episodes == ()
    assert summary.mean_heart_rate_bpm == pytest.approx(80, abs=0.5)


def test_match_beats_counts_one_to_one() -> None:
    result = match_beats([100, 200, 205, 400], [101, 199, 300], tolerance=5)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 2, 1)


@pytest.mark.parametrize(
    ("ecg", "fs", "match"),
    [
        (np.zeros(100), 250.0, "shorter than one second"),
        (np.zeros(1000), 20.0, "at least 50 Hz"),
        (np.zeros((2, 500)), 250.0, "one lead"),
    ],
)
def test_unusable_input_is_one_documented_error(ecg: np.ndarray, fs: float, match: str) -> None:
    with pytest.raises(EcgError, match=match):
        detect_r_peaks(ecg, fs)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(250, 1500),
        elements=st.one_of(
            st.floats(-50, 50, allow_nan=False), st.just(float("nan")), st.just(float("inf"))
        ),
    )
)
def test_any_strip_gives_sorted_in_range_peaks(ecg: np.ndarray) -> None:
    peaks = detect_r_peaks(ecg, FS)
    assert np.all(np.diff(peaks) > 0)
    assert peaks.size == 0 or (peaks.min() >= 0 and peaks.max() < len(ecg))
    rhythm_summary(peaks, FS)  # never raises either
