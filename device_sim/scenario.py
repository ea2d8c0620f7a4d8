"""Scenarios as TOML files: vitals keyframes over device time, and the expected outcome."""

from __future__ import annotations

import itertools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

LevelName = Literal["none", "yellow", "orange", "red"]
VITALS = (
    "heart_rate_bpm",
    "spo2_pct",
    "respiration_rate_per_min",
    "systolic_mmhg",
    "diastolic_mmhg",
    "temp_c",
)


class Keyframe(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Target vitals at ``at_s`` seconds of device time after the scenario starts."""

    at_s: float
    heart_rate_bpm: float
    spo2_pct: float
    respiration_rate_per_min: float
    systolic_mmhg: float
    diastolic_mmhg: float
    temp_c: float
    north_m: float = 0.0  # where the wearer is, in metres from home
    east_m: float = 0.0
    hrv_scale: float = 1.0  # beat-to-beat variability relative to a calm wearer
    steps_per_min: float = 6.0  # activity: about 6 at rest, 90-120 walking


class ScenarioFence(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A round fence centred on the wearer's home (the simulator knows where that is)."""

    fence_id: str
    name: str
    radius_m: float
    rule: Literal["stay_inside", "stay_outside"] = "stay_inside"
    dwell_s: float = 120.0
    margin_m: float = 25.0


class ScenarioEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Something the band reports as an event at ``at_s``.

    An SOS press, a fall, or the band taken off the wrist (``off_wrist``: the band says
    so, then sends nothing more).
    """

    at_s: float
    kind: Literal["sos", "fall", "off_wrist"]
    press_duration_s: float = 4.0  # sos: the design calls a press of >= 3 s an emergency
    impact_g: float = 3.5  # fall
    moved_after: bool = False  # fall: whether the wearer moved afterwards


class BatteryDrain(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A battery running down: ``start_pct`` at the scenario's start, falling linearly.

    The band sends a low-battery event when it falls to ``low_pct`` (its warning level)
    and nothing at all once it is empty.
    """

    start_pct: float = 100.0
    drain_pct_per_h: float = 0.0
    low_pct: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.start_pct <= 100 or not 0 <= self.low_pct <= 100:
            raise ValueError("battery percentages must be within 0-100")
        if self.drain_pct_per_h < 0:
            raise ValueError("drain_pct_per_h must not be negative")

    def level_at(self, t_s: float) -> float:
        """Charge (%) at device time ``t_s``."""
        return max(0.0, min(100.0, self.start_pct - self.drain_pct_per_h * t_s / 3600.0))

    def time_at(self, pct: float) -> float | None:
        """Device time the charge falls to ``pct``, if it ever does."""
        if self.drain_pct_per_h <= 0:
            return None
        return (self.start_pct - pct) * 3600.0 / self.drain_pct_per_h


class SleepSpan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The wearer asleep from ``from_s`` to ``to_s`` (stages from ``device_sim/sleep.py``)."""

    from_s: float
    to_s: float


class WearerSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a carer would set up for the wearer beyond the fences (``WearerProfile``)."""

    at_risk: bool = False  # a clinician's mark: a silent band is a concern at any NEWS2


class RhythmSpan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A span of device time with an abnormal rhythm (``device_sim/ecg.py``).

    ``af``: atrial fibrillation; ``ectopic``: sinus rhythm with ``per_min`` premature
    ventricular contractions (on the ECG strips; the band's RR intervals stay normal-to-
    normal, as a band's beat detector reports them for HRV).
    """

    from_s: float
    to_s: float
    kind: Literal["af", "ectopic"] = "af"
    per_min: float = 6.0  # ectopic beats a minute


class ExpectAlert(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An alert that must come: from ``source``, at ``level`` or above, within ``within_s``."""

    source: str  # news2, sos, fall, af, geofence, signal_lost, sedentary, a wellbeing index
    level: LevelName = "yellow"
    within_s: float | None = None  # device time after the scenario's start
    mentions: str | None = None  # text its summary must hold (e.g. the cause of a silence)

    def __post_init__(self) -> None:
        if self.within_s is not None and self.source == "signal_lost":
            # Raised on the receive clock, which a compressed run does not map to device time.
            raise ValueError("within_s cannot apply to signal_lost (judged on the receive clock)")


class Expect(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The outcome a run of the scenario must show."""

    min_level: LevelName | None = None  # at least this level must be raised ...
    within_s: float | None = None  # ... within this much device time
    max_level: LevelName | None = None  # nothing above this level may be raised
    index_warnings: tuple[str, ...] = ()  # sources of wellbeing reminders that must come
    alerts: tuple[ExpectAlert, ...] = ()  # alerts that must come
    never: tuple[str, ...] = ()  # sources that must raise nothing


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A named script of vitals for simulated wearers."""

    name: str
    description: str = ""
    keyframes: tuple[Keyframe, ...]
    fences: tuple[ScenarioFence, ...] = ()
    # Device time the band recorded before the run and uploads when it connects (as a
    # band does after a spell out of range); keyframes may start at ``-history_s``.
    history_s: float = 0.0
    events: tuple[ScenarioEvent, ...] = ()
    rhythm: tuple[RhythmSpan, ...] = ()
    ecg_every_s: float = 0.0  # a 30 s ECG strip this often (0: none)
    battery: BatteryDrain | None = None  # default: a charged band losing 3 % an hour
    sleep: tuple[SleepSpan, ...] = ()
    circadian: bool = False  # keyframe pulses are day means; the band adds the day-night swing
    wearer: WearerSpec = WearerSpec()
    expect: Expect = Expect()

    def silent_from_s(self) -> float | None:
        """Device time from which the band sends nothing: taken off, or its battery empty."""
        ends = [e.at_s for e in self.events if e.kind == "off_wrist"]
        empty = self.battery.time_at(0.0) if self.battery else None
        if empty is not None:
            ends.append(empty)
        return min(ends, default=None)

    def in_af(self, t_s: float) -> bool:
        """Whether the heart is in atrial fibrillation at device time ``t_s``."""
        return any(span.kind == "af" and span.from_s <= t_s < span.to_s for span in self.rhythm)

    def asleep_at(self, t_s: float) -> SleepSpan | None:
        """The sleep holding device time ``t_s``, if the wearer is asleep then."""
        return next((span for span in self.sleep if span.from_s <= t_s < span.to_s), None)

    def ectopic_per_min_at(self, t_s: float) -> float:
        """Premature ventricular contractions a minute at device time ``t_s``."""
        return sum(
            span.per_min
            for span in self.rhythm
            if span.kind == "ectopic" and span.from_s <= t_s < span.to_s
        )

    def _interpolated(self, t_s: float, fields: tuple[str, ...]) -> dict[str, float]:
        """Keyframe ``fields`` at ``t_s``: linear between keyframes, held after the last."""
        frames = self.keyframes
        if t_s <= frames[0].at_s:
            return {k: getattr(frames[0], k) for k in fields}
        for a, b in itertools.pairwise(frames):
            if a.at_s <= t_s <= b.at_s:
                w = (t_s - a.at_s) / (b.at_s - a.at_s) if b.at_s > a.at_s else 1.0
                return {k: getattr(a, k) + w * (getattr(b, k) - getattr(a, k)) for k in fields}
        return {k: getattr(frames[-1], k) for k in fields}

    def vitals_at(self, t_s: float) -> dict[str, float]:
        """Target vitals at device time ``t_s``."""
        return self._interpolated(t_s, VITALS)

    def hrv_scale_at(self, t_s: float) -> float:
        """Beat-to-beat variability at device time ``t_s`` (1.0: a calm wearer)."""
        return self._interpolated(t_s, ("hrv_scale",))["hrv_scale"]

    def steps_per_min_at(self, t_s: float) -> float:
        """The wearer's cadence at device time ``t_s`` (steps a minute)."""
        return self._interpolated(t_s, ("steps_per_min",))["steps_per_min"]

    def position_at(self, t_s: float) -> tuple[float, float]:
        """(north_m, east_m) from home at device time ``t_s``."""
        place = self._interpolated(t_s, ("north_m", "east_m"))
        return place["north_m"], place["east_m"]


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name (``device_sim/scenarios/NAME.toml``) or a TOML path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        ref = resources.files("device_sim") / "scenarios" / f"{name_or_path}.toml"
        if not ref.is_file():
            raise ValueError(f"unknown scenario {name_or_path!r}; built in: {builtin_names()}")
        text = ref.read_text(encoding="utf-8")
    return msgspec.convert(tomllib.loads(text), Scenario)


def builtin_names() -> list[str]:
    """Names of the scenarios shipped in ``device_sim/scenarios``."""
    folder = resources.files("device_sim") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )
