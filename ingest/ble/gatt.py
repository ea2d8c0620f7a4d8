"""Sans-I/O decoders of the standard GATT health characteristics a wristband notifies.

Bytes in, a typed measurement out, or one ``schemas.MalformedPayload`` (reason
``malformed_gatt``) for bytes that cannot be one: too short, a reserved flag whose field
layout is unknown, an odd byte where RR intervals come in pairs, a battery above 100 %.
Fields are little-endian. Sources: Bluetooth SIG Heart Rate Service 1.0 (0x2A37),
Blood Pressure Service 1.1 (0x2A35), Health Thermometer Service 1.0 (0x2A1C), Pulse
Oximeter Service 1.0 (0x2A5F), Battery Service 1.0 (0x2A19), and the GATT Specification
Supplement for the field formats; summed up with worked vectors in
``shared/design/CLINICAL.md`` section 5.

Values are as the device sent them (units named, nothing converted): turning them into
telemetry samples is ``ingest/ble/samples.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from ingest.ble.ieee11073 import float32, sfloat
from schemas import MalformedPayload

HEART_RATE_MEASUREMENT = 0x2A37
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
TEMPERATURE_MEASUREMENT = 0x2A1C
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
BATTERY_LEVEL = 0x2A19

# Temperature Type (GATT Specification Supplement, 0x2A1D).
TEMPERATURE_TYPES = {
    1: "armpit",
    2: "body",
    3: "ear",
    4: "finger",
    5: "gastrointestinal",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",
}


def _malformed(detail: str) -> MalformedPayload:
    return MalformedPayload("malformed_gatt", detail)


class _Reader:
    """A cursor over a characteristic's value; a short read is a ``MalformedPayload``."""

    def __init__(self, what: str, data: bytes) -> None:
        self._what = what
        self._data = data
        self._at = 0

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def uint(self, size: int) -> int:
        if self.left < size:
            raise _malformed(
                f"{self._what}: {len(self._data)} bytes end before a {size}-byte field "
                f"at offset {self._at}"
            )
        value = int.from_bytes(self._data[self._at : self._at + size], "little")
        self._at += size
        return value

    def sfloat(self) -> float:
        return sfloat(self.uint(2))

    def float32(self) -> float:
        return float32(self.uint(4))

    def date_time(self) -> GattDateTime:
        return GattDateTime(
            year=self.uint(2),
            month=self.uint(1),
            day=self.uint(1),
            hours=self.uint(1),
            minutes=self.uint(1),
            seconds=self.uint(1),
        )


def _flags(reader: _Reader, what: str, known: int) -> int:
    flags = reader.uint(1)
    if flags & ~known:
        # A reserved bit may announce a field whose size is unknown: what follows it
        # cannot be trusted to be where the known fields would be.
        raise _malformed(f"{what}: reserved flag bits 0x{flags & ~known & 0xFF:02X} set")
    return flags


class GattDateTime(msgspec.Struct, frozen=True):
    """Date Time (0x2A08) as sent: local time of the device, no zone; 0 = unknown."""

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int


class HeartRateMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """0x2A37. ``sensor_contact`` is None where the band does not report contact."""

    heart_rate_bpm: int
    sensor_contact: bool | None
    energy_expended_kj: int | None
    rr_1024ths: tuple[int, ...]  # RR intervals in 1/1024 s, oldest first


class BloodPressureStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Measurement Status of 0x2A35 (bits 0-5)."""

    body_movement: bool
    cuff_too_loose: bool
    irregular_pulse: bool
    pulse_rate_range: Literal["within", "above", "below", "reserved"]
    improper_position: bool


class BloodPressureMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """0x2A35: pressures in ``unit``; optional fields None when their flag is clear."""

    unit: Literal["mmHg", "kPa"]
    systolic: float
    diastolic: float
    mean_arterial: float
    timestamp: GattDateTime | None
    pulse_rate_bpm: float | None
    user_id: int | None  # 255: unknown user
    status: BloodPressureStatus | None


class TemperatureMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """0x2A1C: the temperature in ``unit``, where it was measured if the band says."""

    unit: Literal["C", "F"]
    value: float
    timestamp: GattDateTime | None
    site: str | None  # ``TEMPERATURE_TYPES``; None when absent, "reserved" when unknown


class PlxContinuousMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """0x2A5F: SpO2 (%) and pulse rate (bpm), normal; the optional fast and slow pairs."""

    spo2_pct: float
    pulse_rate_bpm: float
    fast: tuple[float, float] | None  # (SpO2, PR)
    slow: tuple[float, float] | None
    measurement_status: int | None  # 16 bits
    device_status: int | None  # 24 bits
    pulse_amplitude_index_pct: float | None


class BatteryLevel(msgspec.Struct, frozen=True):
    """0x2A19: 0-100 %."""

    battery_pct: int


Measurement = (
    HeartRateMeasurement
    | BloodPressureMeasurement
    | TemperatureMeasurement
    | PlxContinuousMeasurement
    | BatteryLevel
)


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    """Heart Rate Measurement: flags, HR (uint8 or uint16), energy, RR intervals."""
    what = "heart rate measurement"
    reader = _Reader(what, data)
    flags = _flags(reader, what, 0x1F)
    heart_rate = reader.uint(2 if flags & 0x01 else 1)
    contact_bits = (flags >> 1) & 0x03
    contact = None if contact_bits < 2 else contact_bits == 3
    energy = reader.uint(2) if flags & 0x08 else None
    rr: tuple[int, ...] = ()
    if flags & 0x10:
        if reader.left % 2:
            raise _malformed(f"{what}: RR intervals take {reader.left} bytes, not pairs")
        rr = tuple(reader.uint(2) for _ in range(reader.left // 2))
    return HeartRateMeasurement(
        heart_rate_bpm=heart_rate,
        sensor_contact=contact,
        energy_expended_kj=energy,
        rr_1024ths=rr,
    )


_PULSE_RANGES: tuple[Literal["within", "above", "below", "reserved"], ...] = (
    "within",
    "above",
    "below",
    "reserved",
)


def _bp_status(bits: int) -> BloodPressureStatus:
    return BloodPressureStatus(
        body_movement=bool(bits & 0x01),
        cuff_too_loose=bool(bits & 0x02),
        irregular_pulse=bool(bits & 0x04),
        pulse_rate_range=_PULSE_RANGES[(bits >> 3) & 0x03],
        improper_position=bool(bits & 0x20),
    )


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    """Blood Pressure Measurement: compound value, then the fields its flags announce."""
    what = "blood pressure measurement"
    reader = _Reader(what, data)
    flags = _flags(reader, what, 0x1F)
    systolic, diastolic, mean = reader.sfloat(), reader.sfloat(), reader.sfloat()
    timestamp = reader.date_time() if flags & 0x02 else None
    pulse = reader.sfloat() if flags & 0x04 else None
    user = reader.uint(1) if flags & 0x08 else None
    status = _bp_status(reader.uint(2)) if flags & 0x10 else None
    return BloodPressureMeasurement(
        unit="kPa" if flags & 0x01 else "mmHg",
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=mean,
        timestamp=timestamp,
        pulse_rate_bpm=pulse,
        user_id=user,
        status=status,
    )


def decode_temperature(data: bytes) -> TemperatureMeasurement:
    """Temperature Measurement: a FLOAT, then the timestamp and type if flagged."""
    what = "temperature measurement"
    reader = _Reader(what, data)
    flags = _flags(reader, what, 0x07)
    value = reader.float32()
    timestamp = reader.date_time() if flags & 0x02 else None
    site = TEMPERATURE_TYPES.get(reader.uint(1), "reserved") if flags & 0x04 else None
    return TemperatureMeasurement(
        unit="F" if flags & 0x01 else "C", value=value, timestamp=timestamp, site=site
    )


def decode_plx_continuous(data: bytes) -> PlxContinuousMeasurement:
    """PLX Continuous Measurement: SpO2 and PR (normal), then the flagged fields."""
    what = "PLX continuous measurement"
    reader = _Reader(what, data)
    flags = _flags(reader, what, 0x1F)
    spo2, pulse = reader.sfloat(), reader.sfloat()
    fast = (reader.sfloat(), reader.sfloat()) if flags & 0x01 else None
    slow = (reader.sfloat(), reader.sfloat()) if flags & 0x02 else None
    measurement_status = reader.uint(2) if flags & 0x04 else None
    device_status = reader.uint(3) if flags & 0x08 else None
    amplitude = reader.sfloat() if flags & 0x10 else None
    return PlxContinuousMeasurement(
        spo2_pct=spo2,
        pulse_rate_bpm=pulse,
        fast=fast,
        slow=slow,
        measurement_status=measurement_status,
        device_status=device_status,
        pulse_amplitude_index_pct=amplitude,
    )


def decode_battery_level(data: bytes) -> BatteryLevel:
    """Battery Level: one byte, a percentage."""
    what = "battery level"
    reader = _Reader(what, data)
    level = reader.uint(1)
    if level > 100:
        raise _malformed(f"{what}: {level} is above 100 %")
    return BatteryLevel(level)


DECODERS: dict[int, Callable[[bytes], Measurement]] = {
    HEART_RATE_MEASUREMENT: decode_heart_rate,
    BLOOD_PRESSURE_MEASUREMENT: decode_blood_pressure,
    TEMPERATURE_MEASUREMENT: decode_temperature,
    PLX_CONTINUOUS_MEASUREMENT: decode_plx_continuous,
    BATTERY_LEVEL: decode_battery_level,
}


def decode_characteristic(uuid16: int, data: bytes) -> Measurement:
    """The measurement in a notification of the characteristic ``uuid16``."""
    decoder = DECODERS.get(uuid16)
    if decoder is None:
        raise _malformed(f"characteristic 0x{uuid16:04X} is not one Vigil decodes")
    return decoder(data)
