"""Which contacts are closest to the wearer, from the wearer's own call log.

The seeds: when the emergency contacts cannot be reached, "the contacts closest to the
wearer by call duration and frequency are chosen and called". Closeness here is the
mean of two shares over a window (30 days by default): the contact's share of the
calls of the best-called contact, and its share of the minutes of the most-talked-to
contact, so a daily short call and a weekly long one both count. Only answered calls
count (a missed call says nothing about who picks up). Ties go to the most recent
call, then to the name, so the order is stable. Each ranked contact carries a
sentence saying why, for the alert timeline and for the wearer who imported the log.

This is an ordering heuristic the wearer can read and correct (by naming emergency
contacts), not a clinical rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import msgspec

from alerting.contacts import Contact


class CallLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One call from the wearer's phone log (imported by the wearer)."""

    phone: str  # E.164, as in the contacts
    started_at: dt.datetime
    duration_s: float  # 0 for a call not answered
    direction: str = "outgoing"  # or "incoming": both say the two talk


class Ranked(msgspec.Struct, frozen=True, kw_only=True):
    """A contact with its closeness (0..1) and why."""

    contact: Contact
    closeness: float
    calls: int
    minutes: float
    why: str


def rank(
    contacts: Sequence[Contact],
    log: Iterable[CallLogEntry],
    *,
    now: dt.datetime,
    window_days: int = 30,
) -> list[Ranked]:
    """``contacts`` ranked closest first; those with no answered call in the window last.

    Numbers are compared as given (both should be E.164).
    """
    since = now - dt.timedelta(days=window_days)
    calls: dict[str, int] = {}
    seconds: dict[str, float] = {}
    last: dict[str, dt.datetime] = {}
    for entry in log:
        if entry.duration_s <= 0 or not since <= entry.started_at <= now:
            continue
        calls[entry.phone] = calls.get(entry.phone, 0) + 1
        seconds[entry.phone] = seconds.get(entry.phone, 0.0) + entry.duration_s
        last[entry.phone] = max(last.get(entry.phone, entry.started_at), entry.started_at)
    most_calls = max((calls.get(c.phone, 0) for c in contacts), default=0)
    most_seconds = max((seconds.get(c.phone, 0.0) for c in contacts), default=0.0)
    ranked = []
    for contact in contacts:
        n = calls.get(contact.phone, 0)
        s = seconds.get(contact.phone, 0.0)
        share_calls = n / most_calls if most_calls else 0.0
        share_time = s / most_seconds if most_seconds else 0.0
        closeness = (share_calls + share_time) / 2
        minutes = s / 60
        why = (
            f"{n} answered calls, {minutes:.0f} min in the last {window_days} days"
            if n
            else f"no answered call in the last {window_days} days"
        )
        ranked.append(
            Ranked(contact=contact, closeness=closeness, calls=n, minutes=minutes, why=why)
        )
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)

    def order(r: Ranked) -> tuple[float, float, str]:
        latest = last.get(r.contact.phone, epoch)
        return (-r.closeness, -latest.timestamp() if latest > epoch else 0.0, r.contact.name)

    return sorted(ranked, key=order)
