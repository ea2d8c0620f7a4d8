"""The people an alert can reach: the wearer's contacts and the region's emergency number."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Language = Literal["en", "zh"]
E164 = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$")]


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """Someone the wearer named, reachable by SMS and voice."""

    contact_id: str
    name: str
    phone: E164
    language: Language = "en"
    emergency: bool = False  # an emergency contact: told first, in the listed order


class Directory(msgspec.Struct, frozen=True, kw_only=True):
    """Who the ladder may tell about one wearer, and how to speak of the wearer.

    ``medical`` is the short profile read to the emergency services (conditions,
    medication, allergies), written by the wearer or a clinician.
    """

    wearer_name: str
    wearer_phone: E164 | None = None  # the call-back number given to the services
    language: Language = "en"
    contacts: tuple[Contact, ...] = ()
    emergency_services: E164 | None = None  # the number for the wearer's region
    medical: str = ""

    @property
    def emergency_contacts(self) -> tuple[Contact, ...]:
        """The emergency contacts, in the order the wearer listed them."""
        return tuple(c for c in self.contacts if c.emergency)

    @property
    def other_contacts(self) -> tuple[Contact, ...]:
        """Contacts who are not emergency contacts (ranked by closeness when needed)."""
        return tuple(c for c in self.contacts if not c.emergency)
