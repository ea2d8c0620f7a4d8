"""The simulator's synthetic ECG strips, judged by Vigil's own AF detector (``scoring/af.py``,
validated on PhysioNet recordings in tests/scoring): sinus strips read as normal, AF strips
as AF, at resting and raised rates, on different seeds."""

from __future__ import annotations

import numpy as np
import pytest

from device_sim.ecg import strip_uv
from scoring.af import classify_rhythm


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
