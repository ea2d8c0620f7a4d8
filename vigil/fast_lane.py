"""Red device events (an SOS held, a fall without movement) raised as soon as they arrive.

In a chunk, an alert is normally delivered once the whole chunk is durable and every
chunk before it acknowledged, so under load it waits behind the telemetry queued before
it (``bench.alert_latency`` measures the path). An SOS does not depend on the device's
state, so the
runner decodes the messages on the event topics as they arrive (``MqttSource.watch``,
before they wait in the source's queue) and hands the red alerts they raise to the
notifiers at once (``Pipeline.fast_track``). The message still goes
the normal way: it is stored, its alert (same id) stored, and the chunk acknowledged
when durable. The normal delivery then recognises the alert as delivered already; had
the early delivery failed, it delivers it then. A process killed in between is
redelivered the message by the broker and the ladder recognises the alert id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ingest.intake import intake
from ingest.mqtt.source import Inbound
from schemas import Alert, AlertLevel, EventV1
from schemas.topics import PREFIX
from stream_processors.device import event_alert

EVENT_TOPICS = f"{PREFIX}/event/"  # the prefix of every device's event topic


def urgent_alerts(chunk: Sequence[Inbound], received_at: dt.datetime) -> list[Alert]:
    """The red alerts the chunk's device events raise (bad payloads are left to the shard)."""
    found = []
    for inbound in chunk:
        if not inbound.topic.startswith(EVENT_TOPICS):
            continue
        received = intake(inbound.topic, inbound.payload, received_at, size=inbound.size)
        message = getattr(received, "message", None)
        if isinstance(message, EventV1):
            alert = event_alert(message)
            if alert is not None and alert.level is AlertLevel.RED:
                found.append(alert)
    return found
