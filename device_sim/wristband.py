"""A simulated wristband: physiologically plausible telemetry following a scenario.

Pure and seeded: ``batch(t0_s, t1_s)`` returns the wire model a real band would send
for that span of device time. Heart rate follows the scenario with noise; RR intervals
carry respiratory sinus arrhythmia (0.25 Hz, 3 %) and 2 % beat-to-beat jitter, both
scaled by the scenario's ``hrv_scale`` (stress lowers variability); SpO2,
respiration and a device core-temperature estimate follow with sensor noise; blood
pressure is measured every 5 minutes, battery every 10; steps; GPS fixes where the
scenario puts the wearer, with a few metres of noise.

A band taken off (an ``off_wrist`` event) says so, with a wear sample and the event, and
then sends nothing; so does a band whose battery ran out (after its low-battery event).
``silent_at`` tells the publisher which spans the band no longer sends.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np

from device_sim.ecg import strip_uv
from device_sim.scenario import Scenario
from device_sim.sleep import (
    SLEEP_BREATHING_FACTOR,
    SLEEP_PULSE_FACTOR,
    circadian_factor,
    hypnogram,
)
from schemas import (
    Battery,
    BloodPressure,
    Ecg,
    EventV1,
    GpsFix,
    HeartRate,
    Respiration,
    SleepStage,
    SpO2,
    Steps,
    TelemetryBatchV1,
    Temperature,
    WearState,
)
from schemas.events import AnyEventBody, Fall, LowBattery, OffWrist, Sos
from schemas.telemetry import MAX_RR_PER_SAMPLE, AnySample

ECG_STRIP_S = 30.0
ECG_RATE_HZ = 250.0
_BP_EVERY_S = 300.0
_BATTERY_EVERY_S = 600.0
_OFFSETS_MIN = (0, 60, -300, 480)  # device clocks in several time zones


_EARTH_RADIUS_M = 6_371_008.8
DEFAULT_HOME = (51.5007, -0.1246)  # every simulated wearer's home unless told otherwise


def _scripted_events(scenario: Scenario) -> list[tuple[float, AnyEventBody]]:
    """The scenario's events, and the band's own low-battery warning, in time order."""
    out: list[tuple[float, AnyEventBody]] = []
    for event in scenario.events:
        if event.kind == "sos":
            out.append((event.at_s, Sos(press_duration_s=event.press_duration_s)))
        elif event.kind == "fall":
            out.append((event.at_s, Fall(impact_g=event.impact_g, moved_after=event.moved_after)))
        else:
            out.append((event.at_s, OffWrist()))
    battery = scenario.battery
    low_at = battery.time_at(battery.low_pct) if battery else None
    if battery is not None and low_at is not None and low_at > 0:
        out.append((low_at, LowBattery(battery_pct=battery.low_pct)))
    return sorted(out, key=lambda item: item[0])


class SimulatedWristband:
    """One wearer's band; each ``batch`` call advances its sequence number."""

    def __init__(
        self,
        device_id: str,
        scenario: Scenario,
        start: dt.datetime,
        *,
        seed: int = 0,
        home: tuple[float, float] = DEFAULT_HOME,
    ) -> None:
        self.device_id = device_id
        self.scenario = scenario
        self._rng = random.Random(f"{seed}:{device_id}")
        self.boot_id = self._rng.randrange(1, 2**31 - 1)
        self.seq = 0
        offset = dt.timedelta(minutes=self._rng.choice(_OFFSETS_MIN))
        self._tz = dt.timezone(offset)
        self._start = start.astimezone(self._tz)
        self._lat, self._lon = home
        self._battery = 100.0 - self._rng.uniform(0, 20)
        self._next_bp_s = 0.0
        self._next_battery_s = 0.0
        self._next_ecg_s = 0.0
        # Its own stream, so that strips leave every other value of a scenario as it was.
        self._np_rng = np.random.default_rng(
            random.Random(f"ecg:{seed}:{device_id}").getrandbits(64)
        )
        self._silent_from_s = scenario.silent_from_s()
        self._hypnograms = [(span, hypnogram(span.to_s - span.from_s)) for span in scenario.sleep]
        self._events = _scripted_events(scenario)  # once: ``events`` runs every tick
        self._off_at = [e.at_s for e in scenario.events if e.kind == "off_wrist"]

    @property
    def home(self) -> tuple[float, float]:
        """The wearer's home (latitude, longitude)."""
        return self._lat, self._lon

    def position(self, north_m: float, east_m: float) -> tuple[float, float]:
        """Latitude and longitude of a point given in metres from home."""
        lat = self._lat + math.degrees(north_m / _EARTH_RADIUS_M)
        lon = self._lon + math.degrees(
            east_m / (_EARTH_RADIUS_M * math.cos(math.radians(self._lat)))
        )
        return lat, lon

    def device_time(self, t_s: float) -> dt.datetime:
        """Device clock ``t_s`` seconds after the scenario start, with its UTC offset."""
        return self._start + dt.timedelta(seconds=t_s)

    def _rr_intervals(
        self, t0_s: float, t1_s: float, hr_bpm: float, scale: float
    ) -> tuple[float, ...]:
        rr, t = [], t0_s
        mean_ms = 60_000.0 / hr_bpm
        while t < t1_s:
            if self.scenario.in_af(t):  # irregularly irregular, as in device_sim/ecg.py
                interval = mean_ms * self._rng.uniform(0.6, 1.4)
                rr.append(round(interval, 1))
                t += interval / 1000.0
                continue
            rsa = 1 + 0.03 * scale * math.sin(2 * math.pi * 0.25 * t)
            interval = mean_ms * rsa * (1 + self._rng.gauss(0, 0.02 * scale))
            rr.append(round(interval, 1))
            t += interval / 1000.0
        return tuple(rr[-MAX_RR_PER_SAMPLE:])

    def silent_at(self, t_s: float) -> bool:
        """Whether the band sends nothing from device time ``t_s`` on (off, or empty)."""
        return self._silent_from_s is not None and t_s >= self._silent_from_s

    def events(self, t0_s: float, t1_s: float) -> list[EventV1]:
        """The band's events in device time ``[t0_s, t1_s)``, numbered after the batches.

        None after the band fell silent, but the one that silenced it (taken off).
        """
        out = []
        for at_s, body in self._events:
            if not t0_s <= at_s < t1_s:
                continue
            if self._silent_from_s is not None and at_s > self._silent_from_s:
                continue
            self.seq += 1
            out.append(
                EventV1(
                    device_id=self.device_id,
                    boot_id=self.boot_id,
                    seq=self.seq,
                    occurred_at=self.device_time(at_s),
                    event=body,
                )
            )
        return out

    def _target_vitals(self, t_s: float, *, taken_off: bool) -> dict[str, float]:
        """The scenario's vitals at ``t_s``, as the band's sensors would read them."""
        v = self.scenario.vitals_at(t_s)
        if taken_off:
            # Off the wrist the optical sensor reads ambient light: values that would score
            # high on NEWS2 if they were believed (the processors must set them aside).
            return {**v, "heart_rate_bpm": 41.0, "spo2_pct": 84.0, "respiration_rate_per_min": 26.0}
        if self.scenario.circadian:
            v["heart_rate_bpm"] *= circadian_factor(self.device_time(t_s))
        if self.scenario.asleep_at(t_s) is not None:
            v["heart_rate_bpm"] *= SLEEP_PULSE_FACTOR
            v["respiration_rate_per_min"] *= SLEEP_BREATHING_FACTOR
        return v

    def _sleep_stages(self, t0_s: float, t1_s: float) -> list[SleepStage]:
        """Stage samples for the sleep within ``[t0_s, t1_s)``, one per stage met."""
        out = []
        for span, stages in self._hypnograms:
            for from_s, to_s, stage in stages:
                start, end = max(span.from_s + from_s, t0_s), min(span.from_s + to_s, t1_s)
                if end > start:
                    out.append(
                        SleepStage(
                            measured_at=self.device_time(start), stage=stage, duration_s=end - start
                        )
                    )
        return out

    def batch(self, t0_s: float, t1_s: float) -> TelemetryBatchV1:
        """The telemetry the band sends for device time ``[t0_s, t1_s)``."""
        rng = self._rng
        at = self.device_time(t1_s)
        taken_off = [at_s for at_s in self._off_at if t0_s < at_s <= t1_s]
        v = self._target_vitals(t1_s, taken_off=bool(taken_off))
        asleep = self.scenario.asleep_at(t1_s) is not None
        cadence, span_s = self.scenario.steps_per_min_at(t1_s), t1_s - t0_s
        hr = max(25.0, v["heart_rate_bpm"] + rng.gauss(0, 1.5))
        samples: list[AnySample] = [
            HeartRate(
                measured_at=at,
                heart_rate_bpm=round(hr, 1),
                rr_ms=self._rr_intervals(t0_s, t1_s, hr, self.scenario.hrv_scale_at(t1_s)),
                sensor_contact=not taken_off,
            ),
            SpO2(measured_at=at, spo2_pct=round(min(100.0, v["spo2_pct"] + rng.gauss(0, 0.4)), 1)),
            Respiration(
                measured_at=at,
                respiration_rate_per_min=round(
                    max(4.0, v["respiration_rate_per_min"] + rng.gauss(0, 0.6)), 1
                ),
            ),
            Temperature(
                measured_at=at,
                temp_c=round(v["temp_c"] + rng.gauss(0, 0.05), 2),
                site="estimated_core",
            ),
            Temperature(
                measured_at=at, temp_c=round(v["temp_c"] - 3.5 + rng.gauss(0, 0.3), 2), site="wrist"
            ),
            # The scenario's cadence with a little noise: at rest (about 6 a minute) far
            # below the walking rate (scoring.vital_quality) whatever the batch length, so
            # that no HRV window is set aside as "motion" by chance.
            Steps(
                measured_at=at,
                steps=max(0, int(rng.gauss(cadence / 60, max(0.04, cadence / 600)) * span_s))
                * (not asleep),
                interval_s=max(span_s, 0.001),
            ),
            *self._sleep_stages(t0_s, t1_s),
        ]
        # Where the scenario puts the wearer, plus GPS noise of a few metres per fix.
        north_m, east_m = self.scenario.position_at(t1_s)
        lat, lon = self.position(north_m + rng.gauss(0, 4), east_m + rng.gauss(0, 4))
        samples.append(
            GpsFix(
                measured_at=at,
                lat_deg=round(lat, 6),
                lon_deg=round(lon, 6),
                accuracy_m=round(rng.uniform(4, 15), 1),
            )
        )
        if t1_s >= self._next_bp_s:
            self._next_bp_s = t1_s + _BP_EVERY_S
            sys_ = v["systolic_mmhg"] + rng.gauss(0, 2)
            dia = min(v["diastolic_mmhg"] + rng.gauss(0, 1.5), sys_ - 10)
            samples.append(
                BloodPressure(measured_at=at, systolic_mmhg=round(sys_), diastolic_mmhg=round(dia))
            )
        if self.scenario.ecg_every_s > 0 and t1_s >= self._next_ecg_s:
            self._next_ecg_s = t1_s + self.scenario.ecg_every_s
            strip = strip_uv(
                self._np_rng,
                heart_rate_bpm=hr,
                af=self.scenario.in_af(t1_s),
                ectopic_per_min=self.scenario.ectopic_per_min_at(t1_s),
            )
            samples.append(
                Ecg(
                    measured_at=self.device_time(t1_s - ECG_STRIP_S),
                    sampling_rate_hz=ECG_RATE_HZ,
                    samples_uv=strip,
                )
            )
        if t1_s >= self._next_battery_s:
            self._next_battery_s = t1_s + _BATTERY_EVERY_S
            drain = self.scenario.battery
            self._battery = drain.level_at(t1_s) if drain else max(0.0, self._battery - 0.5)
            samples.append(Battery(measured_at=at, battery_pct=round(self._battery, 1)))
        if taken_off:
            samples.append(WearState(measured_at=self.device_time(taken_off[0]), on_wrist=False))
        self.seq += 1
        return TelemetryBatchV1(
            device_id=self.device_id,
            boot_id=self.boot_id,
            seq=self.seq,
            sent_at=at,
            samples=tuple(samples),
        )
