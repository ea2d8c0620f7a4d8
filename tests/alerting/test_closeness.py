"""Closeness ranking from a call log: frequency and duration, explained."""

from __future__ import annotations

import datetime as dt

from alerting.closeness import CallLogEntry, rank
from alerting.contacts import Contact

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
DAILY = Contact(contact_id="d", name="Daily", phone="+447700900011")
WEEKLY = Contact(contact_id="w", name="Weekly", phone="+447700900012")
NEVER = Contact(contact_id="n", name="Never", phone="+447700900013")
OLD = Contact(contact_id="o", name="Old", phone="+447700900014")


def call(contact: Contact, days_ago: float, minutes: float) -> CallLogEntry:
    return CallLogEntry(
        phone=contact.phone,
        started_at=NOW - dt.timedelta(days=days_ago),
        duration_s=minutes * 60,
    )


def test_frequency_and_duration_both_count_and_each_rank_says_why() -> None:
    log = [call(DAILY, d, 3) for d in range(1, 29)]  # 28 short calls: 84 min
    log += [call(WEEKLY, d, 30) for d in (2, 9, 16, 23)]  # 4 long calls: 120 min
    log += [call(NEVER, 1, 0), call(OLD, 45, 600)]  # missed, and outside the window
    ranked = rank([NEVER, OLD, WEEKLY, DAILY], log, now=NOW)
    assert [r.contact.name for r in ranked[:2]] == ["Daily", "Weekly"]
    daily, weekly = ranked[0], ranked[1]
    # Daily: all the calls, 84/120 of the time; Weekly: 4/28 of the calls, all the time.
    assert daily.closeness == (1 + 84 / 120) / 2
    assert weekly.closeness == (4 / 28 + 1) / 2
    assert daily.why == "28 answered calls, 84 min in the last 30 days"
    assert [r.closeness for r in ranked[2:]] == [0.0, 0.0]
    assert ranked[2].why == "no answered call in the last 30 days"


def test_ties_go_to_the_most_recent_call_then_the_name() -> None:
    log = [call(WEEKLY, 5, 10), call(DAILY, 1, 10)]
    assert [r.contact.name for r in rank([WEEKLY, DAILY], log, now=NOW)] == ["Daily", "Weekly"]
    assert [r.contact.name for r in rank([WEEKLY, NEVER, OLD], [], now=NOW)] == [
        "Never",
        "Old",
        "Weekly",
    ]
