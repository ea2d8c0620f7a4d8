"""Wellbeing indices in the stream: HRV windows on real RR, daily aggregates, warnings."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pytest

import schemas
from schemas import AlertLevel, HeartRate, SleepStage, Steps, WearState
from schemas.scores import IndexRecord
from schemas.telemetry import AnySample
from stream_processors.device import DeviceState, ProcessorSettings, WearerProfile, step
from stream_processors.wellbeing import (
    DailyAggregate,
    WellbeingResult,
    WellbeingSettings,
    WellbeingState,
    advance,
    packed,
    packed_days,
    unpacked,
)
from tests.scoring.test_hrv import pyhrv_series

UTC = dt.UTC
START = dt.datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
SETTINGS = WellbeingSettings()


def beats(rr_ms: np.ndarray, start: dt.datetime, per_sample: int = 5) -> Iterator[HeartRate]:
    """RR intervals as heart-rate samples, each stamped at the end of its last interval."""
    ends = np.cumsum(rr_ms)
    for i in range(0, len(rr_ms), per_sample):
        chunk = rr_ms[i : i + per_sample]
        yield HeartRate(
            measured_at=start + dt.timedelta(milliseconds=float(ends[i + len(chunk) - 1])),
            heart_rate_bpm=round(60_000.0 / float(chunk.mean()), 1),
            rr_ms=tuple(float(x) for x in chunk),
        )


def feed(
    samples: Sequence[AnySample],
    state: WellbeingState | None = None,
    *,
    tz: str = "UTC",
    settings: WellbeingSettings = SETTINGS,
    batch: int = 10,
) -> tuple[WellbeingState, list[IndexRecord], list[WellbeingResult]]:
    """Run samples through ``advance`` in batches, as the processor does."""
    state = state or WellbeingState()
    records: list[IndexRecord] = []
    results = []
    for i in range(0, len(samples), batch):
        result = advance(state, samples[i : i + batch], device_id="wb-1", tz=tz, settings=settings)
        state = result.state
        records.extend(result.records)
        results.append(result)
    return state, records, results


def warnings_of(results: list[WellbeingResult]) -> list[str]:
    return [w.index for r in results for w in r.warnings]


def stressed(rr: np.ndarray) -> np.ndarray:
    """The same beats, faster and with a third of the variability (sympathetic drive)."""
    mean = float(rr.mean())
    return np.asarray(0.8 * mean + 0.3 * (rr - mean))


def test_stress_on_real_rr_is_usual_at_rest_and_warns_once_when_it_stays_high() -> None:
    rr = pyhrv_series("SampleNNISeriesLong.npy")  # MIT-BIH NSR, 60 minutes at rest
    rest = list(beats(rr, START))
    after_rest = START + dt.timedelta(minutes=60)  # the series lasts 59 min 59 s
    tense = list(beats(stressed(rr[:1600]), after_rest))  # about 17 minutes
    _, records, results = feed([*rest, *tense])

    stress = [r for r in records if r.name == "mental_stress"]
    # Twelve windows at rest (the last one closes when the stressed beats begin).
    at_rest = [r for r in stress if r.evaluated_at <= after_rest]
    assert len(at_rest) == 12
    assert all(r.value is None for r in at_rest[:7])  # no baseline yet: no index
    judged = [float(r.value) for r in at_rest[7:] if r.value is not None]
    assert len(judged) == 5
    assert judged[0] > 99  # the eighth window (docs/indices.md quotes this)
    # Against only seven baseline windows, single resting windows swing widely (this
    # record's eighth window scores above 99); persistence is what keeps rest quiet.
    assert min(judged) < 85
    assert not [w for r in results for w in r.warnings if w.at <= after_rest]
    high = [r for r in stress if r.evaluated_at > after_rest]
    assert len(high) >= 3
    assert all(r.value is not None and r.value >= 95 for r in high)
    assert (high[0].inputs["ln_stress_index"]["deviation_sd"] or 0.0) > 2
    # Persistence: three windows at or above 85 make one warning, not three.
    assert warnings_of(results) == ["mental_stress"]
    (warning,) = [w for r in results for w in r.warnings]
    assert warning.at == high[2].evaluated_at


def test_a_window_with_walking_or_off_wrist_is_not_used() -> None:
    rr = pyhrv_series("SampleNNISeriesLong.npy")
    samples: list[AnySample] = list(beats(rr, START))
    walking = Steps(measured_at=START + dt.timedelta(seconds=130), steps=150, interval_s=60.0)
    off = WearState(measured_at=START + dt.timedelta(seconds=700), on_wrist=False)
    mixed = sorted([*samples, walking, off], key=lambda s: s.measured_at)
    _, clean, _ = feed(samples)
    _, spoiled, _ = feed(mixed)
    clean_times = {r.evaluated_at for r in clean}
    spoiled_times = {r.evaluated_at for r in spoiled}
    window = dt.timedelta(minutes=5)
    assert clean_times - spoiled_times == {START + window, START + 3 * window}


def test_a_window_short_of_coverage_is_not_used() -> None:
    rr = pyhrv_series("SampleNNISeriesLong.npy")
    gap_start, gap_end = 360, 600  # four minutes without beats in the second window
    samples = [
        s
        for s in beats(rr, START)
        if not (
            START + dt.timedelta(seconds=gap_start)
            <= s.measured_at
            < START + dt.timedelta(seconds=gap_end)
        )
    ]
    _, records, _ = feed(samples)
    assert START + dt.timedelta(minutes=10) not in {r.evaluated_at for r in records}
    assert START + dt.timedelta(minutes=15) in {r.evaluated_at for r in records}


def day_of_data(
    day: dt.date,
    rng: np.random.Generator,
    *,
    rr_mean: float,
    rr_sd: float,
    steps: int,
    sleep_h: float,
    tz: dt.tzinfo = UTC,
) -> list[AnySample]:
    """Twelve 5-minute resting windows in the morning, steps in the day, last night's sleep."""
    out: list[AnySample] = []
    wake = dt.datetime.combine(day, dt.time(7, 0), tz)
    out.append(
        SleepStage(
            measured_at=wake - dt.timedelta(hours=sleep_h),
            stage="light",
            duration_s=sleep_h * 3600 - 1,
        )
    )
    for window in range(12):
        start = wake + dt.timedelta(minutes=5 * window)
        # An AR(1) series, so successive differences (RMSSD) follow the SD.
        noise = rng.normal(0.0, rr_sd, 400)
        rr = np.empty(400)
        rr[0] = rr_mean
        for i in range(1, 400):
            rr[i] = rr_mean + 0.5 * (rr[i - 1] - rr_mean) + noise[i]
        rr = rr[np.cumsum(rr) < 299_000]
        out.extend(beats(rr, start, per_sample=60))
    out.extend(
        Steps(
            measured_at=dt.datetime.combine(day, dt.time(hour, 0), tz),
            steps=steps // 12,
            interval_s=3600.0,
        )
        for hour in range(9, 21)
    )
    return sorted(out, key=lambda s: s.measured_at)


def weeks(
    usual_days: int, hard_days: int, *, seed: int = 7, tz: dt.tzinfo = UTC
) -> list[AnySample]:
    rng = np.random.default_rng(seed)
    samples: list[AnySample] = []
    first = dt.date(2026, 9, 1)
    for n in range(usual_days + hard_days + 1):
        hard = n >= usual_days
        samples.extend(
            day_of_data(
                first + dt.timedelta(days=n),
                rng,
                rr_mean=800.0 if hard else 900.0,
                rr_sd=12.0 if hard else 40.0,
                steps=int(rng.normal(4_000 if hard else 8_000, 500)),
                sleep_h=float(rng.normal(5.0 if hard else 7.5, 0.3)),
                tz=tz,
            )
        )
    return samples


def test_daily_indices_stay_usual_on_usual_days() -> None:
    state, records, results = feed(weeks(35, 0))
    fatigue = [r for r in records if r.name == "physical_fatigue"]
    mood = [r for r in records if r.name == "anxiety_depression"]
    assert len(fatigue) == len(mood) == 35  # one per closed day
    assert [d.day for d in state.daily][-1] == dt.date(2026, 9, 1) + dt.timedelta(days=34)
    judged = [r.value for r in [*fatigue, *mood] if r.value is not None]
    assert len(judged) > 20
    assert max(judged) < 85
    assert not [w for w in warnings_of(results) if w != "mental_stress"]


def test_a_hard_week_raises_fatigue_and_mood_warnings_after_their_persistence() -> None:
    _, records, results = feed(weeks(28, 7))
    fatigue = [r for r in records if r.name == "physical_fatigue"]
    mood = [r for r in records if r.name == "anxiety_depression"]
    assert (fatigue[-1].value or 0.0) >= 95
    assert (mood[-1].value or 0.0) >= 95
    assert fatigue[-1].missing == ()  # RMSSD trend, step load and sleep debt all judged
    assert fatigue[-1].inputs["sleep_debt_7night_hours"]["value"] == pytest.approx(2.5, abs=0.4)
    assert mood[-1].missing == ()
    raised = [w for r in results for w in r.warnings if w.index != "mental_stress"]
    assert sorted(w.index for w in raised) == ["anxiety_depression", "physical_fatigue"]
    by_index = {w.index: w for w in raised}
    # Each warning came on the day its persistence was met, not on the first high day.
    for name, persist in (("physical_fatigue", 2), ("anxiety_depression", 3)):
        values = [(r.evaluated_at, r.value or 0.0) for r in records if r.name == name]
        first_high = next(i for i, (_, v) in enumerate(values) if v >= 85)
        assert by_index[name].at == values[first_high + persist - 1][0]


def test_days_are_the_wearers_local_days() -> None:
    tokyo = "Asia/Tokyo"  # UTC+9: local midnight is 15:00 UTC the day before
    steps_late = Steps(
        measured_at=dt.datetime(2026, 9, 1, 14, 30, tzinfo=UTC), steps=500, interval_s=600
    )  # 23:30 in Tokyo on 1 Sept
    steps_next = Steps(
        measured_at=dt.datetime(2026, 9, 1, 15, 30, tzinfo=UTC), steps=700, interval_s=600
    )  # 00:30 in Tokyo on 2 Sept
    state, _, _ = feed([steps_late, steps_next], tz=tokyo, batch=1)
    assert [(d.day, d.steps) for d in state.daily] == [(dt.date(2026, 9, 1), 500.0)]
    assert state.day == dt.date(2026, 9, 2)
    assert state.day_steps == 700
    utc_state, _, _ = feed([steps_late, steps_next], tz="UTC", batch=1)
    assert utc_state.daily == ()  # the same two readings fall on one UTC day
    assert utc_state.day_steps == 1200


@pytest.mark.parametrize(
    ("tz", "around"),
    [
        ("Europe/London", dt.datetime(2026, 3, 29, 1, tzinfo=UTC)),  # spring forward
        ("Europe/London", dt.datetime(2026, 10, 25, 1, tzinfo=UTC)),  # fall back
        ("America/Santiago", dt.datetime(2026, 9, 6, 4, tzinfo=UTC)),  # forward at midnight
        ("America/Santiago", dt.datetime(2026, 4, 5, 3, tzinfo=UTC)),  # back at midnight
        ("Asia/Kolkata", dt.datetime(2026, 6, 1, 18, 30, tzinfo=UTC)),  # a half-hour offset
    ],
)
def test_each_step_reading_counts_for_its_local_day_across_clock_changes(
    tz: str, around: dt.datetime
) -> None:
    """The daily step totals agree with converting each reading's time, on clock-change days."""
    times = [around + dt.timedelta(minutes=10 * i) for i in range(-6 * 30, 6 * 30)]
    samples = [Steps(measured_at=t, steps=i + 1, interval_s=600) for i, t in enumerate(times)]
    expected: dict[dt.date, float] = {}
    for sample in samples:
        day = sample.measured_at.astimezone(ZoneInfo(tz)).date()
        expected[day] = expected.get(day, 0.0) + sample.steps
    state, _, _ = feed(samples, tz=tz, batch=len(samples))
    got = {d.day: d.steps for d in state.daily}
    assert state.day is not None
    got[state.day] = float(state.day_steps or 0)
    assert got == expected


def test_silent_days_count_as_days_without_data_and_late_data_is_left_out() -> None:
    first = Steps(measured_at=dt.datetime(2026, 9, 1, 12, tzinfo=UTC), steps=100, interval_s=60)
    later = Steps(measured_at=dt.datetime(2026, 9, 5, 12, tzinfo=UTC), steps=300, interval_s=60)
    late = Steps(measured_at=dt.datetime(2026, 9, 2, 12, tzinfo=UTC), steps=999, interval_s=60)
    state, records, _ = feed([first, later, late], batch=1)
    assert [d.day for d in state.daily] == [dt.date(2026, 9, d) for d in (1, 2, 3, 4)]
    assert state.daily[0].steps == 100.0
    assert all(np.isnan(d.steps) for d in state.daily[1:])  # not "zero steps"
    assert state.day_steps == 300  # the late reading for a closed day was not added
    # Records only for days with data (the three silent days yield none).
    assert sorted({r.evaluated_at.date() for r in records}) == [dt.date(2026, 9, 2)]


def test_a_year_of_silence_keeps_only_the_history_window() -> None:
    first = Steps(measured_at=dt.datetime(2025, 9, 1, 12, tzinfo=UTC), steps=100, interval_s=60)
    later = Steps(measured_at=dt.datetime(2026, 9, 1, 12, tzinfo=UTC), steps=300, interval_s=60)
    state, _, _ = feed([first, later], batch=1)
    assert len(state.daily) == SETTINGS.history_days
    assert state.daily[-1].day == dt.date(2026, 8, 31)


def test_an_unknown_time_zone_is_refused_when_the_profile_is_made() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        WearerProfile(tz="Mars/Olympus")


def batch_of(seq: int, samples: Sequence[AnySample]) -> schemas.TelemetryBatchV1:
    return schemas.TelemetryBatchV1(
        device_id="wb-1", seq=seq, sent_at=samples[-1].measured_at, samples=tuple(samples)
    )


@pytest.mark.parametrize("share", [False, True])
def test_the_processor_raises_a_yellow_reminder_and_stores_index_values(share: bool) -> None:
    rr = pyhrv_series("SampleNNISeriesLong.npy")
    after_rest = START + dt.timedelta(minutes=60)
    samples = [*beats(rr, START), *beats(stressed(rr[:1600]), after_rest)]
    profile = WearerProfile(share_wellbeing_warnings=share)
    state: DeviceState | None = None
    alerts: list[schemas.Alert] = []
    indices: list[IndexRecord] = []
    for seq, i in enumerate(range(0, len(samples), 10)):
        result = step(state, batch_of(seq, samples[i : i + 10]), profile, ProcessorSettings())
        state = result.state
        alerts.extend(result.alerts)
        indices.extend(result.indices)
    (alert,) = alerts
    assert (alert.level, alert.source) == (AlertLevel.YELLOW, "stress")
    assert alert.share_with_contacts is share
    assert "not a diagnosis" in alert.summary
    assert len([i for i in indices if i.name == "mental_stress"]) >= 15
    # The reminder leaves the NEWS2 ladder alone (healthy pulse: nothing alerted there).
    assert state is not None
    assert state.alerted_level is AlertLevel.NONE


def test_rr_at_ble_resolution_survives_the_float32_window_exactly() -> None:
    """The Heart Rate Service sends RR in 1/1024 s: every such value packs without loss."""
    rr_ms = [k * 1000 / 1024 for k in range(200, 2049)]  # 195 ms to 2 s
    assert list(unpacked(packed(rr_ms))) == rr_ms
    assert len(packed(rr_ms)) == 4 * len(rr_ms)  # and takes half the bytes of float64


def test_the_packed_daily_history_keeps_days_and_missing_values_exactly() -> None:
    days = [
        DailyAggregate(dt.date(2026, 9, 1), 3.4567891234, 45.25, math.nan, 6012.0, 7.125),
        DailyAggregate(dt.date(2026, 9, 2), math.nan, math.nan, 310.5, math.nan, math.nan),
    ]
    back = WellbeingState(days=packed_days(days)).daily
    assert [d.day for d in back] == [d.day for d in days]
    for got, want in zip(back, days, strict=True):
        for g, w in zip(
            msgspec.structs.astuple(got)[1:], msgspec.structs.astuple(want)[1:], strict=True
        ):
            assert g == w or (math.isnan(g) and math.isnan(w))
