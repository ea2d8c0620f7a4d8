"""Heart-rate variability from NN (normal-to-normal) intervals in milliseconds.

Sources: Task Force of the ESC and NASPE (1996), "Heart rate variability: standards of
measurement, physiological interpretation and clinical use", Circulation 93:1043-1065
(time and frequency domain); Brennan, Palaniswami & Kamen (2001), IEEE Trans Biomed Eng
48:1342-1347 (Poincare SD1/SD2); Richman & Moorman (2000), Am J Physiol 278:H2039
(sample entropy); Baevsky & Chernikova (2017), Cardiometry 10:66-76 (stress index).

Conventions (fixed here so results are comparable; tests check them against NeuroKit2):

* SDNN uses ddof = 1. pNN50 is the share of successive differences over 50 ms divided
  by the number of NN intervals, as the Task Force defines it (NeuroKit2 does the same).
* SD1 = SD(delta NN) / sqrt 2 and SD2 = sqrt(2 SDNN^2 - SD1^2), all with ddof = 1.
* Spectrum: NN intervals placed at their beat times, cubic-spline resampled at 4 Hz,
  mean removed; Welch with a Hann window half the series long, 50 % overlap, zero-padded
  to twice that length; band power (ms^2) is the trapezoid integral over
  [low, high): LF 0.04-0.15 Hz, HF 0.15-0.4 Hz. Needs at least 2 minutes.
* Sample entropy: m = 2, r = 0.2 SD(NN, ddof = 1), templates compared by Chebyshev
  distance, self-matches excluded.
* Baevsky SI = AMo / (2 Mo MxDMn): bins of 50 ms aligned at multiples of 50 ms; Mo is
  the modal bin's centre in s, AMo the share of intervals in it in %, MxDMn = max - min
  in s. (Kubios reports sqrt(SI); Vigil reports SI.)
"""

from __future__ import annotations

import math
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
from scipy import interpolate, signal

FloatArray = npt.NDArray[np.float64]

LF_BAND: Final = (0.04, 0.15)
HF_BAND: Final = (0.15, 0.40)
RESAMPLE_HZ: Final = 4.0
MIN_SPECTRUM_S: Final = 120.0
SI_BIN_MS: Final = 50.0
MIN_INTERVALS: Final = 3
_ENTROPY_BLOCK: Final = 512


class HrvMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """HRV of one series; a metric the series is too short for is None."""

    count: int
    mean_nn_ms: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None
    pnn50_pct: float | None
    lf_ms2: float | None
    hf_ms2: float | None
    lf_hf: float | None
    sd1_ms: float | None
    sd2_ms: float | None
    sample_entropy: float | None
    stress_index: float | None


def clean_nn(rr_ms: npt.ArrayLike) -> FloatArray:
    """Finite, positive intervals of 250-2500 ms (24-240 bpm); the rest is dropped."""
    rr = np.asarray(rr_ms, dtype=np.float64).ravel()
    return rr[np.isfinite(rr) & (rr >= 250.0) & (rr <= 2500.0)]


def time_domain(nn: FloatArray) -> tuple[float, float, float, float]:
    """(MeanNN, SDNN, RMSSD, pNN50 %) of at least three intervals."""
    diff = np.diff(nn)
    return (
        float(nn.mean()),
        float(nn.std(ddof=1)),
        float(np.sqrt(np.mean(diff * diff))),
        float(100.0 * np.sum(np.abs(diff) > 50.0) / len(nn)),
    )


def poincare(nn: FloatArray) -> tuple[float, float]:
    """(SD1, SD2) in ms."""
    sd1 = float(np.std(np.diff(nn), ddof=1) / math.sqrt(2))
    sdnn = float(nn.std(ddof=1))
    return sd1, float(math.sqrt(max(0.0, 2 * sdnn * sdnn - sd1 * sd1)))


def band_powers(nn: FloatArray) -> tuple[float, float] | None:
    """(LF, HF) in ms^2 by the convention of the module docstring; None under 2 minutes."""
    beat_times = np.cumsum(nn) / 1000.0
    if beat_times[-1] - beat_times[0] < MIN_SPECTRUM_S:
        return None
    grid = np.arange(beat_times[0], beat_times[-1], 1.0 / RESAMPLE_HZ)
    resampled = interpolate.CubicSpline(beat_times, nn)(grid)
    resampled -= resampled.mean()
    segment = len(resampled) // 2
    freqs, psd = signal.welch(
        resampled,
        fs=RESAMPLE_HZ,
        window="hann",
        nperseg=segment,
        noverlap=segment // 2,
        nfft=2 * segment,
        detrend=False,
        scaling="density",
    )

    def power(band: tuple[float, float]) -> float:
        inside = (freqs >= band[0]) & (freqs < band[1])
        return float(np.trapezoid(psd[inside], freqs[inside]))

    return power(LF_BAND), power(HF_BAND)


def sample_entropy(nn: FloatArray, m: int = 2, r_fraction: float = 0.2) -> float | None:
    """SampEn(m, r = r_fraction * SD); None when no template pair matches."""
    n = len(nn)
    if n < m + 2:
        return None
    r = r_fraction * float(nn.std(ddof=1))
    windows = np.lib.stride_tricks.sliding_window_view(nn, m + 1)
    # Templates of length m and m + 1 from the same n - m starting points, compared in
    # blocks of rows so a 24-hour series does not need an n x n matrix at once.
    counts = [0, 0]
    for start in range(0, len(windows), _ENTROPY_BLOCK):
        block = windows[start : start + _ENTROPY_BLOCK]
        first = np.abs(block[:, None, 0] - windows[None, :, 0])
        for k in range(1, m):
            first = np.maximum(first, np.abs(block[:, None, k] - windows[None, :, k]))
        short_match = first <= r
        full_match = short_match & (np.abs(block[:, None, m] - windows[None, :, m]) <= r)
        counts[0] += int(short_match.sum())
        counts[1] += int(full_match.sum())
    # Self-matches (the diagonal) excluded; each pair was counted twice.
    b = (counts[0] - len(windows)) / 2
    a = (counts[1] - len(windows)) / 2
    if a == 0 or b == 0:
        return None
    return float(-math.log(a / b))


def stress_index(nn: FloatArray) -> float | None:
    """Baevsky SI with 50 ms bins aligned at multiples of 50 ms; None when all equal."""
    spread_s = float(nn.max() - nn.min()) / 1000.0
    if spread_s <= 0:
        return None
    bins = np.floor(nn / SI_BIN_MS).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    modal = int(np.argmax(counts))  # the shortest modal bin on ties
    mode_s = (values[modal] + 0.5) * SI_BIN_MS / 1000.0
    amo_pct = 100.0 * counts[modal] / len(nn)
    return float(amo_pct / (2.0 * mode_s * spread_s))


def hrv(rr_ms: npt.ArrayLike) -> HrvMetrics:
    """Every metric of the module docstring for one series (implausible intervals dropped)."""
    nn = clean_nn(rr_ms)
    if len(nn) < MIN_INTERVALS:
        return HrvMetrics(
            count=len(nn),
            mean_nn_ms=float(nn.mean()) if len(nn) else None,
            sdnn_ms=None,
            rmssd_ms=None,
            pnn50_pct=None,
            lf_ms2=None,
            hf_ms2=None,
            lf_hf=None,
            sd1_ms=None,
            sd2_ms=None,
            sample_entropy=None,
            stress_index=None,
        )
    mean_nn, sdnn, rmssd, pnn50 = time_domain(nn)
    sd1, sd2 = poincare(nn)
    bands = band_powers(nn)
    lf, hf = bands if bands is not None else (None, None)
    return HrvMetrics(
        count=len(nn),
        mean_nn_ms=mean_nn,
        sdnn_ms=sdnn,
        rmssd_ms=rmssd,
        pnn50_pct=pnn50,
        lf_ms2=lf,
        hf_ms2=hf,
        lf_hf=lf / hf if lf is not None and hf else None,
        sd1_ms=sd1,
        sd2_ms=sd2,
        sample_entropy=sample_entropy(nn),
        stress_index=stress_index(nn),
    )
