"""The ladders' intake from the store, and the lead between processes (``vigil/ladder_side.py``).

End to end (``vigil alerts`` beside ``vigil run``, a kill -9 and a takeover; the Kafka tier)
in ``tests/alerting/test_ladder_service.py`` and ``tests/vigil/test_kafka_tier.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

import storage.migrator
from alerting.driver import LadderDriver
from alerting.ladder import Action, LadderPolicy
from alerting.ladder_store import SqliteLadderStore, ladder_db_path
from schemas import Alert, AlertLevel
from storage.sqlite import SqliteStore
from tests.alerting.people import mary
from vigil import ladder_side
from vigil.ladder_side import LadderSide, take_in
from vigil.profiles import ProfileBook
from vigil.settings import Settings

T0 = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)


def alert(n: int, source: str = "sos", level: AlertLevel = AlertLevel.RED) -> Alert:
    return Alert(
        alert_id=f"wb-0001:1:{n}:{source}:{level.label}",
        device_id="wb-0001",
        level=level,
        raised_at=T0,
        source=source,
        summary=source,
    )


class Phones:
    def __init__(self) -> None:
        self.sent: list[Action] = []

    async def send(self, action: Action, text: str) -> str:
        del text
        self.sent.append(action)
        return f"S{len(self.sent)}"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.db"
    store = SqliteStore(path)
    store.migrate()
    store.close()
    ladders = SqliteLadderStore(ladder_db_path(path))
    ladders.put_wearer_alerting("wb-0001", mary(LadderPolicy(grace_s=30)))
    ladders.close()
    return path


def stored(path: Path, *alerts: Alert) -> None:
    store = SqliteStore(path)
    try:
        with store.transaction() as tx:
            tx.add_alerts(list(alerts))
    finally:
        store.close()


async def test_stored_alerts_are_taken_in_once_in_the_order_stored(db: Path) -> None:
    stored(db, alert(1, "fall", AlertLevel.ORANGE), alert(2))
    store, ladders = SqliteStore(db), SqliteLadderStore(ladder_db_path(db))
    try:
        driver = LadderDriver(ladders, Phones())
        assert await take_in(store, driver) == 2
        assert [x.cause for x in ladders.ladders_of("wb-0001")] == ["fall", "sos"]
        assert store.unladdered_alerts() == []
        assert await take_in(store, driver) == 0
        # An alert the driver took in already (``vigil run``'s own path) is only marked.
        stored(db, alert(3))
        await driver.on_alert(alert(3))
        before = ladders.ladders_of("wb-0001")
        assert await take_in(store, driver) == 1
        assert ladders.ladders_of("wb-0001") == before
        assert store.unladdered_alerts() == []
    finally:
        store.close()
        ladders.close()


def test_alerts_stored_before_the_upgrade_open_no_ladders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = storage.migrator.load
    monkeypatch.setattr(
        storage.migrator, "load", lambda *a: [m for m in load(*a) if m.version < 13]
    )
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    try:
        store.migrate()
        with store.transaction() as tx:
            tx.add_alerts([alert(1)])
        monkeypatch.setattr(storage.migrator, "load", load)
        assert "0013_alert_ladder_intake" in " ".join(store.migrate())
        assert store.unladdered_alerts() == []
        with store.transaction() as tx:
            tx.add_alerts([alert(2)])
        assert [a.alert_id for a in store.unladdered_alerts()] == [alert(2).alert_id]
    finally:
        store.close()


async def test_a_standby_side_takes_the_lead_when_the_leader_stops(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ladder_side, "RETRY_LEAD_S", 0.05)
    settings = Settings(database_url=f"sqlite:///{db}")

    def side() -> tuple[LadderSide, Phones, list[SqliteStore | SqliteLadderStore]]:
        store, ladders = SqliteStore(db), SqliteLadderStore(ladder_db_path(db))
        phones = Phones()
        driver = LadderDriver(ladders, phones)
        made = LadderSide(settings, store, ladders, driver, ProfileBook(store))
        return made, phones, [store, ladders]

    first, first_phones, first_closing = side()
    second, second_phones, second_closing = side()
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running_first = asyncio.create_task(first.run(stop_first))
    await asyncio.sleep(0.2)
    running_second = asyncio.create_task(second.run(stop_second))
    try:
        await asyncio.sleep(0.3)
        assert (first.leading, second.leading) == (True, False)
        stored(db, alert(1))
        for _ in range(100):
            if first_phones.sent:
                break
            await asyncio.sleep(0.05)
        assert [type(a).__name__ for a in first_phones.sent] == ["DeviceCommand"]  # grace
        # The leader stops and its process ends (its lock goes with it).
        stop_first.set()
        await running_first
        for thing in first_closing:
            thing.close()
        for _ in range(100):
            if second.leading:
                break
            await asyncio.sleep(0.05)
        assert second.leading
        stored(db, alert(2, "fall", AlertLevel.ORANGE))
        for _ in range(100):
            if second_phones.sent:
                break
            await asyncio.sleep(0.05)
        assert [type(a).__name__ for a in second_phones.sent] == ["DeviceCommand"]
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.gather(running_first, running_second)
        for thing in second_closing:
            thing.close()
