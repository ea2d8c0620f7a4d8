"""The ladder over Twilio: the official client against the project's fake Twilio over real
HTTP, and Twilio's signed callbacks back into Vigil's webhooks (served by uvicorn).

The fake (``device_sim/fake_twilio.py``) plays each number as scripted: no answer, a
voicemail, pressing 1, a number that sent STOP; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
import uvicorn

from alerting.console import ConsoleSender
from alerting.driver import LadderDriver, RoutedSender
from alerting.ladder import Ladder, LadderPolicy
from alerting.ladder_store import SqliteLadderStore
from alerting.twilio_sender import TwilioSender, twilio_client
from alerting.webhooks import webhook_app
from device_sim.fake_twilio import FakeTwilio, Fault, Script, sign
from schemas import Alert, AlertLevel
from tests.alerting.people import ANNA, BEN, SERVICES, mary
from vigil.embedded_broker import free_port

SID = "AC" + "0" * 32
TOKEN = "test-auth-token"
FROM = "+447700900000"
# Long timeouts: every step here is driven by Twilio's callbacks, not by a timer.
MARY = mary(LadderPolicy(grace_s=0, call_timeout_s=120, services_attempts=1))


class Rig:
    """A driver with the Twilio sender, the webhooks on uvicorn, and the fake Twilio."""

    def __init__(
        self,
        store: SqliteLadderStore,
        fake: FakeTwilio,
        public: str,
        token: str,
        timeout_s: float = 10.0,
    ) -> None:
        client = twilio_client(SID, token, api_base=fake.base_url, timeout_s=timeout_s)
        twilio = TwilioSender(client, FROM, public)
        sender = RoutedSender(device=ConsoleSender(io.StringIO()), phones=twilio)
        self.store = store
        self.fake = fake
        self.public = public
        self.driver = LadderDriver(store, sender)

    async def ladder(self, until: set[str], timeout_s: float = 20.0) -> Ladder:
        """The wearer's ladder once its phase is in ``until``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            (ladder,) = self.store.ladders_of("wb-0001")
            if ladder.phase in until or loop.time() > deadline:
                return ladder
            await asyncio.sleep(0.05)

    def calls(self) -> list[str]:
        return [r.to for r in self.fake.requests if r.kind == "Calls"]

    def texts(self) -> list[tuple[str, str]]:
        return [(r.to, r.form["Body"][0]) for r in self.fake.requests if r.kind == "Messages"]


@pytest.fixture
def store(tmp_path: Path) -> SqliteLadderStore:
    ladders = SqliteLadderStore(tmp_path / "vigil-alerts.db")
    ladders.put_wearer_alerting("wb-0001", MARY)
    return ladders


@contextlib.asynccontextmanager
async def rig_for(
    store: SqliteLadderStore,
    scripts: dict[str, Script],
    token: str = TOKEN,
    port: int | None = None,
    *,
    faults: Sequence[Fault] = (),
    timeout_s: float = 10.0,
) -> AsyncIterator[Rig]:
    port = port or free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTwilio(SID, TOKEN, scripts, ring_s=0.2, faults=faults, slow_s=2 * timeout_s) as fake:
        rig = Rig(store, fake, public, token, timeout_s)
        app = webhook_app(rig.driver, auth_token=TOKEN, public_url=public)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        serving = asyncio.create_task(server.serve())
        for _ in range(500):  # uvicorn has no started event to await
            if server.started:
                break
            await asyncio.sleep(0.02)
        try:
            yield rig
        finally:
            server.should_exit = True
            await serving
            store.close()


def sos(n: int = 1) -> Alert:
    return Alert(
        alert_id=f"wb-0001:1:{n}:sos:red",
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=dt.datetime.now(dt.UTC),
        source="sos",
        summary="SOS key held",
    )


async def test_no_answer_then_voicemail_then_the_emergency_services(
    store: SqliteLadderStore,
) -> None:
    scripts = {
        ANNA.phone: Script(call="no-answer"),
        BEN.phone: Script(call="voicemail"),  # completed, but a machine: not an ack
        SERVICES: Script(call="completed"),
    }
    async with rig_for(store, scripts) as rig:
        await rig.driver.on_alert(sos())
        ladder = await rig.ladder({"handed_over", "exhausted"})
        assert ladder.phase == "handed_over", ladder.timeline
        assert rig.calls() == [ANNA.phone, BEN.phone, SERVICES]
        assert [to for to, _ in rig.texts()] == [ANNA.phone, BEN.phone, SERVICES]
        assert "SOS key held" in rig.texts()[0][1]
        anna_call = next(r for r in rig.fake.requests if r.kind == "Calls")
        assert "<Gather" in anna_call.form["Twiml"][0]
        assert anna_call.form["MachineDetection"] == ["Enable"]
        # Every signed callback was taken (200), none refused.
        assert {status for _, _, status in rig.fake.callbacks} == {200}
        steps = [e.what for e in ladder.timeline]
        assert "no confirmation from Ben" in steps
        assert any("answered by machine_end_beep" in e.detail for e in ladder.timeline), (
            ladder.timeline
        )


async def test_pressing_1_stops_the_ladder_and_the_others_are_told(
    store: SqliteLadderStore,
) -> None:
    scripts = {ANNA.phone: Script(call="busy"), BEN.phone: Script(call="confirm")}
    async with rig_for(store, scripts) as rig:
        await rig.driver.on_alert(sos())
        ladder = await rig.ladder({"acknowledged", "handed_over", "exhausted"})
        assert ladder.phase == "acknowledged", ladder.timeline
        await asyncio.sleep(0.5)  # Ben's final status callback comes after his key press
        assert rig.calls() == [ANNA.phone, BEN.phone]  # never the services
        handled = [(to, body) for to, body in rig.texts() if "is handling" in body]
        assert handled == [(ANNA.phone, f"Vigil: {BEN.phone} is handling the alert for Mary.")]


async def test_an_sos_while_another_alert_is_open_climbs_its_own_ladder(
    store: SqliteLadderStore,
) -> None:
    """Mary has left her fence (an orange ladder, open); then she holds SOS."""
    breach = Alert(
        alert_id="wb-0001:1:1:geofence:orange:home",
        device_id="wb-0001",
        level=AlertLevel.ORANGE,
        raised_at=dt.datetime.now(dt.UTC),
        source="geofence",
        summary="Fence breached: home",
    )
    scripts = {ANNA.phone: Script(call="no-answer"), BEN.phone: Script(call="confirm")}
    async with rig_for(store, scripts) as rig:
        await rig.driver.on_alert(breach)
        await rig.driver.on_alert(sos(2))

        def phases() -> dict[str, str]:
            return {x.cause: x.phase for x in store.ladders_of("wb-0001")}

        for _ in range(400):  # 20 s at most
            if phases().get("sos") == "acknowledged":
                break
            await asyncio.sleep(0.05)
        # The SOS did not wait for, nor join, the fence's ladder: it called in turn
        # until Ben confirmed; the fence's ladder is still open for its own cause.
        assert phases() == {"geofence:home": "open", "sos": "acknowledged"}
        assert rig.calls() == [ANNA.phone, BEN.phone]
        fence_texts = [to for to, body in rig.texts() if "Fence breached" in body]
        assert sorted(fence_texts) == [ANNA.phone, BEN.phone]
        assert any("SOS key held" in body for _, body in rig.texts())


async def test_an_sms_reply_acknowledges_and_a_false_alarm_reply_stands_everyone_down(
    store: SqliteLadderStore,
) -> None:
    async with rig_for(store, {}) as rig:
        await rig.driver.on_alert(sos(1))
        await rig.ladder({"calling"})
        url = f"{rig.public}/twilio/sms-incoming"
        async with httpx.AsyncClient() as http:

            async def reply(sender: str, body: str) -> httpx.Response:
                params = {"From": sender, "To": FROM, "Body": body, "MessageSid": "SMx" + body}
                headers = {"X-Twilio-Signature": sign(TOKEN, url, params)}
                return await http.post(url, data=params, headers=headers)

            assert (await reply(ANNA.phone, "2")).status_code == 200
        ladder = await rig.ladder({"cancelled"})
        assert ladder.phase == "cancelled"
        assert ladder.timeline[-1].detail == f"{ANNA.phone} via sms"


async def test_forged_and_replayed_callbacks_are_refused_with_403(
    store: SqliteLadderStore,
) -> None:
    async with rig_for(store, {}) as rig:
        await rig.driver.on_alert(sos())
        ladder = await rig.ladder({"calling"})
        key = ladder.waiting_for
        assert key is not None
        url = f"{rig.public}/twilio/gather?key={key.replace('/', '%2F').replace(':', '%3A')}"
        params = {"CallSid": "CAforged", "Digits": "1", "To": ANNA.phone}
        async with httpx.AsyncClient() as http:
            forged = await http.post(
                url, data=params, headers={"X-Twilio-Signature": sign("wrong", url, params)}
            )
            unsigned = await http.post(url, data=params)
            assert (forged.status_code, unsigned.status_code) == (403, 403)
            assert (await rig.ladder({"acknowledged"}, timeout_s=0.3)).phase == "calling"
            signed = {"X-Twilio-Signature": sign(TOKEN, url, params)}
            assert (await http.post(url, data=params, headers=signed)).status_code == 200
            assert (await http.post(url, data=params, headers=signed)).status_code == 403
        assert (await rig.ladder({"acknowledged"})).phase == "acknowledged"


async def test_a_number_that_sent_stop_is_skipped_at_once(store: SqliteLadderStore) -> None:
    # Anna's SMS is refused with 21610: her turn passes before her call could be answered.
    async with rig_for(store, {ANNA.phone: Script(opted_out=True)}) as rig:
        await rig.driver.on_alert(sos())
        ladder = await rig.ladder({"calling"})
        assert ladder.rungs[ladder.rung].name == "Ben"
        (failed,) = store.outbox(("failed",))
        assert (failed.error or "").startswith("21610: ")
        assert "unsubscribed recipient" in (failed.error or "")
        assert failed.action.to == ANNA.phone  # type: ignore[union-attr]


async def test_wrong_credentials_are_refused_and_the_ladder_says_nobody_was_reached(
    store: SqliteLadderStore,
) -> None:
    async with rig_for(store, {}, token="wrong-token") as rig:
        await rig.driver.on_alert(sos())
        ladder = await rig.ladder({"exhausted"})
        assert ladder.phase == "exhausted"
        assert rig.fake.requests == []
        failed = store.outbox(("failed",))
        assert len(failed) == 6  # an SMS and a call each to Anna, Ben and the services
        assert all((f.error or "").startswith("20003") for f in failed)


async def test_a_replayed_sms_reply_is_refused_after_a_restart_too(
    store: SqliteLadderStore, tmp_path: Path
) -> None:
    """A captured "1" from Anna, sent again once Vigil restarted, must not stop a new ladder."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/twilio/sms-incoming"
    params = {"From": ANNA.phone, "To": FROM, "Body": "1", "MessageSid": "SM" + "7" * 32}
    headers = {"X-Twilio-Signature": sign(TOKEN, url, params)}
    async with rig_for(store, {}, port=port) as rig:
        await rig.driver.on_alert(sos(1))
        await rig.ladder({"calling"})
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, data=params, headers=headers)).status_code == 200
        assert (await rig.ladder({"acknowledged"})).phase == "acknowledged"
    # Vigil restarts (a new app, driver and connection on the same database) ...
    restarted = SqliteLadderStore(tmp_path / "vigil-alerts.db")
    async with rig_for(restarted, {}, port=port) as rig:
        await rig.driver.on_alert(sos(2))
        async with httpx.AsyncClient() as http:
            replayed = await http.post(url, data=params, headers=headers)
        assert replayed.status_code == 403
        second = [x for x in restarted.ladders_of("wb-0001") if x.is_open]
        assert [x.phase for x in second] == ["calling"]
