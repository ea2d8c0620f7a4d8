"""Notices by SMS too: who has a number gets the consultation, appointment and
break-glass notices as texts, queued in the ladder store and sent by the process driving
the ladders through the alerts' own sender (both databases)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator

import httpx
import pytest

from alerting.console import ConsoleSender
from alerting.driver import SendError
from alerting.ladder import Action
from alerting.ladder_store import NoticeText
from consult_bridge.app import create_app
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    REVIEWER_A,
    Clock,
    Stores,
    set_up_access,
)
from vigil.api import LadderTexts
from vigil.ladder_side import TEXT_ATTEMPTS, send_texts

MARY_PHONE, ANNA_PHONE, LI_PHONE = "+447700900100", "+447700900101", "+447700900200"


@pytest.fixture
async def texting(stores: Stores) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock()
    app = create_app(stores.deps(clock, texts=LadderTexts(stores.ladders, stores.clinic)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, clock


def queued(stores: Stores) -> list[tuple[str, str]]:
    return [(t.to, t.body) for t, _ in stores.ladders.pending_texts(NOW)]


async def test_transitions_go_by_sms_to_those_with_a_number(
    texting: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = texting
    await set_up_access(http)
    await http.put("/v1/doctors/dr-li", json={"phone": LI_PHONE}, headers=ADMIN_A)
    made = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "palpitations"}, headers=DR_LI
    )
    cid = made.json()["consult_id"]
    assert queued(stores) == [
        (MARY_PHONE, "Vigil: A consultation was requested for you: palpitations")
    ]
    planned = (NOW + dt.timedelta(hours=1)).isoformat()
    for action, headers, body in [
        ("review", REVIEWER_A, {}),
        ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned}),
        ("start", DR_LI, {"mode": "live"}),
        ("join", ANNA, {}),
        ("switch_mode", DR_LI, {"mode": "recorded"}),
    ]:
        done = await http.post(f"/v1/consultations/{cid}/{action}", json=body, headers=headers)
        assert done.status_code == 200, done.text
    texts = queued(stores)
    # The doctor heard of the review and approval by SMS (not of their own actions).
    to_li = [b for to, b in texts if to == LI_PHONE]
    assert to_li[:2] == [
        "Vigil: Your consultation request is in review (rev-a).",
        "Vigil: Consultation approved: dr-li at 2026-11-29 13:00 UTC.",
    ]
    # Anna (Mary's contact "anna") got her live session's end by SMS at her number.
    assert (
        ANNA_PHONE,
        "Vigil: The live session has ended: the consultation continues as a recording.",
    ) in texts
    # Nobody without a number (the reviewer) is texted; the in-app notices are there too.
    assert {to for to, _ in texts} == {MARY_PHONE, LI_PHONE, ANNA_PHONE}
    opened = await http.post(
        "/v1/wearers/wb-0001/emergency-access",
        json={"reason": "collapsed in the street"},
        headers=DR_ROSS,
    )
    assert opened.status_code == 201
    assert queued(stores)[-1][0] == MARY_PHONE
    assert "opened your record in an emergency" in queued(stores)[-1][1]
    assert (await http.get("/v1/me/notices", headers=MARY_SELF)).json()


class Refusing:
    """A sender whose provider fails: for good, or for now."""

    def __init__(self, permanent: bool) -> None:
        self.permanent = permanent
        self.calls = 0

    async def send(self, action: Action, text: str) -> str | None:
        del action, text
        self.calls += 1
        raise SendError("provider down", permanent=self.permanent)


async def test_the_driving_process_sends_each_text_once_and_retries_what_may_pass(
    stores: Stores,
) -> None:
    for n, to in enumerate((MARY_PHONE, ANNA_PHONE)):
        stores.ladders.put_text(
            NoticeText(text_id=f"t{n}", to=to, body=f"Vigil: hello {n}", at=NOW)
        )
    stores.ladders.put_text(NoticeText(text_id="t0", to=MARY_PHONE, body="again", at=NOW))  # once
    out = io.StringIO()
    console = ConsoleSender(out)
    assert await send_texts(stores.ladders, console, lambda: NOW) == 2
    assert out.getvalue().splitlines() == [
        f"  -> SMS {MARY_PHONE}: Vigil: hello 0",
        f"  -> SMS {ANNA_PHONE}: Vigil: hello 1",
    ]
    assert stores.ladders.pending_texts(NOW) == []
    assert await send_texts(stores.ladders, console, lambda: NOW) == 0  # nothing twice

    stores.ladders.put_text(NoticeText(text_id="t9", to=MARY_PHONE, body="down", at=NOW))
    flaky = Refusing(permanent=False)
    clock = Clock()
    for _ in range(3 * TEXT_ATTEMPTS):
        await send_texts(stores.ladders, flaky, clock)
        clock.now += dt.timedelta(seconds=0.25)  # the intake's rounds
    # Backed off as the alerts are (1, 2, 4, 8 s): tries at 0, 1 and 3 s of the first 3.75.
    assert flaky.calls == 3
    clock.now += dt.timedelta(seconds=60)
    for _ in range(TEXT_ATTEMPTS):
        await send_texts(stores.ladders, flaky, clock)
        clock.now += dt.timedelta(seconds=20)
    assert flaky.calls == TEXT_ATTEMPTS
    assert stores.ladders.pending_texts(clock.now + dt.timedelta(days=1)) == []  # given up
    stores.ladders.put_text(NoticeText(text_id="t10", to=MARY_PHONE, body="stop", at=NOW))
    refused = Refusing(permanent=True)
    await send_texts(stores.ladders, refused, lambda: NOW)
    await send_texts(stores.ladders, refused, lambda: NOW)
    assert refused.calls == 1
