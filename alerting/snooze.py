"""Snoozes by direction: hold back one kind of alert for a while, never the dangerous ones.

A contact (or the wearer) who knows why an alert keeps coming (a wearer out running,
a fence crossed on a planned day out) can snooze that one thing for a while, as
caregiver apps let their users snooze high and low alarms apart (Nightscout, xDrip).
A snooze names a direction:

* a NEWS2 parameter and the side of normal it is on: ``pulse:high``, ``pulse:low``,
  ``temperature:high``, ``spo2:low``, ... (``scoring.news2.drivers`` names what
  scored in each NEWS2 alert); snoozing ``pulse:high`` leaves a slow pulse alerted;
* or another cause: ``stress``, ``fatigue``, ``mood``, ``sedentary``, ``af``,
  ``signal_lost``, ``geofence:<fence id>``.

A NEWS2 alert is re-levelled without the snoozed parameters' points (RCP 2017 Chart 3
thresholds, ``scoring.news2.alert_level``): held back when the rest would not alert,
lowered when the rest would alert lower, unchanged when the snoozed points do not
change its level. Another cause is held back while it is snoozed.

The safety floors (issue 5), never held back or lowered: a red alert, an SOS, a fall,
and an alert in which SpO2 scores 3 (the critical band on either SpO2 scale). SOS and
falls cannot be snoozed at all, and no snooze lasts more than ``MAX_SNOOZE_S``. A
snooze holds back new alerts only: a ladder already open goes on until someone
acknowledges or cancels it. An alert that ends an episode is never held back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import msgspec

from alerting.ladder import NEVER_COOLED, ladder_key
from schemas import Alert, AlertLevel
from scoring.news2 import alert_level

MAX_SNOOZE_S = 12 * 3600.0  # a snooze forgotten overnight ends by the morning

_PARAMETERS = ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature")
NEWS2_DIRECTIONS = frozenset(f"{p}:{side}" for p in _PARAMETERS for side in ("high", "low"))
CAUSES = frozenset({"stress", "fatigue", "mood", "sedentary", "af", "signal_lost"})
_FENCE = re.compile(r"geofence:[A-Za-z0-9_.-]{1,64}")
CRITICAL_SPO2 = "spo2:low"  # at 3 points: a floor


class SnoozeError(ValueError):
    """A snooze that may not be set (an unknown direction, a floor, too long)."""


class Snooze(msgspec.Struct, frozen=True, kw_only=True):
    """``what`` held back for ``device_id`` until ``until``, set by ``by``."""

    device_id: str
    what: str
    until: dt.datetime
    by: str
    reason: str = ""
    set_at: dt.datetime


def check_snooze(what: str, seconds: float) -> None:
    """Refuse a snooze of something unknown or unsnoozable, or one too long."""
    if what in NEVER_COOLED:
        raise SnoozeError(f"{what} alerts cannot be snoozed")
    if what not in NEWS2_DIRECTIONS and what not in CAUSES and not _FENCE.fullmatch(what):
        known = ", ".join(sorted(NEWS2_DIRECTIONS | CAUSES))
        raise SnoozeError(f"unknown direction {what!r}: one of {known}, or geofence:<fence id>")
    if not 0 < seconds <= MAX_SNOOZE_S:
        raise SnoozeError(f"a snooze lasts more than 0 s and at most {MAX_SNOOZE_S:.0f} s")


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """What snoozes make of an alert: ``alert`` to take in (``None``: held back)."""

    alert: Alert | None
    by: tuple[Snooze, ...] = ()  # the snoozes that acted on it

    @property
    def held(self) -> bool:
        return self.alert is None


def under_floor(alert: Alert) -> bool:
    """Whether the safety floors keep every snooze off ``alert``."""
    if alert.level is AlertLevel.RED or alert.source in NEVER_COOLED:
        return True
    return any(d.what == CRITICAL_SPO2 and d.points >= 3 for d in alert.drivers)


def apply_snoozes(alert: Alert, snoozes: Sequence[Snooze], now: dt.datetime) -> Verdict:
    """``alert`` as the wearer's snoozes in force at ``now`` leave it."""
    if alert.level is AlertLevel.NONE or alert.change in ("resolved", "retracted"):
        return Verdict(alert=alert)
    if under_floor(alert):
        return Verdict(alert=alert)
    active = {s.what: s for s in snoozes if s.device_id == alert.device_id and s.until > now}
    if not active:
        return Verdict(alert=alert)
    if alert.source == "news2" and alert.drivers:
        return _relevelled(alert, active)
    cause = ladder_key(alert).split("/", 1)[1]
    if cause in active:
        return Verdict(alert=None, by=(active[cause],))
    return Verdict(alert=alert)


def _relevelled(alert: Alert, active: dict[str, Snooze]) -> Verdict:
    snoozed = [d for d in alert.drivers if d.what in active]
    if not snoozed:
        return Verdict(alert=alert)
    rest = [d for d in alert.drivers if d.what not in active]
    total = sum(d.points for d in rest)
    level = min(
        alert.level, alert_level(total, single_parameter_3=any(d.points == 3 for d in rest))
    )
    by = tuple(active[d.what] for d in snoozed)
    if level is alert.level:
        return Verdict(alert=alert)
    if level is AlertLevel.NONE:
        return Verdict(alert=None, by=by)
    names = ", ".join(d.what for d in snoozed)
    lowered = msgspec.structs.replace(
        alert, level=level, summary=f"{alert.summary} (lowered: {names} snoozed)"
    )
    return Verdict(alert=lowered, by=by)
