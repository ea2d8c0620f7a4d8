"""A clinic's doctors (for expert matching) and their appointment slots."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import msgspec

Title = Literal["chief", "associate_chief", "attending", "resident"]
TITLES: tuple[Title, ...] = get_args(Title)


class Doctor(msgspec.Struct, frozen=True, kw_only=True):
    """A consulting doctor of a clinic, as the clinic's admin registers them."""

    sub: str  # the doctor's user (a clinician's token names it)
    tenant: str
    name: str = ""
    specialties: tuple[str, ...] = ()  # e.g. "cardiology", "geriatrics"
    title: Title = "attending"
    years_experience: int = 0
    median_response_min: float = 60.0  # how soon they usually take a case
    max_load: int = 5  # open consultations they take at once
    phone: str | None = None  # E.164: notices also go by SMS


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    """A doctor's appointment slot; booked by a wearer or free."""

    slot_id: str
    tenant: str
    doctor: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    booked_by: str | None = None  # the wearer's band
    consult_id: str | None = None
    booked_at: dt.datetime | None = None
