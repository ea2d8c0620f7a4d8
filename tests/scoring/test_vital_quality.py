"""Reading-level quality verdicts: the plausibility limits and the optical rules."""

from __future__ import annotations

import pytest

from scoring.vital_quality import PLAUSIBLE, judge, overall, steps_per_minute


@pytest.mark.parametrize(("parameter", "limits"), sorted(PLAUSIBLE.items()))
def test_limits_are_inclusive_and_outside_is_implausible(
    parameter: str, limits: tuple[float, float]
) -> None:
    low, high = limits
    for value in (low, high):
        assert judge(parameter, value, on_wrist=True, moving=False) == (True, ())
    for value in (low - 0.1, high + 0.1):
        assert judge(parameter, value, on_wrist=True, moving=False) == (False, ("implausible",))


def test_optical_readings_need_the_wrist_and_are_reduced_by_motion() -> None:
    assert judge("spo2_pct", 95, on_wrist=False, moving=False) == (False, ("off_wrist",))
    assert judge("pulse_bpm", 80, on_wrist=True, moving=True) == (True, ("motion",))
    # A cuff's blood pressure and a core temperature are not optical.
    assert judge("systolic_mmhg", 120, on_wrist=False, moving=True) == (True, ())
    assert judge("temp_c", 37.0, on_wrist=False, moving=True) == (True, ())


def test_step_rate_and_overall_quality() -> None:
    assert steps_per_minute(60, 30) == 120
    assert steps_per_minute(5, 0) == 0
    assert overall({}, level_changed=False) == "good"
    assert overall({"pulse_bpm": ("motion",)}, level_changed=False) == "reduced"
    assert overall({"pulse_bpm": ("motion",)}, level_changed=True) == "poor"
