"""Telemetry batch, wire version 1: what a wristband (or its gateway) publishes.

One batch is one MQTT message on ``vigil/v1/telemetry/{device_id}``. It holds typed
samples, each with the device time it was measured at; units are in the field names.
Bounds reject values no sensor can produce (a dead letter); whether a possible value
is *plausible* is a signal-quality question for ``scoring``, not a wire error.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.common import BootId, DeviceId, DeviceTime, Seq, WireModel

TELEMETRY_V1 = "vigil.telemetry.v1"
MAX_SAMPLES_PER_BATCH = 1000
MAX_ECG_SAMPLES = 60_000  # one minute at 1 kHz
MAX_RR_PER_SAMPLE = 300


class Sample(WireModel, frozen=True, kw_only=True, tag_field="type"):
    """Base of every sample: the device time the value was measured."""

    measured_at: DeviceTime


class HeartRate(Sample, frozen=True, kw_only=True, tag="heart_rate"):
    """Heart rate with the RR intervals behind it (oldest first)."""

    heart_rate_bpm: Annotated[float, msgspec.Meta(ge=0, le=300)]
    rr_ms: Annotated[
        tuple[Annotated[float, msgspec.Meta(gt=0, le=10_000)], ...],
        msgspec.Meta(max_length=MAX_RR_PER_SAMPLE),
    ] = ()
    sensor_contact: bool | None = None


class Ecg(Sample, frozen=True, kw_only=True, tag="ecg"):
    """A single-lead ECG strip; ``measured_at`` is the time of the first sample."""

    sampling_rate_hz: Annotated[float, msgspec.Meta(ge=50, le=2000)]
    lead: Annotated[str, msgspec.Meta(max_length=16)] = "I"
    samples_uv: Annotated[
        tuple[Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)], ...],
        msgspec.Meta(min_length=1, max_length=MAX_ECG_SAMPLES),
    ]


class SpO2(Sample, frozen=True, kw_only=True, tag="spo2"):
    """Peripheral oxygen saturation from the wrist PPG."""

    spo2_pct: Annotated[float, msgspec.Meta(ge=0, le=100)]


class BloodPressure(Sample, frozen=True, kw_only=True, tag="blood_pressure"):
    """Cuffless or cuff blood pressure."""

    systolic_mmhg: Annotated[float, msgspec.Meta(ge=20, le=300)]
    diastolic_mmhg: Annotated[float, msgspec.Meta(ge=10, le=250)]

    def __post_init__(self) -> None:
        """Check bounds, then that diastolic is below systolic."""
        super().__post_init__()
        if self.diastolic_mmhg >= self.systolic_mmhg:
            raise msgspec.ValidationError("Expected `diastolic_mmhg` < `systolic_mmhg`")


class Temperature(Sample, frozen=True, kw_only=True, tag="temperature"):
    """Temperature at ``site``: ``wrist`` is skin, ``estimated_core`` a device core estimate."""

    temp_c: Annotated[float, msgspec.Meta(ge=20, le=45)]
    site: Literal["wrist", "estimated_core", "core", "axillary", "ear", "oral"] = "wrist"


class Respiration(Sample, frozen=True, kw_only=True, tag="respiration"):
    """Respiration rate, usually derived on the device from PPG or ECG."""

    respiration_rate_per_min: Annotated[float, msgspec.Meta(ge=0, le=100)]


class Steps(Sample, frozen=True, kw_only=True, tag="steps"):
    """Steps counted over the ``interval_s`` that ends at ``measured_at``."""

    steps: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    interval_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class SleepStage(Sample, frozen=True, kw_only=True, tag="sleep_stage"):
    """A sleep stage estimate lasting ``duration_s`` from ``measured_at``."""

    stage: Literal["wake", "light", "deep", "rem"]
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class GpsFix(Sample, frozen=True, kw_only=True, tag="gps"):
    """A position fix with its horizontal accuracy (68 % radius)."""

    lat_deg: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon_deg: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)]


class Battery(Sample, frozen=True, kw_only=True, tag="battery"):
    """Battery charge."""

    battery_pct: Annotated[float, msgspec.Meta(ge=0, le=100)]


class WearState(Sample, frozen=True, kw_only=True, tag="wear"):
    """Whether the band sits on the wrist (skin contact)."""

    on_wrist: bool


AnySample = (
    HeartRate
    | Ecg
    | SpO2
    | BloodPressure
    | Temperature
    | Respiration
    | Steps
    | SleepStage
    | GpsFix
    | Battery
    | WearState
)


class TelemetryBatchV1(WireModel, frozen=True, kw_only=True, tag_field="schema", tag=TELEMETRY_V1):
    """One telemetry message: samples of one device, numbered for de-duplication."""

    device_id: DeviceId
    boot_id: BootId = 0
    seq: Seq
    sent_at: DeviceTime
    gateway_id: DeviceId | None = None
    samples: Annotated[
        tuple[AnySample, ...],
        msgspec.Meta(min_length=1, max_length=MAX_SAMPLES_PER_BATCH),
    ]
