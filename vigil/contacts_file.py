"""``vigil contacts set``: a wearer's contacts, ladder timing and call log from a file.

The file (TOML or JSON) holds the ``alerting.contacts.Directory`` fields at the top,
an optional ``[policy]`` table (``alerting.ladder.LadderPolicy``) and the imported call
log as ``[[call_log]]`` entries. Unknown keys are refused, as in wearer profiles::

    wearer_name = "Mary"
    wearer_phone = "+447700900100"
    emergency_services = "+447700900999"
    medical = "atrial fibrillation; warfarin"

    [policy]
    grace_s = 30

    [[contacts]]
    contact_id = "anna"
    name = "Anna"
    phone = "+447700900101"
    emergency = true

    [[call_log]]
    phone = "+447700900104"
    started_at = 2026-11-20T18:30:00Z
    duration_s = 900
"""

from __future__ import annotations

import datetime as dt

import msgspec

from alerting.closeness import CallLogEntry
from alerting.contacts import E164, Contact, Directory, Language
from alerting.ladder import LadderPolicy
from alerting.ladder_store import WearerAlerting
from vigil.profiles import ProfileError, parse_document, strict_convert


class _ContactsFile(msgspec.Struct, frozen=True, kw_only=True):
    wearer_name: str
    wearer_phone: E164 | None = None
    language: Language = "en"
    contacts: tuple[Contact, ...] = ()
    emergency_services: E164 | None = None
    medical: str = ""
    policy: LadderPolicy = LadderPolicy()
    call_log: tuple[CallLogEntry, ...] = ()


def load_contacts(raw: bytes, *, toml: bool = False) -> WearerAlerting:
    """A wearer's alerting set-up from a JSON (or, with ``toml``, TOML) document."""
    data = parse_document(raw, toml=toml)
    if isinstance(data, dict):
        # TOML gives datetimes; msgspec's strict conversion wants their text.
        for entry in data.get("call_log") or []:
            if isinstance(entry, dict) and isinstance(entry.get("started_at"), dt.datetime):
                entry["started_at"] = entry["started_at"].isoformat()
    parsed = strict_convert(data, _ContactsFile, "contacts file")
    phones = [c.phone for c in parsed.contacts]
    if len(phones) != len(set(phones)):
        raise ProfileError("invalid contacts file: a phone number is listed twice")
    directory = Directory(
        wearer_name=parsed.wearer_name,
        wearer_phone=parsed.wearer_phone,
        language=parsed.language,
        contacts=parsed.contacts,
        emergency_services=parsed.emergency_services,
        medical=parsed.medical,
    )
    return WearerAlerting(directory=directory, policy=parsed.policy, call_log=parsed.call_log)
