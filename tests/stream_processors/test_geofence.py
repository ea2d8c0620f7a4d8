"""Geofences: geometry against great-circle distances, accuracy, index, jitter, schedules."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from scoring.geofence import Area, Circle, FenceGeometry
from stream_processors.geofence import Fence, FenceSet, FenceStatus, Fix, Schedule

HOME = (51.5007, -0.1246)
T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance, as an independent check of the local projection."""
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def offset(point: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat, lon = point
    dlat = math.degrees(north_m / 6_371_008.8)
    dlon = math.degrees(east_m / (6_371_008.8 * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def home(**kw: object) -> Fence:
    shape = Circle(lat_deg=HOME[0], lon_deg=HOME[1], radius_m=100)
    return Fence(fence_id="home", name="Home", shape=shape, **kw)  # type: ignore[arg-type]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fix(seconds: float, north_m: float, east_m: float = 0.0, accuracy_m: float = 5.0) -> Fix:
    lat, lon = offset(HOME, north_m, east_m)
    return Fix(at(seconds), lat, lon, accuracy_m)


def run(fences: FenceSet, fixes: list[Fix]) -> list[tuple[str, float]]:
    states: dict[str, FenceStatus] = {}
    events: list[tuple[str, float]] = []
    for f in fixes:
        states, new = fences.step(states, f)
        events += [(e.kind, (e.at - T0).total_seconds()) for e in new]
    return events


@pytest.mark.parametrize(("north_m", "east_m"), [(500, 0), (0, 800), (-300, -400), (2000, 2000)])
def test_circle_distance_agrees_with_the_great_circle(north_m: float, east_m: float) -> None:
    geometry = FenceGeometry([Circle(lat_deg=HOME[0], lon_deg=HOME[1], radius_m=100)], [0.0])
    lat, lon = offset(HOME, north_m, east_m)
    x, y = geometry.projection.to_xy(lat, lon)
    expected = haversine_m(HOME, (lat, lon)) - 100
    assert geometry.signed_distance(0, x, y) == pytest.approx(expected, rel=0.002)


def test_polygon_is_negative_inside_and_positive_outside() -> None:
    corners = [offset(HOME, n, e) for n, e in [(-100, -100), (-100, 100), (100, 100), (100, -100)]]
    geometry = FenceGeometry([Area(vertices=tuple(corners))], [0.0])
    inside = geometry.projection.to_xy(*offset(HOME, 0, 50))
    outside = geometry.projection.to_xy(*offset(HOME, 0, 180))
    assert geometry.signed_distance(0, *inside) == pytest.approx(-50, abs=1)
    assert geometry.signed_distance(0, *outside) == pytest.approx(80, abs=1)


def test_accuracy_makes_boundary_fixes_uncertain() -> None:
    geometry = FenceGeometry([Circle(lat_deg=HOME[0], lon_deg=HOME[1], radius_m=100)], [25.0])

    def verdict(north_m: float, accuracy_m: float) -> str:
        return geometry.verdicts(*offset(HOME, north_m, 0), accuracy_m)[0][0]

    assert verdict(130, 0) == "outside"  # 30 m out, beyond the 25 m margin
    assert verdict(130, 10) == "uncertain"  # could be 20 m out: within the margin
    assert verdict(80, 10) == "inside"
    assert verdict(80, 30) == "uncertain"  # the accuracy circle crosses the boundary


def test_the_spatial_index_gives_the_same_verdicts_as_measuring_every_fence() -> None:
    rng = random.Random(4)
    shapes = [
        Circle(
            lat_deg=HOME[0] + rng.uniform(-0.05, 0.05),
            lon_deg=HOME[1] + rng.uniform(-0.08, 0.08),
            radius_m=rng.uniform(30, 400),
        )
        for _ in range(300)
    ]
    margins = [rng.uniform(0, 50) for _ in shapes]
    geometry = FenceGeometry(shapes, margins)
    for _ in range(200):
        lat, lon = HOME[0] + rng.uniform(-0.06, 0.06), HOME[1] + rng.uniform(-0.09, 0.09)
        accuracy = rng.uniform(0, 60)
        got = geometry.verdicts(lat, lon, accuracy)
        x, y = geometry.projection.to_xy(lat, lon)
        for i, (verdict, _) in enumerate(got):
            d = geometry.signed_distance(i, x, y)
            expected = (
                "outside"
                if d - accuracy > margins[i]
                else "inside"
                if d + accuracy <= 0
                else "uncertain"
            )
            assert verdict == expected


def test_jitter_at_the_boundary_raises_nothing() -> None:
    fences = FenceSet([home(dwell_s=60)])
    # Two hours of fixes scattered +-30 m around the 100 m boundary, accuracy 15 m.
    rng = random.Random(1)
    fixes = [fix(t, 100 + rng.uniform(-30, 30), accuracy_m=15) for t in range(0, 7200, 10)]
    assert run(fences, fixes) == []


def test_walking_away_breaches_after_the_dwell_and_coming_back_returns() -> None:
    fences = FenceSet([home(dwell_s=60)])
    # Surely outside once more than margin + accuracy (25 + 5 m) past the 100 m boundary:
    # from t = 20 s; the breach follows 60 s later.
    away = [fix(t, 50 + 5 * t) for t in range(0, 200, 10)]
    back = [fix(200 + t, 20) for t in range(0, 200, 10)]
    events = run(fences, away + back)
    assert events == [("breach", 80.0), ("return", 260.0)]


def test_a_fence_to_stay_out_of_breaches_on_entering() -> None:
    lake = Fence(
        fence_id="lake",
        name="Lake",
        shape=Circle(lat_deg=HOME[0], lon_deg=HOME[1], radius_m=100),
        rule="stay_outside",
        dwell_s=0,
    )
    events = run(FenceSet([lake]), [fix(0, 300), fix(10, 40), fix(20, 300)])
    assert events == [("breach", 10.0), ("return", 20.0)]


def test_inaccurate_fixes_are_ignored() -> None:
    fences = FenceSet([home(dwell_s=0)], max_accuracy_m=100)
    assert run(fences, [fix(0, 5000, accuracy_m=500)]) == []
    assert run(fences, [fix(0, 5000, accuracy_m=50)]) == [("breach", 0.0)]


def test_overnight_schedule_in_the_wearers_time_zone() -> None:
    night = Schedule(start=dt.time(22, 0), end=dt.time(7, 0), tz="Europe/Paris")
    paris = dt.timezone(dt.timedelta(hours=1))  # November: UTC+1
    assert night.active(dt.datetime(2026, 11, 22, 23, 30, tzinfo=paris))
    assert night.active(dt.datetime(2026, 11, 23, 6, 59, tzinfo=paris))
    assert not night.active(dt.datetime(2026, 11, 23, 7, 0, tzinfo=paris))
    assert not night.active(dt.datetime(2026, 11, 22, 12, 0, tzinfo=paris))
    # Weekdays name the day the window starts: Sunday night belongs to Sunday (6).
    sundays = Schedule(start=dt.time(22, 0), end=dt.time(7, 0), tz="Europe/Paris", weekdays=(6,))
    assert sundays.active(dt.datetime(2026, 11, 23, 3, 0, tzinfo=paris))  # Monday 03:00
    assert not sundays.active(dt.datetime(2026, 11, 24, 3, 0, tzinfo=paris))


def test_a_breach_is_closed_when_the_schedule_ends() -> None:
    # Active 12:00-12:10 UTC only.
    window = Schedule(start=dt.time(12, 0), end=dt.time(12, 10), tz="UTC")
    fences = FenceSet([home(dwell_s=0, schedule=window)])
    events = run(fences, [fix(0, 500), fix(300, 500), fix(700, 500)])
    assert events == [("breach", 0.0), ("return", 700.0)]


def test_invalid_fences_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="positive radius"):
        FenceSet([Fence(fence_id="a", name="a", shape=Circle(lat_deg=0, lon_deg=0, radius_m=0))])
    bow_tie = Area(vertices=((0, 0), (0.001, 0.001), (0, 0.001), (0.001, 0)))
    with pytest.raises(ValueError, match="not valid"):
        FenceSet([Fence(fence_id="b", name="b", shape=bow_tie)])
    with pytest.raises(ValueError, match="unique"):
        FenceSet([home(), home()])
