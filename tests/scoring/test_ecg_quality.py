"""ECG quality: a clean strip is readable, noise and garbage are not (with reasons)."""

from __future__ import annotations

import numpy as np

from scoring.ecg import detect_r_peaks, match_beats
from scoring.ecg_quality import assess_quality, pan_tompkins
from tests.scoring.test_ecg import FS, synthetic_ecg

BEATS = [0.4 + 0.75 * i for i in range(40)]


def test_pan_tompkins_finds_the_beats_of_a_clean_strip() -> None:
    peaks = pan_tompkins(synthetic_ecg(BEATS, 31.0), FS)
    result = match_beats(peaks, np.round(np.array(BEATS) * FS), tolerance=round(0.15 * FS))
    assert (result.false_positives, result.false_negatives) == (0, 0)


def test_clean_strip_is_readable() -> None:
    ecg = synthetic_ecg(BEATS, 31.0)
    quality = assess_quality(ecg, FS, detect_r_peaks(ecg, FS))
    assert quality.readable, quality.reasons
    assert quality.bsqi > 0.95
    assert quality.template_correlation > 0.9


def test_white_noise_is_unreadable_and_says_why() -> None:
    ecg = np.random.default_rng(3).normal(0, 1, int(30 * FS))
    quality = assess_quality(ecg, FS, detect_r_peaks(ecg, FS))
    assert not quality.readable
    assert any("template correlation" in r or "bSQI" in r for r in quality.reasons)


def test_a_flat_line_is_unreadable() -> None:
    ecg = np.zeros(int(20 * FS))
    quality = assess_quality(ecg, FS, detect_r_peaks(ecg, FS))
    assert not quality.readable
    assert "fewer than 5 beats found" in quality.reasons
