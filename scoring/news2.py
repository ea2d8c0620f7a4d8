"""National Early Warning Score 2 (NEWS2) and Vigil's mapping to alert levels.

Source: Royal College of Physicians. *National Early Warning Score (NEWS) 2:
Standardising the assessment of acute-illness severity in the NHS.* London: RCP, 2017.
Chart 1 (the scoring table) is implemented band by band below; Chart 3 (clinical
response thresholds) gives the risk bands. Tests check every band edge of Chart 1.

Conventions chosen here (the chart is written for manually recorded whole numbers):

* Values are rounded half-up to the chart's resolution before banding: whole numbers
  for respiration, SpO2, systolic pressure and pulse; 0.1 degC for temperature.
  So 90.4 bpm scores as 90 (0 points) and 90.5 bpm as 91 (1 point).
* A parameter with no measurement is *missing*: it is not scored, it is listed in
  ``missing``, and the total is a lower bound (``partial``). It is never scored 0.
* Consciousness and air/oxygen cannot be measured by a wristband. They come from the
  wearer's profile (or a carer's entry); without one they default to *alert* and
  *air*, and are listed in ``defaulted`` (the score is then also ``partial``).
* SpO2 scale 2 is used only when a clinician set it for confirmed hypercapnic
  respiratory failure (RCP 2017, section on SpO2 scale 2).

Mapping to Vigil's levels (our decision, following RCP Chart 3):
  total >= 7 (high risk, emergency response)                      -> red
  total 5-6 (medium) or any single parameter scoring 3 (low-medium) -> orange
  total 3-4 (upper half of low risk)                              -> yellow
  total 0-2                                                      -> none
"""

from __future__ import annotations

import bisect
import math
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from schemas.alerts import AlertLevel
from schemas.scores import News2Score, Risk

Consciousness = Literal["alert", "new_confusion", "voice", "pain", "unresponsive"]
PARAMETERS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _half_up(x: npt.ArrayLike, scale: float = 1.0) -> FloatArray:
    """Round half-up at ``1/scale`` resolution, returned in units of ``1/scale``."""
    return np.floor(np.asarray(x, dtype=np.float64) * scale + 0.5 + 1e-9)


def _scalar_points(value: float, upper_edges: list[float], points: list[int], scale: float) -> int:
    """The scalar twin of ``_banded(_half_up(value, scale), ...)`` without numpy overhead."""
    # Clamp first: every chart row is open-ended, and 1e307 * 10 would overflow floor().
    bounded = min(max(value, -1e6), 1e6)
    return points[bisect.bisect_left(upper_edges, math.floor(bounded * scale + 0.5 + 1e-9))]


def _banded(values: FloatArray, upper_edges: list[float], points: list[int]) -> IntArray:
    """Points for each value: band i holds values <= upper_edges[i] (the last is open)."""
    index = np.searchsorted(np.asarray(upper_edges), values, side="left")
    return np.asarray(points, dtype=np.int64)[index]


# (upper band edges, points, scale) of each Chart 1 row; scale 10 bands in tenths.
_RESPIRATION = ([8.0, 11.0, 20.0, 24.0], [3, 1, 0, 2, 3], 1.0)
_SPO2_SCALE1 = ([91.0, 93.0, 95.0], [3, 2, 1, 0], 1.0)
_SYSTOLIC = ([90.0, 100.0, 110.0, 219.0], [3, 2, 1, 0, 3], 1.0)
_PULSE = ([40.0, 50.0, 90.0, 110.0, 130.0], [3, 1, 0, 1, 2, 3], 1.0)
_TEMPERATURE = ([350.0, 360.0, 380.0, 390.0], [3, 1, 0, 1, 2], 10.0)
_SPO2_SCALE2_AIR = ([83.0, 85.0, 87.0], [3, 2, 1, 0], 1.0)
_SPO2_SCALE2_OXYGEN = ([83.0, 85.0, 87.0, 92.0, 94.0, 96.0], [3, 2, 1, 0, 1, 2, 3], 1.0)


def respiration_points(rate_per_min: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'Respiration rate': <=8 3, 9-11 1, 12-20 0, 21-24 2, >=25 3."""
    edges, points, _ = _RESPIRATION
    return _banded(_half_up(rate_per_min), edges, points)


def spo2_scale1_points(spo2_pct: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'SpO2 Scale 1': <=91 3, 92-93 2, 94-95 1, >=96 0."""
    edges, points, _ = _SPO2_SCALE1
    return _banded(_half_up(spo2_pct), edges, points)


def spo2_scale2_points(spo2_pct: npt.ArrayLike, on_oxygen: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'SpO2 Scale 2' (air: <=83 3 ... 88-92 0, >=93 0; oxygen: 93-94 1 ... >=97 3).

    On air: <=83 3, 84-85 2, 86-87 1, 88-92 0, >=93 0. On oxygen, above 92:
    93-94 1, 95-96 2, >=97 3.
    """
    values = _half_up(spo2_pct)
    on_air = _banded(values, *_SPO2_SCALE2_AIR[:2])
    on_o2 = _banded(values, *_SPO2_SCALE2_OXYGEN[:2])
    return np.where(np.asarray(on_oxygen, dtype=bool), on_o2, on_air)


def air_or_oxygen_points(on_oxygen: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'Air or oxygen?': oxygen 2, air 0."""
    return np.where(np.asarray(on_oxygen, dtype=bool), 2, 0).astype(np.int64)


def systolic_points(systolic_mmhg: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'Systolic blood pressure': <=90 3, 91-100 2, 101-110 1, 111-219 0, >=220 3."""
    edges, points, _ = _SYSTOLIC
    return _banded(_half_up(systolic_mmhg), edges, points)


def pulse_points(pulse_bpm: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'Pulse': <=40 3, 41-50 1, 51-90 0, 91-110 1, 111-130 2, >=131 3."""
    edges, points, _ = _PULSE
    return _banded(_half_up(pulse_bpm), edges, points)


def consciousness_points(level: Consciousness) -> int:
    """Chart 1 row 'Consciousness': alert 0; new confusion, voice, pain, unresponsive 3."""
    return 0 if level == "alert" else 3


def temperature_points(temp_c: npt.ArrayLike) -> IntArray:
    """Chart 1 row 'Temperature': <=35.0 3, 35.1-36.0 1, 36.1-38.0 0, 38.1-39.0 1, >=39.1 2."""
    edges, points, scale = _TEMPERATURE
    return _banded(_half_up(temp_c, scale=scale), edges, points)


class Vitals(msgspec.Struct, frozen=True, kw_only=True):
    """The latest value of each NEWS2 parameter; ``None`` means not measured."""

    respiration_rate_per_min: float | None = None
    spo2_pct: float | None = None
    systolic_mmhg: float | None = None
    pulse_bpm: float | None = None
    temp_c: float | None = None  # core or a core estimate; wrist skin is not core
    consciousness: Consciousness | None = None  # from the profile or a carer
    on_oxygen: bool | None = None  # from the profile or a carer


def clinical_risk(total: int, *, single_parameter_3: bool) -> Risk:
    """RCP 2017 Chart 3: >=7 high, 5-6 medium, a single 3 low-medium, else low."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if single_parameter_3:
        return "low-medium"
    return "low"


def alert_level(total: int, *, single_parameter_3: bool) -> AlertLevel:
    """Vigil's mapping of a NEWS2 result to a level (see the module docstring)."""
    risk = clinical_risk(total, single_parameter_3=single_parameter_3)
    if risk == "high":
        return AlertLevel.RED
    if risk in ("medium", "low-medium"):
        return AlertLevel.ORANGE
    if total >= 3:
        return AlertLevel.YELLOW
    return AlertLevel.NONE


Direction = Literal["high", "low"]


def _direction(value: float, row: tuple[list[float], list[int], float]) -> Direction:
    """Which side of the row's 0-point band ``value`` falls on (above it: high)."""
    upper_edges, points, scale = row
    bounded = min(max(value, -1e6), 1e6)
    band = bisect.bisect_left(upper_edges, math.floor(bounded * scale + 0.5 + 1e-9))
    return "high" if band > points.index(0) else "low"


def drivers(vitals: Vitals, *, spo2_scale: Literal[1, 2] = 1) -> dict[str, int]:
    """The parameters that scored, each with its direction, and their points.

    ``{"pulse:high": 2, "spo2:low": 3}``: the measured parameters scoring above 0 on
    Chart 1, named ``<parameter>:<high|low>`` by the side of the chart's 0-point band
    their value lies on (SpO2 on scale 2 on oxygen scores high values too); consciousness
    and oxygen, which have no direction, by their name. The points add up to the
    total. Snoozes (``alerting/snooze.py``) act on these names.
    """
    score = news2(vitals, spo2_scale=spo2_scale)
    if spo2_scale == 2:
        spo2_row = _SPO2_SCALE2_OXYGEN if vitals.on_oxygen else _SPO2_SCALE2_AIR
    else:
        spo2_row = _SPO2_SCALE1
    measured = {
        "respiration_rate": (vitals.respiration_rate_per_min, _RESPIRATION),
        "spo2": (vitals.spo2_pct, spo2_row),
        "systolic_bp": (vitals.systolic_mmhg, _SYSTOLIC),
        "pulse": (vitals.pulse_bpm, _PULSE),
        "temperature": (vitals.temp_c, _TEMPERATURE),
    }
    found: dict[str, int] = {}
    for name in PARAMETERS:
        points = score.points.get(name, 0)
        value, row = measured.get(name, (None, None))
        if points == 0:
            continue
        if value is None or row is None:
            found[name] = points  # consciousness, air or oxygen: no direction
        else:
            found[f"{name}:{_direction(value, row)}"] = points
    return found


def news2(vitals: Vitals, *, spo2_scale: Literal[1, 2] = 1) -> News2Score:
    """Score one set of vitals with NEWS2 (RCP 2017 Chart 1) and map it to a level."""
    defaulted: list[str] = []
    consciousness = vitals.consciousness
    if consciousness is None:
        consciousness = "alert"
        defaulted.append("consciousness")
    on_oxygen = vitals.on_oxygen
    if on_oxygen is None:
        on_oxygen = False
        defaulted.append("air_or_oxygen")

    points: dict[str, int] = {
        "air_or_oxygen": 2 if on_oxygen else 0,
        "consciousness": consciousness_points(consciousness),
    }
    missing: list[str] = []
    # Scalar twins of the Chart 1 row functions above: numpy costs more than it saves
    # on one set of vitals (tests check both against every band edge).
    measured = (
        ("respiration_rate", vitals.respiration_rate_per_min, _RESPIRATION),
        ("systolic_bp", vitals.systolic_mmhg, _SYSTOLIC),
        ("pulse", vitals.pulse_bpm, _PULSE),
        ("temperature", vitals.temp_c, _TEMPERATURE),
    )
    for name, value, (edges, band_points, scale) in measured:
        if value is None:
            missing.append(name)
        else:
            points[name] = _scalar_points(value, edges, band_points, scale)
    if vitals.spo2_pct is None:
        missing.append("spo2")
    elif spo2_scale == 2:
        edges, band_points, scale = _SPO2_SCALE2_OXYGEN if on_oxygen else _SPO2_SCALE2_AIR
        points["spo2"] = _scalar_points(vitals.spo2_pct, edges, band_points, scale)
    else:
        edges, band_points, scale = _SPO2_SCALE1
        points["spo2"] = _scalar_points(vitals.spo2_pct, edges, band_points, scale)

    total = sum(points.values())
    single_3 = any(p == 3 for p in points.values())
    return News2Score(
        total=total,
        points={k: points[k] for k in PARAMETERS if k in points},
        missing=tuple(k for k in PARAMETERS if k in missing),
        defaulted=tuple(defaulted),
        single_parameter_3=single_3,
        risk=clinical_risk(total, single_parameter_3=single_3),
        level=alert_level(total, single_parameter_3=single_3),
    )
