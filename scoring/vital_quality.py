"""Signal quality of wristband vital signs: which readings to trust, and how much.

A wrist PPG sensor is fooled by movement, a loose strap and a band lying on a table.
Each reading is judged here before it is scored. A *rejected* reading is not scored at
all. A *reduced* one is scored, but it may not raise a red alert on its own
(``stream_processors.device``).

Rejected:
* implausible for a living adult at rest or in daily life (ranges below), whatever the
  wire schema allows. Limits: pulse 25-230 bpm (the lowest recorded sinus rates in
  trained athletes are near 25-30 bpm, and a wrist sensor cannot follow rates above
  about 220), SpO2 50-100 % (wrist pulse oximetry is not accurate below 70 %. Below 50 %
  a reading is almost always artefact: Luks & Swenson 2015, Ann Am Thorac Soc 12:S40),
  respiration 4-60 /min, systolic 50-260 mmHg, core temperature 30-43.5 degC;
* optical readings (pulse, SpO2, respiration) while the band is off the wrist (a
  ``wear`` sample or an ``off_wrist`` event) or reported without sensor contact.

Reduced:
* ``motion``: optical readings taken while the wearer walks (over 60 steps/min in the
  last minute). Motion is the main error source of wrist PPG (Bent et al. 2020,
  npj Digit Med 3:18);
* ``flat``: exactly the same value for ``flat_after_s`` (10 minutes) and more. A stuck
  sensor repeats itself. A living signal does not.
"""

from __future__ import annotations

from typing import Final, Literal

PLAUSIBLE: Final = {
    "pulse_bpm": (25.0, 230.0),
    "spo2_pct": (50.0, 100.0),
    "respiration_rate_per_min": (4.0, 60.0),
    "systolic_mmhg": (50.0, 260.0),
    "temp_c": (30.0, 43.5),
}
OPTICAL: Final = frozenset({"pulse_bpm", "spo2_pct", "respiration_rate_per_min"})
WALKING_STEPS_PER_MIN: Final = 60.0
MOTION_WINDOW_S: Final = 60.0

Quality = Literal["good", "reduced", "poor"]


def judge(
    parameter: str, value: float, *, on_wrist: bool, moving: bool
) -> tuple[bool, tuple[str, ...]]:
    """(accepted, flags) for one reading; the flags of a rejected reading say why.

    ``on_wrist`` and ``moving`` describe the band when the reading was taken (the
    caller knows the device's wear samples, events and step rate).
    """
    low, high = PLAUSIBLE.get(parameter, (float("-inf"), float("inf")))
    if not low <= value <= high:
        return False, ("implausible",)
    if parameter in OPTICAL:
        if not on_wrist:
            return False, ("off_wrist",)
        if moving:
            return True, ("motion",)
    return True, ()


def steps_per_minute(steps: float, interval_s: float) -> float:
    """A step count over an interval as a rate."""
    return 60.0 * steps / interval_s if interval_s > 0 else 0.0


def overall(flags_by_parameter: dict[str, tuple[str, ...]], level_changed: bool) -> Quality:
    """``good`` with no flags; ``poor`` when flagged readings alone change the level."""
    if not any(flags_by_parameter.values()):
        return "good"
    return "poor" if level_changed else "reduced"
