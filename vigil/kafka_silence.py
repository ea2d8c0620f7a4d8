"""Data gaps in the Kafka tier: each band's contact, the gateways, the bridge's heartbeats.

The embedded runner knows whether it is receiving (its own MQTT connection); a worker
does not, so the bridge tells each partition every ``VIGIL_BRIDGE_HEARTBEAT_S`` whether
it is receiving (``vigil/kafka_bridge.py``). A worker blames a band for its silence only
if the band's partition had a heartbeat saying "receiving" within
``STALE_BEATS`` heartbeats of now: a stopped bridge, a bridge cut off from MQTT, and a
worker still working through a backlog all leave the partition without a fresh one.

Each band's ``Contact`` (``stream_processors/silence.py``) lives in its device's record
(``vigil/kafka_tables.py``, a changelog-backed table), with the band's partition, so a
restarted worker knows how long its bands have been silent. Gateway
statuses reach every partition as ``observe`` copies and are kept in memory: after a
restart a gateway's state is unknown until its next status, and a silent band's cause
reads "unknown" instead of "gateway offline" meanwhile (the alert itself is the same).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import msgspec

from schemas import Alert
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState
from stream_processors.fleet import check_band
from stream_processors.silence import Contact, Gateway

if TYPE_CHECKING:
    from vigil.kafka_tables import DeviceStates

STALE_BEATS = 3  # heartbeats a partition may miss before its silence is Vigil's own


class Beat(msgspec.Struct, frozen=True):
    """The bridge's last heartbeat in one partition."""

    at: dt.datetime
    receiving: bool


class Watch:
    """One worker's view for silence checks: contacts, gateways and heartbeats."""

    def __init__(self, devices: DeviceStates, heartbeat_s: float) -> None:
        self._devices = devices
        self.heartbeat_s = heartbeat_s
        self.gateways: dict[str, Gateway] = {}
        self.beats: dict[int, Beat] = {}

    def contact(self, device_id: str) -> Contact | None:
        """The band's last contact, if it was ever heard from."""
        return self._devices.contact(device_id)

    def put(self, device_id: str, partition: int, contact: Contact) -> None:
        """Stage a band's contact (written at the next checkpoint, with its state)."""
        self._devices.put(device_id, partition, contact=contact)

    def contacts(self, partitions: set[int]) -> Iterator[tuple[str, int, Contact]]:
        """The contacts of bands in ``partitions``: ``(device, partition, contact)``."""
        return self._devices.contacts(partitions)

    def receiving(self, partition: int, now: dt.datetime) -> bool:
        """Whether the bridge said recently, in this partition, that it is receiving."""
        beat = self.beats.get(partition)
        stale = dt.timedelta(seconds=STALE_BEATS * self.heartbeat_s)
        return beat is not None and beat.receiving and now - beat.at <= stale


def check_silence(
    watch: Watch,
    partitions: set[int],
    *,
    states: Callable[[str], OrderedState | None],
    profiles: Callable[[str], WearerProfile],
    settings: ProcessorSettings,
    now: dt.datetime,
) -> list[tuple[str, int, Contact, Alert]]:
    """Signal lost for the silent bands of ``partitions``: the alerts and new contacts."""
    raised = []
    for device, partition, contact in watch.contacts(partitions):
        new, alert = check_band(
            device,
            contact,
            state=states(device),
            gateways=watch.gateways,
            profile=profiles(device),
            settings=settings,
            now=now,
            backend_ok=watch.receiving(partition, now),
        )
        if alert is not None:
            raised.append((device, partition, new, alert))
    return raised
