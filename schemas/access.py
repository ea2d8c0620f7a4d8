"""Who may see a wearer's data: the data categories and the wearer's grants.

The design's records (ARCHITECTURE.md, "Consultation bridge and records"): the wearer
grants each viewer access per data category, optionally for a time window. The rules
that use them are in ``consult_bridge/access.py``; the store in ``storage/access.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import msgspec

Category = Literal["vitals", "steps", "location", "ecg", "sleep", "indices", "alerts", "profile"]
CATEGORIES: tuple[Category, ...] = get_args(Category)


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """The wearer of ``device_id`` lets ``viewer`` (a user's ``sub``) see ``categories``."""

    grant_id: str
    device_id: str
    viewer: str
    categories: tuple[Category, ...]
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    granted_at: dt.datetime

    def __post_init__(self) -> None:
        """Refuse an empty grant or a window that ends before it starts."""
        if not self.categories:
            raise ValueError("a grant names at least one category")
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("a grant's window ends after it starts")

    def in_force(self, now: dt.datetime) -> bool:
        """Whether the grant's window holds ``now``."""
        started = self.not_before is None or self.not_before <= now
        ended = self.not_after is not None and now >= self.not_after
        return started and not ended


#: How long a break-glass opening lasts: an emergency's first hour (renewable by
#: breaking the glass again, which is audited and reported again).
BREAK_GLASS_S = 3600.0


class EmergencyAccess(msgspec.Struct, frozen=True, kw_only=True):
    """A clinician broke the glass: they see all of the wearer's data until ``until``.

    Audited and reported to the wearer (``consult_bridge/app.py``).
    """

    access_id: str
    device_id: str
    viewer: str  # the clinician's sub
    tenant: str | None
    reason: str
    opened_at: dt.datetime
    until: dt.datetime

    def in_force(self, now: dt.datetime) -> bool:
        """Whether the opening holds ``now``."""
        return self.opened_at <= now < self.until


#: The reading types (``schemas/telemetry.py`` tags) each data category holds; ``ecg``
#: is the ECG strips, ``indices`` the wellbeing indices, ``alerts`` the alert ladders (and
#: consultations), ``profile`` the health record (habits, histories, medications).
READING_TYPES: dict[Category, tuple[str, ...]] = {
    "vitals": ("heart_rate", "spo2", "blood_pressure", "temperature", "respiration"),
    "steps": ("steps",),
    "location": ("gps",),
    "sleep": ("sleep_stage",),
}
