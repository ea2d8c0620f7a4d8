"""Wellbeing indices in the stream: 5-minute HRV windows, daily aggregates, warnings.

Sans-I/O, like the rest of the per-device processor: ``advance(state, samples, ...)``
takes a batch's samples in device-time order and returns the new state, the index
values computed and the warnings raised. The indices themselves are
``scoring.indices`` (sources there and in docs/indices.md); this module decides *when*
they are computed and on which data.

* **HRV windows.** RR intervals (``HeartRate.rr_ms``, which end at ``measured_at``)
  are collected in windows of ``hrv_window_s`` (5 min, the Task Force 1996 short-term
  length) aligned to device time. A window is used only if the intervals cover at
  least ``min_coverage`` of it, the band stayed on the wrist with sensor contact, and
  the wearer was not walking (steps above ``scoring.vital_quality``'s walking rate):
  HRV during exercise is not comparable with the resting baseline.
* **Mental stress** is computed at the end of each usable window against the wearer's
  own previous windows (the last ``stress_baseline_windows``). Windows at or above the
  warning level are not added to the baseline, so a long episode is not learnt as usual.
* **Days** are local calendar days in the wearer's time zone. When the first reading of
  a later day arrives, the day closes: its median window ln RMSSD, SDNN and HF power,
  its steps, and the sleep that ended in it (non-wake ``SleepStage`` time) become one
  ``DailyAggregate``. Days without any data are kept as empty days, so "the last 7
  days" are calendar days. Physical fatigue and the anxiety/depression screen are then
  computed from the daily history.
* **Warnings** are yellow alerts (the wearer is reminded, ARCHITECTURE.md alert
  ladder); ``share_with_contacts`` is set when the wearer allowed contacts to be told.
  Each index has its own threshold (``IndexSettings``) and persistence: stress must
  stay at or above its threshold for ``stress_persist_windows`` windows in a row,
  fatigue and mood for ``fatigue_persist_days`` / ``mood_persist_days`` closed days.
  One warning per episode; the episode ends at the first value below the threshold.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import Literal, cast
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from schemas import HeartRate, SleepStage, Steps, WearState
from schemas.scores import IndexRecord
from schemas.telemetry import AnySample
from scoring import vital_quality
from scoring.hrv import hrv
from scoring.indices import (
    IndexSettings,
    WellbeingIndex,
    anxiety_depression,
    mental_stress,
    physical_fatigue,
)


class WellbeingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """When indices are computed and how long they must stay high before a warning."""

    hrv_window_s: float = 300.0
    min_coverage: float = 0.8
    stress_baseline_windows: int = 288  # one day of 5-minute windows
    stress_persist_windows: int = 3  # 15 minutes
    history_days: int = 42  # 28 for the chronic step load, plus a baseline
    fatigue_persist_days: int = 2
    mood_persist_days: int = 3
    thresholds: IndexSettings = IndexSettings()


class DailyAggregate(msgspec.Struct, frozen=True, array_like=True):
    """One local day of a wearer; NaN where the day had no such data."""

    day: dt.date
    ln_rmssd: float
    sdnn_ms: float
    hf_ms2: float
    steps: float
    sleep_hours: float


DAY_VALUES = 6  # a packed day: its ordinal, then the five aggregates


def packed_days(days: Iterable[DailyAggregate]) -> bytes:
    """Daily aggregates as float64 bytes, ``DAY_VALUES`` per day (the day as its ordinal)."""
    return packed(
        (
            v
            for d in days
            for v in (
                float(d.day.toordinal()),
                d.ln_rmssd,
                d.sdnn_ms,
                d.hf_ms2,
                d.steps,
                d.sleep_hours,
            )
        ),
        "d",
    )


class Warned(msgspec.Struct, frozen=True, array_like=True):
    """How many evaluations in a row were at or above the threshold, and if warned."""

    over: int = 0
    warned: bool = False


class WellbeingState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the wellbeing part of the processor remembers about one wearer."""

    # Series of floats are packed float64 (``packed``/``unpacked``): 8 bytes a value
    # where a tuple of floats takes 32, and a wearer's state holds about 2,000 of them
    # (bench/stream measures the state per device).
    window_start: dt.datetime | None = None
    window_rr: bytes = b""  # the open window's RR intervals (ms)
    window_spoiled: str | None = None  # why the open window cannot be used
    stress_si: bytes = b""  # baseline windows' Baevsky stress index
    stress_lf_hf: bytes = b""  # and their LF/HF
    day: dt.date | None = None
    day_ln_rmssd: bytes = b""  # the open day's windows
    day_sdnn: bytes = b""
    day_hf: bytes = b""
    day_steps: int | None = None
    day_sleep_s: float | None = None
    # The daily history, oldest first, packed (``packed_days``): a tuple of objects per
    # day cost several times its bytes (``bench.stream`` measures the whole state).
    days: bytes = b""
    warned: dict[str, Warned] = msgspec.field(default_factory=dict)

    @property
    def daily(self) -> tuple[DailyAggregate, ...]:
        """The daily history, oldest first."""
        v = unpacked(self.days, "d")
        return tuple(
            DailyAggregate(dt.date.fromordinal(int(v[i])), *v[i + 1 : i + DAY_VALUES])
            for i in range(0, len(v), DAY_VALUES)
        )


class IndexWarning(msgspec.Struct, frozen=True, kw_only=True):
    """An index that held at or above its threshold for its persistence."""

    index: str
    value: float
    at: dt.datetime


class WellbeingResult(msgspec.Struct, frozen=True, kw_only=True):
    """The new state, the index values computed and the warnings due."""

    state: WellbeingState
    records: tuple[IndexRecord, ...] = ()
    warnings: tuple[IndexWarning, ...] = ()


def _aligned(at: dt.datetime, seconds: float) -> dt.datetime:
    epoch = at.timestamp()
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC)


# The window series are kept as float32: RR intervals at the 1/1024 s resolution of the
# Bluetooth Heart Rate Service (CLINICAL.md) are multiples of 125/128 ms, exact in float32,
# and the window values a median or baseline is taken of keep 7 significant digits, far
# finer than HRV varies. The daily history stays float64 (``packed_days``).
SERIES: Literal["f", "d"] = "f"


def packed(values: Iterable[float], typecode: Literal["f", "d"] = SERIES) -> bytes:
    """Floats as little-endian bytes: float32 (``SERIES``) or, with ``"d"``, float64."""
    if isinstance(values, array) and values.typecode == typecode:
        series = values
    else:
        series = array(typecode, values)
    if sys.byteorder == "big":
        series = array(typecode, series)
        series.byteswap()
    return series.tobytes()


def unpacked(data: bytes, typecode: Literal["f", "d"] = SERIES) -> array[float]:
    """A packed series back as float64 (a new array: appending to it changes no state)."""
    series = array(typecode)
    series.frombytes(data)
    if sys.byteorder == "big":
        series.byteswap()
    return series if typecode == "d" else array("d", series)


def _appended(data: bytes, value: float, keep: int | None = None) -> bytes:
    """A packed series with ``value`` added, the oldest dropped beyond ``keep`` values."""
    out = data + packed((value,))
    size = array(SERIES).itemsize
    return out[max(0, len(out) - keep * size) :] if keep is not None else out


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if values else math.nan


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def _record(device_id: str, at: dt.datetime, index: WellbeingIndex) -> IndexRecord:
    return IndexRecord(
        device_id=device_id,
        evaluated_at=at,
        name=index.name,
        value=index.value,
        inputs={
            i.name: {
                "value": i.value,
                "baseline": i.baseline_median,
                "deviation_sd": i.deviation_sd,
            }
            for i in index.inputs
        },
        missing=index.missing,
    )


class _Run:
    """One call's working copy of the state (the state itself is immutable)."""

    def __init__(
        self, state: WellbeingState, device_id: str, tz: ZoneInfo, settings: WellbeingSettings
    ) -> None:
        self.s = state
        self.device_id = device_id
        self.tz = tz
        self.settings = settings
        self.rr = unpacked(state.window_rr)  # the open window's intervals (appended in place)
        self.records: list[IndexRecord] = []
        self.warnings: list[IndexWarning] = []

    def replace(self, **changes: object) -> None:
        self.s = msgspec.structs.replace(self.s, **changes)

    # -- warnings ---------------------------------------------------------------------
    def judge(
        self, index: WellbeingIndex, at: dt.datetime, persist: int, *, record: bool = True
    ) -> None:
        if record:
            self.records.append(_record(self.device_id, at, index))
        if index.value is None:
            return  # not judged: neither continues nor ends an episode
        limit = self.settings.thresholds.limit(index.name)
        before = self.s.warned.get(index.name, Warned())
        if index.value < limit:
            now = Warned()
        else:
            now = Warned(over=before.over + 1, warned=before.warned)
            if now.over >= persist and not now.warned:
                now = Warned(over=now.over, warned=True)
                self.warnings.append(IndexWarning(index=index.name, value=index.value, at=at))
        self.replace(warned={**self.s.warned, index.name: now})

    # -- HRV windows ------------------------------------------------------------------
    def close_window(self) -> None:
        start, rr, spoiled = self.s.window_start, self.rr, self.s.window_spoiled
        self.rr = array("d")
        self.replace(window_start=None, window_spoiled=None)
        length = self.settings.hrv_window_s
        if start is None or spoiled or sum(rr) < self.settings.min_coverage * length * 1000.0:
            return
        metrics = hrv(rr)
        if metrics.stress_index is None or metrics.rmssd_ms is None or not metrics.rmssd_ms:
            return
        end = start + dt.timedelta(seconds=length)
        keep = self.settings.stress_baseline_windows
        index = mental_stress(
            metrics.stress_index,
            metrics.lf_hf,
            {"stress_index": unpacked(self.s.stress_si), "lf_hf": unpacked(self.s.stress_lf_hf)},
        )
        # The baseline learns the wearer's usual state, not the episodes it flags:
        # otherwise an afternoon of stress would become "usual" within the hour.
        if index.value is None or index.value < self.settings.thresholds.limit(index.name):
            self.replace(
                stress_si=_appended(self.s.stress_si, metrics.stress_index, keep),
                stress_lf_hf=(
                    _appended(self.s.stress_lf_hf, metrics.lf_hf, keep)
                    if metrics.lf_hf is not None
                    else self.s.stress_lf_hf
                ),
            )
        self.judge(index, end, self.settings.stress_persist_windows)
        # The window counts for the day it ended in (a closed day takes no more data).
        if self.s.day is None or end.astimezone(self.tz).date() >= self.s.day:
            self.replace(
                day_ln_rmssd=_appended(self.s.day_ln_rmssd, math.log(metrics.rmssd_ms)),
                day_sdnn=_appended(self.s.day_sdnn, _nan_if_none(metrics.sdnn_ms)),
                day_hf=_appended(self.s.day_hf, _nan_if_none(metrics.hf_ms2)),
            )

    def window_for(self, at: dt.datetime) -> bool:
        """Open (or move to) the window holding ``at``; False if ``at`` is before it."""
        start = self.s.window_start
        length = dt.timedelta(seconds=self.settings.hrv_window_s)
        if start is not None and at < start:
            return False
        if start is None or at >= start + length:
            self.close_window()
            self.replace(window_start=_aligned(at, self.settings.hrv_window_s))
        return True

    def spoil(self, reason: str) -> None:
        if self.s.window_start is not None and self.s.window_spoiled is None:
            self.replace(window_spoiled=reason)

    # -- days -------------------------------------------------------------------------
    def day_for(self, at: dt.datetime) -> bool:
        """Move to the local day holding ``at`` (closing days); False if it is closed."""
        local = at.astimezone(self.tz).date()
        if self.s.day is None:
            self.replace(day=local)
        elif local < self.s.day:
            return False
        if self.s.day is not None and local > self.s.day:
            self.close_day()
            # After a long silence only the last ``history_days`` can matter.
            oldest = local - dt.timedelta(days=self.settings.history_days)
            if self.s.day is not None and self.s.day < oldest:
                self.replace(day=oldest)
        while self.s.day is not None and local > self.s.day:
            self.close_day()
        return True

    def close_day(self) -> None:
        s = self.s
        if s.day is None:
            return
        aggregate = DailyAggregate(
            day=s.day,
            ln_rmssd=_median(unpacked(s.day_ln_rmssd)),
            sdnn_ms=float(np.nanmedian(unpacked(s.day_sdnn))) if s.day_sdnn else math.nan,
            hf_ms2=float(np.nanmedian(unpacked(s.day_hf))) if s.day_hf else math.nan,
            steps=math.nan if s.day_steps is None else float(s.day_steps),
            sleep_hours=math.nan if s.day_sleep_s is None else s.day_sleep_s / 3600.0,
        )
        kept = self.settings.history_days * DAY_VALUES * 8
        history = (s.days + packed_days((aggregate,)))[-kept:]
        next_day = s.day + dt.timedelta(days=1)
        self.replace(
            day=next_day,
            day_ln_rmssd=b"",
            day_sdnn=b"",
            day_hf=b"",
            day_steps=None,
            day_sleep_s=None,
            days=history,
        )
        daily = self.s.daily
        # Day-level indices are stamped at the local midnight that closed the day.
        at = dt.datetime.combine(next_day, dt.time(), self.tz).astimezone(dt.UTC)
        # A day without any data is kept in the history but yields no records.
        had_data = any(math.isfinite(v) for v in msgspec.structs.astuple(aggregate)[1:])
        days = self.settings
        self.judge(day_fatigue(daily), at, days.fatigue_persist_days, record=had_data)
        self.judge(day_mood(daily), at, days.mood_persist_days, record=had_data)

    # -- samples ----------------------------------------------------------------------
    def take(self, sample: AnySample) -> None:
        kind = type(sample)
        at = sample.measured_at
        if kind is SleepStage:
            stage = cast("SleepStage", sample)
            # A night belongs to the day it ends in (the morning after).
            end = at + dt.timedelta(seconds=stage.duration_s)
            if stage.stage != "wake" and self.day_for(end):
                self.replace(day_sleep_s=(self.s.day_sleep_s or 0.0) + stage.duration_s)
            return
        if not self.day_for(at):
            return  # the day is closed: too late for the daily aggregates
        if kind is Steps:
            steps = cast("Steps", sample)
            self.replace(day_steps=(self.s.day_steps or 0) + steps.steps)
            rate = vital_quality.steps_per_minute(steps.steps, steps.interval_s)
            if rate > vital_quality.WALKING_STEPS_PER_MIN and self.window_for(at):
                self.spoil("motion")
        elif kind is WearState:
            if not cast("WearState", sample).on_wrist and self.window_for(at):
                self.spoil("off_wrist")
        elif kind is HeartRate:
            beat = cast("HeartRate", sample)
            if not self.window_for(at):
                return
            if beat.sensor_contact is False:
                self.spoil("no_contact")
            elif beat.rr_ms:
                self.rr.extend(beat.rr_ms)


def _column(daily: Sequence[DailyAggregate], name: str) -> np.ndarray:
    return np.asarray([getattr(d, name) for d in daily], dtype=np.float64)


def day_fatigue(daily: Sequence[DailyAggregate]) -> WellbeingIndex:
    """``scoring.indices.physical_fatigue`` over the daily history (oldest first)."""
    return physical_fatigue(
        _column(daily, "ln_rmssd"), _column(daily, "steps"), _column(daily, "sleep_hours")
    )


def _recent_median(values: np.ndarray) -> float | None:
    finite = values[-7:][np.isfinite(values[-7:])]
    return float(np.median(finite)) if len(finite) else None


def day_mood(daily: Sequence[DailyAggregate]) -> WellbeingIndex:
    """``scoring.indices.anxiety_depression``: the last 7 days' medians against earlier days."""
    columns = {
        "hf_ms2": _column(daily, "hf_ms2"),
        "sdnn_ms": _column(daily, "sdnn_ms"),
        "rmssd_ms": np.exp(_column(daily, "ln_rmssd")),
        "sleep_hours": _column(daily, "sleep_hours"),
        "steps": _column(daily, "steps"),
    }
    now = {key: _recent_median(values) for key, values in columns.items()}
    baseline = {
        key: [float(v) for v in values[:-7] if math.isfinite(v)] for key, values in columns.items()
    }
    return anxiety_depression(now, baseline)


def advance(
    state: WellbeingState,
    samples: Iterable[AnySample],
    *,
    device_id: str,
    tz: str,
    settings: WellbeingSettings,
) -> WellbeingResult:
    """Take a batch's samples (in device-time order) and close windows and days they end."""
    run = _Run(state, device_id, ZoneInfo(tz), settings)
    for sample in samples:
        run.take(sample)
    state = msgspec.structs.replace(run.s, window_rr=packed(run.rr))
    return WellbeingResult(state=state, records=tuple(run.records), warnings=tuple(run.warnings))
