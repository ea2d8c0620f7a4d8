"""Scheduled reminders: local times in the wearer's zone, once each, on the band."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from alerting.contacts import Directory
from alerting.driver import LadderDriver
from alerting.ladder import Action, DeviceCommand
from alerting.ladder_store import SqliteLadderStore, WearerAlerting
from alerting.reminders import LATE_S, Occurrence, Reminder, occurrences, run_reminders
from vigil.profiles import ProfileError, load_profile

UTC = dt.UTC


def at(*fields: int) -> dt.datetime:
    """A UTC time from (year, month, day[, hour[, minute[, second]]])."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


PILL = Reminder(kind="medication", at=("08:00", "20:00"), note="the blue tablet")


def test_local_times_in_the_wearers_zone_in_time_order() -> None:
    # Shanghai is UTC+8 all year: 08:00 there is 00:00 UTC, 20:00 is 12:00 UTC.
    water = Reminder(kind="water", at=("10:00",))
    due = occurrences(
        "wb-1", [PILL, water], "Asia/Shanghai", at(2026, 11, 28, 23), at(2026, 11, 29, 12)
    )
    assert [(o.kind, o.local, o.due_at) for o in due] == [
        ("medication", "2026-11-29T08:00", at(2026, 11, 29, 0)),
        ("water", "2026-11-29T10:00", at(2026, 11, 29, 2)),
        ("medication", "2026-11-29T20:00", at(2026, 11, 29, 12)),  # the end is inclusive
    ]
    assert due[0].key == "wb-1:reminder:medication:2026-11-29T08:00"


def test_the_window_start_is_exclusive_so_rounds_never_overlap() -> None:
    first = occurrences("wb-1", [PILL], "UTC", at(2026, 11, 29, 7), at(2026, 11, 29, 8))
    second = occurrences("wb-1", [PILL], "UTC", at(2026, 11, 29, 8), at(2026, 11, 29, 9))
    assert [o.local for o in first] == ["2026-11-29T08:00"]
    assert second == []


def test_only_on_the_chosen_weekdays() -> None:
    # 2026-11-29 is a Sunday.
    weekdays = Reminder(kind="exercise", at=("09:00",), days=("mon", "tue", "wed", "thu", "fri"))
    week = occurrences("wb-1", [weekdays], "UTC", at(2026, 11, 28), at(2026, 12, 5))
    assert [o.local[:10] for o in week] == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
        "2026-12-04",
    ]


def test_daylight_saving_keeps_the_local_time() -> None:
    london = "Europe/London"
    # Summer time (BST, UTC+1): 08:00 local is 07:00 UTC; winter: 08:00 UTC.
    summer = occurrences("wb-1", [PILL], london, at(2026, 7, 1), at(2026, 7, 1, 9))
    winter = occurrences("wb-1", [PILL], london, at(2026, 12, 1), at(2026, 12, 1, 9))
    assert [o.due_at for o in summer] == [at(2026, 7, 1, 7)]
    assert [o.due_at for o in winter] == [at(2026, 12, 1, 8)]


def test_a_time_in_the_spring_gap_is_reminded_as_the_clock_jumps_past_it() -> None:
    # 2026-03-29 in London: 01:00 GMT jumps to 02:00 BST; 01:30 never shows on a clock.
    night = Reminder(kind="sleep", at=("01:30",))
    due = occurrences("wb-1", [night], "Europe/London", at(2026, 3, 28, 12), at(2026, 3, 29, 12))
    assert [o.due_at for o in due] == [at(2026, 3, 29, 1, 30)]  # 02:30 BST


def test_a_time_that_happens_twice_in_autumn_is_reminded_once() -> None:
    # 2026-10-25 in London: 02:00 BST goes back to 01:00 GMT; 01:30 happens twice.
    night = Reminder(kind="sleep", at=("01:30",))
    due = occurrences("wb-1", [night], "Europe/London", at(2026, 10, 24, 12), at(2026, 10, 25, 12))
    assert [o.due_at for o in due] == [at(2026, 10, 25, 0, 30)]  # the first: 01:30 BST


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"at": ["8:00"]}, "not HH:MM"),
        ({"at": ["24:00"]}, "not HH:MM"),
        ({"at": []}, "at least one time"),
        ({"at": ["08:00"], "days": []}, "at least one time and one day"),
        ({"at": ["08:00"], "days": ["monday"]}, "Invalid enum value .monday."),
        ({"at": ["08:00"], "kind": "chocolate"}, "Invalid enum value .chocolate."),
    ],
)
def test_a_reminder_that_cannot_happen_is_refused(fields: dict[str, object], error: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=error):
        msgspec.convert({"kind": "medication", **fields}, Reminder)


def test_reminders_come_from_the_wearer_profile_file() -> None:
    profile = load_profile(
        b"""
tz = "Asia/Shanghai"
[[reminders]]
kind = "medication"
at = ["08:00", "20:00"]
note = "the blue tablet"
[[reminders]]
kind = "water"
at = ["10:00", "15:00"]
days = ["mon", "wed", "fri"]
""",
        toml=True,
    )
    assert profile.reminders[0] == PILL
    assert profile.reminders[1].days == ("mon", "wed", "fri")
    with pytest.raises(ProfileError, match="not HH:MM"):
        load_profile(b'[[reminders]]\nkind = "water"\nat = ["25:00"]\n', toml=True)


class Band:
    """Records the band commands the driver sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[Action, str]] = []

    async def send(self, action: Action, text: str) -> str:
        self.sent.append((action, text))
        return f"M{len(self.sent)}"


@pytest.fixture
def ladders(tmp_path: Path) -> Iterator[SqliteLadderStore]:
    store = SqliteLadderStore(tmp_path / "vigil-alerts.db")
    store.put_wearer_alerting(
        "wb-1", WearerAlerting(directory=Directory(wearer_name="Mary", language="en"))
    )
    store.put_wearer_alerting(
        "wb-2", WearerAlerting(directory=Directory(wearer_name="王芳", language="zh"))
    )
    yield store
    store.close()


def occurrence(device_id: str, note: str = "the blue tablet") -> Occurrence:
    return Occurrence(
        device_id=device_id,
        kind="medication",
        note=note,
        local="2026-11-29T08:00",
        due_at=at(2026, 11, 29, 8),
    )


async def test_a_reminder_is_spoken_on_the_band_once_in_the_wearers_language(
    ladders: SqliteLadderStore,
) -> None:
    band = Band()
    driver = LadderDriver(ladders, band, clock=lambda: at(2026, 11, 29, 8, 0, 5))
    await driver.on_reminder(occurrence("wb-1"))
    await driver.on_reminder(occurrence("wb-1"))  # the same occurrence again: once
    await driver.on_reminder(occurrence("wb-2", note=""))
    (mary, mary_text), (_, fang_text) = band.sent
    assert isinstance(mary, DeviceCommand)
    assert mary.device_id == "wb-1"
    assert mary_text == "Mary, it is time to take your medication: the blue tablet."
    assert fang_text == "王芳，该吃药了。"  # noqa: RUF001 - Chinese punctuation
    (ladder,) = ladders.ladders_of("wb-1")
    assert (ladder.cause, ladder.phase, ladder.is_open) == (
        "reminder:medication",
        "reminded",
        False,
    )
    assert ladders.outbox(("sent",))[0].key == mary.key


async def test_the_scheduler_delivers_what_fell_due_while_it_was_down_if_not_too_late(
    ladders: SqliteLadderStore,
) -> None:
    started = at(2026, 11, 29, 8, 10)
    clock = [started]
    band = Band()
    driver = LadderDriver(ladders, band, clock=lambda: clock[0])
    # 08:00 was 10 minutes ago (within LATE_S): delivered; 07:50 was 20 minutes ago: skipped.
    reminders = (
        Reminder(kind="medication", at=("08:00",)),
        Reminder(kind="water", at=("07:50", "08:12")),
    )
    assert LATE_S == 15 * 60
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_reminders(
            driver, lambda: [("wb-1", reminders, "UTC")], stop, every_s=0.01, clock=lambda: clock[0]
        )
    )
    for _ in range(100):
        if band.sent:
            break
        await asyncio.sleep(0.01)
    assert [a.template for a, _ in band.sent] == ["reminder_medication"]
    clock[0] = started + dt.timedelta(minutes=2)  # 08:12: the water
    for _ in range(100):
        if len(band.sent) == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # more rounds: nothing again
    stop.set()
    await task
    assert [a.template for a, _ in band.sent] == ["reminder_medication", "reminder_water"]
