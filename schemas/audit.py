"""The audit log's entries: who did what to whose data, when, and the entry's chain links.

The chain (hashing, linking, verifying) is ``consult_bridge/audit.py``; the store is
``storage/audit.py``.
"""

from __future__ import annotations

import datetime as dt

import msgspec

#: The ``prev_hash`` of the first entry.
GENESIS = "0" * 64


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something done to a wearer's data: who, on whose, which category, what, when."""

    at: dt.datetime
    actor: str  # the caller's sub
    role: str
    tenant: str | None = None
    device_id: str  # whose data
    category: str  # a data category, or "grants", "emergency", "enrolment"
    action: str  # "read", "denied", "ack", "cancel", "snooze", "grant", "break_glass", ...
    detail: str = ""


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: its place in the log and its links."""

    seq: int  # 1, 2, 3, ... with no gaps
    event: AuditEvent
    prev_hash: str
    hash: str
