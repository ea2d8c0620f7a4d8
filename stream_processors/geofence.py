"""Geofence breaches and returns as a pure state machine over GPS fixes (device time).

Per wearer: fences to stay inside (home, care home) or outside (a lake, a motorway),
each with an optional daily schedule in the wearer's time zone ("inside home
22:00-07:00"), a margin (hysteresis distance, metres) and a dwell time. A breach is
reported only after every sure fix for ``dwell_s`` says so (fixes that are
``uncertain`` given their accuracy neither confirm nor cancel), and a return only after
the same time of sure fixes on the right side. Together with the accuracy rule of
``scoring.geofence`` this keeps GPS jitter at a boundary from flapping. When a fence's
schedule ends during a breach, the breach is closed with reason ``schedule_ended``.
Fixes less accurate than ``max_accuracy_m`` are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from scoring.geofence import Area, Circle, FenceGeometry


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """Daily active hours in the wearer's time zone; an overnight window wraps midnight."""

    start: dt.time
    end: dt.time
    tz: str = "UTC"
    weekdays: tuple[int, ...] | None = None  # 0 = Monday; the day the window starts

    def active(self, at: dt.datetime) -> bool:
        """Whether ``at`` (aware) falls in the window."""
        local = at.astimezone(ZoneInfo(self.tz))
        t = local.time()
        if self.start <= self.end:
            inside, start_day = self.start <= t < self.end, local.date()
        else:
            inside = t >= self.start or t < self.end
            start_day = local.date() - dt.timedelta(days=1) if t < self.end else local.date()
        return inside and (self.weekdays is None or start_day.weekday() in self.weekdays)


class Fence(msgspec.Struct, frozen=True, kw_only=True):
    """One fence of one wearer."""

    fence_id: str
    name: str
    shape: Circle | Area
    rule: Literal["stay_inside", "stay_outside"] = "stay_inside"
    margin_m: float = 25.0
    dwell_s: float = 120.0
    schedule: Schedule | None = None


class FenceStatus(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the processor remembers about one fence."""

    breached: bool = False
    pending_since: dt.datetime | None = None  # sure fixes pointing to a change since then


class FenceEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A breach or a return, with the fix that confirmed it."""

    fence_id: str
    name: str
    kind: Literal["breach", "return"]
    at: dt.datetime
    lat_deg: float
    lon_deg: float
    accuracy_m: float
    distance_m: float | None  # signed: negative inside the fence
    reason: str


class Fix(msgspec.Struct, frozen=True):
    """A GPS position in device time."""

    at: dt.datetime
    lat_deg: float
    lon_deg: float
    accuracy_m: float


class FenceSet:
    """A wearer's fences with their geometry built once."""

    def __init__(self, fences: Sequence[Fence], *, max_accuracy_m: float = 150.0) -> None:
        ids = [f.fence_id for f in fences]
        if len(set(ids)) != len(ids):
            raise ValueError("fence ids must be unique")
        self.fences = tuple(fences)
        self.max_accuracy_m = max_accuracy_m
        self.geometry = FenceGeometry([f.shape for f in fences], [f.margin_m for f in fences])

    def step(
        self, states: dict[str, FenceStatus], fix: Fix
    ) -> tuple[dict[str, FenceStatus], list[FenceEvent]]:
        """Advance every fence with one fix; returns new states and the events."""
        if fix.accuracy_m > self.max_accuracy_m:
            return states, []
        verdicts = self.geometry.verdicts(fix.lat_deg, fix.lon_deg, fix.accuracy_m)
        new_states: dict[str, FenceStatus] = {}
        events: list[FenceEvent] = []
        for fence, (verdict, distance) in zip(self.fences, verdicts, strict=True):
            status = states.get(fence.fence_id, FenceStatus())
            status, event = _advance(fence, status, verdict, distance, fix)
            new_states[fence.fence_id] = status
            if event is not None:
                events.append(event)
        return new_states, events


def _advance(
    fence: Fence,
    status: FenceStatus,
    verdict: str,
    distance: float | None,
    fix: Fix,
) -> tuple[FenceStatus, FenceEvent | None]:
    def event(kind: Literal["breach", "return"], reason: str) -> FenceEvent:
        return FenceEvent(
            fence_id=fence.fence_id,
            name=fence.name,
            kind=kind,
            at=fix.at,
            lat_deg=fix.lat_deg,
            lon_deg=fix.lon_deg,
            accuracy_m=fix.accuracy_m,
            distance_m=distance,
            reason=reason,
        )

    if fence.schedule is not None and not fence.schedule.active(fix.at):
        return FenceStatus(), event("return", "schedule_ended") if status.breached else None
    wrong_side = "outside" if fence.rule == "stay_inside" else "inside"
    right_side = "inside" if fence.rule == "stay_inside" else "outside"
    towards_change = right_side if status.breached else wrong_side
    if verdict == "uncertain":
        return status, None
    if verdict != towards_change:
        return FenceStatus(breached=status.breached), None  # a sure fix: no change pending
    since = status.pending_since or fix.at
    if (fix.at - since).total_seconds() < fence.dwell_s:
        return FenceStatus(breached=status.breached, pending_since=since), None
    if status.breached:
        return FenceStatus(), event("return", f"{right_side} for {fence.dwell_s:g} s")
    return FenceStatus(breached=True), event("breach", f"{wrong_side} for {fence.dwell_s:g} s")
