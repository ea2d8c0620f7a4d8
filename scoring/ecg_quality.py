"""ECG signal quality: is a strip readable enough to judge its rhythm?

An unreadable strip must say so instead of being called AF or normal. Three published
checks, each with the threshold its authors used, none tuned on Vigil's test data:

* Physiological plausibility (Orphanidou et al. 2015, IEEE J Biomed Health Inform
  19(3):832-838, rules 1-2): heart rate 40-180 bpm and no RR interval over 3 s.
* Template matching (Orphanidou et al. 2015, rule 4): the mean correlation of each beat
  with the strip's average beat must reach 0.66.
* Detector agreement, bSQI (Li, Mark & Clifford 2008, Physiol Meas 29:15-32): the
  share of beats found by two different QRS detectors within 150 ms of each other,
  matched / (found by either). Vigil's second detector is Pan & Tompkins (1985,
  IEEE Trans Biomed Eng 32(3):230-236); a strip with bSQI below 0.8 (four beats in
  five confirmed) is unreadable.
"""

from __future__ import annotations

from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
from scipy import signal

from scoring.ecg import FloatArray, IntArray, match_beats, mean_row_correlation

MIN_HEART_RATE_BPM: Final = 40.0
MAX_HEART_RATE_BPM: Final = 180.0
MAX_RR_S: Final = 3.0
MIN_TEMPLATE_CORRELATION: Final = 0.66
MIN_BSQI: Final = 0.8
MIN_BEATS: Final = 5


def pan_tompkins(ecg: npt.ArrayLike, fs_hz: float) -> IntArray:
    """R peaks by Pan & Tompkins (1985): 5-15 Hz band, derivative, square, 150 ms window.

    Adaptive signal and noise peak levels set the threshold (threshold 1 = noise +
    0.25 (signal - noise)); after 1.66 mean RR without a beat the largest skipped peak
    above half that threshold is taken (search-back). Departure: the levels start from
    the whole strip (median of 2-second maxima) instead of its first 2 seconds, as the
    strip is analysed offline. Used as the independent second opinion of the quality
    check.
    """
    x = np.asarray(ecg, dtype=np.float64)
    x = np.where(np.isfinite(x), x, 0.0)
    nyquist = fs_hz / 2
    sos = signal.butter(2, [5 / nyquist, min(15.0, 0.45 * fs_hz) / nyquist], "band", output="sos")
    band = signal.sosfiltfilt(sos, x - np.median(x))
    width = max(1, round(0.150 * fs_hz))
    energy = np.convolve(np.gradient(band) ** 2, np.full(width, 1.0 / width), mode="same")
    refractory = round(0.2 * fs_hz)
    candidates, _ = signal.find_peaks(energy, distance=refractory)
    if len(candidates) == 0:
        return np.zeros(0, dtype=np.int64)
    # Learning phase over the whole strip, not its first 2 s: one artefact at the start
    # would otherwise set the signal level too high for every beat after it.
    block = round(2 * fs_hz)
    maxima = [energy[i : i + block].max() for i in range(0, len(energy), block)]
    signal_level = 0.5 * float(np.median(maxima))
    noise_level = 0.5 * float(np.median(energy[candidates]))
    peaks: list[int] = []
    skipped: list[int] = []
    rr_mean: float | None = None  # until two beats are found, search back after 1.66 s
    for c in candidates.tolist():
        threshold = noise_level + 0.25 * (signal_level - noise_level)
        if energy[c] > threshold and (not peaks or c - peaks[-1] > refractory):
            if peaks:
                rr = c - peaks[-1]
                rr_mean = rr if rr_mean is None else 0.125 * rr + 0.875 * rr_mean
            peaks.append(c)
            signal_level = 0.125 * energy[c] + 0.875 * signal_level
            skipped = []
            continue
        noise_level = 0.125 * energy[c] + 0.875 * noise_level
        skipped.append(c)
        if peaks and c - peaks[-1] > 1.66 * (rr_mean or fs_hz):
            best = max(skipped, key=lambda q: energy[q])
            if energy[best] > 0.5 * threshold and best - peaks[-1] > refractory:
                peaks.append(best)
                signal_level = 0.25 * energy[best] + 0.75 * signal_level
                skipped = [q for q in skipped if q > best]
    radius = round(0.075 * fs_hz)
    located = [
        max(0, p - radius) + int(np.argmax(np.abs(band[max(0, p - radius) : p + radius])))
        for p in peaks
    ]
    return np.unique(np.asarray(located, dtype=np.int64))


def template_correlation(ecg: npt.ArrayLike, fs_hz: float, peaks: npt.ArrayLike) -> float:
    """Mean correlation of each beat (R +- 100 ms) with the average beat (Orphanidou 2015)."""
    x = np.asarray(ecg, dtype=np.float64)
    p = np.asarray(peaks, dtype=np.int64)
    half = round(0.1 * fs_hz)
    p = p[(p >= half) & (p + half < len(x))]
    if len(p) < 2:
        return 0.0
    beats = x[p[:, None] + np.arange(-half, half)[None, :]]
    if not np.isfinite(beats).all():
        beats = np.nan_to_num(beats)
    return mean_row_correlation(beats, beats.mean(axis=0))


def bsqi(peaks_a: npt.ArrayLike, peaks_b: npt.ArrayLike, fs_hz: float) -> float:
    """Li et al. (2008): beats both detectors found / beats either found (150 ms window)."""
    m = match_beats(peaks_a, peaks_b, tolerance=round(0.150 * fs_hz))
    either = m.true_positives + m.false_positives + m.false_negatives
    return m.true_positives / either if either else 0.0


class EcgQuality(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a strip is readable, why not, and the indices behind the verdict."""

    readable: bool
    reasons: tuple[str, ...]
    bsqi: float
    template_correlation: float
    heart_rate_bpm: float | None
    longest_rr_s: float | None


def assess_quality(ecg: npt.ArrayLike, fs_hz: float, peaks: npt.ArrayLike) -> EcgQuality:
    """Apply the three checks of the module docstring to a strip and its R peaks."""
    x = np.asarray(ecg, dtype=np.float64)
    p = np.asarray(peaks, dtype=np.int64)
    reasons: list[str] = []
    rr_s: FloatArray = np.diff(p) / fs_hz
    heart_rate = float(60.0 / rr_s.mean()) if len(rr_s) else None
    longest = float(rr_s.max()) if len(rr_s) else None
    if len(p) < MIN_BEATS:
        reasons.append(f"fewer than {MIN_BEATS} beats found")
    if heart_rate is not None and not MIN_HEART_RATE_BPM <= heart_rate <= MAX_HEART_RATE_BPM:
        reasons.append(f"heart rate {heart_rate:.0f} bpm outside 40-180")
    if longest is not None and longest > MAX_RR_S:
        reasons.append(f"an RR interval of {longest:.1f} s (over 3 s)")
    correlation = template_correlation(x, fs_hz, p)
    if correlation < MIN_TEMPLATE_CORRELATION:
        reasons.append(f"beats unlike each other (template correlation {correlation:.2f} < 0.66)")
    agreement = bsqi(p, pan_tompkins(x, fs_hz), fs_hz)
    if agreement < MIN_BSQI:
        reasons.append(f"QRS detectors disagree (bSQI {agreement:.2f} < 0.8)")
    return EcgQuality(
        readable=not reasons,
        reasons=tuple(reasons),
        bsqi=agreement,
        template_correlation=correlation,
        heart_rate_bpm=heart_rate,
        longest_rr_s=longest,
    )
