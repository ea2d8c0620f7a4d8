"""Sleep from wrist activity (1-minute epochs), and a labelled deep/light estimate.

* Cole, Kripke, Gruen, Mullaney & Gillin (1992), "Automatic sleep/wake identification
  from wrist activity", Sleep 15(5):461-469: D = P (106 A-4 + 54 A-3 + 58 A-2 + 76 A-1 +
  230 A0 + 74 A+1 + 67 A+2), P = 0.001 for counts as the mean of 2-second epochs per
  minute; sleep when D < 1. An epoch without all seven minutes around it is not scored
  (NaN), rather than scored on invented zeros.
* Webster, Kripke, Messin, Mullaney & Wyborney (1982), Sleep 5(4):389-399, rescoring as
  listed in CLINICAL.md section 4: after >= 4 min wake the next 1 min of sleep is wake;
  >= 10 min -> the next 3 min; >= 15 min -> the next 4 min; sleep bouts <= 6 min
  between wake bouts of >= 15 min, and <= 10 min between wake bouts of >= 20 min, are
  wake. Every rule reads the original scoring (they do not cascade). The rule values are
  data (``WebsterRules``): pyActigraphy 1.2.2's code uses 10 min, not 15, for the first
  "surrounded" rule (its docstring says 15), and the test compares with its value set
  explicitly; ``webster_rescore`` says how each rule is read.
* Sadeh, Sharkey & Carskadon (1994), Sleep 17(3):201-207: PS = 7.601 - 0.065 MEAN-W5 -
  1.08 NAT - 0.056 SD-L6 - 0.703 LOG-Act, sleep when PS >= 0; MEAN-W5 the mean over the
  11-minute window centred on the epoch, NAT the number of epochs in it with 50 <= count
  < 100, SD-L6 the standard deviation of the last 6 epochs (ddof 1), LOG-Act ln(count + 1).

Count scaling: the Cole-Kripke weights were derived for the mean activity per minute of
2-second zero-crossing epochs, so per-minute count sums are divided by 30 first
(``count_divisor``, the convention of pyActigraphy's "mean" setting). ActiLife instead
divides by 100 and caps at 300; pass ``count_divisor=100, count_cap=300`` for that.

Deep vs light sleep cannot be told reliably from a wrist with a simple rule (the best
published wrist models reach about 72-73 % for wake/NREM/REM, Walch et al. 2019, Sleep
42:zsz180). ``deep_light_estimate`` is therefore an *estimate*: slow-wave sleep brings
the night's lowest heart rate and highest vagal HRV (Trinder et al. 2001, J Sleep Res
10:253-264), so a sleep minute whose heart rate is in the lowest quarter of the night's
sleep minutes and whose RMSSD is above the night's median is counted "deep-like".
"""

from __future__ import annotations

import itertools
from typing import Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CK_WEIGHTS: Final = (106.0, 54.0, 58.0, 76.0, 230.0, 74.0, 67.0)  # A-4 .. A+2
CK_BEFORE: Final = 4
CK_AFTER: Final = 2


def cole_kripke_d(
    counts_per_min: npt.ArrayLike,
    *,
    scale: float = 0.001,
    count_divisor: float = 30.0,
    count_cap: float | None = None,
) -> FloatArray:
    """The D value of every epoch; NaN where the 7-minute window is incomplete."""
    a = np.asarray(counts_per_min, dtype=np.float64) / count_divisor
    if count_cap is not None:
        a = np.minimum(a, count_cap)
    d = np.full(len(a), np.nan)
    if len(a) < CK_BEFORE + CK_AFTER + 1:
        return d
    windows = np.lib.stride_tricks.sliding_window_view(a, CK_BEFORE + CK_AFTER + 1)
    d[CK_BEFORE : len(a) - CK_AFTER] = scale * (windows @ np.asarray(CK_WEIGHTS))
    return d


def cole_kripke(
    counts_per_min: npt.ArrayLike, *, count_divisor: float = 30.0, count_cap: float | None = None
) -> FloatArray:
    """1.0 sleep, 0.0 wake, NaN not scored (no full window, or a missing count)."""
    d = cole_kripke_d(counts_per_min, count_divisor=count_divisor, count_cap=count_cap)
    return np.where(np.isnan(d), np.nan, (d < 1.0).astype(np.float64))


class WebsterRules(msgspec.Struct, frozen=True, kw_only=True):
    """Webster's rescoring rules as data.

    ``after_wake``: (minimum wake minutes before, sleep minutes rescored);
    ``surrounded``: (longest stretch rescored, minimum wake minutes on both sides).
    """

    after_wake: tuple[tuple[int, int], ...] = ((4, 1), (10, 3), (15, 4))
    surrounded: tuple[tuple[int, int], ...] = ((6, 15), (10, 20))


def _runs(values: FloatArray, target: float) -> list[tuple[int, int]]:
    mask = values == target
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def webster_rescore(sleep: npt.ArrayLike, rules: WebsterRules | None = None) -> FloatArray:
    """Apply Webster's rules to a sleep (1) / wake (0) / unscored (NaN) series.

    "After N minutes of wake, the next M minutes of sleep": the first M minutes of a
    sleep bout that follows at least N wake minutes (the whole bout when it is shorter
    than M). "Surrounded": everything between two wake bouts of at least the given
    length, when that stretch is no longer than the limit, is wake (the stretch may hold
    short wake bouts; pyActigraphy reads the rule the same way). Every rule reads the
    original series. Unscored epochs break bouts.
    """
    r = rules or WebsterRules()
    s = np.asarray(sleep, dtype=np.float64)
    out = s.copy()
    wake_runs = _runs(s, 0.0)
    wake_ending_at = {stop: stop - start for start, stop in wake_runs}
    for start, stop in _runs(s, 1.0):
        before = wake_ending_at.get(start, 0)
        for min_wake, minutes in r.after_wake:
            if before >= min_wake:
                end = min(stop, start + minutes)
                out[start:end] = 0.0
    for max_sleep, min_wake in r.surrounded:
        long_wake = [(a, b) for a, b in wake_runs if b - a >= min_wake]
        for (_, gap_start), (gap_stop, _) in itertools.pairwise(long_wake):
            between = s[gap_start:gap_stop]
            if gap_stop - gap_start <= max_sleep and not np.isnan(between).any():
                out[gap_start:gap_stop] = 0.0
    return out


def sadeh(
    counts_per_min: npt.ArrayLike, *, convention: Literal["paper", "pyactigraphy"] = "paper"
) -> FloatArray:
    """Sadeh 1994 (see the module docstring): 1.0 sleep, 0.0 wake, NaN not scored.

    ``convention="pyactigraphy"`` reproduces pyActigraphy 1.2.2's reading, which
    differs from the paper in three places: LOG-Act of the *next* epoch, NAT counting
    50 < count < 100, and sleep when PS > 0. It exists to check the rest of the
    computation epoch for epoch against that implementation.
    """
    a = np.asarray(counts_per_min, dtype=np.float64)
    n = len(a)
    out = np.full(n, np.nan)
    if n < 11:
        return out
    compat = convention == "pyactigraphy"
    centred = np.lib.stride_tricks.sliding_window_view(a, 11)
    mean_w5 = centred.mean(axis=1)
    low_ok = centred > 50 if compat else centred >= 50
    nat = (low_ok & (centred < 100)).sum(axis=1)
    last6 = np.lib.stride_tricks.sliding_window_view(a, 6).std(axis=1, ddof=1)
    idx = np.arange(5, n - 5)
    activity = a[idx + 1] if compat else a[idx]
    ps = (
        7.601
        - 0.065 * mean_w5
        - 1.08 * nat
        - 0.056 * last6[idx - 5]
        - 0.703 * np.log(activity + 1.0)
    )
    asleep = ps > 0 if compat else ps >= 0
    out[idx] = np.where(np.isnan(ps), np.nan, asleep.astype(np.float64))
    return out


class DeepLightEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """An estimate only (see the module docstring); minutes of each kind."""

    label: str
    sleep_minutes: int
    deep_like_minutes: int
    light_like_minutes: int
    minutes_without_heart_data: int


def deep_light_estimate(
    sleep: npt.ArrayLike, heart_rate_bpm: npt.ArrayLike, rmssd_ms: npt.ArrayLike
) -> DeepLightEstimate:
    """Split the sleep minutes into deep-like and light-like by heart rate and RMSSD."""
    s = np.asarray(sleep, dtype=np.float64) == 1.0
    hr = np.asarray(heart_rate_bpm, dtype=np.float64)
    rmssd = np.asarray(rmssd_ms, dtype=np.float64)
    known = s & np.isfinite(hr) & np.isfinite(rmssd)
    deep = np.zeros_like(s)
    if known.any():
        hr_low = np.percentile(hr[known], 25)
        rmssd_mid = np.median(rmssd[known])
        deep = known & (hr <= hr_low) & (rmssd > rmssd_mid)
    return DeepLightEstimate(
        label="estimate from heart rate and HRV; not a validated sleep-stage measurement",
        sleep_minutes=int(s.sum()),
        deep_like_minutes=int(deep.sum()),
        light_like_minutes=int((known & ~deep).sum()),
        minutes_without_heart_data=int((s & ~known).sum()),
    )
