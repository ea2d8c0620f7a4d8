"""Wellbeing indices, 0-100, each against the wearer's own baseline and with its inputs.

These are screening signals, not diagnoses (CLINICAL.md section 3). Each index is built
the same way, so it can be read and checked:

1. Every input is turned into a *deviation* from the wearer's own baseline, signed so
   that a positive value is the adverse direction the cited studies report, and
   expressed in baseline standard deviations (a robust z: median and 1.4826 x MAD of
   the baseline values).
2. The index is the mean deviation of the inputs present, mapped to 0-100 with the
   normal distribution: ``100 * Phi(mean z)``. 50 means "as usual for this wearer";
   about 84 means one baseline SD in the adverse direction; 98, two.
3. Missing inputs are listed and left out of the mean (never counted as "as usual").
   With fewer than ``MIN_BASELINE`` baseline values an input cannot be judged and is
   missing too: a new wearer gets no index rather than a population guess.

Inputs and directions, with their sources:

* Mental stress: Baevsky stress index up (ln SI; Baevsky & Chernikova 2017) and LF/HF up
  (ln; stress lowers HF and raises LF, Kim et al. 2018, Psychiatry Investig 15:235).
* Physical fatigue: the 7-day mean of daily ln RMSSD below its baseline (Plews et al.
  2014, IJSPP 9:783; Buchheit 2014, Front Physiol 5:73), training load up (the acute
  7-day to chronic 28-day step ratio; Gabbett 2016, Br J Sports Med 50:273, whose
  "danger zone" above 1.5 is taken as 2 SD from the usual 1.0), and sleep debt up
  (hours short of the wearer's usual sleep over the last 7 nights).
* Anxiety/depression screening: ln HF down (anxiety, Chalmers et al. 2014, Front
  Psychiatry 5:80), SDNN and RMSSD down (depression, Kemp et al. 2010 and the Wu 2023
  meta-analysis cited in CLINICAL.md), sleep duration down, and daily steps down
  (reduced activity is a depressive marker; Burton et al. 2013, J Affect Disord 145:21).

The level that raises a warning is a setting of the caller (``IndexSettings``), not a
constant here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

MIN_BASELINE: Final = 7
MAD_TO_SD: Final = 1.4826


class IndexInput(msgspec.Struct, frozen=True, kw_only=True):
    """One input of an index: its value now, and how far from usual (None: missing)."""

    name: str
    value: float | None
    baseline_median: float | None
    deviation_sd: float | None  # positive = the adverse direction


class WellbeingIndex(msgspec.Struct, frozen=True, kw_only=True):
    """An index value with everything it was computed from."""

    name: str
    value: float | None  # 0-100; None when no input could be judged
    inputs: tuple[IndexInput, ...]
    missing: tuple[str, ...]
    note: str = "screening signal against the wearer's own baseline, not a diagnosis"


class IndexSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Index values at or above which a warning is raised (clinician-adjustable)."""

    stress_warning: float = 85.0
    fatigue_warning: float = 85.0
    mood_warning: float = 90.0

    def limit(self, name: str) -> float:
        """The warning level of the index called ``name`` (above 100: never warned)."""
        limits = {
            "mental_stress": self.stress_warning,
            "physical_fatigue": self.fatigue_warning,
            "anxiety_depression": self.mood_warning,
        }
        return limits.get(name, 101.0)

    def warnings(self, indices: Sequence[WellbeingIndex]) -> list[str]:
        """Names of the indices at or above their warning level."""
        return [i.name for i in indices if i.value is not None and i.value >= self.limit(i.name)]


def scaled(
    name: str,
    value: float | None,
    center: float | None,
    spread: float | None,
    *,
    adverse_if_higher: bool,
) -> IndexInput:
    """An input whose usual value and spread are known: (value - center) / spread, signed."""
    if value is None or center is None or not spread or not math.isfinite(value):
        return IndexInput(name=name, value=value, baseline_median=center, deviation_sd=None)
    z = (value - center) / spread
    return IndexInput(
        name=name, value=value, baseline_median=center, deviation_sd=z if adverse_if_higher else -z
    )


def _finite_mean(values: np.ndarray) -> float | None:
    """The mean of the finite values; None for none, or for a mean beyond a float's range."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # absurd inputs: found by Hypothesis
        mean = float(values.mean())
    return mean if math.isfinite(mean) else None


def _robust_center_spread(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if len(values) < MIN_BASELINE:
        return None, None
    # Values near a float's range overflow the arithmetic: no baseline from those.
    with np.errstate(over="ignore", invalid="ignore"):
        median = float(np.median(values))
        spread = MAD_TO_SD * float(np.median(np.abs(values - median)))
        sd = float(values.std(ddof=1))
    if not (math.isfinite(median) and math.isfinite(spread) and math.isfinite(sd)):
        return None, None
    return median, spread or sd or None


def deviation(
    name: str, value: float | None, baseline: Sequence[float], *, adverse_if_higher: bool
) -> IndexInput:
    """A robust z of ``value`` against ``baseline``, signed towards the adverse side."""
    history = np.asarray([b for b in baseline if b is not None], dtype=np.float64)
    center, spread = _robust_center_spread(history)
    if center is None:
        finite = history[np.isfinite(history)]
        median = float(np.median(finite)) if len(finite) else None
        return IndexInput(name=name, value=value, baseline_median=median, deviation_sd=None)
    # A perfectly steady baseline (no MAD, no SD): 5 % of the median stands for its spread.
    spread = spread or abs(center) * 0.05 or 1.0
    return scaled(name, value, center, spread, adverse_if_higher=adverse_if_higher)


def _combine(name: str, inputs: Sequence[IndexInput]) -> WellbeingIndex:
    judged = [i.deviation_sd for i in inputs if i.deviation_sd is not None]
    missing = tuple(i.name for i in inputs if i.deviation_sd is None)
    value = None
    if judged:
        mean_z = float(np.clip(np.mean(judged), -8.0, 8.0))
        value = round(100.0 * 0.5 * (1.0 + math.erf(mean_z / math.sqrt(2.0))), 1)
    return WellbeingIndex(name=name, value=value, inputs=tuple(inputs), missing=missing)


def _ln(value: float | None) -> float | None:
    return math.log(value) if value is not None and value > 0 else None


def _ln_all(values: Sequence[float]) -> list[float]:
    return [math.log(v) for v in values if v is not None and v > 0]


def mental_stress(
    stress_index: float | None,
    lf_hf: float | None,
    baseline: Mapping[str, Sequence[float]],
) -> WellbeingIndex:
    """Stress now from Baevsky SI and LF/HF; ``baseline`` holds past values of each."""
    return _combine(
        "mental_stress",
        [
            deviation(
                "ln_stress_index",
                _ln(stress_index),
                _ln_all(baseline.get("stress_index", ())),
                adverse_if_higher=True,
            ),
            deviation(
                "ln_lf_hf", _ln(lf_hf), _ln_all(baseline.get("lf_hf", ())), adverse_if_higher=True
            ),
        ],
    )


def physical_fatigue(
    daily_ln_rmssd: npt.ArrayLike,
    daily_steps: npt.ArrayLike,
    sleep_hours: npt.ArrayLike,
    *,
    usual_sleep_hours: float | None = None,
) -> WellbeingIndex:
    """Fatigue from daily values, oldest first (the last 7 days are "now"; NaN: no data).

    * ln RMSSD: the last 7 days' mean against the earlier days (median, and the robust
      SD of the *daily* values, as Plews 2014 size the smallest worthwhile change).
    * Load: the acute:chronic ratio of steps (7-day / 28-day mean). 1.0 is usual;
      Gabbett 2016 puts the injury "danger zone" above 1.5, so 1.5 counts as 2 SD.
    * Sleep debt: the last 7 nights' mean shortfall from ``usual_sleep_hours`` (default:
      the earlier nights' median), in SDs of the earlier nights.
    """
    ln_rmssd = np.asarray(daily_ln_rmssd, dtype=np.float64)
    steps = np.asarray(daily_steps, dtype=np.float64)
    sleep = np.asarray(sleep_hours, dtype=np.float64)

    def recent(x: np.ndarray) -> float | None:
        return _finite_mean(x[-7:]) if len(x) >= 7 + MIN_BASELINE else None

    center, spread = _robust_center_spread(ln_rmssd[:-7])
    rmssd_input = scaled(
        "ln_rmssd_7day_mean", recent(ln_rmssd), center, spread, adverse_if_higher=False
    )
    ratio = None
    if len(steps) >= 28:
        # Days without step data are left out of both means (not counted as 0 steps).
        chronic, acute = _finite_mean(steps[-28:]), _finite_mean(steps[-7:])
        if acute is not None and chronic is not None and chronic > 0:
            ratio = acute / chronic
    load_input = scaled("acute_chronic_step_ratio", ratio, 1.0, 0.25, adverse_if_higher=True)
    night_center, night_spread = _robust_center_spread(sleep[:-7])
    usual = usual_sleep_hours if usual_sleep_hours is not None else night_center
    last_week = recent(sleep)
    debt = max(0.0, usual - last_week) if usual is not None and last_week is not None else None
    debt_input = scaled("sleep_debt_7night_hours", debt, 0.0, night_spread, adverse_if_higher=True)
    return _combine("physical_fatigue", [rmssd_input, load_input, debt_input])


def anxiety_depression(
    now: Mapping[str, float | None], baseline: Mapping[str, Sequence[float]]
) -> WellbeingIndex:
    """Screening from ln HF, SDNN, RMSSD, sleep hours and daily steps (all lower = adverse).

    ``now`` holds recent values (e.g. this week's medians) under the keys ``hf_ms2``,
    ``sdnn_ms``, ``rmssd_ms``, ``sleep_hours``, ``steps``; ``baseline`` their history.
    """
    spec = (
        ("ln_hf", "hf_ms2", True),
        ("sdnn_ms", "sdnn_ms", False),
        ("rmssd_ms", "rmssd_ms", False),
        ("sleep_hours", "sleep_hours", False),
        ("daily_steps", "steps", False),
    )
    inputs = []
    for label, key, log in spec:
        value = now.get(key)
        history = list(baseline.get(key, ()))
        if log:
            value, history = _ln(value), _ln_all(history)
        inputs.append(deviation(label, value, history, adverse_if_higher=False))
    return _combine("anxiety_depression", inputs)
