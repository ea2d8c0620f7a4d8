"""The simulator's synthetic ECG strips, judged by Vigil's own AF detector (``scoring/af.py``,
validated on PhysioNet recordings in tests/scoring): sinus strips read as normal, AF strips
as AF, at resting and raised rates, on different seeds."""

from __future__ import annotations

import numpy as np
import pytest

from device_sim.ecg import beat_times, strip_uv
from scoring.af import classify_rhythm
from scoring.ecg import detect_r_peaks


@pytest.mark.parametrize("heart_rate_bpm", [62, 75, 95])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_sinus_strips_read_normal_and_af_strips_read_af(heart_rate_bpm: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sinus = np.asarray(strip_uv(rng, heart_rate_bpm=heart_rate_bpm)) / 1000
    af = np.asarray(strip_uv(rng, heart_rate_bpm=heart_rate_bpm, af=True)) / 1000
    assert classify_rhythm(sinus, 250).rhythm == "normal"
    assert classify_rhythm(af, 250).rhythm == "af"


def test_a_fast_sinus_rhythm_reads_as_tachycardia_not_af() -> None:
    rng = np.random.default_rng(7)
    fast = np.asarray(strip_uv(rng, heart_rate_bpm=110)) / 1000
    result = classify_rhythm(fast, 250)
    assert result.rhythm == "other"
    assert result.summary.episodes, "a tachycardia episode"


def test_a_strip_is_30_s_of_microvolts_within_the_wire_bounds() -> None:
    strip = strip_uv(np.random.default_rng(0))
    assert len(strip) == 7500
    assert all(isinstance(v, int) for v in strip)
    assert max(strip) < 2000
    assert min(strip) > -1000


@pytest.mark.parametrize("heart_rate_bpm", [60, 72, 90])
@pytest.mark.parametrize("per_min", [3, 6, 10])
def test_strips_with_ectopic_beats_show_them_and_never_read_as_af(
    heart_rate_bpm: int, per_min: int
) -> None:
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        strip = (
            np.asarray(strip_uv(rng, heart_rate_bpm=heart_rate_bpm, ectopic_per_min=per_min)) / 1000
        )
        result = classify_rhythm(strip, 250)
        assert result.rhythm != "af", (heart_rate_bpm, per_min, seed)
        assert result.rhythm != "unreadable"
        # Every beat found, the premature ones included: a PVC's pause is no missed beat.
        beats = beat_times(
            np.random.default_rng(seed), 30.0, heart_rate_bpm, ectopic_per_min=per_min
        )
        assert abs(len(detect_r_peaks(strip, 250)) - len(beats)) <= 1
    # About the rate asked for, over many strips (the ends of a strip hold none).
    counts = [
        sum(
            pvc
            for _, pvc in beat_times(
                np.random.default_rng(s), 60.0, heart_rate_bpm, ectopic_per_min=per_min
            )
        )
        for s in range(40)
    ]
    assert np.mean(counts) == pytest.approx(per_min, rel=0.2)


def test_an_ectopic_beat_is_premature_and_followed_by_a_compensatory_pause() -> None:
    beats = beat_times(np.random.default_rng(3), 60.0, 60, ectopic_per_min=10)
    times = [t for t, _ in beats]
    for i, (t, pvc) in enumerate(beats):
        if pvc and 0 < i < len(beats) - 1:
            before, after = t - times[i - 1], times[i + 1] - t
            assert before < 0.7  # 60 % of a 1 s interval, give or take the jitter
            assert before + after == pytest.approx(2.0, rel=0.1)  # two sinus intervals
    assert any(pvc for _, pvc in beats)
