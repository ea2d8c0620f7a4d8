"""The wearer's health record: habits, histories, medications, allergies.

What a wearer (or their clinician) writes about them, shown to those the wearer grants the
``profile`` category, sealed at rest. The conditions that change scoring (hypercapnic
respiratory failure: NEWS2 SpO2 scale 2; permanent AF) are the clinician's, and live in
the scoring profile the runners read (``stream_processors.device.WearerProfile``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

Line = Annotated[str, msgspec.Meta(max_length=500)]


class Medication(msgspec.Struct, frozen=True, kw_only=True):
    """A medicine taken: its name, dose and when."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    dose: Annotated[str, msgspec.Meta(max_length=100)] = ""
    schedule: Annotated[str, msgspec.Meta(max_length=200)] = ""


class HealthProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The record; ``habits`` maps a habit (smoking, alcohol, exercise, diet) to words."""

    habits: dict[str, Line] = msgspec.field(default_factory=dict)
    medical_history: tuple[Line, ...] = ()
    family_history: tuple[Line, ...] = ()
    medications: tuple[Medication, ...] = ()
    allergies: tuple[Line, ...] = ()
    updated_at: dt.datetime | None = None
    updated_by: str = ""


class ScoringView(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of the scoring profile a clinician sets through the API, as they stand."""

    conditions: tuple[str, ...] = ()
    on_oxygen: bool | None = None
    spo2_scale: int = 1  # the effective NEWS2 SpO2 scale (2 with hypercapnic failure)
    at_risk: bool = False
    revision: int = 0  # the stored profile's revision (0: none stored yet)
