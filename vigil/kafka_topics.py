"""The Kafka tier's topics and the envelope an MQTT message travels in.

``vigil bridge`` forwards each MQTT message unchanged, in a ``Forwarded`` envelope with
its MQTT topic and receive time, to ``<prefix>.ingest`` keyed by the device (or
gateway) id from the MQTT topic, so one device's messages stay in one partition and
in order. A gateway's status also goes, as an ``observe`` copy, to every partition: any
band may be behind that gateway when its silence is classified. Every few seconds the
bridge sends each partition a ``heartbeat`` saying whether it is receiving from MQTT, so
a worker tells a silent band from a silent bridge (``vigil/kafka_silence.py``).
``vigil worker`` validates them (the same ``intake`` as the embedded runner)
and writes what the processors produce to ``<prefix>.scores``, ``.alerts``,
``.indices`` and ``.dead-letters``, keyed by device id, as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from schemas.topics import parse_topic


class Forwarded(msgspec.Struct, frozen=True, array_like=True):
    """One MQTT message as the bridge received it."""

    topic: str
    received_at: dt.datetime
    payload: bytes
    size: int | None = None  # the size on the wire when only the payload's head was kept
    # "observe": a gateway status copied to every partition (stored by its own record);
    # "heartbeat": the bridge's clock, payload b"1" while it is receiving, else b"0".
    kind: Literal["message", "observe", "heartbeat"] = "message"


HEARTBEAT_TOPIC = "$vigil/bridge-heartbeat"  # "$" topics are the broker's: no band sends one


class KafkaTopics(msgspec.Struct, frozen=True, kw_only=True):
    """Topic names of one deployment (``prefix``) and worker app (``app_id``)."""

    prefix: str = "vigil"
    app_id: str = "vigil-worker"

    @property
    def ingest(self) -> str:
        """Forwarded MQTT messages, keyed by device id."""
        return f"{self.prefix}.ingest"

    @property
    def scores(self) -> str:
        """NEWS2 score records."""
        return f"{self.prefix}.scores"

    @property
    def alerts(self) -> str:
        """Alerts, amendments and retractions."""
        return f"{self.prefix}.alerts"

    @property
    def indices(self) -> str:
        """Wellbeing index values."""
        return f"{self.prefix}.indices"

    @property
    def dead_letters(self) -> str:
        """Payloads that failed validation or processing."""
        return f"{self.prefix}.dead-letters"

    @property
    def state_changelog(self) -> str:
        """The device table's changelog (Faust's naming: app, table, changelog)."""
        return f"{self.app_id}-device_state-changelog"

    @property
    def sink_group(self) -> str:
        """The storage sink's consumer group (its own offsets, apart from the workers')."""
        return f"{self.app_id}-sink"

    @property
    def leader(self) -> str:
        """Faust's leader-election topic (unused, but Faust subscribes to it)."""
        return f"{self.app_id}-__assignor-__leader"

    @property
    def outputs(self) -> tuple[str, ...]:
        """What the worker writes for the sink and other consumers."""
        return (self.scores, self.alerts, self.indices, self.dead_letters)

    def all(self) -> tuple[str, ...]:
        """Every topic the tier uses, for a broker that cannot create topics itself."""
        return (
            self.ingest,
            *self.outputs,
            self.state_changelog,
            self.leader,
        )


def partition_key(mqtt_topic: str) -> bytes:
    """The Kafka key of an MQTT message: its device or gateway id, else the topic."""
    parsed = parse_topic(mqtt_topic)
    return (parsed[1] if parsed else mqtt_topic).encode()


def encode_forwarded(item: Forwarded) -> bytes:
    """The envelope as a Kafka value."""
    return msgspec.msgpack.encode(item)


_forwarded = msgspec.msgpack.Decoder(Forwarded)


def decode_forwarded(value: bytes) -> Forwarded:
    """A Kafka value back into the envelope (``msgspec.DecodeError`` if it is not one)."""
    return _forwarded.decode(value)
