"""Versioned wire models of Vigil and their JSON Schemas.

msgspec Structs were chosen over pydantic v2 for decode speed (``docs/wire-protocol.md``).
"""

from schemas.alerts import Alert, AlertLevel, Driver
from schemas.codec import MAX_PAYLOAD_BYTES, WireMessage, decode, encode
from schemas.errors import MalformedPayload
from schemas.events import EVENT_V1, EventV1, Fall, LowBattery, OffWrist, Sos
from schemas.gateway import GATEWAY_STATUS_V1, GatewayStatusV1
from schemas.telemetry import (
    TELEMETRY_V1,
    AnySample,
    Battery,
    BloodPressure,
    Ecg,
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

__all__ = [
    "EVENT_V1",
    "GATEWAY_STATUS_V1",
    "MAX_PAYLOAD_BYTES",
    "TELEMETRY_V1",
    "Alert",
    "AlertLevel",
    "AnySample",
    "Battery",
    "BloodPressure",
    "Driver",
    "Ecg",
    "EventV1",
    "Fall",
    "GatewayStatusV1",
    "GpsFix",
    "HeartRate",
    "LowBattery",
    "MalformedPayload",
    "OffWrist",
    "Respiration",
    "SleepStage",
    "Sos",
    "SpO2",
    "Steps",
    "TelemetryBatchV1",
    "Temperature",
    "WearState",
    "WireMessage",
    "decode",
    "encode",
]
