"""Dash AF statistics and time-domain HRV for many RR windows at once (rows of a matrix).

The streaming processors evaluate a 128-beat window per device every few beats; doing
it window by window in Python is the bottleneck, so this module computes, for a
``(windows, beats)`` matrix, the same values as ``scoring.af.dash`` (Dash et al. 2009)
and ``scoring.hrv.time_domain`` / ``poincare`` (Task Force 1996; Brennan 2001) with
array operations only. Tests check every column against those functions. Windows must
hold finite, positive intervals (clean them first); each row is one window.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from scoring.af import DASH_ENTROPY, DASH_NRMSSD, DASH_TPR, DASH_TRIM

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
BINS: Final = 16


class WindowFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """One value per window (row)."""

    mean_nn_ms: FloatArray
    sdnn_ms: FloatArray
    rmssd_ms: FloatArray
    pnn50_pct: FloatArray
    sd1_ms: FloatArray
    sd2_ms: FloatArray
    nrmssd: FloatArray
    shannon_entropy: FloatArray
    turning_point_ratio: FloatArray
    dash_af: BoolArray


def window_features(rr_ms: npt.ArrayLike) -> WindowFeatures:
    """Features of every row of ``rr_ms`` (shape windows x beats, beats >= 32)."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    if rr.ndim != 2 or rr.shape[1] < 4 * DASH_TRIM:
        raise ValueError("expected a 2-D array of windows with at least 32 intervals each")
    diff = np.diff(rr, axis=1)
    mean = rr.mean(axis=1)
    sdnn = rr.std(axis=1, ddof=1)
    rmssd = np.sqrt(np.mean(diff * diff, axis=1))
    pnn50 = 100.0 * np.sum(np.abs(diff) > 50.0, axis=1) / rr.shape[1]
    sd1 = diff.std(axis=1, ddof=1) / math.sqrt(2)
    sd2 = np.sqrt(np.maximum(0.0, 2 * sdnn * sdnn - sd1 * sd1))

    # Dash: drop the 8 longest and 8 shortest of each row, keeping the time order.
    order = np.argsort(rr, axis=1, kind="stable")
    keep = np.zeros_like(rr, dtype=bool)
    np.put_along_axis(keep, order[:, DASH_TRIM:-DASH_TRIM], values=True, axis=1)
    trimmed = rr[keep].reshape(rr.shape[0], -1)
    t_diff = np.diff(trimmed, axis=1)
    t_mean = trimmed.mean(axis=1)
    nrmssd = np.sqrt(np.mean(t_diff * t_diff, axis=1)) / t_mean
    low, high = trimmed.min(axis=1, keepdims=True), trimmed.max(axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    # numpy.histogram's binning: equal bins over [min, max], the last bin closed.
    index = np.minimum(((trimmed - low) / span * BINS).astype(np.int64), BINS - 1)
    counts = np.zeros((rr.shape[0], BINS))
    np.add.at(counts, (np.arange(rr.shape[0])[:, None], index), 1.0)
    share = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(share > 0, share * np.log(share), 0.0), axis=1) / math.log(
            BINS
        )
    middle, before, after = trimmed[:, 1:-1], trimmed[:, :-2], trimmed[:, 2:]
    turning = ((middle > before) & (middle > after)) | ((middle < before) & (middle < after))
    tpr = turning.mean(axis=1)
    dash_af = (
        (nrmssd > DASH_NRMSSD)
        & (entropy > DASH_ENTROPY)
        & (tpr >= DASH_TPR[0])
        & (tpr <= DASH_TPR[1])
    )
    return WindowFeatures(
        mean_nn_ms=mean,
        sdnn_ms=sdnn,
        rmssd_ms=rmssd,
        pnn50_pct=pnn50,
        sd1_ms=sd1,
        sd2_ms=sd2,
        nrmssd=nrmssd,
        shannon_entropy=entropy,
        turning_point_ratio=tpr,
        dash_af=dash_af,
    )
