"""Decode cost of a telemetry batch: msgspec (what Vigil uses) against pydantic v2.

Both decode the same bytes into typed, validated models. The pydantic models below
mirror ``schemas.telemetry`` (bounds, tz-aware times, a discriminated union on
``type``, unknown fields refused); before timing, the benchmark checks that both
accept the same valid payloads and refuse the same invalid ones, so the race is fair.

Baseline, measured in the same run: ``json.loads`` of the same bytes (parsing only,
no validation, plain dicts).

Usage: ``python -m bench.schema_decode [--rounds N]``. Writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Annotated, Literal

import pydantic
from pydantic import AwareDatetime, ConfigDict, Field

import schemas
from bench._report import final_line, write_section

TOPIC = "vigil/v1/telemetry/wb-0001"


class _Model(pydantic.BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PHeartRate(_Model):
    type: Literal["heart_rate"]
    measured_at: AwareDatetime
    heart_rate_bpm: Annotated[float, Field(ge=0, le=300)]
    rr_ms: Annotated[
        tuple[Annotated[float, Field(gt=0, le=10_000)], ...], Field(max_length=300)
    ] = ()
    sensor_contact: bool | None = None


class PEcg(_Model):
    type: Literal["ecg"]
    measured_at: AwareDatetime
    sampling_rate_hz: Annotated[float, Field(ge=50, le=2000)]
    lead: Annotated[str, Field(max_length=16)] = "I"
    samples_uv: Annotated[
        tuple[Annotated[int, Field(ge=-100_000, le=100_000)], ...],
        Field(min_length=1, max_length=60_000),
    ]


class PSpO2(_Model):
    type: Literal["spo2"]
    measured_at: AwareDatetime
    spo2_pct: Annotated[float, Field(ge=0, le=100)]


class PRespiration(_Model):
    type: Literal["respiration"]
    measured_at: AwareDatetime
    respiration_rate_per_min: Annotated[float, Field(ge=0, le=100)]


class PTemperature(_Model):
    type: Literal["temperature"]
    measured_at: AwareDatetime
    temp_c: Annotated[float, Field(ge=20, le=45)]
    site: Literal["wrist", "estimated_core", "core", "axillary", "ear", "oral"] = "wrist"


class PSteps(_Model):
    type: Literal["steps"]
    measured_at: AwareDatetime
    steps: Annotated[int, Field(ge=0, le=100_000)]
    interval_s: Annotated[float, Field(gt=0, le=86_400)]


PSample = Annotated[
    PHeartRate | PEcg | PSpO2 | PRespiration | PTemperature | PSteps,
    Field(discriminator="type"),
]


class PTelemetryBatch(_Model):
    schema_: Literal["vigil.telemetry.v1"] = Field(alias="schema")
    device_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    boot_id: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    seq: Annotated[int, Field(ge=0, le=2**63 - 1)]
    sent_at: AwareDatetime
    gateway_id: str | None = None
    samples: Annotated[tuple[PSample, ...], Field(min_length=1, max_length=1000)]


_PYDANTIC = pydantic.TypeAdapter(PTelemetryBatch)


def vitals_payload() -> bytes:
    """Ten samples: five vitals at two instants (the ingest benchmark's batch)."""
    t = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
    samples: list[schemas.AnySample] = []
    for at in (t, t + dt.timedelta(milliseconds=500)):
        samples += [
            schemas.HeartRate(measured_at=at, heart_rate_bpm=72, rr_ms=(830.0, 845.5)),
            schemas.SpO2(measured_at=at, spo2_pct=97),
            schemas.Respiration(measured_at=at, respiration_rate_per_min=15),
            schemas.Temperature(measured_at=at, temp_c=36.9, site="estimated_core"),
            schemas.Steps(measured_at=at, steps=3, interval_s=0.5),
        ]
    return schemas.encode(
        schemas.TelemetryBatchV1(device_id="wb-0001", seq=1, sent_at=t, samples=tuple(samples))
    )


def ecg_payload() -> bytes:
    """One 30-second ECG strip at 250 Hz (7,500 samples)."""
    t = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
    strip = tuple(int(800 * ((i % 200) < 8)) - 50 for i in range(7_500))
    return schemas.encode(
        schemas.TelemetryBatchV1(
            device_id="wb-0001",
            seq=2,
            sent_at=t,
            samples=(schemas.Ecg(measured_at=t, sampling_rate_hz=250, samples_uv=strip),),
        )
    )


def invalid_payloads(valid: bytes) -> list[bytes]:
    """Mutants both libraries must refuse: bounds, naive time, unknown field, tag, id.

    Only mutations that apply to ``valid`` are returned (an ECG batch has no SpO2).
    """
    mutants = [
        valid.replace(b'"spo2_pct":97', b'"spo2_pct":101', 1),
        valid.replace(b'"sampling_rate_hz":250', b'"sampling_rate_hz":20', 1),
        valid.replace(b'Z"', b'"', 1),
        valid.replace(b'"seq":', b'"extra":1,"seq":', 1),
        valid.replace(b'"type":"spo2"', b'"type":"spo3"', 1),
        valid.replace(b'"device_id":"wb-0001"', b'"device_id":"wb 0001"', 1),
    ]
    return [m for m in mutants if m != valid]


def msgspec_decode(payload: bytes) -> object:
    """Vigil's own path: ``schemas.decode`` (topic check included)."""
    return schemas.decode(TOPIC, payload)


def pydantic_decode(payload: bytes) -> object:
    """pydantic v2's fastest path: ``TypeAdapter.validate_json`` straight from bytes."""
    return _PYDANTIC.validate_json(payload)


def check_equivalent(payload: bytes) -> None:
    """Both accept ``payload`` with the same sample count and refuse every mutant."""
    ours, theirs = msgspec_decode(payload), pydantic_decode(payload)
    assert isinstance(ours, schemas.TelemetryBatchV1)  # noqa: S101
    assert isinstance(theirs, PTelemetryBatch)  # noqa: S101
    assert len(ours.samples) == len(theirs.samples)  # noqa: S101
    mutants = invalid_payloads(payload)
    assert len(mutants) >= 4  # noqa: S101
    for bad in mutants:
        try:
            msgspec_decode(bad)
        except schemas.MalformedPayload:
            pass
        else:
            raise AssertionError(f"msgspec accepted {bad[:80]!r}")
        try:
            pydantic_decode(bad)
        except pydantic.ValidationError:
            pass
        else:
            raise AssertionError(f"pydantic accepted {bad[:80]!r}")


def per_call_us(fn: Callable[[bytes], object], payload: bytes, rounds: int) -> float:
    """Best of five runs of ``rounds`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn(payload)
        best = min(best, time.perf_counter() - t0)
    return best / rounds * 1e6


def main() -> None:
    """Measure both payloads with the three decoders and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5_000)
    args = parser.parse_args()
    figures: dict[str, float | int] = {}
    for name, payload, rounds in (
        ("vitals", vitals_payload(), args.rounds),
        ("ecg", ecg_payload(), max(1, args.rounds // 50)),
    ):
        check_equivalent(payload)
        ours = per_call_us(msgspec_decode, payload, rounds)
        theirs = per_call_us(pydantic_decode, payload, rounds)
        baseline = per_call_us(json.loads, payload, rounds)
        figures |= {
            f"{name}_payload_bytes": len(payload),
            f"{name}_msgspec_us": round(ours, 1),
            f"{name}_pydantic_us": round(theirs, 1),
            f"{name}_json_loads_baseline_us": round(baseline, 1),
            f"{name}_pydantic_to_msgspec_ratio": round(theirs / ours, 2),
            f"{name}_msgspec_ratio_to_baseline": round(ours / baseline, 2),
        }
    write_section(
        "schema_decode",
        f"python -m bench.schema_decode --rounds {args.rounds}",
        figures,
        "Decode and validate one telemetry batch from bytes into typed models: Vigil's "
        "`schemas.decode` (msgspec, with the topic check) against pydantic v2 "
        "`TypeAdapter.validate_json` on mirror models with the same bounds, checked to accept "
        "and refuse the same payloads. Baseline: `json.loads` of the same bytes (no "
        "validation, plain dicts). Best of five runs; `*_ratio_to_baseline` > 1 means slower "
        "than parsing alone.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
