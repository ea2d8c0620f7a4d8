"""What the API works on, as protocols.

The alert ladders, the access records, the wearers' stored data, the audit log, the
in-app notices and the consultation requests.

The API reads and acts through these; the composition root (``vigil/api.py``) implements
them over the ladder store and the main store, so this package imports only ``schemas``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec
from pydantic import BaseModel

from schemas import Alert
from schemas.access import EmergencyAccess, Grant
from schemas.accounts import Account
from schemas.audit import AuditEntry, AuditEvent
from schemas.clinic import Doctor, Slot
from schemas.consultation import Consultation, ConsultState, PlayLink
from schemas.health_profile import HealthProfile, ScoringView
from schemas.health_records import HealthRecord, Notice
from scoring.geofence import Area, Circle


class TimelineEntry(BaseModel):
    at: dt.datetime
    what: str
    detail: str


class DeliveryView(BaseModel):
    """One message or call of a ladder and how its sending went."""

    channel: Literal["sms", "call", "device"]
    to: str  # a phone number masked to its last digits, or the band
    template: str
    status: str  # pending, sending, sent, failed, unknown (a crash mid-send: not repeated)
    error: str | None = None


class LadderView(BaseModel):
    """One alert ladder as the API shows it."""

    ladder_id: str
    device_id: str
    cause: str
    level: str
    phase: str
    is_open: bool
    opened_at: dt.datetime
    summary: str
    timeline: list[TimelineEntry]
    deliveries: list[DeliveryView] = []


class SnoozeView(BaseModel):
    what: str
    until: dt.datetime
    by: str
    reason: str


class LadderDesk(Protocol):
    """The alert ladders of every wearer."""

    def ladders_of(self, device_id: str) -> list[LadderView]:
        """A wearer's ladders, oldest first."""
        ...

    def ladder(self, ladder_id: str) -> LadderView | None:
        """One ladder, if it exists."""
        ...

    def request(
        self, ladder_id: str, kind: Literal["ack", "cancel"], by: str, at: dt.datetime
    ) -> str:
        """Queue an acknowledgement or cancel for the driving process; its request id."""
        ...

    def snoozes_of(self, device_id: str, now: dt.datetime) -> list[SnoozeView]:
        """A wearer's snoozes in force."""
        ...

    def snooze(
        self,
        device_id: str,
        what: str,
        *,
        minutes: float,
        by: str,
        reason: str,
        now: dt.datetime,
    ) -> SnoozeView:
        """Snooze a direction; ``ValueError`` (its message for the caller) if refused."""
        ...

    def clear_snooze(self, device_id: str, what: str) -> bool:
        """End a snooze; False if there was none."""
        ...


class AccessBook(Protocol):
    """Enrolments of wearers in clinics, and wearers' grants."""

    def enrol(self, device_id: str, tenant: str, at: dt.datetime) -> bool:
        """Enrol a wearer in a clinic; False if another clinic has them."""
        ...

    def clinic_of(self, device_id: str) -> str | None:
        """The clinic a wearer is enrolled in, if any."""
        ...

    def known(self, device_id: str) -> bool:
        """Whether the band is known (a profile, an enrolment or a stored message)."""
        ...

    def add_grant(self, grant: Grant) -> None:
        """Store a grant."""
        ...

    def grants_of(self, device_id: str) -> list[Grant]:
        """A wearer's grants not revoked."""
        ...

    def granted_to(self, viewer: str) -> list[Grant]:
        """The grants not revoked that name ``viewer``, of every wearer."""
        ...

    def enrolled_in(self, tenant: str) -> list[str]:
        """The wearers (device ids) enrolled in a clinic, sorted."""
        ...

    def revoke_grant(self, device_id: str, grant_id: str, at: dt.datetime) -> bool:
        """End a grant; False if there was none in place."""
        ...

    def add_emergency(self, opening: EmergencyAccess) -> None:
        """Store a break-glass opening."""
        ...

    def emergencies_of(self, device_id: str) -> list[EmergencyAccess]:
        """Every break-glass opening on a wearer."""
        ...


class HealthShelf(Protocol):
    """A wearer's stored data, by kind, over a device-time window ``[since, until)``."""

    def readings(
        self,
        device_id: str,
        types: Sequence[str],
        since: dt.datetime,
        until: dt.datetime,
        limit: int,
        *,
        newest: bool = False,
        every: int = 1,
    ) -> list[HealthRecord]:
        """Readings of the given types, oldest first.

        ``newest``: the window's last ones; ``every``: only those of every n-th batch.
        """
        ...

    def count(self, device_id: str, kind: str, since: dt.datetime, until: dt.datetime) -> int:
        """How many readings of one type the window holds."""
        ...

    def ecg(
        self,
        device_id: str,
        since: dt.datetime,
        until: dt.datetime,
        limit: int,
        *,
        newest: bool = False,
    ) -> list[HealthRecord]:
        """ECG strips, oldest first (``newest``: the window's last ones)."""
        ...

    def latest_news2(self, device_id: str) -> tuple[dt.datetime, int] | None:
        """The newest NEWS2 evaluation: its device time and alert level (0 none to 3 red)."""
        ...

    def indices(
        self, device_id: str, since: dt.datetime, until: dt.datetime, limit: int
    ) -> list[HealthRecord]:
        """Wellbeing index values, oldest first."""
        ...


class AuditTrail(Protocol):
    """The append-only audit log."""

    def append(self, event: AuditEvent) -> AuditEntry:
        """Write the next entry."""
        ...

    def about(
        self, device_id: str, *, since: dt.datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries about a wearer's data, newest first."""
        ...


class NoticeBox(Protocol):
    """In-app notices."""

    def post(self, notice: Notice) -> None:
        """Store a notice."""
        ...

    def of(self, recipient: str, limit: int = 200) -> list[Notice]:
        """A recipient's notices, newest first."""
        ...


class ConsultDesk(Protocol):
    """Consultation requests, and the alerts that raised them."""

    def add(self, c: Consultation) -> bool:
        """Store a new request; False if its alert already raised one."""
        ...

    def save(self, c: Consultation, read_version: int) -> bool:
        """Write over the version read; False if someone saved it in between."""
        ...

    def get(self, consult_id: str) -> Consultation | None:
        """One request."""
        ...

    def queue(
        self, tenant: str, states: Sequence[ConsultState], doctor: str | None = None
    ) -> list[Consultation]:
        """A clinic's requests in the given states: green first, then oldest first."""
        ...

    def of_wearer(self, device_id: str) -> list[Consultation]:
        """A wearer's requests."""
        ...

    def open_of(self, device_id: str) -> Consultation | None:
        """The wearer's open request, if any."""
        ...

    def alert(self, alert_id: str) -> Alert | None:
        """A stored alert."""
        ...

    def alerts_of(self, device_id: str, since: dt.datetime, until: dt.datetime) -> list[Alert]:
        """A wearer's alerts raised in the window."""
        ...

    def loads(self, tenant: str) -> dict[str, int]:
        """Each doctor's open cases in a clinic."""
        ...


class ClinicDesk(Protocol):
    """A clinic's doctors and their appointment slots."""

    def put_doctor(self, doctor: Doctor) -> bool:
        """Register or update a doctor; False if another clinic's."""
        ...

    def doctors(self, tenant: str) -> list[Doctor]:
        """A clinic's doctors."""
        ...

    def doctor(self, sub: str) -> Doctor | None:
        """One doctor."""
        ...

    def add_slot(self, slot: Slot) -> bool:
        """Open a slot; False if it overlaps another of the doctor's."""
        ...

    def slots_of(self, doctor: str, since: dt.datetime, free_only: bool = False) -> list[Slot]:
        """A doctor's slots ending after ``since``, soonest first."""
        ...

    def slot(self, slot_id: str) -> Slot | None:
        """One slot."""
        ...

    def book(self, slot_id: str, device_id: str, consult_id: str | None, at: dt.datetime) -> bool:
        """Book a free slot; False if it was taken."""
        ...

    def free(self, slot_id: str) -> bool:
        """Cancel a booking; False if none."""
        ...


class PlayLinkDesk(Protocol):
    """Play links handed out, and the wearer's consent to publish."""

    def add(self, link: PlayLink) -> None:
        """Store a link."""
        ...

    def get(self, link_id: str) -> PlayLink | None:
        """One link."""
        ...

    def of_consult(self, consult_id: str) -> list[PlayLink]:
        """A consultation's links."""
        ...

    def revoke(self, link_id: str, at: dt.datetime) -> bool:
        """Withdraw a link; False if already withdrawn."""
        ...

    def mark_published(self, link_id: str, at: dt.datetime) -> bool:
        """Record a publication; False if already published."""
        ...

    def set_consent(self, consult_id: str, consent: bool, at: dt.datetime) -> None:
        """The wearer's consent to publish, given or withdrawn."""
        ...

    def consent(self, consult_id: str) -> bool:
        """Whether the wearer consents now."""
        ...


class PublishError(Exception):
    """The third-party platform did not take the publication (unreachable, refused)."""


class Publisher(Protocol):
    """The outgoing webhook to a third-party (education) platform."""

    def publish(self, payload: dict[str, Any]) -> None:
        """Post ``payload``; ``PublishError`` if the platform did not take it."""
        ...


class FenceShape(msgspec.Struct, frozen=True):
    """A wearer's fence as the dashboard draws it: name, shape and rule."""

    name: str
    shape: Circle | Area
    rule: str  # stay_inside or stay_outside


class ProfileDesk(Protocol):
    """The wearer's health record, and the scoring conditions a clinician sets."""

    def record(self, device_id: str) -> HealthProfile | None:
        """The health record, if written."""
        ...

    def put_record(self, device_id: str, profile: HealthProfile) -> None:
        """Write the health record."""
        ...

    def scoring(self, device_id: str) -> ScoringView:
        """The scoring profile's clinical parts as they stand."""
        ...

    def set_conditions(
        self, device_id: str, conditions: Sequence[str], on_oxygen: bool | None
    ) -> ScoringView:
        """Set the conditions (and oxygen); ``ValueError`` naming an unknown condition."""
        ...

    def fences(self, device_id: str) -> list[FenceShape]:
        """The wearer's fences as stored in their scoring profile."""
        ...


class TextDesk(Protocol):
    """Notices by SMS too: the recipient's number, and the queue the alert sender drains."""

    def phone_of(self, recipient: str, about: str | None) -> str | None:
        """``device:<id>`` or ``user:<sub>``'s number, if known (``about``: the wearer)."""
        ...

    def queue(self, to: str, body: str, at: dt.datetime) -> None:
        """Queue an SMS for the process driving the ladders."""
        ...


class AccountBook(Protocol):
    """Accounts of users who sign in, and their failed sign-ins."""

    def get(self, sub: str) -> Account | None:
        """One account."""
        ...

    def failed(self, sub: str, at: dt.datetime) -> None:
        """Record a failed sign-in."""
        ...

    def failures_since(self, sub: str, since: dt.datetime) -> int:
        """Failed sign-ins since a time."""
        ...

    def clear_failures(self, sub: str) -> None:
        """Forget the failed sign-ins."""
        ...
