"""Atrial fibrillation from RR intervals (and, for the shipped decision, the P wave).

Two published RR-based detectors (CLINICAL.md section 2):

* Dash et al. 2009 (Ann Biomed Eng 37:1701-1709): in a window of up to 128 beats, drop
  the 8 longest and 8 shortest RR intervals (only when 32 or more remain), then AF when
  all three hold: normalised RMSSD (RMSSD / mean RR) > 0.1, Shannon entropy of a
  16-bin RR histogram / ln 16 > 0.7, and turning-point ratio within 0.54-0.77
  (the range expected of a random series).
* COSEn, Lake & Moorman 2011 (Am J Physiol Heart Circ Physiol 300:H319-H325):
  sample entropy with m = 1 and a tolerance r grown from 30 ms in 10 ms steps until at
  least 5 pairs of length-2 templates match; COSEn = SampEn + ln(2 r) - ln(mean RR),
  r and RR in seconds. AF when COSEn > -1.4 (their proposed threshold). Works from
  12 beats, which suits 10-60 s strips.

The shipped decision (``classify_rhythm``) asks two independent questions, each with a
threshold set beforehand, not fitted record by record: are the beats irregular
(COSEn > -1.4), and is there no consistent P wave? Ectopic beats and sinus arrhythmia
are irregular but keep their P waves; AF replaces them with fibrillatory waves that
average out. P-wave consistency is the mean correlation of each beat's PR segment
(300 to 90 ms before R) with the strip's median PR segment; below 0.4 counts as absent
(see docs/af.md for how 0.4 was chosen and how the result depends on it). A strip that
fails the quality checks of ``scoring.ecg_quality`` is ``unreadable``: never AF,
never normal.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt
from scipy import signal

from scoring.ecg import (
    RhythmSummary,
    detect_r_peaks,
    mean_row_correlation,
    rhythm_summary,
    rr_intervals_ms,
)
from scoring.ecg_quality import EcgQuality, assess_quality

Rhythm = Literal["af", "normal", "other", "unreadable"]

DASH_WINDOW: Final = 128
DASH_TRIM: Final = 8
DASH_NRMSSD: Final = 0.1
DASH_ENTROPY: Final = 0.7
DASH_TPR: Final = (0.54, 0.77)
COSEN_THRESHOLD: Final = -1.4
COSEN_MIN_BEATS: Final = 12
P_WAVE_ABSENT_BELOW: Final = 0.4
PR_WINDOW_S: Final = (0.30, 0.09)
WINDOW_BEATS: Final = 20
WINDOW_STEP: Final = 5


class DashFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """The three statistics of Dash et al. 2009 and their verdict."""

    nrmssd: float
    shannon_entropy: float
    turning_point_ratio: float
    af: bool


def dash(rr_ms: npt.ArrayLike) -> DashFeatures | None:
    """Dash 2009 on the last 128 intervals; None with fewer than 4 intervals."""
    rr = np.asarray(rr_ms, dtype=np.float64)[-DASH_WINDOW:]
    rr = rr[np.isfinite(rr) & (rr > 0)]
    if len(rr) >= 4 * DASH_TRIM:
        order = np.argsort(rr, kind="stable")
        rr = rr[np.sort(order[DASH_TRIM:-DASH_TRIM])]
    if len(rr) < 4:
        return None
    nrmssd = float(np.sqrt(np.mean(np.diff(rr) ** 2)) / rr.mean())
    counts, _ = np.histogram(rr, bins=16)
    share = counts[counts > 0] / counts.sum()
    entropy = float(-(share * np.log(share)).sum() / math.log(16))
    middle, before, after = rr[1:-1], rr[:-2], rr[2:]
    turning = ((middle > before) & (middle > after)) | ((middle < before) & (middle < after))
    tpr = float(turning.mean())
    af = nrmssd > DASH_NRMSSD and entropy > DASH_ENTROPY and DASH_TPR[0] <= tpr <= DASH_TPR[1]
    return DashFeatures(nrmssd=nrmssd, shannon_entropy=entropy, turning_point_ratio=tpr, af=af)


def cosen(rr_ms: npt.ArrayLike) -> float | None:
    """COSEn of Lake & Moorman 2011 (module docstring); None below 12 intervals."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    rr = rr[np.isfinite(rr)] / 1000.0
    rr = rr[rr > 0]  # after the division: a denormal interval in ms is 0 s
    n = len(rr)
    if n < COSEN_MIN_BEATS:
        return None
    upper = np.triu_indices(n - 1, k=1)
    d1 = np.abs(rr[:-1, None] - rr[None, :-1])[upper]  # length-1 templates i < j <= n-2
    upper2 = np.triu_indices(n - 2, k=1)
    d2 = np.maximum(np.abs(rr[:-2, None] - rr[None, :-2]), np.abs(rr[1:-1, None] - rr[None, 1:-1]))[
        upper2
    ]
    if len(d2) < 5:
        return None
    fifth = float(np.partition(d2, 4)[4])  # smallest r with 5 matching length-2 pairs
    r = max(0.030, 0.030 + math.ceil(round((fifth - 0.030) / 0.010, 9)) * 0.010)
    matches_2 = int((d2 <= r + 1e-12).sum())
    matches_1 = int((d1 <= r + 1e-12).sum())
    if matches_1 == 0 or matches_2 == 0:
        return None
    sampen = -math.log(matches_2 / matches_1)
    return sampen + math.log(2 * r) - math.log(float(rr.mean()))


def p_wave_consistency(ecg: npt.ArrayLike, fs_hz: float, peaks: npt.ArrayLike) -> float | None:
    """Mean correlation of each beat's PR segment with the median one (None: too few beats)."""
    x = np.asarray(ecg, dtype=np.float64)
    x = np.where(np.isfinite(x), x, 0.0)
    nyquist = fs_hz / 2
    sos = signal.butter(2, [0.5 / nyquist, min(30.0, 0.45 * fs_hz) / nyquist], "band", output="sos")
    y = signal.sosfiltfilt(sos, x)
    start, stop = (round(s * fs_hz) for s in PR_WINDOW_S)
    p = np.asarray(peaks, dtype=np.int64)
    p = p[p >= start]
    if len(p) < 4:
        return None
    segments = y[p[:, None] + np.arange(-start, -stop)[None, :]]
    return mean_row_correlation(segments, np.median(segments, axis=0))


class RhythmResult(msgspec.Struct, frozen=True, kw_only=True):
    """The rhythm of a strip, the share of short windows voting AF, and the evidence."""

    rhythm: Rhythm
    af_probability: float | None  # share of 20-beat windows voting AF; see the docstring
    r_peaks: list[int]
    quality: EcgQuality
    cosen: float | None
    p_wave_consistency: float | None
    dash: DashFeatures | None
    summary: RhythmSummary


def _af_vote(cosen_value: float | None, p_wave: float | None) -> bool:
    return (
        cosen_value is not None
        and cosen_value > COSEN_THRESHOLD
        and p_wave is not None
        and p_wave < P_WAVE_ABSENT_BELOW
    )


def classify_rhythm(ecg: npt.ArrayLike, fs_hz: float) -> RhythmResult:
    """AF, normal, other or unreadable for a single-lead strip (see the module docstring).

    ``af_probability`` is the share of overlapping 20-beat windows (step 5) that the
    same rule calls AF: an agreement measure, not a calibrated probability. ``other``
    is a readable, non-AF strip that is irregular (COSEn above threshold, P waves
    present) or has bradycardia, tachycardia or a pause.
    """
    x = np.asarray(ecg, dtype=np.float64)
    peaks = detect_r_peaks(x, fs_hz)
    quality = assess_quality(x, fs_hz, peaks)
    rr = rr_intervals_ms(peaks, fs_hz)
    c = cosen(rr)
    pw = p_wave_consistency(x, fs_hz, peaks)
    votes = [
        _af_vote(
            cosen(rr[i : i + WINDOW_BEATS]),
            p_wave_consistency(x, fs_hz, peaks[i : i + WINDOW_BEATS + 1]),
        )
        for i in range(0, max(1, len(rr) - WINDOW_BEATS + 1), WINDOW_STEP)
    ]
    summary = rhythm_summary(peaks, fs_hz)
    rhythm: Rhythm
    if not quality.readable:
        rhythm = "unreadable"
    elif _af_vote(c, pw):
        rhythm = "af"
    elif (c is not None and c > COSEN_THRESHOLD) or summary.episodes:
        rhythm = "other"
    else:
        rhythm = "normal"
    return RhythmResult(
        rhythm=rhythm,
        af_probability=float(np.mean(votes)) if quality.readable and votes else None,
        r_peaks=peaks.tolist(),
        quality=quality,
        cosen=c,
        p_wave_consistency=pw,
        dash=dash(rr),
        summary=summary,
    )
