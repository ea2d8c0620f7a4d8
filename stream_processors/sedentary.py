"""Sedentary reminders from steps, in device time: "no movement for an hour while awake".

Sources: the WHO 2020 guidelines on physical activity and sedentary behaviour (Bull et
al., Br J Sports Med 2020;54:1451-62) recommend that adults and older adults limit
sedentary time and break it up with activity of any intensity; the 250-steps-in-an-hour
rule of consumer trackers' move reminders (e.g. Fitbit's, default 09:00-17:00) is the
common way a band turns that into a reminder. Here:

* a *still spell* starts at the first steps sample on the wrist, and restarts whenever
  ``min_steps`` steps have been counted since it started (movement broke it up);
* sleep (a sleep-stage sample other than ``wake``) and off-wrist time end it: neither is
  sedentary behaviour the wearer can act on;
* only waking hours count (``hours``, local time in the wearer's zone): a spell that
  began at night counts from the morning's start;
* once ``after_s`` of counted time has passed, the wearer gets one yellow reminder for
  the spell (never shared with contacts: it is advice, not a warning).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import msgspec

from schemas.telemetry import AnySample, SleepStage, Steps, WearState


class SedentarySettings(msgspec.Struct, frozen=True, kw_only=True):
    """When a still spell becomes a reminder."""

    after_s: float = 3600.0
    min_steps: int = 250  # steps that break a spell up
    hours: tuple[int, int] = (8, 21)  # waking hours, local [start, end)


class SedentaryState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The current still spell, if any."""

    since: dt.datetime | None = None
    steps: int = 0
    reminded: bool = False


def _counted_from(since: dt.datetime, tz: ZoneInfo, hours: tuple[int, int]) -> dt.datetime:
    """The spell's start, moved to the start of waking hours if it began before them."""
    local = since.astimezone(tz)
    wake = local.replace(hour=hours[0], minute=0, second=0, microsecond=0)
    return max(since, wake.astimezone(since.tzinfo))


def _in_waking_hours(at: dt.datetime, tz: ZoneInfo, hours: tuple[int, int]) -> bool:
    return hours[0] <= at.astimezone(tz).hour < hours[1]


def advance(
    state: SedentaryState,
    samples: Iterable[AnySample],
    *,
    tz: str,
    settings: SedentarySettings,
) -> tuple[SedentaryState, dt.datetime | None]:
    """The state after a batch's samples (device-time order); the time a reminder is due."""
    zone = ZoneInfo(tz)
    since, steps, reminded = state.since, state.steps, state.reminded
    due: dt.datetime | None = None
    for sample in samples:
        if (isinstance(sample, WearState) and not sample.on_wrist) or (
            isinstance(sample, SleepStage) and sample.stage != "wake"
        ):
            since, steps, reminded = None, 0, False
        elif isinstance(sample, Steps):
            at = sample.measured_at
            if since is None or at < since:
                since, steps, reminded = at, 0, False
                continue
            steps += sample.steps
            if steps >= settings.min_steps:
                since, steps, reminded = at, 0, False
                continue
            if reminded or (at - since).total_seconds() < settings.after_s:
                continue  # the counted time is never longer than the spell (cheap test)
            start = _counted_from(since, zone, settings.hours)
            if (
                _in_waking_hours(at, zone, settings.hours)
                and (at - start).total_seconds() >= settings.after_s
            ):
                reminded, due = True, at
    return SedentaryState(since=since, steps=steps, reminded=reminded), due
