"""The simulated day and night: hypnogram proportions (against published adult figures),
what the band sends while its wearer sleeps or walks, the day-night swing of the pulse, and
the processor's daily sleep totals from the band's stage samples."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics

import msgspec
import pytest

from device_sim.scenario import SleepSpan, load_scenario
from device_sim.sleep import circadian_factor, hypnogram
from device_sim.wristband import SimulatedWristband
from schemas import HeartRate, SleepStage, Steps
from stream_processors.device import ProcessorSettings, WearerProfile, step


def test_a_night_has_the_stage_proportions_of_a_healthy_adult() -> None:
    night = hypnogram(8 * 3600)
    assert night[0][0] == 0
    assert night[-1][1] == 8 * 3600
    assert all(a[1] == b[0] for a, b in itertools.pairwise(night))  # no gaps
    share: dict[str, float] = {}
    for start, end, stage in night:
        share[stage] = share.get(stage, 0.0) + (end - start) / (8 * 3600)
    # Carskadon & Dement: N3 13-23 %, REM 20-25 %, wake under 5 % in a healthy adult night.
    assert 0.13 <= share["deep"] <= 0.23
    assert 0.20 <= share["rem"] <= 0.25
    assert share["wake"] < 0.05
    deep = [end - start for start, end, stage in night if stage == "deep"]
    rem = [end - start for start, end, stage in night if stage == "rem"]
    assert deep == sorted(deep, reverse=True)  # deep sleep fades through the night
    assert rem == sorted(rem)  # REM lengthens
    first_rem = next(start for start, _, stage in night if stage == "rem")
    assert 60 * 60 <= first_rem <= 100 * 60  # REM first comes after about 90 minutes


def test_the_pulse_swings_by_day_lowest_in_the_early_morning() -> None:
    day = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    assert circadian_factor(day.replace(hour=16)) == pytest.approx(1.08)
    assert circadian_factor(day.replace(hour=4)) == pytest.approx(0.92)
    factors = [circadian_factor(day + dt.timedelta(minutes=m)) for m in range(0, 1440, 10)]
    assert statistics.fmean(factors) == pytest.approx(1.0, abs=1e-9)


def test_asleep_the_band_sends_stages_no_steps_and_a_slower_pulse() -> None:
    scenario = load_scenario("asleep")
    (span,) = scenario.sleep
    band = SimulatedWristband("wb-1", scenario, dt.datetime(2026, 12, 3, 21, tzinfo=dt.UTC))
    asleep_hr, awake_hr, stage_s = [], [], 0.0
    for t in range(0, 7800, 45):  # batches that do not line up with the stages
        batch = band.batch(t, t + 45)
        stages = [s for s in batch.samples if isinstance(s, SleepStage)]
        stage_s += sum(s.duration_s for s in stages)
        (steps,) = [s for s in batch.samples if isinstance(s, Steps)]
        (pulse,) = [s for s in batch.samples if isinstance(s, HeartRate)]
        if span.from_s + 45 <= t and t + 45 < span.to_s:
            assert stages
            assert steps.steps == 0
            asleep_hr.append(pulse.heart_rate_bpm)
        elif t + 45 <= span.from_s or t >= span.to_s:
            assert not stages
            awake_hr.append(pulse.heart_rate_bpm)
    assert stage_s == pytest.approx(span.to_s - span.from_s)  # the sleep, exactly once
    assert statistics.fmean(asleep_hr) < 0.95 * statistics.fmean(awake_hr)


def test_the_processor_counts_each_night_in_the_days_it_ended_in() -> None:
    # Asleep 22:00-06:00 UTC (the wearer's zone), run until the next day closes.
    base = load_scenario("asleep")
    scenario = msgspec.structs.replace(base, sleep=(SleepSpan(from_s=7200, to_s=36000),))
    start = dt.datetime(2026, 12, 3, 20, tzinfo=dt.UTC)
    band = SimulatedWristband("wb-1", scenario, start)
    state = None
    for t in range(0, 28 * 3600 + 600, 600):
        result = step(state, band.batch(t, t + 600), WearerProfile(), ProcessorSettings())
        state = result.state
    assert state is not None
    days = {d.day: d.sleep_hours for d in state.wellbeing.daily}
    night = hypnogram(8 * 3600)
    asleep_h = sum(end - start for start, end, stage in night if stage != "wake") / 3600
    before_midnight = sum(
        min(end, 7200) - start for start, end, stage in night if stage != "wake" and start < 7200
    )
    assert days[dt.date(2026, 12, 3)] == pytest.approx(before_midnight / 3600, abs=0.2)
    assert days[dt.date(2026, 12, 3)] + days[dt.date(2026, 12, 4)] == pytest.approx(
        asleep_h, abs=0.05
    )


def test_a_walking_wearer_sends_a_walking_cadence_and_a_resting_one_does_not() -> None:
    scenario = load_scenario("wandering")
    band = SimulatedWristband("wb-1", scenario, dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC))
    rates = {}
    for t in (120, 1000):  # at home; out walking
        (steps,) = [s for s in band.batch(t, t + 60).samples if isinstance(s, Steps)]
        rates[t] = steps.steps * 60 / steps.interval_s
    assert rates[120] < 20
    assert 80 <= rates[1000] <= 120  # above the walking rate of scoring.vital_quality (60)
