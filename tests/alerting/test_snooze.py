"""Snoozes by direction and their safety floors (``alerting/snooze.py``), pure."""

from __future__ import annotations

import datetime as dt

import pytest

from alerting.snooze import MAX_SNOOZE_S, Snooze, SnoozeError, apply_snoozes, check_snooze
from schemas import Alert, AlertLevel, Driver

T0 = dt.datetime(2026, 11, 29, 14, 0, tzinfo=dt.UTC)


def snooze(what: str, minutes: float = 60, device_id: str = "wb-0001") -> Snooze:
    return Snooze(
        device_id=device_id,
        what=what,
        until=T0 + dt.timedelta(minutes=minutes),
        by="Anna",
        set_at=T0,
    )


def news2_alert(level: AlertLevel, **points: int) -> Alert:
    found = tuple(Driver(what.replace("__", ":"), p) for what, p in points.items())
    return Alert(
        alert_id="a1",
        device_id="wb-0001",
        level=level,
        raised_at=T0,
        source="news2",
        summary="NEWS2",
        score=sum(points.values()),
        drivers=found,
    )


def other(source: str, level: AlertLevel = AlertLevel.YELLOW, alert_id: str = "a2") -> Alert:
    return Alert(
        alert_id=alert_id,
        device_id="wb-0001",
        level=level,
        raised_at=T0,
        source=source,
        summary=source,
    )


def test_a_snoozed_direction_holds_back_what_it_alone_raised() -> None:
    # Pulse 131+ (3 points) alone: orange (RCP Chart 3: a single parameter scoring 3).
    alert = news2_alert(AlertLevel.ORANGE, pulse__high=3)
    verdict = apply_snoozes(alert, [snooze("pulse:high")], T0)
    assert verdict.held
    assert [s.what for s in verdict.by] == ["pulse:high"]


def test_the_other_direction_is_not_snoozed() -> None:
    alert = news2_alert(AlertLevel.ORANGE, pulse__low=3)
    assert apply_snoozes(alert, [snooze("pulse:high")], T0).alert == alert


def test_what_is_left_after_the_snoozed_points_sets_the_level() -> None:
    # 2 + 2 + 1 = 5: orange (medium). Without pulse: 3, yellow.
    alert = news2_alert(
        AlertLevel.ORANGE, pulse__high=2, respiration_rate__high=2, temperature__high=1
    )
    verdict = apply_snoozes(alert, [snooze("pulse:high")], T0)
    assert verdict.alert is not None
    assert verdict.alert.level is AlertLevel.YELLOW
    assert "pulse:high snoozed" in verdict.alert.summary
    # Without pulse and temperature: 2, no alert at all.
    both = apply_snoozes(alert, [snooze("pulse:high"), snooze("temperature:high")], T0)
    assert both.held


def test_a_snooze_that_does_not_change_the_level_changes_nothing() -> None:
    # Two parameters at 3: orange either way.
    alert = news2_alert(AlertLevel.ORANGE, pulse__high=3, systolic_bp__low=3)
    assert apply_snoozes(alert, [snooze("pulse:high")], T0).alert == alert


def test_a_snooze_never_raises_the_level_it_was_given() -> None:
    # Held at yellow by the processor (persistence) though the points say orange.
    alert = news2_alert(AlertLevel.YELLOW, pulse__high=3, temperature__high=2)
    verdict = apply_snoozes(alert, [snooze("temperature:high")], T0)
    assert verdict.alert == alert


@pytest.mark.parametrize(
    "alert",
    [
        news2_alert(AlertLevel.RED, pulse__high=3, respiration_rate__high=3, temperature__high=1),
        news2_alert(AlertLevel.ORANGE, spo2__low=3),
        other("sos", AlertLevel.RED),
        other("fall", AlertLevel.ORANGE),
    ],
    ids=["red", "critical-spo2", "sos", "fall"],
)
def test_the_safety_floors_are_never_snoozed(alert: Alert) -> None:
    every = [snooze(w) for w in ("pulse:high", "respiration_rate:high", "spo2:low", "sedentary")]
    assert apply_snoozes(alert, every, T0).alert == alert


def test_a_milder_spo2_can_be_snoozed() -> None:
    alert = news2_alert(AlertLevel.YELLOW, spo2__low=2, pulse__high=1)
    assert apply_snoozes(alert, [snooze("spo2:low")], T0).held


def test_other_causes_are_snoozed_by_name_and_fences_one_by_one() -> None:
    assert apply_snoozes(other("stress"), [snooze("stress")], T0).held
    assert not apply_snoozes(other("fatigue"), [snooze("stress")], T0).held
    home = Alert(
        alert_id="wb-0001:3:geofence:orange:home",
        device_id="wb-0001",
        level=AlertLevel.ORANGE,
        raised_at=T0,
        source="geofence",
        summary="Fence breached: home",
    )
    assert apply_snoozes(home, [snooze("geofence:home")], T0).held
    assert not apply_snoozes(home, [snooze("geofence:park")], T0).held


def test_an_ended_snooze_or_another_wearers_holds_nothing() -> None:
    alert = other("stress")
    assert not apply_snoozes(alert, [snooze("stress", minutes=-1)], T0).held
    assert not apply_snoozes(alert, [snooze("stress", device_id="wb-0002")], T0).held


def test_an_ending_alert_is_never_held_back() -> None:
    ended = Alert(
        alert_id="a3",
        device_id="wb-0001",
        level=AlertLevel.NONE,
        raised_at=T0,
        source="stress",
        summary="ended",
        change="resolved",
    )
    assert apply_snoozes(ended, [snooze("stress")], T0).alert == ended


@pytest.mark.parametrize(
    ("what", "seconds", "refused"),
    [
        ("sos", 60, "cannot be snoozed"),
        ("fall", 60, "cannot be snoozed"),
        ("pulse:sideways", 60, "unknown direction"),
        ("consciousness", 60, "unknown direction"),
        ("geofence:", 60, "unknown direction"),
        ("pulse:high", MAX_SNOOZE_S + 1, "at most"),
        ("pulse:high", 0, "at most"),
    ],
)
def test_unknown_or_unsafe_snoozes_are_refused(what: str, seconds: float, refused: str) -> None:
    with pytest.raises(SnoozeError, match=refused):
        check_snooze(what, seconds)


@pytest.mark.parametrize("what", ["pulse:high", "spo2:low", "stress", "geofence:care-home"])
def test_known_directions_are_accepted(what: str) -> None:
    check_snooze(what, 3600)
