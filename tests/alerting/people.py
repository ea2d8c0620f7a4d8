"""Mary, who wears the band, and the people her alert ladder tells (drama numbers)."""

from __future__ import annotations

from alerting.contacts import Contact, Directory
from alerting.ladder import LadderPolicy
from alerting.ladder_store import WearerAlerting

ANNA = Contact(contact_id="anna", name="Anna", phone="+447700900101", emergency=True)
BEN = Contact(contact_id="ben", name="Ben", phone="+447700900102", emergency=True)
SERVICES = "+447700900999"


def mary(policy: LadderPolicy) -> WearerAlerting:
    """Mary with Anna and Ben as emergency contacts, and the emergency services."""
    return WearerAlerting(
        directory=Directory(
            wearer_name="Mary",
            wearer_phone="+447700900100",
            contacts=(ANNA, BEN),
            emergency_services=SERVICES,
        ),
        policy=policy,
    )
