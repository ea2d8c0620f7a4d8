"""Window-matrix features equal the one-window functions they vectorise."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.af import dash
from scoring.hrv import poincare, time_domain
from scoring.rr_windows import window_features


def windows(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sinus = 850 + 30 * np.sin(np.arange(128) / 3.0)[None, :] + rng.normal(0, 8, (40, 128))
    af = rng.uniform(400, 1100, (40, 128))
    ties = np.round(rng.uniform(700, 900, (20, 128)) / 20) * 20  # equal values: stable order
    return np.vstack([sinus, af, ties])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_column_equals_the_single_window_functions(seed: int) -> None:
    rr = windows(seed)
    f = window_features(rr)
    for i, row in enumerate(rr):
        mean, sdnn, rmssd, pnn50 = time_domain(row)
        sd1, sd2 = poincare(row)
        d = dash(row)
        assert d is not None
        assert f.mean_nn_ms[i] == pytest.approx(mean)
        assert f.sdnn_ms[i] == pytest.approx(sdnn)
        assert f.rmssd_ms[i] == pytest.approx(rmssd)
        assert f.pnn50_pct[i] == pytest.approx(pnn50)
        assert f.sd1_ms[i] == pytest.approx(sd1)
        assert f.sd2_ms[i] == pytest.approx(sd2)
        assert f.nrmssd[i] == pytest.approx(d.nrmssd)
        assert f.shannon_entropy[i] == pytest.approx(d.shannon_entropy)
        assert f.turning_point_ratio[i] == pytest.approx(d.turning_point_ratio)
        assert bool(f.dash_af[i]) == d.af
    assert f.dash_af[40:80].mean() > 0.9  # the random (AF-like) windows
    assert f.dash_af[:40].mean() < 0.1


def test_windows_too_short_for_dash_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        window_features(np.full((3, 20), 800.0))
