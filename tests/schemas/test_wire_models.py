"""Wire models: valid payloads, named invalid fixtures, construction checks, fuzzing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import shlex
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from schemas import MalformedPayload, decode, encode
from schemas.jsonschema_export import MODELS, SCHEMA_DIR, render

ROOT = Path(__file__).resolve().parents[2]
T = "2026-11-22T08:15:00+01:00"


def batch(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": "vigil.telemetry.v1",
        "device_id": "wb-1",
        "seq": 1,
        "sent_at": T,
        "samples": [{"type": "heart_rate", "measured_at": T, "heart_rate_bpm": 72}],
    }
    base.update(overrides)
    return base


def sample(**fields: Any) -> dict[str, Any]:
    return batch(samples=[{"measured_at": T, **fields}])


INVALID: dict[str, tuple[str, bytes, str]] = {
    "not-json": ("vigil/v1/telemetry/wb-1", b"{not json", "invalid_json"),
    "empty": ("vigil/v1/telemetry/wb-1", b"", "invalid_json"),
    "json-array": ("vigil/v1/telemetry/wb-1", b"[]", "invalid_schema"),
    "wrong-schema-tag": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(batch(schema="vigil.telemetry.v9")).encode(),
        "invalid_schema",
    ),
    "time-without-offset": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(batch(sent_at="2026-11-22T08:15:00")).encode(),
        "invalid_schema",
    ),
    "no-samples": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(batch(samples=[])).encode(),
        "invalid_schema",
    ),
    "negative-seq": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(batch(seq=-1)).encode(),
        "invalid_schema",
    ),
    "spo2-over-100": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="spo2", spo2_pct=140)).encode(),
        "invalid_schema",
    ),
    "heart-rate-500": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="heart_rate", heart_rate_bpm=500)).encode(),
        "invalid_schema",
    ),
    "rr-zero": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="heart_rate", heart_rate_bpm=60, rr_ms=[0])).encode(),
        "invalid_schema",
    ),
    "diastolic-above-systolic": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="blood_pressure", systolic_mmhg=80, diastolic_mmhg=95)).encode(),
        "invalid_schema",
    ),
    "unknown-sample-type": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="glucose", mg_dl=90)).encode(),
        "invalid_schema",
    ),
    "unknown-field": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="spo2", spo2_pct=97, spo2_percent=97)).encode(),
        "invalid_schema",
    ),
    "string-for-number": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(sample(type="spo2", spo2_pct="97")).encode(),
        "invalid_schema",
    ),
    "device-id-with-slash": (
        "vigil/v1/telemetry/wb-1",
        json.dumps(batch(device_id="wb/1")).encode(),
        "invalid_schema",
    ),
    "topic-mismatch": (
        "vigil/v1/telemetry/wb-2",
        json.dumps(batch()).encode(),
        "topic_mismatch",
    ),
    "unknown-topic": ("vigil/v2/telemetry/wb-1", json.dumps(batch()).encode(), "unknown_topic"),
    "too-large": ("vigil/v1/telemetry/wb-1", b" " * (schemas.MAX_PAYLOAD_BYTES + 1), "too_large"),
    "sos-negative-press": (
        "vigil/v1/event/wb-1",
        json.dumps(
            {
                "schema": "vigil.event.v1",
                "device_id": "wb-1",
                "seq": 1,
                "occurred_at": T,
                "event": {"type": "sos", "press_duration_s": -1},
            }
        ).encode(),
        "invalid_schema",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_payloads_raise_one_error_with_reason(name: str) -> None:
    topic, payload, reason = INVALID[name]
    with pytest.raises(MalformedPayload) as info:
        decode(topic, payload)
    assert info.value.reason == reason


def test_valid_batch_round_trips_with_units_and_offset() -> None:
    msg = decode("vigil/v1/telemetry/wb-1", json.dumps(batch()).encode())
    assert isinstance(msg, schemas.TelemetryBatchV1)
    assert msg.sent_at.utcoffset() == dt.timedelta(hours=1)
    assert msg.boot_id == 0
    assert decode("vigil/v1/telemetry/wb-1", encode(msg)) == msg


def test_every_sample_type_decodes() -> None:
    samples = [
        {"type": "heart_rate", "heart_rate_bpm": 61, "rr_ms": [980.5], "sensor_contact": True},
        {"type": "ecg", "sampling_rate_hz": 250, "samples_uv": [10, -20, 30]},
        {"type": "spo2", "spo2_pct": 96},
        {"type": "blood_pressure", "systolic_mmhg": 120, "diastolic_mmhg": 80},
        {"type": "temperature", "temp_c": 36.6, "site": "estimated_core"},
        {"type": "respiration", "respiration_rate_per_min": 14},
        {"type": "steps", "steps": 100, "interval_s": 60},
        {"type": "sleep_stage", "stage": "deep", "duration_s": 300},
        {"type": "gps", "lat_deg": 51.5, "lon_deg": -0.12, "accuracy_m": 5},
        {"type": "battery", "battery_pct": 80},
        {"type": "wear", "on_wrist": False},
    ]
    payload = batch(samples=[{"measured_at": T, **s} for s in samples])
    msg = decode("vigil/v1/telemetry/wb-1", json.dumps(payload).encode())
    assert isinstance(msg, schemas.TelemetryBatchV1)
    assert [type(s).__name__ for s in msg.samples] == [
        "HeartRate",
        "Ecg",
        "SpO2",
        "BloodPressure",
        "Temperature",
        "Respiration",
        "Steps",
        "SleepStage",
        "GpsFix",
        "Battery",
        "WearState",
    ]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda now: schemas.HeartRate(measured_at=now, heart_rate_bpm=301), "heart_rate_bpm"),
        (lambda now: schemas.SpO2(measured_at=now, spo2_pct=-1), "spo2_pct"),
        (
            lambda now: schemas.HeartRate(measured_at=now.replace(tzinfo=None), heart_rate_bpm=60),
            "UTC offset",
        ),
        (
            lambda now: schemas.HeartRate(measured_at=now, heart_rate_bpm=60, rr_ms=(-5.0,)),
            "rr_ms[0]",
        ),
        (
            lambda now: schemas.BloodPressure(measured_at=now, systolic_mmhg=90, diastolic_mmhg=90),
            "diastolic",
        ),
        (
            lambda now: schemas.TelemetryBatchV1(
                device_id="wb 1",
                seq=1,
                sent_at=now,
                samples=(schemas.SpO2(measured_at=now, spo2_pct=97),),
            ),
            "device_id",
        ),
        (
            lambda now: schemas.TelemetryBatchV1(device_id="wb-1", seq=1, sent_at=now, samples=()),
            "samples",
        ),
    ],
    ids=[
        "hr-301",
        "spo2-negative",
        "naive-time",
        "rr-negative",
        "dia-equal-sys",
        "id-space",
        "no-samples",
    ],
)
def test_construction_validates_like_decoding(factory: Any, message: str) -> None:
    now = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        factory(now)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_json_schema_matches_the_model(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(MODELS[name]), f"run `vigil schemas export` to refresh {name}"


def _doc_examples() -> list[tuple[str, bytes]]:
    text = (ROOT / "docs" / "wire-protocol.md").read_text(encoding="utf-8")
    examples = []
    for line in text.splitlines():
        if line.startswith("mosquitto_pub "):
            args = shlex.split(line)
            examples.append((args[args.index("-t") + 1], args[args.index("-m") + 1].encode()))
    return examples


def test_documented_examples_decode_or_fail_as_documented() -> None:
    examples = _doc_examples()
    assert len(examples) == 4
    outcomes = []
    for topic, payload in examples:
        try:
            outcomes.append(type(decode(topic, payload)).__name__)
        except MalformedPayload as exc:
            outcomes.append(exc.reason)
    assert outcomes == ["TelemetryBatchV1", "EventV1", "GatewayStatusV1", "invalid_schema"]


TOPICS = st.sampled_from(
    ["vigil/v1/telemetry/wb-1", "vigil/v1/event/wb-1", "vigil/v1/gateway/gw-1/status", "x/y"]
)


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, payload=st.binary(max_size=2048))
def test_any_bytes_give_a_model_or_one_malformed_payload(topic: str, payload: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        decode(topic, payload)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    mutation=st.dictionaries(
        st.sampled_from(
            ["schema", "device_id", "seq", "boot_id", "sent_at", "samples", "gateway_id", "extra"]
        ),
        JSONISH,
        max_size=3,
    )
)
def test_structurally_mutated_batches_never_raise_another_exception(
    mutation: dict[str, Any],
) -> None:
    payload = json.dumps(batch(**mutation)).encode()
    with contextlib.suppress(MalformedPayload):
        decode("vigil/v1/telemetry/wb-1", payload)
