"""Chaos (issue 10): Twilio answering 500 and then too late, under a red ladder.

Twilio's trouble (500: nothing was sent) is tried again with backoff; a request Twilio
took but answered only after the client gave up may have gone out, so it is marked
``unknown`` and never repeated. Either way the ladder climbs to an acknowledgement and no
SMS or call goes out twice. The fake Twilio and the webhooks are real HTTP servers in this
process; the official ``twilio`` client talks to the fake (``device_sim/fake_twilio.py``).
"""

from __future__ import annotations

import asyncio
import collections

import pytest

from alerting.driver import run_deadlines
from alerting.ladder_store import SqliteLadderStore
from device_sim.fake_twilio import Fault, Script
from tests.alerting.people import ANNA, BEN
from tests.alerting.test_twilio import rig_for, sos, store  # noqa: F401 - the fixture

pytestmark = [pytest.mark.chaos]


async def test_twilio_errors_are_retried_late_answers_never_repeated_and_the_ladder_ends(
    store: SqliteLadderStore,  # noqa: F811 - the fixture imported above
) -> None:
    scripts = {ANNA.phone: Script(call="no-answer"), BEN.phone: Script(call="confirm")}
    faults: list[Fault] = ["error_500", "error_500", "slow", "error_500"]
    async with rig_for(store, scripts, faults=faults, timeout_s=0.5) as rig:
        stop = asyncio.Event()
        deadlines = asyncio.create_task(run_deadlines(rig.driver, stop, every_s=0.2))
        try:
            await rig.driver.on_alert(sos())
            ladder = await rig.ladder({"acknowledged", "handed_over", "exhausted"}, 40)
        finally:
            stop.set()
            await deadlines
        assert ladder.phase == "acknowledged", ladder.timeline
        assert rig.fake.refused == 3, "three 500s, each tried again"
        taken = collections.Counter(r.action_key for r in rig.fake.requests)
        assert taken, "nothing reached Twilio"
        assert max(taken.values()) == 1, f"sent twice: {taken}"
        statuses = collections.Counter(i.status for i in store.outbox_of(ladder.ladder_id))
        assert statuses["unknown"] == 1, statuses  # the late answer: not repeated
        assert statuses["failed"] == 0, statuses
        assert rig.calls().count(BEN.phone) == 1
        # Anna hears twice, with different news (the alarm, then who handles it): never
        # the same message twice.
        texts = collections.Counter(rig.texts())
        assert max(texts.values()) == 1, texts
        assert any(to == ANNA.phone and "handling" in body for to, body in texts), texts
