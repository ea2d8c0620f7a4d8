"""MQTT topic layout of wire version 1 (see docs/wire-protocol.md)."""

from __future__ import annotations

import enum

PREFIX = "vigil/v1"
TELEMETRY_FILTER = f"{PREFIX}/telemetry/+"
EVENT_FILTER = f"{PREFIX}/event/+"
GATEWAY_STATUS_FILTER = f"{PREFIX}/gateway/+/status"
INGEST_FILTERS = (TELEMETRY_FILTER, EVENT_FILTER, GATEWAY_STATUS_FILTER)


class TopicKind(enum.StrEnum):
    """What a topic carries."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    GATEWAY_STATUS = "gateway_status"
    ALERT = "alert"


def telemetry_topic(device_id: str) -> str:
    """Topic a device publishes its telemetry batches on."""
    return f"{PREFIX}/telemetry/{device_id}"


def event_topic(device_id: str) -> str:
    """Topic a device publishes its events on."""
    return f"{PREFIX}/event/{device_id}"


def gateway_status_topic(gateway_id: str) -> str:
    """Retained topic a gateway publishes its status (and last will) on."""
    return f"{PREFIX}/gateway/{gateway_id}/status"


def alert_topic(device_id: str) -> str:
    """Topic Vigil publishes a wearer's alerts on (for apps and the device)."""
    return f"{PREFIX}/alert/{device_id}"


def parse_topic(topic: str) -> tuple[TopicKind, str] | None:
    """Return what an ingest topic carries and whose it is, or ``None`` if not ours."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[:2] == ["vigil", "v1"]:
        if parts[2] == "telemetry":
            return TopicKind.TELEMETRY, parts[3]
        if parts[2] == "event":
            return TopicKind.EVENT, parts[3]
    if len(parts) == 5 and parts[:3] == ["vigil", "v1", "gateway"] and parts[4] == "status":
        return TopicKind.GATEWAY_STATUS, parts[3]
    return None


def is_gateway_status(topic: str) -> bool:
    """Whether ``topic`` is a gateway's status topic."""
    parsed = parse_topic(topic)
    return parsed is not None and parsed[0] is TopicKind.GATEWAY_STATUS
