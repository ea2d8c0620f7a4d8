"""NEWS2 against the published table: RCP 2017 Chart 1, every band edge, and Chart 3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import AlertLevel
from scoring.news2 import (
    Vitals,
    alert_level,
    clinical_risk,
    drivers,
    news2,
    pulse_points,
    respiration_points,
    spo2_scale1_points,
    spo2_scale2_points,
    systolic_points,
    temperature_points,
)

# (value, points) at both sides of every band edge of RCP 2017 Chart 1.
RESPIRATION = [
    (4, 3),
    (8, 3),
    (9, 1),
    (11, 1),
    (12, 0),
    (20, 0),
    (21, 2),
    (24, 2),
    (25, 3),
    (40, 3),
]
SPO2_SCALE1 = [(80, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SYSTOLIC = [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)]
PULSE = [
    (30, 3),
    (40, 3),
    (41, 1),
    (50, 1),
    (51, 0),
    (90, 0),
    (91, 1),
    (110, 1),
    (111, 2),
    (130, 2),
    (131, 3),
    (180, 3),
]
TEMPERATURE = [
    (34.0, 3),
    (35.0, 3),
    (35.1, 1),
    (36.0, 1),
    (36.1, 0),
    (38.0, 0),
    (38.1, 1),
    (39.0, 1),
    (39.1, 2),
    (41.0, 2),
]
SPO2_SCALE2_AIR = [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (99, 0)]
SPO2_SCALE2_O2 = [(83, 3), (86, 1), (88, 0), (92, 0), (93, 1), (94, 1), (95, 2), (96, 2), (97, 3)]


@pytest.mark.parametrize(("value", "points"), RESPIRATION)
def test_respiration_rate_bands(value: float, points: int) -> None:
    assert respiration_points(value) == points


@pytest.mark.parametrize(("value", "points"), SPO2_SCALE1)
def test_spo2_scale1_bands(value: float, points: int) -> None:
    assert spo2_scale1_points(value) == points


@pytest.mark.parametrize(("value", "points"), SPO2_SCALE2_AIR)
def test_spo2_scale2_on_air_bands(value: float, points: int) -> None:
    assert spo2_scale2_points(value, on_oxygen=False) == points


@pytest.mark.parametrize(("value", "points"), SPO2_SCALE2_O2)
def test_spo2_scale2_on_oxygen_bands(value: float, points: int) -> None:
    assert spo2_scale2_points(value, on_oxygen=True) == points


@pytest.mark.parametrize(("value", "points"), SYSTOLIC)
def test_systolic_bands(value: float, points: int) -> None:
    assert systolic_points(value) == points


@pytest.mark.parametrize(("value", "points"), PULSE)
def test_pulse_bands(value: float, points: int) -> None:
    assert pulse_points(value) == points


@pytest.mark.parametrize(("value", "points"), TEMPERATURE)
def test_temperature_bands(value: float, points: int) -> None:
    assert temperature_points(value) == points


def test_vectorised_bands_match_scalar_calls() -> None:
    values = np.array([v for v, _ in PULSE], dtype=float)
    assert pulse_points(values).tolist() == [p for _, p in PULSE]


@pytest.mark.parametrize(
    ("value", "points"),
    [(90.4, 0), (90.5, 1), (40.49, 3), (40.5, 1)],
    ids=["90.4-rounds-down", "90.5-rounds-up", "40.49", "40.5"],
)
def test_non_integer_pulse_rounds_half_up_before_banding(value: float, points: int) -> None:
    assert pulse_points(value) == points


@pytest.mark.parametrize(("value", "points"), [(35.04, 3), (35.05, 1), (38.04, 0), (38.05, 1)])
def test_temperature_rounds_to_tenths_half_up(value: float, points: int) -> None:
    assert temperature_points(value) == points


def test_full_set_sums_every_parameter() -> None:
    # RR 23 (2) + SpO2 93 (2) + oxygen (2) + SBP 105 (1) + pulse 115 (2) + alert (0) + 38.5 (1)
    score = news2(
        Vitals(
            respiration_rate_per_min=23,
            spo2_pct=93,
            systolic_mmhg=105,
            pulse_bpm=115,
            temp_c=38.5,
            consciousness="alert",
            on_oxygen=True,
        )
    )
    assert score.total == 10
    assert score.points == {
        "respiration_rate": 2,
        "spo2": 2,
        "air_or_oxygen": 2,
        "systolic_bp": 1,
        "pulse": 2,
        "consciousness": 0,
        "temperature": 1,
    }
    assert not score.partial
    assert score.risk == "high"
    assert score.level is AlertLevel.RED


def test_new_confusion_scores_three() -> None:
    score = news2(
        Vitals(
            respiration_rate_per_min=16,
            spo2_pct=97,
            systolic_mmhg=125,
            pulse_bpm=70,
            temp_c=37.0,
            consciousness="new_confusion",
            on_oxygen=False,
        )
    )
    assert score.total == 3
    assert score.single_parameter_3
    assert score.risk == "low-medium"


def test_missing_parameters_are_reported_not_scored_zero() -> None:
    score = news2(Vitals(pulse_bpm=135))
    assert score.points["pulse"] == 3
    assert set(score.missing) == {"respiration_rate", "spo2", "systolic_bp", "temperature"}
    assert "respiration_rate" not in score.points
    assert set(score.defaulted) == {"consciousness", "air_or_oxygen"}
    assert score.partial


def test_profile_values_are_not_marked_defaulted() -> None:
    score = news2(Vitals(pulse_bpm=70, consciousness="alert", on_oxygen=False))
    assert score.defaulted == ()


def test_scale2_is_used_only_when_asked() -> None:
    vitals = Vitals(spo2_pct=89, on_oxygen=False, consciousness="alert")
    assert news2(vitals).points["spo2"] == 3  # scale 1: <= 91
    assert news2(vitals, spo2_scale=2).points["spo2"] == 0  # scale 2: 88-92


@pytest.mark.parametrize(
    ("total", "single3", "risk", "level"),
    [
        (0, False, "low", AlertLevel.NONE),
        (2, False, "low", AlertLevel.NONE),
        (3, False, "low", AlertLevel.YELLOW),
        (4, False, "low", AlertLevel.YELLOW),
        (3, True, "low-medium", AlertLevel.ORANGE),
        (5, False, "medium", AlertLevel.ORANGE),
        (6, True, "medium", AlertLevel.ORANGE),
        (7, False, "high", AlertLevel.RED),
        (20, True, "high", AlertLevel.RED),
    ],
)
def test_chart3_risk_and_vigil_levels(
    total: int, single3: bool, risk: str, level: AlertLevel
) -> None:
    assert clinical_risk(total, single_parameter_3=single3) == risk
    assert alert_level(total, single_parameter_3=single3) is level


@pytest.mark.parametrize(
    ("field", "band"),
    [
        ("respiration_rate_per_min", respiration_points),
        ("spo2_pct", spo2_scale1_points),
        ("systolic_mmhg", systolic_points),
        ("pulse_bpm", pulse_points),
        ("temp_c", temperature_points),
    ],
)
def test_scalar_scoring_agrees_with_the_vectorised_bands(field: str, band: object) -> None:
    names = {
        "respiration_rate_per_min": "respiration_rate",
        "spo2_pct": "spo2",
        "systolic_mmhg": "systolic_bp",
        "pulse_bpm": "pulse",
        "temp_c": "temperature",
    }
    values = np.round(np.arange(0, 260, 0.05), 2)
    expected = band(values)  # type: ignore[operator]
    for value, points in zip(values.tolist(), expected.tolist(), strict=True):
        assert news2(Vitals(**{field: value})).points[names[field]] == points, value


@pytest.mark.parametrize("on_oxygen", [False, True])
def test_scalar_scale2_agrees_with_the_vectorised_bands(on_oxygen: bool) -> None:
    values = np.round(np.arange(70, 100.5, 0.05), 2)
    expected = spo2_scale2_points(values, on_oxygen=np.full(values.shape, on_oxygen))
    for value, points in zip(values.tolist(), expected.tolist(), strict=True):
        score = news2(Vitals(spo2_pct=value, on_oxygen=on_oxygen), spo2_scale=2)
        assert score.points["spo2"] == points, value


VITAL_FIELDS = ("respiration_rate_per_min", "spo2_pct", "systolic_mmhg", "pulse_bpm", "temp_c")
finite_or_missing = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        dict.fromkeys(
            ("respiration_rate_per_min", "spo2_pct", "systolic_mmhg", "pulse_bpm", "temp_c"),
            finite_or_missing,
        )
        | {
            "consciousness": st.sampled_from(
                [None, "alert", "new_confusion", "voice", "pain", "unresponsive"]
            ),
            "on_oxygen": st.sampled_from([None, True, False]),
        }
    ),
    st.sampled_from([1, 2]),
)
def test_any_finite_or_missing_vitals_score_without_error(
    values: dict[str, object], scale: Literal[1, 2]
) -> None:
    score = news2(Vitals(**values), spo2_scale=scale)  # type: ignore[arg-type]
    assert 0 <= score.total <= 20
    assert score.partial == bool(score.missing or score.defaulted)


# The 0-point ("normal") band of each Chart 1 row, from the chart's own text: a value
# that scores lies below it (low) or above it (high).
NORMAL: dict[str, tuple[str, Sequence[tuple[float, int]], float, float]] = {
    "respiration_rate": ("respiration_rate_per_min", RESPIRATION, 12, 20),
    "systolic_bp": ("systolic_mmhg", SYSTOLIC, 111, 219),
    "pulse": ("pulse_bpm", PULSE, 51, 90),
    "temperature": ("temp_c", TEMPERATURE, 36.1, 38.0),
    "spo2": ("spo2_pct", SPO2_SCALE1, 96, 100),
}


@pytest.mark.parametrize("name", sorted(NORMAL))
def test_each_scoring_parameter_is_named_by_its_side_of_the_normal_band(name: str) -> None:
    field, rows, low, high = NORMAL[name]
    for value, points in rows:
        found = drivers(msgspec.convert({field: value}, Vitals))
        if points == 0:
            assert found == {}, value
            continue
        side = "low" if value < low else "high"
        assert value < low or value > high
        assert found == {f"{name}:{side}": points}, value


def test_spo2_scale2_on_oxygen_scores_high_values_as_high() -> None:
    for value, points in SPO2_SCALE2_O2:
        found = drivers(Vitals(spo2_pct=value, on_oxygen=True), spo2_scale=2)
        found.pop("air_or_oxygen")
        side = "low" if value < 88 else "high"
        assert found == ({f"spo2:{side}": points} if points else {}), value


def test_consciousness_and_oxygen_score_without_a_direction() -> None:
    found = drivers(Vitals(consciousness="voice", on_oxygen=True, pulse_bpm=120))
    assert found == {"consciousness": 3, "air_or_oxygen": 2, "pulse:high": 2}


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        dict.fromkeys(
            ("respiration_rate_per_min", "spo2_pct", "systolic_mmhg", "pulse_bpm", "temp_c"),
            st.one_of(st.none(), st.floats(-1e9, 1e9, allow_nan=False)),
        )
        | {"on_oxygen": st.sampled_from([None, True, False])}
    ),
    st.sampled_from([1, 2]),
)
def test_the_drivers_points_add_up_to_the_total(
    values: dict[str, object], scale: Literal[1, 2]
) -> None:
    vitals = Vitals(**values)  # type: ignore[arg-type]
    found = drivers(vitals, spo2_scale=scale)
    assert sum(found.values()) == news2(vitals, spo2_scale=scale).total
    assert all(points > 0 for points in found.values())
