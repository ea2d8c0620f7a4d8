"""GATT measurements (``ingest/ble/gatt.py``) as telemetry v1 samples (``schemas.telemetry``).

What a measurement cannot say within the wire contract's bounds is left out and named in
``Converted.dropped`` (a category, never the value: it may be health data):

* a value that is NaN, NRes or infinite (IEEE 11073 special values: no measurement);
* a value outside the wire bounds (heart rate above 300 bpm, an RR interval of 0 or above
  10 s, ...): the sensor's, not the wearer's;

The pulse rates in blood pressure and PLX measurements are not used: the heart rate comes
from the Heart Rate Service, with its RR intervals, and a second series would double it.

Units: kPa to mmHg (1 kPa = 7.500 62 mmHg, the conventional millimetre of mercury,
133.322 Pa); Fahrenheit to Celsius. RR intervals from 1/1024 s to ms.

Times: a notification is measured when it arrives (``received_at``), unless it carries a
timestamp (blood pressure and temperature may: a cuff's stored readings come later). The
GATT Date Time has no zone: it is read in ``device_zone``, the zone the band's clock is
set to (the gateway's setting). A timestamp with an unknown (0) year, month or day, or
not a real date (in UTC too), falls back to ``received_at``. A real but wrong date (a band
whose clock was never set) is left to the backend's clock-skew handling.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

import msgspec

from ingest.ble.gatt import (
    BatteryLevel,
    BloodPressureMeasurement,
    GattDateTime,
    HeartRateMeasurement,
    Measurement,
    PlxContinuousMeasurement,
    TemperatureMeasurement,
)
from schemas.telemetry import (
    AnySample,
    Battery,
    BloodPressure,
    HeartRate,
    SpO2,
    Temperature,
)

MMHG_PER_KPA = 1000 / 133.322387415
MAX_RR_MS = 10_000.0

Site = Literal["wrist", "core", "axillary", "ear", "oral"]
# GATT Temperature Type to the wire's site: finger and toe are skin, like the wrist.
_SITES: dict[str, Site] = {
    "armpit": "axillary",
    "body": "core",
    "ear": "ear",
    "tympanum": "ear",
    "mouth": "oral",
    "rectum": "core",
    "gastrointestinal": "core",
    "finger": "wrist",
    "toe": "wrist",
}


class Converted(msgspec.Struct, frozen=True):
    """The samples of one measurement, and what was left out of it (categories)."""

    samples: list[AnySample]
    dropped: list[str]


def _within(value: float | None, low: float, high: float) -> bool:
    return value is not None and math.isfinite(value) and low <= value <= high


def measured_time(
    stamp: GattDateTime | None, received_at: dt.datetime, device_zone: dt.tzinfo
) -> dt.datetime:
    """When a measurement was taken: its timestamp read in ``device_zone``, else on arrival."""
    if stamp is None or 0 in (stamp.year, stamp.month, stamp.day):
        return received_at
    try:
        local = dt.datetime(
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.hours,
            stamp.minutes,
            stamp.seconds,
            tzinfo=device_zone,
        )
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # no such date, or none in UTC (year 1 east of it)
        return received_at


def _heart_rate(m: HeartRateMeasurement, at: dt.datetime) -> Converted:
    dropped = []
    rr = [raw * 1000 / 1024 for raw in m.rr_1024ths]
    kept = tuple(ms for ms in rr if 0 < ms <= MAX_RR_MS)
    if len(kept) < len(rr):
        dropped.append("rr_interval_out_of_range")
    if not _within(m.heart_rate_bpm, 0, 300):
        return Converted([], [*dropped, "heart_rate_out_of_range"])
    sample = HeartRate(
        measured_at=at,
        heart_rate_bpm=float(m.heart_rate_bpm),
        rr_ms=kept,
        sensor_contact=m.sensor_contact,
    )
    return Converted([sample], dropped)


def _blood_pressure(m: BloodPressureMeasurement, at: dt.datetime) -> Converted:
    scale = MMHG_PER_KPA if m.unit == "kPa" else 1.0
    systolic, diastolic = m.systolic * scale, m.diastolic * scale
    if not (_within(systolic, 20, 300) and _within(diastolic, 10, 250)):
        return Converted([], ["blood_pressure_unmeasured_or_out_of_range"])
    sample = BloodPressure(
        measured_at=at, systolic_mmhg=round(systolic, 1), diastolic_mmhg=round(diastolic, 1)
    )
    return Converted([sample], [])


def _temperature(m: TemperatureMeasurement, at: dt.datetime) -> Converted:
    celsius = (m.value - 32) * 5 / 9 if m.unit == "F" else m.value
    if not _within(celsius, 20, 45):
        return Converted([], ["temperature_unmeasured_or_out_of_range"])
    site = _SITES.get(m.site or "", "wrist")  # no type, or a reserved one: the band's own
    return Converted([Temperature(measured_at=at, temp_c=round(celsius, 2), site=site)], [])


def _spo2(m: PlxContinuousMeasurement, at: dt.datetime) -> Converted:
    if not _within(m.spo2_pct, 0, 100):
        return Converted([], ["spo2_unmeasured_or_out_of_range"])
    return Converted([SpO2(measured_at=at, spo2_pct=m.spo2_pct)], [])


def to_samples(
    measurement: Measurement, received_at: dt.datetime, device_zone: dt.tzinfo = dt.UTC
) -> Converted:
    """The telemetry samples of one decoded notification."""
    if isinstance(measurement, HeartRateMeasurement):
        return _heart_rate(measurement, received_at)
    if isinstance(measurement, BloodPressureMeasurement):
        at = measured_time(measurement.timestamp, received_at, device_zone)
        return _blood_pressure(measurement, at)
    if isinstance(measurement, TemperatureMeasurement):
        at = measured_time(measurement.timestamp, received_at, device_zone)
        return _temperature(measurement, at)
    if isinstance(measurement, PlxContinuousMeasurement):
        return _spo2(measurement, received_at)
    assert isinstance(measurement, BatteryLevel)  # noqa: S101 - the union's last member
    return Converted([Battery(measured_at=received_at, battery_pct=measurement.battery_pct)], [])
