"""Sedentary reminders: an hour with under 250 steps while awake, once per still spell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import schemas
from schemas import AlertLevel
from stream_processors.device import ProcessorSettings, WearerProfile, step
from stream_processors.sedentary import SedentarySettings, SedentaryState, advance

BERLIN = "Europe/Berlin"  # UTC+1 in November
SETTINGS = SedentarySettings()
MORNING = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin


def steps_every_minute(start: dt.datetime, minutes: int, per_minute: int) -> list[schemas.Steps]:
    return [
        schemas.Steps(
            measured_at=start + dt.timedelta(minutes=m + 1), steps=per_minute, interval_s=60
        )
        for m in range(minutes)
    ]


def reminders(samples: Sequence[schemas.AnySample], tz: str = BERLIN) -> list[dt.datetime]:
    state = SedentaryState()
    due_times = []
    for sample in samples:  # one sample per batch, as a band sending every minute
        state, due = advance(state, [sample], tz=tz, settings=SETTINGS)
        if due is not None:
            due_times.append(due)
    return due_times


def test_an_hour_with_few_steps_in_the_day_gives_one_reminder() -> None:
    samples = steps_every_minute(MORNING, 150, per_minute=2)  # 120 steps an hour
    # The spell starts at the first sample (minute 1): due an hour later, then not again.
    assert reminders(samples) == [MORNING + dt.timedelta(minutes=61)]


def test_steps_that_break_the_hour_up_prevent_the_reminder() -> None:
    samples = steps_every_minute(MORNING, 180, per_minute=5)  # 300 steps an hour
    assert reminders(samples) == []


def test_sleep_and_taking_the_band_off_end_the_spell() -> None:
    still = steps_every_minute(MORNING, 40, per_minute=0)
    nap = schemas.SleepStage(
        measured_at=MORNING + dt.timedelta(minutes=41), stage="light", duration_s=1200
    )
    after_nap = steps_every_minute(MORNING + dt.timedelta(minutes=61), 40, per_minute=0)
    off = schemas.WearState(measured_at=MORNING + dt.timedelta(minutes=102), on_wrist=False)
    back = steps_every_minute(MORNING + dt.timedelta(minutes=103), 59, per_minute=0)
    assert reminders([*still, nap, *after_nap, off, *back]) == []
    # Without the nap and the break the same stillness is an hour and more.
    assert len(reminders([*still, *after_nap, *back])) == 1


def test_only_waking_hours_count() -> None:
    dawn = dt.datetime(2026, 11, 2, 5, 0, tzinfo=dt.UTC)  # 06:00 in Berlin
    samples = steps_every_minute(dawn, 240, per_minute=0)
    # Counted from 08:00 local (07:00 UTC), so due at 09:00 local.
    assert reminders(samples) == [dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)]
    night = dt.datetime(2026, 11, 2, 20, 30, tzinfo=dt.UTC)  # 21:30 in Berlin
    assert reminders(steps_every_minute(night, 120, per_minute=0)) == []


def test_the_processor_reminds_the_wearer_only_and_can_be_switched_off() -> None:
    samples = steps_every_minute(MORNING, 70, per_minute=1)
    profile = WearerProfile(tz=BERLIN, share_wellbeing_warnings=True)

    def run(p: WearerProfile) -> list[schemas.Alert]:
        state = None
        alerts: list[schemas.Alert] = []
        for i, sample in enumerate(samples):
            batch = schemas.TelemetryBatchV1(
                device_id="wb-1", seq=i, sent_at=sample.measured_at, samples=(sample,)
            )
            r = step(state, batch, p, ProcessorSettings())
            state = r.state
            alerts.extend(r.alerts)
        return alerts

    (alert,) = run(profile)
    assert (alert.level, alert.source) == (AlertLevel.YELLOW, "sedentary")
    assert alert.share_with_contacts is False
    assert alert.raised_at == MORNING + dt.timedelta(minutes=61)
    assert run(WearerProfile(tz=BERLIN, sedentary_reminders=False)) == []
