"""Wellbeing indices: anchored at the wearer's baseline, monotone, bounded, honest about gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.indices import (
    IndexSettings,
    anxiety_depression,
    deviation,
    mental_stress,
    physical_fatigue,
)

RNG = np.random.default_rng(5)
STRESS_BASELINE = {
    "stress_index": list(RNG.normal(100, 15, 30)),
    "lf_hf": list(np.exp(RNG.normal(0.3, 0.2, 30))),
}


def test_usual_values_score_about_50() -> None:
    index = mental_stress(100.0, math.exp(0.3), STRESS_BASELINE)
    assert index.value is not None
    assert 40 <= index.value <= 60
    assert index.missing == ()
    assert "not a diagnosis" in index.note


def test_stress_rises_with_si_and_lf_hf_and_stays_within_0_100() -> None:
    values = [
        mental_stress(si, 1.35 * k, STRESS_BASELINE).value
        for k, si in [(1, 100), (1.1, 110), (1.2, 120), (1.3, 135)]
    ]
    assert all(v is not None for v in values)
    assert values == sorted(values)  # type: ignore[type-var]
    assert values[-1] < 100  # type: ignore[operator]
    assert values[-1] > 90  # type: ignore[operator]
    assert mental_stress(5000.0, 50.0, STRESS_BASELINE).value == 100.0  # bounded


def test_a_new_wearer_gets_no_index_but_the_reason() -> None:
    index = mental_stress(300.0, 3.0, {"stress_index": [100.0] * 3})
    assert index.value is None
    assert set(index.missing) == {"ln_stress_index", "ln_lf_hf"}


def test_one_missing_input_is_left_out_not_taken_as_usual() -> None:
    both = mental_stress(130.0, math.exp(0.3), STRESS_BASELINE)
    only_si = mental_stress(130.0, None, STRESS_BASELINE)
    assert only_si.missing == ("ln_lf_hf",)
    assert only_si.value is not None
    assert both.value is not None
    assert only_si.value > both.value  # the usual LF/HF no longer dilutes a high SI


def wave(days: int, mean: float, amplitude: float) -> list[float]:
    """A deterministic day-to-day wobble around ``mean``."""
    return [mean + amplitude * math.sin(1.7 * d) for d in range(days)]


def test_fatigue_follows_a_falling_ln_rmssd_week_more_load_and_sleep_debt() -> None:
    days = 42
    ln_rmssd, steps, sleep = wave(days, 4.0, 0.15), wave(days, 8000, 900), wave(days, 7.5, 0.5)
    usual = physical_fatigue(ln_rmssd, steps, sleep)
    tired_rmssd = ln_rmssd[:-7] + [3.93] * 7
    heavier = steps[:-7] + [8600.0] * 7
    shorter = sleep[:-7] + [7.0] * 7
    tired = physical_fatigue(tired_rmssd, steps, sleep)
    worse = physical_fatigue(tired_rmssd, heavier, sleep)
    worst = physical_fatigue(tired_rmssd, heavier, shorter)
    values = [usual.value, tired.value, worse.value, worst.value]
    assert all(v is not None and 0 < v < 100 for v in values), values
    assert values == sorted(values), values  # type: ignore[type-var]
    assert [i.name for i in worst.inputs] == [
        "ln_rmssd_7day_mean",
        "acute_chronic_step_ratio",
        "sleep_debt_7night_hours",
    ]


def test_anxiety_depression_rises_when_hrv_sleep_and_activity_fall() -> None:
    history = {
        "hf_ms2": list(RNG.normal(900, 120, 20)),
        "sdnn_ms": list(RNG.normal(55, 5, 20)),
        "rmssd_ms": list(RNG.normal(40, 4, 20)),
        "sleep_hours": list(RNG.normal(7.5, 0.4, 20)),
        "steps": list(RNG.normal(7000, 800, 20)),
    }
    usual = anxiety_depression(
        {"hf_ms2": 900, "sdnn_ms": 55, "rmssd_ms": 40, "sleep_hours": 7.5, "steps": 7000}, history
    )
    low = anxiety_depression(
        {"hf_ms2": 300, "sdnn_ms": 35, "rmssd_ms": 22, "sleep_hours": 5.0, "steps": 2000}, history
    )
    assert usual.value is not None
    assert low.value is not None
    assert 30 < usual.value < 70
    assert low.value > 95


def test_warning_levels_are_settings() -> None:
    high = mental_stress(150.0, math.exp(0.5), STRESS_BASELINE)
    assert high.value is not None
    assert 85 < high.value < 99.5
    assert IndexSettings().warnings([high]) == ["mental_stress"]
    assert IndexSettings(stress_warning=99.5).warnings([high]) == []


def test_a_steady_baseline_does_not_divide_by_zero() -> None:
    result = deviation("x", 12.0, [10.0] * 10, adverse_if_higher=True)
    assert result.deviation_sd is not None
    assert result.deviation_sd > 0


maybe = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=100, deadline=None)
@given(maybe, maybe, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40))
def test_any_input_gives_0_to_100_or_none(
    si: float | None, lf_hf: float | None, history: list[float]
) -> None:
    index = mental_stress(si, lf_hf, {"stress_index": history, "lf_hf": history})
    assert index.value is None or 0 <= index.value <= 100
    fatigue = physical_fatigue(history, history, history)
    assert fatigue.value is None or 0 <= fatigue.value <= 100


@pytest.mark.parametrize("days", [0, 5, 30])
def test_short_histories_report_missing_inputs(days: int) -> None:
    series = [4.0] * days
    result = physical_fatigue(series, [8000.0] * days, [7.5] * days)
    assert result.value is None or days >= 14
    assert len(result.missing) + sum(i.deviation_sd is not None for i in result.inputs) == 3


@pytest.mark.parametrize("extreme", [1.7e308, -1.7e308])
def test_values_near_a_floats_range_give_no_baseline_instead_of_overflowing(
    extreme: float,
) -> None:
    """Found by the property test above in CI: means and SDs of such values overflowed
    (a RuntimeWarning, an error under the test settings), on any machine by chance."""
    history = [extreme, -extreme] * 20
    fatigue = physical_fatigue(history, history, history)
    assert fatigue.value is None or 0 <= fatigue.value <= 100
    assert all(i.deviation_sd is None for i in fatigue.inputs)
