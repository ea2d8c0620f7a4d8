"""The demo's alert ladders: made-up contacts, phones that answer as scripted, short timers.

Every demo wearer has two emergency contacts and two others (a call log makes one of
them the closer), and the region's emergency number. The phones (``SimulatedPhones``)
answer as a bad night would have it: the first emergency contact does not pick up, the
second's phone goes to voicemail, the closest other is busy, and the emergency
services answer. All numbers are from Ofcom's range for drama (+44 7700 900xxx): none
reaches anyone. Timers are seconds, not minutes, so a red ladder climbs to the
emergency services within the demo.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from alerting.closeness import CallLogEntry
from alerting.console import ConsoleSender
from alerting.contacts import Contact, Directory
from alerting.driver import LadderDriver
from alerting.ladder import LadderPolicy
from alerting.ladder_store import LadderStore, SqliteLadderStore, WearerAlerting, ladder_db_path
from device_sim.phones import Answer, SimulatedPhones

SERVICES = "+447700900999"
ANNA = Contact(contact_id="anna", name="Anna", phone="+447700900101", emergency=True)
BEN = Contact(contact_id="ben", name="Ben", phone="+447700900102", emergency=True)
CARL = Contact(contact_id="carl", name="Carl", phone="+447700900103")
DORA = Contact(contact_id="dora", name="Dora", phone="+447700900104")
ANSWERS: dict[str, Answer] = {
    ANNA.phone: "no-answer",
    BEN.phone: "voicemail",
    DORA.phone: "busy",
    SERVICES: "answer",
}
POLICY = LadderPolicy(grace_s=2, call_timeout_s=8, close_contacts=1, services_timeout_s=8)
RING_S = 1.0
SETTLE_TIMEOUT_S = 40.0


def demo_alerting(device_id: str, now: dt.datetime) -> WearerAlerting:
    """The demo wearer's contacts, ladder timing and call log (Dora is the closer)."""
    log = [
        CallLogEntry(phone=DORA.phone, started_at=now - dt.timedelta(days=d), duration_s=900)
        for d in (1, 3, 6)
    ]
    log.append(CallLogEntry(phone=CARL.phone, started_at=now - dt.timedelta(days=9), duration_s=60))
    return WearerAlerting(
        directory=Directory(
            wearer_name=f"the wearer of {device_id}",
            wearer_phone="+447700900100",
            contacts=(ANNA, BEN, CARL, DORA),
            emergency_services=SERVICES,
            medical="(demo) hypertension; no known allergies",
        ),
        policy=POLICY,
        call_log=tuple(log),
    )


def demo_driver(
    db_path: Path, devices: Sequence[str], out: TextIO
) -> tuple[SqliteLadderStore, LadderDriver]:
    """The ladder store on the demo's database (every wearer's contacts) and a driver.

    Its actions are printed to ``out`` and answered by simulated phones.
    """
    store = SqliteLadderStore(ladder_db_path(db_path))
    now = dt.datetime.now(dt.UTC)
    for device in devices:
        store.put_wearer_alerting(device, demo_alerting(device, now))
    phones = SimulatedPhones(ConsoleSender(out), ANSWERS, ring_s=RING_S)
    driver = LadderDriver(store, phones)
    phones.driver = driver
    return store, driver


async def settle(driver: LadderDriver, store: LadderStore, timeout_s: float) -> None:
    """Step ladders until none waits on a deadline (or ``timeout_s`` passes)."""
    deadline = time.monotonic() + timeout_s
    while store.next_deadline() is not None and time.monotonic() < deadline:
        await driver.tick()
        await asyncio.sleep(0.2)
    await driver.flush()  # what the last steps queued


def ladder_summary(store: LadderStore, devices: Sequence[str]) -> list[dict[str, Any]]:
    """Each ladder the demo opened: wearer, cause, where it ended, and its timeline."""
    return [
        {
            "device": ladder.device_id,
            "cause": ladder.cause,
            "level": ladder.level.label,
            "phase": ladder.phase,
            "timeline": [f"{e.what} ({e.detail})" if e.detail else e.what for e in ladder.timeline],
        }
        for device in devices
        for ladder in store.ladders_of(device)
    ]
