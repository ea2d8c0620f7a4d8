"""The audit log's hash chain: every read of a wearer's data, tamper-evident.

The design's records (ARCHITECTURE.md): every read is checked and written to an
append-only, tamper-evident audit log the wearer can read. Each entry carries the hash
of the one before it and its own hash over both, so changing, removing or reordering an
entry breaks the chain from there on; ``verify`` finds the first break.

The hash is HMAC-SHA256 (RFC 2104) under the audit key from the settings
(``VIGIL_AUDIT_KEY``): without the key, someone who can write to the database cannot
forge a consistent chain after changing an entry. Without a key configured the chain is
still kept (HMAC under an empty key) and catches edits, but not a tail rewritten by
someone who knows how; anchoring the head (``vigil audit verify`` prints it,
``--anchor`` checks it is still there) covers that, and a cut-off tail, with or
without a key.

Pure: the store (``storage/audit.py``) numbers and links entries under a lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable

import msgspec

from schemas.audit import GENESIS, AuditEntry, AuditEvent


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(key: bytes, seq: int, event: AuditEvent, prev_hash: str) -> str:
    """The entry's hash: HMAC-SHA256 over the previous hash and every field, as JSON."""
    body = [
        seq,
        prev_hash,
        _utc(event.at),
        event.actor,
        event.role,
        event.tenant,
        event.device_id,
        event.category,
        event.action,
        event.detail,
    ]
    canonical = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def link(key: bytes, event: AuditEvent, head: AuditEntry | None) -> AuditEntry:
    """``event`` as the entry after ``head`` (the first entry when ``head`` is None)."""
    seq = 1 if head is None else head.seq + 1
    prev = GENESIS if head is None else head.hash
    return AuditEntry(seq=seq, event=event, prev_hash=prev, hash=entry_hash(key, seq, event, prev))


class ChainBreak(msgspec.Struct, frozen=True):
    """Where the chain stops holding, and why."""

    seq: int
    why: str


class ChainReport(msgspec.Struct, frozen=True):
    """What ``verify`` found: the entries checked, the head, and the first break if any."""

    entries: int
    head_seq: int
    head_hash: str
    broken: ChainBreak | None
    anchor_found: bool | None = None  # None: no anchor asked for


def _same(stored: str, expected: str) -> bool:
    """Constant-time equality of two texts, whatever characters a tampered one holds.

    ``hmac.compare_digest`` refuses str with non-ASCII characters (a TypeError, not a
    "changed" verdict); as UTF-8 bytes (surrogatepass: any str) it compares anything.
    """
    return hmac.compare_digest(
        stored.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def verify(
    key: bytes, entries: Iterable[AuditEntry], anchor: tuple[int, str] | None = None
) -> ChainReport:
    """Walk the chain in ``seq`` order; report the first entry that breaks it.

    ``anchor``: a ``(seq, hash)`` recorded earlier (e.g. printed by a previous verify);
    the chain must still hold that entry with that hash, which also catches a tail cut
    off or rewritten wholesale.
    """
    count = 0
    head_seq, head_hash = 0, GENESIS
    broken: ChainBreak | None = None
    anchor_found: bool | None = None if anchor is None else False
    for entry in entries:
        count += 1
        if broken is None:
            if entry.seq != head_seq + 1:
                broken = ChainBreak(entry.seq, f"expected entry {head_seq + 1}, found {entry.seq}")
            elif entry.prev_hash != head_hash:
                broken = ChainBreak(entry.seq, "its link to the entry before does not match")
            elif not _same(entry.hash, entry_hash(key, entry.seq, entry.event, entry.prev_hash)):
                broken = ChainBreak(entry.seq, "its content does not match its hash")
        if anchor is not None and entry.seq == anchor[0]:
            anchor_found = _same(entry.hash, anchor[1])
        head_seq, head_hash = entry.seq, entry.hash
    if anchor is not None and not anchor_found and broken is None:
        broken = ChainBreak(anchor[0], "the anchored entry is missing or changed")
    return ChainReport(
        entries=count,
        head_seq=head_seq,
        head_hash=head_hash,
        broken=broken,
        anchor_found=anchor_found,
    )
