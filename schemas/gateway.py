"""Gateway status, wire version 1, published retained on ``vigil/v1/gateway/{id}/status``.

A gateway sets an ``offline`` status as its MQTT last-will message, so the broker
announces it when the gateway vanishes without saying goodbye.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.common import DeviceId, DeviceTime, WireModel

GATEWAY_STATUS_V1 = "vigil.gateway_status.v1"


class GatewayStatusV1(
    WireModel, frozen=True, kw_only=True, tag_field="schema", tag=GATEWAY_STATUS_V1
):
    """Whether a gateway is online, and which wristbands it currently serves."""

    gateway_id: DeviceId
    state: Literal["online", "offline"]
    reported_at: DeviceTime
    connected_devices: Annotated[tuple[DeviceId, ...], msgspec.Meta(max_length=1000)] = ()
