"""The audit chain (consult_bridge/audit.py): whatever is changed, removed, reordered or
cut off, ``verify`` names the first entry where the chain stops holding."""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consult_bridge.audit import entry_hash, link, verify
from schemas.audit import GENESIS, AuditEntry, AuditEvent

KEY = b"k" * 32
T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def event(n: int) -> AuditEvent:
    return AuditEvent(
        at=T0 + dt.timedelta(seconds=n),
        actor="anna" if n % 2 else "dr-li",
        role="family" if n % 2 else "clinician",
        tenant=None if n % 2 else "clinic-a",
        device_id="wb-0001",
        category="vitals",
        action="read",
        detail=f"{n} records",
    )


def chain(n: int, key: bytes = KEY) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        entries.append(link(key, event(i), entries[-1] if entries else None))
    return entries


def test_a_chain_as_written_holds_and_reports_its_head() -> None:
    entries = chain(5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    report = verify(KEY, entries)
    assert (report.entries, report.head_seq, report.head_hash) == (5, 5, entries[-1].hash)
    assert report.broken is None
    assert verify(KEY, []).broken is None


def test_a_changed_field_breaks_the_chain_at_that_entry() -> None:
    entries = chain(6)
    forged = msgspec.structs.replace(
        entries[3], event=msgspec.structs.replace(entries[3].event, actor="someone-else")
    )
    report = verify(KEY, [*entries[:3], forged, *entries[4:]])
    assert report.broken is not None
    assert (report.broken.seq, report.broken.why) == (4, "its content does not match its hash")


def test_an_entry_rehashed_without_the_key_is_caught_at_the_next_link_or_its_own_hash() -> None:
    entries = chain(4)
    changed = msgspec.structs.replace(entries[1].event, detail="0 records")
    # Whoever lacks the key recomputes with another one: its own hash does not match.
    rehashed = AuditEntry(
        seq=2,
        event=changed,
        prev_hash=entries[0].hash,
        hash=entry_hash(b"", 2, changed, entries[0].hash),
    )
    report = verify(KEY, [entries[0], rehashed, *entries[2:]])
    assert report.broken is not None
    assert report.broken.seq == 2


def test_a_removed_or_reordered_entry_breaks_the_chain_where_it_was() -> None:
    entries = chain(5)
    removed = verify(KEY, [*entries[:2], *entries[3:]])
    assert removed.broken is not None
    assert (removed.broken.seq, removed.broken.why) == (4, "expected entry 3, found 4")
    swapped = verify(KEY, [entries[0], entries[2], entries[1], *entries[3:]])
    assert swapped.broken is not None
    assert swapped.broken.seq == 3
    renumbered = [
        AuditEntry(seq=i + 1, event=e.event, prev_hash=e.prev_hash, hash=e.hash)
        for i, e in enumerate([*entries[:2], *entries[3:]])
    ]
    relinked = verify(KEY, renumbered)
    assert relinked.broken is not None
    assert relinked.broken.seq == 3


def test_an_anchor_catches_a_cut_off_tail_and_a_wrong_key_fails_at_once() -> None:
    entries = chain(8)
    anchor = (8, entries[-1].hash)
    assert verify(KEY, entries, anchor).anchor_found is True
    cut = verify(KEY, entries[:6], anchor)
    assert cut.broken is not None
    assert (cut.broken.seq, cut.anchor_found) == (8, False)
    # Without the anchor, a cut tail is a shorter chain that holds: hence the anchor.
    assert verify(KEY, entries[:6]).broken is None
    wrong_key = verify(b"x" * 32, entries)
    assert wrong_key.broken is not None
    assert wrong_key.broken.seq == 1


def test_a_hash_changed_to_any_characters_is_reported_not_a_crash() -> None:
    """compare_digest raises on non-ASCII str: a tampered hash must still be a verdict."""
    entries = chain(4)
    tampered = [*entries[:2], msgspec.structs.replace(entries[2], hash="\u00e9" * 64)]
    report = verify(KEY, [*tampered, entries[3]])
    assert report.broken is not None
    assert report.broken.seq == 3
    assert verify(KEY, entries, (4, "\udc80 not a hash")).anchor_found is False


FIELDS = ("actor", "role", "tenant", "device_id", "category", "action", "detail")


@given(
    where=st.integers(min_value=0, max_value=9),
    field=st.sampled_from(FIELDS),
    text=st.text(min_size=1, max_size=20),
)
def test_any_single_change_is_found_at_the_entry_changed(where: int, field: str, text: str) -> None:
    entries = chain(10)
    original = entries[where].event
    if getattr(original, field) == text:
        text += "!"
    changed = msgspec.structs.replace(original, **{field: text})
    tampered = [*entries[:where], msgspec.structs.replace(entries[where], event=changed)]
    report = verify(KEY, [*tampered, *entries[where + 1 :]])
    assert report.broken is not None
    assert report.broken.seq == where + 1


@pytest.mark.parametrize("seconds", [0.000001, 1, 3600])
def test_a_moved_timestamp_is_found(seconds: float) -> None:
    entries = chain(3)
    moved = msgspec.structs.replace(
        entries[1].event, at=entries[1].event.at + dt.timedelta(seconds=seconds)
    )
    report = verify(KEY, [entries[0], msgspec.structs.replace(entries[1], event=moved), entries[2]])
    assert report.broken is not None
    assert report.broken.seq == 2
