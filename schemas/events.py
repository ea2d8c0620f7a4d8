"""Device events, wire version 1: SOS, fall, off-wrist, low battery, cancel.

One event is one MQTT message on ``vigil/v1/event/{device_id}``. Events share the
device's sequence counter with its telemetry, so ``(device_id, boot_id, seq)`` is
unique across both.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.common import BootId, DeviceId, DeviceTime, Seq, WireModel

EVENT_V1 = "vigil.event.v1"


class EventBody(WireModel, frozen=True, kw_only=True, tag_field="type"):
    """Base of the event bodies."""


class Sos(EventBody, frozen=True, kw_only=True, tag="sos"):
    """The SOS key was pressed; the design calls a press of >= 3 s an emergency."""

    press_duration_s: Annotated[float, msgspec.Meta(ge=0, le=600)]


class Fall(EventBody, frozen=True, kw_only=True, tag="fall"):
    """A fall detected by the accelerometer."""

    impact_g: Annotated[float, msgspec.Meta(ge=0, le=200)] | None = None
    moved_after: bool | None = None


class OffWrist(EventBody, frozen=True, kw_only=True, tag="off_wrist"):
    """The band lost skin contact."""


class LowBattery(EventBody, frozen=True, kw_only=True, tag="low_battery"):
    """The battery fell below the device's warning level."""

    battery_pct: Annotated[float, msgspec.Meta(ge=0, le=100)]


class Cancel(EventBody, frozen=True, kw_only=True, tag="cancel"):
    """The wearer pressed cancel on the band ("I am fine").

    It stops the wearer's alert ladders still in their grace period, before anyone
    else is told (docs/alerting.md); ``command_id`` names the band command answered.
    """

    command_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None


AnyEventBody = Sos | Fall | OffWrist | LowBattery | Cancel


class EventV1(WireModel, frozen=True, kw_only=True, tag_field="schema", tag=EVENT_V1):
    """One device event with the device time it occurred at."""

    device_id: DeviceId
    boot_id: BootId = 0
    seq: Seq
    occurred_at: DeviceTime
    gateway_id: DeviceId | None = None
    event: AnyEventBody
