"""What the API hands out of a wearer's record: stored samples, and in-app notices."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


class HealthRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored sample (or index value): its type and the fields that type fills.

    Field names carry their units, as on the wire (``schemas/telemetry.py``).
    """

    measured_at: dt.datetime
    type: str
    values: dict[str, Any]


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    """One in-app message for one recipient: ``device:<id>`` (a wearer) or ``user:<sub>``."""

    notice_id: str
    recipient: str
    at: dt.datetime
    kind: str  # "break_glass", ...
    text: str
