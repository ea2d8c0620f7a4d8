"""NEWS2 for many vital sets at once, column by column (numpy), for bulk scoring.

Same rules as ``scoring.news2.news2`` (RCP 2017 Chart 1 bands, Chart 3 risks, Vigil's
level mapping), written over arrays: a NaN is a parameter that was not measured. It is
scored 0 *and* flagged in ``missing``, so the total is a lower bound (never a silent 0).
Tests check it equals the one-set function on random and edge-value inputs.
"""

from __future__ import annotations

from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from schemas.alerts import AlertLevel
from scoring.news2 import (
    _PULSE,
    _RESPIRATION,
    _SPO2_SCALE1,
    _SPO2_SCALE2_AIR,
    _SPO2_SCALE2_OXYGEN,
    _SYSTOLIC,
    _TEMPERATURE,
    _banded,
    _half_up,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
RISKS: Final = ("low", "low-medium", "medium", "high")
MEASURED: Final = ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature")


class News2Columns(msgspec.Struct, frozen=True, kw_only=True):
    """Per-row results; ``risk`` indexes ``RISKS`` and ``level`` holds ``AlertLevel`` values."""

    total: IntArray
    points: dict[str, IntArray]
    missing: dict[str, BoolArray]
    defaulted: dict[str, BoolArray]
    single_parameter_3: BoolArray
    risk: IntArray
    level: IntArray


def _row_points(values: npt.ArrayLike, table: tuple[list[float], list[int], float]) -> IntArray:
    edges, points, scale = table
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    scored = _banded(_half_up(np.where(finite, v, 0.0), scale), edges, points)
    return np.where(finite, scored, 0)


def news2_columns(
    *,
    respiration_rate_per_min: npt.ArrayLike,
    spo2_pct: npt.ArrayLike,
    systolic_mmhg: npt.ArrayLike,
    pulse_bpm: npt.ArrayLike,
    temp_c: npt.ArrayLike,
    alert: npt.ArrayLike | None = None,
    on_oxygen: npt.ArrayLike | None = None,
    spo2_scale2: npt.ArrayLike | None = None,
) -> News2Columns:
    """Score every row. ``alert`` and ``on_oxygen`` are floats: 1, 0, or NaN (unknown).

    Unknown consciousness defaults to alert and unknown oxygen to air, as in the
    one-set function, and both are then listed in ``defaulted``.
    """
    columns = {
        "respiration_rate": np.asarray(respiration_rate_per_min, dtype=np.float64),
        "spo2": np.asarray(spo2_pct, dtype=np.float64),
        "systolic_bp": np.asarray(systolic_mmhg, dtype=np.float64),
        "pulse": np.asarray(pulse_bpm, dtype=np.float64),
        "temperature": np.asarray(temp_c, dtype=np.float64),
    }
    n = len(columns["pulse"])
    unknown = np.full(n, np.nan)
    alert_v = unknown if alert is None else np.asarray(alert, dtype=np.float64)
    oxygen_v = unknown if on_oxygen is None else np.asarray(on_oxygen, dtype=np.float64)
    scale2 = np.zeros(n, bool) if spo2_scale2 is None else np.asarray(spo2_scale2, dtype=bool)
    oxygen = np.nan_to_num(oxygen_v, nan=0.0) > 0
    points = {
        "respiration_rate": _row_points(columns["respiration_rate"], _RESPIRATION),
        "systolic_bp": _row_points(columns["systolic_bp"], _SYSTOLIC),
        "pulse": _row_points(columns["pulse"], _PULSE),
        "temperature": _row_points(columns["temperature"], _TEMPERATURE),
        "air_or_oxygen": np.where(oxygen, 2, 0).astype(np.int64),
        "consciousness": np.where(np.nan_to_num(alert_v, nan=1.0) > 0, 0, 3).astype(np.int64),
    }
    spo2 = columns["spo2"]
    scale1 = _row_points(spo2, _SPO2_SCALE1)
    on_air2 = _row_points(spo2, _SPO2_SCALE2_AIR)
    on_o2 = _row_points(spo2, _SPO2_SCALE2_OXYGEN)
    points["spo2"] = np.where(scale2, np.where(oxygen, on_o2, on_air2), scale1)
    stacked = np.stack(list(points.values()))
    total = stacked.sum(axis=0)
    single_3 = (stacked == 3).any(axis=0)
    risk = np.select([total >= 7, total >= 5, single_3], [3, 2, 1], default=0)
    level = np.select(
        [risk == 3, risk >= 1, total >= 3],
        [int(AlertLevel.RED), int(AlertLevel.ORANGE), int(AlertLevel.YELLOW)],
        default=int(AlertLevel.NONE),
    )
    return News2Columns(
        total=total,
        points=points,
        missing={name: ~np.isfinite(columns[name]) for name in MEASURED},
        defaulted={"consciousness": np.isnan(alert_v), "air_or_oxygen": np.isnan(oxygen_v)},
        single_parameter_3=single_3,
        risk=risk.astype(np.int64),
        level=level.astype(np.int64),
    )
