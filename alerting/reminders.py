"""Scheduled reminders: medication, water, exercise, sleep, spoken on the band on time.

The seeds' voice reminders (issue 5, item 6). A wearer's profile lists them
(``WearerProfile.reminders``) as local times on chosen weekdays in the wearer's time
zone (``WearerProfile.tz``), so "08:00" stays 08:00 across daylight-saving changes:

* a time that does not exist on a spring-forward day (02:30 in a gap) is reminded as
  the clock jumps past it (it reads 03:30 then);
* a time that happens twice on a fall-back day is reminded once, the first time.

Each occurrence has a key made of the device, the kind and the local date and time;
the ladder store records it (``LadderDriver.on_reminder``), so a reminder is delivered
once even when the scheduler runs it again after a restart. A runner that was down when
a reminder fell due delivers it on start if it is at most ``LATE_S`` late; an older one
is skipped (a medication reminder hours late could make the wearer take a dose twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import msgspec

if TYPE_CHECKING:
    from alerting.driver import LadderDriver

log = logging.getLogger(__name__)

ReminderKind = Literal["medication", "water", "exercise", "sleep"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LATE_S = 15 * 60.0
_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class Reminder(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of reminder at local times (``"08:00"``) on some weekdays.

    ``note``: the wearer's own words, spoken after the reminder ("the blue tablet").
    """

    kind: ReminderKind
    at: tuple[str, ...]
    days: tuple[Weekday, ...] = WEEK
    note: str = ""

    def __post_init__(self) -> None:
        """Refuse times that are not HH:MM, and reminders that never happen."""
        if not self.at or not self.days:
            raise ValueError(f"a {self.kind} reminder needs at least one time and one day")
        for text in self.at:
            if not _CLOCK_TIME.fullmatch(text):
                raise ValueError(f"reminder time {text!r} is not HH:MM (00:00 to 23:59)")
        if len(self.note) > 200:
            raise ValueError("a reminder's note is at most 200 characters")


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    """A reminder due at ``due_at`` (UTC), ``local`` being the wearer's clock time."""

    device_id: str
    kind: ReminderKind
    note: str
    local: str  # "2026-11-29T08:00"
    due_at: dt.datetime

    @property
    def key(self) -> str:
        """Unique per device, kind and local time: a reminder is delivered once."""
        return f"{self.device_id}:reminder:{self.kind}:{self.local}"


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def occurrences(
    device_id: str,
    reminders: Iterable[Reminder],
    tz: str,
    since: dt.datetime,
    until: dt.datetime,
) -> list[Occurrence]:
    """The reminders due after ``since`` and at or before ``until``, in time order."""
    zone = ZoneInfo(tz)
    # One local day either side: the UTC window may start or end on another local date.
    first = since.astimezone(zone).date() - dt.timedelta(days=1)
    last = until.astimezone(zone).date() + dt.timedelta(days=1)
    due = []
    for reminder in reminders:
        for day in _days(first, last):
            if WEEK[day.weekday()] not in reminder.days:
                continue
            for text in reminder.at:
                hour, minute = (int(part) for part in text.split(":"))
                # fold=0: the first of a repeated time; a time in a gap lands after it.
                local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                due_at = local.astimezone(dt.UTC)
                if since < due_at <= until:
                    due.append(
                        Occurrence(
                            device_id=device_id,
                            kind=reminder.kind,
                            note=reminder.note,
                            local=f"{day.isoformat()}T{text}",
                            due_at=due_at,
                        )
                    )
    return sorted(due, key=lambda o: (o.due_at, o.kind))


# What the scheduler reads each round: (device id, its reminders, its time zone).
Schedules = Callable[[], Iterable[tuple[str, tuple[Reminder, ...], str]]]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def run_reminders(
    driver: LadderDriver,
    schedules: Schedules,
    stop: asyncio.Event,
    *,
    every_s: float = 15.0,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> None:
    """Deliver each reminder as it falls due until ``stop``; errors are logged.

    The first round looks back ``LATE_S``: what fell due while the runner was down (and
    was not delivered: the store knows) is delivered then.
    """
    since = clock() - dt.timedelta(seconds=LATE_S)
    while not stop.is_set():
        now = clock()
        try:
            due = [
                o
                for device_id, reminders, tz in await asyncio.to_thread(lambda: list(schedules()))
                for o in occurrences(device_id, reminders, tz, since, now)
            ]
            for occurrence in sorted(due, key=lambda o: o.due_at):
                await driver.on_reminder(occurrence)
            since = now
        except Exception:
            log.exception("delivering reminders failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
