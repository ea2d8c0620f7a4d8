"""GATT measurements as telemetry samples: units, sites, times, and what is left out."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.ble.gatt import (
    DECODERS,
    BatteryLevel,
    GattDateTime,
    HeartRateMeasurement,
    decode_blood_pressure,
    decode_characteristic,
    decode_heart_rate,
    decode_plx_continuous,
    decode_temperature,
)
from ingest.ble.samples import measured_time, to_samples
from schemas import MalformedPayload, TelemetryBatchV1, decode, encode
from schemas.telemetry import Battery, BloodPressure, HeartRate, SpO2, Temperature

AT = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)


def test_rr_intervals_become_milliseconds_and_impossible_ones_are_left_out() -> None:
    got = to_samples(decode_heart_rate(bytes.fromhex("1F 01 01 32 01 01 00 02 01 FF FF")), AT)
    (sample,) = got.samples
    assert isinstance(sample, HeartRate)
    # 1/1024 s and 258/1024 s are possible intervals; 65535/1024 s (64 s) is not.
    assert sample.rr_ms == (1000 / 1024, 258 * 1000 / 1024)
    assert (sample.heart_rate_bpm, sample.sensor_contact) == (257, True)
    assert got.dropped == ["rr_interval_out_of_range"]


def test_a_heart_rate_above_the_wire_bound_is_dropped_not_sent() -> None:
    m = HeartRateMeasurement(
        heart_rate_bpm=400, sensor_contact=True, energy_expended_kj=None, rr_1024ths=()
    )
    assert to_samples(m, AT).samples == []
    assert to_samples(m, AT).dropped == ["heart_rate_out_of_range"]


def test_kpa_becomes_mmhg_and_the_device_timestamp_is_read_in_its_zone() -> None:
    got = to_samples(decode_blood_pressure(bytes.fromhex("15 BD F0 0B 00 9F F0 3C 00 12 00")), AT)
    assert got.samples == [BloodPressure(measured_at=AT, systolic_mmhg=141.8, diastolic_mmhg=82.5)]
    # 138/88 mmHg measured 2026-12-03 08:15:00 on a cuff set to London time.
    stamped = bytes.fromhex("02 8A 00 58 00 78 00 EA 07 0C 03 08 0F 00")
    (sample,) = to_samples(decode_blood_pressure(stamped), AT, ZoneInfo("Europe/London")).samples
    assert sample == BloodPressure(
        measured_at=dt.datetime(2026, 12, 3, 8, 15, tzinfo=dt.UTC),
        systolic_mmhg=138,
        diastolic_mmhg=88,
    )


@pytest.mark.parametrize(
    "stamp",
    [
        GattDateTime(0, 4, 17, 20, 41, 59),  # year unknown
        GattDateTime(2026, 0, 17, 20, 41, 59),  # month unknown
        GattDateTime(2026, 2, 30, 20, 41, 59),  # no such day
        GattDateTime(2026, 2, 3, 24, 0, 0),  # no such hour
        GattDateTime(1, 1, 1, 0, 0, 0),  # 0001-01-01 00:00 in Shanghai is before year 1 in UTC
        None,
    ],
)
def test_an_unknown_or_impossible_timestamp_falls_back_to_arrival(
    stamp: GattDateTime | None,
) -> None:
    assert measured_time(stamp, AT, ZoneInfo("Asia/Shanghai")) == AT


def test_temperature_sites_and_fahrenheit() -> None:
    (finger,) = to_samples(
        decode_temperature(bytes.fromhex("06 B0 0E 00 FE DC 07 0C 05 0B 32 1B 04")), AT
    ).samples
    assert finger == Temperature(
        measured_at=dt.datetime(2012, 12, 5, 11, 50, 27, tzinfo=dt.UTC), temp_c=37.6, site="wrist"
    )
    # 98.6 F in the ear (type 3): FLOAT mantissa 986, exponent -1.
    (ear,) = to_samples(decode_temperature(bytes.fromhex("05 DA 03 00 FF 03")), AT).samples
    assert ear == Temperature(measured_at=AT, temp_c=37.0, site="ear")
    (band,) = to_samples(decode_temperature(bytes.fromhex("00 B0 0E 00 FE")), AT).samples
    assert isinstance(band, Temperature)
    assert band.site == "wrist"


def test_an_unmeasurable_spo2_is_left_out_and_a_real_one_kept() -> None:
    nan = to_samples(decode_plx_continuous(bytes.fromhex("00 FF 07 00 08")), AT)
    assert (nan.samples, nan.dropped) == ([], ["spo2_unmeasured_or_out_of_range"])
    real = to_samples(decode_plx_continuous(bytes.fromhex("00 61 00 48 00")), AT)
    assert real.samples == [SpO2(measured_at=AT, spo2_pct=97)]


def test_battery_level() -> None:
    assert to_samples(BatteryLevel(42), AT).samples == [Battery(measured_at=AT, battery_pct=42)]


@given(uuid16=st.sampled_from(sorted(DECODERS)), data=st.binary(max_size=40))
def test_every_decodable_notification_gives_samples_the_wire_contract_accepts(
    uuid16: int, data: bytes
) -> None:
    """Whatever a band sends, the gateway never publishes a batch the backend refuses."""
    try:
        measurement = decode_characteristic(uuid16, data)
    except MalformedPayload:
        return
    converted = to_samples(measurement, AT, ZoneInfo("Europe/Berlin"))
    if not converted.samples:
        assert converted.dropped
        return
    batch = TelemetryBatchV1(
        device_id="wb-0001", seq=1, sent_at=AT, samples=tuple(converted.samples)
    )
    topic = "vigil/v1/telemetry/wb-0001"
    assert decode(topic, encode(batch)) == batch  # validated against the wire bounds
    for sample in converted.samples:
        values = msgspec.structs.asdict(sample).values()
        assert all(math.isfinite(v) for v in values if isinstance(v, float))


@given(
    fields=st.tuples(st.integers(0, 0xFFFF), *(st.integers(0, 0xFF) for _ in range(5))),
    zone=st.sampled_from(["UTC", "Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati"]),
)
def test_any_timestamp_gives_an_aware_time(fields: tuple[int, ...], zone: str) -> None:
    got = measured_time(GattDateTime(*fields), AT, ZoneInfo(zone))
    assert got.utcoffset() == dt.timedelta(0)
