"""The ladder driver over a real store (SQLite and PostgreSQL): durable, resumable, once.

The sender here is the project's own ``Sender`` protocol implemented by the test (it
records what it is asked and refuses chosen numbers); the Twilio sender is tested
against the fake Twilio server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting.driver import RETRY_AFTER_S, LadderDriver, SendError, ThrottlePolicy
from alerting.ladder import (
    Acknowledged,
    Action,
    CallEnded,
    Cancelled,
    Deadline,
    LadderPolicy,
    PlaceCall,
    SendSms,
    step,
)
from alerting.ladder_store import (
    LadderStore,
    PostgresLadderStore,
    SqliteLadderStore,
)
from alerting.snooze import Snooze
from schemas import Alert, AlertLevel, Driver
from storage.postgres import PostgresStore
from tests.alerting.people import ANNA, BEN, SERVICES, mary

T0 = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
MARY = mary(LadderPolicy(grace_s=30, call_timeout_s=60, services_attempts=1))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def pass_s(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class RecordingSender:
    """Records each action; refuses the numbers in ``refuse`` with their error code."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.refuse = refuse or {}
        self.sent: list[tuple[Action, str]] = []

    async def send(self, action: Action, text: str) -> str:
        to = getattr(action, "to", None)
        if to in self.refuse:
            raise SendError("refused", code=self.refuse[to])
        self.sent.append((action, text))
        return f"SID{len(self.sent)}"

    def calls(self) -> list[str]:
        return [a.to for a, _ in self.sent if isinstance(a, PlaceCall)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ladder_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LadderStore]:
    store: LadderStore
    if request.param == "sqlite":
        store = SqliteLadderStore(tmp_path / "vigil-alerts.db")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        main_pg = PostgresStore(dsn)
        main_pg.migrate()
        main_pg.close()
        store = PostgresLadderStore(dsn)
    store.put_wearer_alerting("wb-0001", MARY)
    yield store
    store.close()


def red(alert_id: str = "wb-0001:1:7:sos:red", source: str = "sos") -> Alert:
    return Alert(
        alert_id=alert_id,
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=T0,
        source=source,
        summary="SOS key held",
    )


async def test_a_red_alert_climbs_to_the_services_with_each_action_sent_once(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = RecordingSender()
    driver = LadderDriver(ladder_store, sender, clock=clock, locate=lambda _d: "51.5007,-0.1246")
    await driver.start()
    await driver.on_alert(red())
    assert [type(a).__name__ for a, _ in sender.sent] == ["DeviceCommand"]  # grace
    await driver.on_alert(red())  # the same alert delivered again: nothing new
    assert len(sender.sent) == 1
    clock.pass_s(30)
    assert await driver.tick() == 1
    assert sender.calls() == [ANNA.phone]
    clock.pass_s(60)
    await driver.tick()
    assert sender.calls() == [ANNA.phone, BEN.phone]
    ben_call = sender.sent[-1][0]
    callback = ladder_store.by_provider_id("SID5")  # the id the sender gave Ben's call
    assert callback is not None
    assert callback.key == ben_call.key
    await driver.on_event(
        callback.ladder_id,
        CallEnded(at=clock(), key=ben_call.key, status="completed", answered_by="machine_start"),
    )
    assert sender.calls() == [ANNA.phone, BEN.phone, SERVICES]
    spoken = sender.sent[-1][1]
    assert "Location: 51.5007,-0.1246" in spoken
    assert "Call-back number: +447700900100" in spoken
    keys = [a.key for a, _ in sender.sent]
    assert len(keys) == len(set(keys))
    assert ladder_store.outbox(("pending", "sending")) == []
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.phase == "calling"
    assert ladder.rungs[ladder.rung].kind == "services"


async def test_a_restarted_driver_resumes_the_ladder_and_sends_nothing_twice(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    first = RecordingSender()
    driver = LadderDriver(ladder_store, first, clock=clock)
    await driver.on_alert(red())
    clock.pass_s(30)
    await driver.tick()  # Anna: SMS and call sent
    assert first.calls() == [ANNA.phone]
    # The process dies while sending Ben's SMS: it is left "sending", the call "pending".
    clock.pass_s(60)
    ladder = ladder_store.due(clock())[0]
    # The crash, step by step: the driver's save, then its mark before the send.
    stepped = step(ladder, Deadline(at=clock()), MARY.policy, sms_to=(ANNA, BEN))
    ladder_store.save(stepped.ladder, stepped.actions)
    sms, call = stepped.actions
    ladder_store.mark(sms.key, "sending")

    second = RecordingSender()
    restarted = LadderDriver(ladder_store, second, clock=clock)
    await restarted.start()
    # The SMS may have gone out: not sent again. The call had not: sent now.
    assert [a.key for a, _ in second.sent] == [call.key]
    assert {i.key for i in ladder_store.outbox(("unknown",))} == {sms.key}
    # The timers carried over: Ben's deadline passes the turn to the services.
    clock.pass_s(59)
    assert await restarted.tick() == 0
    clock.pass_s(1)
    assert await restarted.tick() == 1
    assert second.calls() == [BEN.phone, SERVICES]
    every = [a.key for a, _ in first.sent + second.sent]
    assert len(every) == len(set(every))


async def test_an_opted_out_contact_is_skipped_and_an_ack_tells_the_others(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = RecordingSender(refuse={ANNA.phone: 21610})
    driver = LadderDriver(ladder_store, sender, clock=clock)
    await driver.on_alert(red())
    clock.pass_s(30)
    await driver.tick()
    # Anna's SMS and call are refused (she sent STOP): Ben is called at once.
    assert sender.calls() == [BEN.phone]
    assert {i.key for i in ladder_store.outbox(("failed",))} != set()
    (ladder,) = ladder_store.ladders_of("wb-0001")
    await driver.on_event(ladder.ladder_id, Acknowledged(at=clock(), by="Ben", via="api"))
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.phase == "acknowledged"
    assert ladder_store.open_for("wb-0001/sos") is None
    # A new SOS after the ladder ended opens a new one.
    await driver.on_alert(red("wb-0001:1:9:sos:red"))
    assert len(ladder_store.ladders_of("wb-0001")) == 2


class FlakySender(RecordingSender):
    """Twilio down: every request fails with a 5xx until ``down`` is cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.tries = 0

    async def send(self, action: Action, text: str) -> str:
        if getattr(action, "to", None) is not None and self.down:
            self.tries += 1
            raise SendError("Service Unavailable", code=None, permanent=False)
        return await super().send(action, text)


async def test_a_provider_outage_is_waited_out_and_does_not_pass_the_turn(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = FlakySender()
    driver = LadderDriver(ladder_store, sender, clock=clock)
    await driver.on_alert(red())
    clock.pass_s(30)
    await driver.tick()  # Anna's SMS and call fail: tried again in 1 s, not Ben's turn
    assert sender.tries == 2
    for wait_s in (1, 2):
        clock.pass_s(wait_s - 0.5)
        await driver.tick()
        tries = sender.tries
        clock.pass_s(0.5)
        await driver.tick()
        assert sender.tries == tries + 2, "each tried again once its wait is over"
    sender.down = False
    clock.pass_s(4)
    await driver.tick()
    assert sender.calls() == [ANNA.phone]  # through at last, to the same person
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.rungs[ladder.rung].name == "Anna"


async def test_an_outage_that_outlasts_the_retries_passes_the_turn(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = FlakySender()
    driver = LadderDriver(ladder_store, sender, clock=clock)
    await driver.on_alert(red())
    clock.pass_s(30)
    await driver.tick()
    for wait_s in RETRY_AFTER_S:
        clock.pass_s(wait_s)
        await driver.tick()
    # Anna's call failed for good: Ben's turn, whose sends are now being retried.
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.rungs[ladder.rung].name == "Ben"
    failed = ladder_store.outbox(("failed",))
    assert {item.action.to for item in failed} == {ANNA.phone}  # type: ignore[union-attr]
    assert {item.attempts for item in failed} == {len(RETRY_AFTER_S)}


def orange(n: int) -> Alert:
    return Alert(
        alert_id=f"wb-0001:1:{n}:news2:orange",
        device_id="wb-0001",
        level=AlertLevel.ORANGE,
        raised_at=T0,
        source="news2",
        summary="NEWS2 5",
    )


async def test_a_cause_taken_in_hand_cools_down_but_never_for_red(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = RecordingSender()
    driver = LadderDriver(ladder_store, sender, clock=clock)
    await driver.on_alert(orange(1))
    clock.pass_s(30)
    await driver.tick()  # Anna and Ben told by SMS
    (first,) = ladder_store.ladders_of("wb-0001")
    await driver.on_event(first.ladder_id, Acknowledged(at=clock(), by="Anna", via="sms"))
    told = len(sender.sent)
    # The score flaps: orange again ten minutes later. Anna is on it: nobody is told.
    clock.pass_s(600)
    await driver.on_alert(orange(2))
    assert len(ladder_store.ladders_of("wb-0001")) == 1
    assert len(sender.sent) == told
    assert ladder_store.ladders_of("wb-0001")[0].timeline[-1].what == (
        "raised again in the cooldown"
    )
    # Red is never held back.
    await driver.on_alert(red("wb-0001:1:3:news2:red", source="news2"))
    assert len(ladder_store.ladders_of("wb-0001")) == 2
    (_, second) = ladder_store.ladders_of("wb-0001")
    await driver.on_event(second.ladder_id, Cancelled(at=clock(), by="wb-0001", via="device"))
    # After the cooldown, orange opens a ladder again.
    clock.pass_s(MARY.policy.cooldown_s)
    await driver.on_alert(orange(4))
    assert len(ladder_store.ladders_of("wb-0001")) == 3


def snoozed(what: str, clock: Clock, minutes: float = 60) -> Snooze:
    return Snooze(
        device_id="wb-0001",
        what=what,
        until=clock() + dt.timedelta(minutes=minutes),
        by="Anna",
        reason="out running",
        set_at=clock(),
    )


def news2_orange(n: int) -> Alert:
    """NEWS2 5 (medium, orange): pulse 2, respiration 2, temperature 1."""
    return Alert(
        alert_id=f"wb-0001:1:{n}:news2:orange",
        device_id="wb-0001",
        level=AlertLevel.ORANGE,
        raised_at=T0,
        source="news2",
        summary="NEWS2 5: medium clinical risk",
        score=5,
        drivers=(
            Driver("pulse:high", 2),
            Driver("respiration_rate:high", 2),
            Driver("temperature:high", 1),
        ),
    )


async def test_a_snooze_holds_back_its_direction_durably_but_never_red(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = RecordingSender()
    driver = LadderDriver(ladder_store, sender, clock=clock)
    ladder_store.put_snooze(snoozed("pulse:high", clock))
    ladder_store.put_snooze(snoozed("temperature:high", clock))
    await driver.on_alert(news2_orange(1))  # 5 - 2 - 1 = 2: nothing to alert
    assert ladder_store.ladders_of("wb-0001") == []
    assert sender.sent == []
    assert [(w, a) for _, w, a in ladder_store.held("wb-0001")] == [("pulse:high", clock())]
    assert ladder_store.took_alert(news2_orange(1).alert_id)  # a redelivery is known
    # The same NEWS2 with only pulse snoozed: 3 left, a yellow reminder on the band.
    assert ladder_store.clear_snooze("wb-0001", "temperature:high")
    assert not ladder_store.clear_snooze("wb-0001", "temperature:high")
    await driver.on_alert(news2_orange(2))
    (reminder,) = ladder_store.ladders_of("wb-0001")
    assert reminder.level is AlertLevel.YELLOW
    assert reminder.phase == "reminded"
    assert [type(a).__name__ for a, _ in sender.sent] == ["DeviceCommand"]
    assert "pulse:high snoozed" in reminder.timeline[0].detail
    # Red never waits for a snooze, whatever is snoozed.
    ladder_store.put_snooze(snoozed("respiration_rate:high", clock))
    await driver.on_alert(red("wb-0001:1:3:news2:red", source="news2"))
    assert [x.phase for x in ladder_store.ladders_of("wb-0001")] == ["reminded", "grace"]
    # Orange while pulse and respiration are snoozed: noted in the open red ladder as
    # held; once the snoozes end, it updates the ladder as any alert of its cause.
    await driver.on_alert(news2_orange(4))
    assert ladder_store.ladders_of("wb-0001")[-1].timeline[-1].what == (
        "raised again while snoozed"
    )
    clock.pass_s(3601)
    assert ladder_store.snoozes_of("wb-0001", clock()) == []
    await driver.on_alert(news2_orange(5))
    assert ladder_store.ladders_of("wb-0001")[-1].timeline[-1].what == "updated"


async def test_a_snoozed_alert_is_noted_in_the_open_ladder_of_its_cause(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    driver = LadderDriver(ladder_store, RecordingSender(), clock=clock)

    def breach(n: int) -> Alert:
        return Alert(
            alert_id=f"wb-0001:1:{n}:geofence:orange:home",
            device_id="wb-0001",
            level=AlertLevel.ORANGE,
            raised_at=T0,
            source="geofence",
            summary="Fence breached: home",
        )

    await driver.on_alert(breach(1))
    ladder_store.put_snooze(snoozed("geofence:home", clock))
    await driver.on_alert(breach(2))
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.is_open
    assert ladder.timeline[-1].what == "raised again while snoozed"
    assert "geofence:home snoozed by Anna" in ladder.timeline[-1].detail


async def test_routine_messages_to_a_busy_number_are_held_back_but_never_warnings(
    ladder_store: LadderStore,
) -> None:
    """Anna is the emergency contact of a whole care home (wearers sharing her number)."""
    for i in range(4):
        ladder_store.put_wearer_alerting(f"wb-10{i}", MARY)
    clock = Clock()
    sender = RecordingSender()
    throttle = ThrottlePolicy(per_number=3, window_s=3600)
    driver = LadderDriver(ladder_store, sender, clock=clock, throttle=throttle)

    def shared(device: str) -> Alert:
        return Alert(
            alert_id=f"{device}:1:1:stress:yellow",
            device_id=device,
            level=AlertLevel.YELLOW,
            raised_at=T0,
            source="stress",
            summary="Stress index above its warning level",
            share_with_contacts=True,
        )

    for i in range(4):
        await driver.on_alert(shared(f"wb-10{i}"))
    to_anna = [a for a, _ in sender.sent if getattr(a, "to", None) == ANNA.phone]
    assert len(to_anna) == 3  # the fourth shared reminder is held back
    (held,) = [i for i in ladder_store.outbox(("throttled",)) if i.action.to == ANNA.phone]  # type: ignore[union-attr]
    assert held.ladder_id.startswith("wb-103/")
    assert ladder_store.ladders_of("wb-103")[0].timeline[-1].what == (
        "a reminder shared message not sent"
    )
    # A warning to the same number still goes out.
    await driver.on_alert(orange(9))
    clock.pass_s(30)
    await driver.tick()
    to_anna = [a for a, _ in sender.sent if getattr(a, "to", None) == ANNA.phone]
    assert to_anna[-1].template == "alert_sms"


def test_callback_signatures_are_remembered_for_their_time(ladder_store: LadderStore) -> None:
    week = 7 * 24 * 3600.0
    assert ladder_store.first_signature("sig-a", T0, week)
    assert not ladder_store.first_signature("sig-a", T0 + dt.timedelta(days=6), week)
    later = T0 + dt.timedelta(days=8)
    assert ladder_store.first_signature("sig-b", later, week)  # and forgets sig-a
    assert ladder_store.first_signature("sig-a", later, week)


def test_one_store_leads_the_ladders_and_another_takes_over_when_it_closes(
    ladder_store: LadderStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    def another() -> LadderStore:
        if isinstance(ladder_store, SqliteLadderStore):
            return SqliteLadderStore(tmp_path / "vigil-alerts.db")
        return PostgresLadderStore(request.getfixturevalue("postgres_dsn"))

    standby = another()
    try:
        assert ladder_store.lead()
        assert ladder_store.lead()  # holding it already
        assert ladder_store.leading()
        assert not standby.lead()
        assert not standby.leading()
        ladder_store.close()  # the leader's process ends: its lock goes with it
        assert standby.lead()
        assert standby.leading()
    finally:
        standby.close()


@pytest.mark.postgres
def test_a_leader_that_lost_its_database_connection_knows_it_no_longer_leads(
    postgres_dsn: str,
) -> None:
    import psycopg

    main_pg = PostgresStore(postgres_dsn)
    main_pg.migrate()
    main_pg.close()
    leader, standby = PostgresLadderStore(postgres_dsn), PostgresLadderStore(postgres_dsn)
    try:
        assert leader.lead()
        assert not standby.lead()
        # The database drops the leader's lock connection (a restart, a network cut).
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND classid::bigint = %s",
                (int.from_bytes(b"vigl", "big"),),
            )
        assert not leader.leading()
        assert standby.lead()
    finally:
        leader.close()
        standby.close()


class SmsOutage(RecordingSender):
    """Twilio's messaging down (5xx on every SMS) while voice works."""

    async def send(self, action: Action, text: str) -> str:
        if isinstance(action, SendSms):
            raise SendError("Service Unavailable", permanent=False)
        return await super().send(action, text)


async def test_an_orange_alerts_sms_that_cannot_go_becomes_a_call(
    ladder_store: LadderStore,
) -> None:
    clock = Clock()
    sender = SmsOutage()
    driver = LadderDriver(ladder_store, sender, clock=clock)
    await driver.on_alert(orange(1))
    clock.pass_s(30)
    await driver.tick()  # the grace period ends: Anna and Ben are sent SMS, which fail
    for wait in RETRY_AFTER_S:
        clock.pass_s(wait)
        await driver.flush()
    # The outage outlasted the retries: each is called instead, asked to press 1.
    assert sender.calls() == [ANNA.phone, BEN.phone]
    (call, text), _ = [(a, t) for a, t in sender.sent if isinstance(a, PlaceCall)]
    assert "We could not send you a text. Press 1 if you will handle it." in text
    assert isinstance(call, PlaceCall)
    assert call.confirm
    (ladder,) = ladder_store.ladders_of("wb-0001")
    assert ladder.phase == "open"
    assert [e.what for e in ladder.timeline].count("SMS failed: calling instead") == 2
    # Anna presses 1 on that call: the ladder is acknowledged.
    await driver.on_event(ladder.ladder_id, Acknowledged(at=clock(), by=ANNA.phone, via="call"))
    assert ladder_store.ladders_of("wb-0001")[0].phase == "acknowledged"
