"""The audit log in the database (storage/audit.py) on SQLite and PostgreSQL.

Entries are numbered without gaps and linked even when two connections (two API
processes) append at once; the triggers refuse edits; edits made around the triggers
(someone with the database owner's rights drops them) are found by the chain.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from consult_bridge.audit import link, verify
from schemas.audit import AuditEvent
from storage import StorageError, open_store
from storage.audit import AuditLog
from storage.sql_desk import SqlDesk, open_desk

KEY = b"k" * 32
T0 = dt.datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        found = f"sqlite:///{tmp_path / 'vigil.db'}"
    else:
        found = request.getfixturevalue("postgres_dsn")
    store = open_store(found)
    store.migrate()
    store.close()
    return found


@pytest.fixture
def trail(url: str) -> Iterator[AuditLog]:
    made = AuditLog(open_desk(url), functools.partial(link, KEY))
    yield made
    made.desk.close()


def event(n: int, device_id: str = "wb-0001") -> AuditEvent:
    return AuditEvent(
        at=T0 + dt.timedelta(seconds=n),
        actor="anna",
        role="family",
        device_id=device_id,
        category="vitals",
        action="read",
        detail=f"read {n}",
    )


def test_entries_are_numbered_linked_and_read_back_exactly(trail: AuditLog) -> None:
    written = [trail.append(event(n, "wb-0001" if n % 3 else "wb-0002")) for n in range(7)]
    walked = list(trail.walk(page=3))
    assert walked == written  # timestamps to the microsecond, every field, both hashes
    assert verify(KEY, walked).broken is None
    about = trail.about("wb-0002")
    assert [e.seq for e in about] == [7, 4, 1]  # newest first
    since = trail.about("wb-0001", since=T0 + dt.timedelta(seconds=4))
    assert [e.seq for e in since] == [6, 5]


def _raw(desk: SqlDesk, sql: str) -> None:
    with desk.tx() as conn:
        conn.execute(sql)


def test_the_table_refuses_updates_and_deletes(trail: AuditLog) -> None:
    for n in range(3):
        trail.append(event(n))
    for sql in (
        "UPDATE audit_log SET detail = 'nothing' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 3",
    ):
        with pytest.raises(Exception, match="append-only"):
            _raw(trail.desk, sql)
    if trail.desk.dialect == "postgres":
        with pytest.raises(Exception, match="append-only"):
            _raw(trail.desk, "TRUNCATE audit_log")
    assert [e.event.detail for e in trail.walk()] == ["read 0", "read 1", "read 2"]


def test_an_edit_made_around_the_triggers_is_found_by_the_chain(trail: AuditLog) -> None:
    for n in range(5):
        trail.append(event(n))
    if trail.desk.dialect == "postgres":
        _raw(trail.desk, "ALTER TABLE audit_log DISABLE TRIGGER USER")
    else:
        _raw(trail.desk, "DROP TRIGGER audit_log_no_update")
    _raw(trail.desk, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 3")
    report = verify(KEY, trail.walk())
    assert report.broken is not None
    assert (report.broken.seq, report.entries) == (3, 5)


def test_two_connections_appending_at_once_extend_one_chain(url: str) -> None:
    trails = [AuditLog(open_desk(url), functools.partial(link, KEY)) for _ in range(2)]
    errors: list[BaseException] = []

    def append_many(trail: AuditLog, base: int) -> None:
        try:
            for n in range(40):
                trail.append(event(base + n))
        except (StorageError, OSError) as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=append_many, args=(t, 1000 * i)) for i, t in enumerate(trails)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    walked = list(trails[0].walk())
    assert [e.seq for e in walked] == list(range(1, 81))
    assert verify(KEY, walked).broken is None
    for t in trails:
        t.desk.close()
