"""Field types shared by every wire model: identifiers, device time, sequence numbers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from schemas import _constraints

#: The pattern of ``DeviceId`` (for settings and other validators outside msgspec).
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

#: Topic-safe identifier: no ``/``, ``+`` or ``#``, so it can sit in an MQTT topic level.
DeviceId = Annotated[
    str,
    msgspec.Meta(
        pattern=DEVICE_ID_PATTERN,
        description="Topic-safe device or gateway identifier (1-64 chars).",
        examples=["wb-0001"],
    ),
]

#: Device time: an RFC 3339 timestamp that must carry its UTC offset.
DeviceTime = Annotated[
    dt.datetime,
    msgspec.Meta(tz=True, description="Device time, RFC 3339 with UTC offset."),
]

#: Per-device sequence number; together with ``boot_id`` the de-duplication key.
Seq = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=2**63 - 1,
        description="Per-device number, increasing by one per message within a boot_id.",
    ),
]

#: Changes when a device loses its sequence counter (reboot, factory reset), so a
#: counter that restarts at 0 is not mistaken for duplicates of old messages.
BootId = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=2**31 - 1,
        description="Counter epoch: change it whenever seq restarts (e.g. random per boot).",
    ),
]


class WireModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, gc=False):
    """Base of every wire model: immutable, strict, and validated on construction.

    ``gc=False``: immutable values never form reference cycles, so the garbage collector
    need not track them. A runner keeps tens of thousands (the retained batches of every
    device); tracked, each full collection walked them all (``bench.stream_kafka``,
    docs/scale-out.md). The processors' state structs are untracked likewise.
    """

    def __post_init__(self) -> None:
        """Check the ``Meta`` bounds that msgspec would otherwise check only on decode."""
        _constraints.check(self)
