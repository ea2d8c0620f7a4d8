"""GATT health characteristics decoded from bytes: the worked vectors of
``shared/design/CLINICAL.md`` section 5 (from the Nordic Android BLE library's tests), the
IEEE 11073 special values, and any bytes giving a value or one ``MalformedPayload``."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.ble.gatt import (
    DECODERS,
    BatteryLevel,
    BloodPressureStatus,
    GattDateTime,
    HeartRateMeasurement,
    decode_battery_level,
    decode_blood_pressure,
    decode_characteristic,
    decode_heart_rate,
    decode_plx_continuous,
    decode_temperature,
)
from ingest.ble.ieee11073 import float32, sfloat
from schemas import MalformedPayload


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("00 55", HeartRateMeasurement(heart_rate_bpm=85, sensor_contact=None,
                                       energy_expended_kj=None, rr_1024ths=())),
        ("04 FF", HeartRateMeasurement(heart_rate_bpm=255, sensor_contact=False,
                                       energy_expended_kj=None, rr_1024ths=())),
        ("1E 55 32 00 21 00", HeartRateMeasurement(heart_rate_bpm=85, sensor_contact=True,
                                                   energy_expended_kj=50, rr_1024ths=(33,))),
        ("1F 01 01 32 01 01 00 02 01 FF FF",
         HeartRateMeasurement(heart_rate_bpm=257, sensor_contact=True,
                              energy_expended_kj=306, rr_1024ths=(1, 258, 65535))),
    ],
)  # fmt: skip
def test_heart_rate_worked_vectors(data: str, expected: HeartRateMeasurement) -> None:
    assert decode_heart_rate(hexbytes(data)) == expected


def test_blood_pressure_in_mmhg_with_every_field() -> None:
    vector = "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"
    got = decode_blood_pressure(hexbytes(vector))
    assert (got.unit, got.systolic, got.diastolic, got.mean_arterial) == ("mmHg", 138, 88, 120)
    assert got.timestamp == GattDateTime(0, 4, 17, 20, 41, 59)  # year 0: unknown
    assert (got.pulse_rate_bpm, got.user_id) == (60, 1)
    assert got.status == BloodPressureStatus(
        body_movement=True,
        cuff_too_loose=True,
        irregular_pulse=True,
        pulse_rate_range="within",
        improper_position=True,
    )  # 0b100111


def test_blood_pressure_in_kpa_with_negative_exponents() -> None:
    got = decode_blood_pressure(hexbytes("15 BD F0 0B 00 9F F0 3C 00 12 00"))
    assert (got.unit, got.systolic, got.diastolic, got.mean_arterial) == ("kPa", 18.9, 11, 15.9)
    assert (got.timestamp, got.pulse_rate_bpm, got.user_id) == (None, 60, None)
    assert got.status is not None
    assert (got.status.cuff_too_loose, got.status.pulse_rate_range) == (True, "below")
    assert (got.status.body_movement, got.status.irregular_pulse) == (False, False)


def test_temperature_with_timestamp_and_type() -> None:
    got = decode_temperature(hexbytes("06 B0 0E 00 FE DC 07 0C 05 0B 32 1B 04"))
    assert (got.unit, got.value, got.site) == ("C", 37.6, "finger")
    assert got.timestamp == GattDateTime(2012, 12, 5, 11, 50, 27)


def test_plx_continuous_with_its_optional_fields() -> None:
    # SpO2 97 %, PR 72; fast 96/73; measurement status 0x0020; amplitude 2.5 %.
    got = decode_plx_continuous(hexbytes("15 61 00 48 00 60 00 49 00 20 00 19 F0"))
    assert (got.spo2_pct, got.pulse_rate_bpm, got.fast, got.slow) == (97, 72, (96, 73), None)
    assert (got.measurement_status, got.device_status) == (0x0020, None)
    assert got.pulse_amplitude_index_pct == 2.5
    assert decode_plx_continuous(hexbytes("00 61 00 48 00")).fast is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0055, 85.0),
        (0xF0BD, 18.9),  # exponent -1
        (0x1003, 30.0),  # exponent +1
        (0x0FFF, -1.0),  # mantissa -1
        (0x8001, 1e-8),  # exponent -8
        (0x07FE, math.inf),
        (0x0802, -math.inf),
    ],
)
def test_sfloat_values_and_infinities(raw: int, value: float) -> None:
    assert sfloat(raw) == value


@pytest.mark.parametrize("raw", [0x07FF, 0x0800, 0x0801])
def test_sfloat_nan_nres_and_reserved_are_no_measurement(raw: int) -> None:
    assert math.isnan(sfloat(raw))


def test_float32_values_and_special_values() -> None:
    assert float32(0xFE000EB0) == 37.6
    assert float32(0x00000061) == 97.0  # where bluetooth-sig 0.6.0 gives 9.7e-07
    assert float32(0xFFFFFFFF) == -0.1  # mantissa -1, exponent -1
    assert float32(0x007FFFFE) == math.inf
    assert float32(0x00800002) == -math.inf
    for raw in (0x007FFFFF, 0x00800000, 0x00800001):
        assert math.isnan(float32(raw))


def test_an_unmeasurable_spo2_decodes_as_nan_not_as_a_number() -> None:
    got = decode_plx_continuous(hexbytes("00 FF 07 00 08"))
    assert math.isnan(got.spo2_pct)
    assert math.isnan(got.pulse_rate_bpm)


@pytest.mark.parametrize(
    ("uuid16", "data", "why"),
    [
        (0x2A37, "", "end before"),
        (0x2A37, "01 55", "end before"),  # uint16 HR announced, one byte sent
        (0x2A37, "10 55 21", "not pairs"),
        (0x2A37, "20 55", "reserved flag"),
        (0x2A35, "00 8A 00 58 00", "end before"),
        (0x2A35, "02 8A 00 58 00 78 00 DC 07", "end before"),  # timestamp cut short
        (0x2A1C, "08 B0 0E 00 FE", "reserved flag"),
        (0x2A5F, "08 61 00 48 00 01 02", "end before"),  # 24-bit status cut short
        (0x2A19, "65", "above 100"),
        (0x2A38, "01", "not one Vigil decodes"),
    ],
)
def test_malformed_notifications_are_one_error_with_the_reason(
    uuid16: int, data: str, why: str
) -> None:
    with pytest.raises(MalformedPayload, match=why) as caught:
        decode_characteristic(uuid16, hexbytes(data))
    assert caught.value.reason == "malformed_gatt"


def test_battery_level() -> None:
    assert decode_battery_level(b"\x64") == BatteryLevel(100)
    assert decode_characteristic(0x2A19, b"\x07") == BatteryLevel(7)


@given(uuid16=st.sampled_from(sorted(DECODERS)), data=st.binary(max_size=40))
def test_any_bytes_give_a_measurement_or_one_malformed_payload(uuid16: int, data: bytes) -> None:
    errors = []
    try:
        decode_characteristic(uuid16, data)
    except MalformedPayload as exc:
        errors.append(exc.reason)
    assert errors in ([], ["malformed_gatt"])
