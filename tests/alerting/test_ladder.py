"""The alert ladder's state machine: who is told, in which order, and when it stops."""

from __future__ import annotations

import datetime as dt

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from alerting.closeness import CallLogEntry, rank
from alerting.contacts import Contact, Directory
from alerting.ladder import (
    FINAL,
    TRANSITIONS,
    Acknowledged,
    CallEnded,
    Cancelled,
    Deadline,
    DeviceCommand,
    Ended,
    Event,
    Ladder,
    LadderPolicy,
    PlaceCall,
    Raised,
    SendFailed,
    SendSms,
    Stepped,
    ladder_key,
    open_ladder,
    step,
)
from alerting.templates import TEMPLATES, render
from schemas import Alert, AlertLevel

T0 = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
ANNA = Contact(contact_id="c1", name="Anna", phone="+447700900001", emergency=True)
BEN = Contact(contact_id="c2", name="Ben", phone="+447700900002", emergency=True, language="zh")
CARL = Contact(contact_id="c3", name="Carl", phone="+447700900003")
DORA = Contact(contact_id="c4", name="Dora", phone="+447700900004")
SERVICES = "+447700900999"
DIRECTORY = Directory(
    wearer_name="Mary",
    wearer_phone="+447700900100",
    contacts=(ANNA, BEN, CARL, DORA),
    emergency_services=SERVICES,
    medical="atrial fibrillation; warfarin",
)
POLICY = LadderPolicy(grace_s=30, call_timeout_s=90, close_contacts=1, services_attempts=2)
# Dora talks to Mary more than Carl does: she is the one close contact called.
LOG = [
    CallLogEntry(phone=CARL.phone, started_at=T0 - dt.timedelta(days=3), duration_s=120),
    CallLogEntry(phone=DORA.phone, started_at=T0 - dt.timedelta(days=2), duration_s=1800),
    CallLogEntry(phone=DORA.phone, started_at=T0 - dt.timedelta(days=1), duration_s=600),
]


def alert(level: AlertLevel, source: str = "news2", **kw: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": f"wb-0001:1:7:{source}:{level.label}",
        "device_id": "wb-0001",
        "level": level,
        "raised_at": T0,
        "source": source,
        "summary": "NEWS2 7 (vitals deteriorating)",
    }
    return Alert(**{**fields, **kw})  # type: ignore[arg-type]


def opened(level: AlertLevel, *, policy: LadderPolicy = POLICY, **kw: object) -> Stepped:
    ranked = rank(DIRECTORY.other_contacts, LOG, now=T0)
    return open_ladder(alert(level, **kw), DIRECTORY, ranked, policy, now=T0)  # type: ignore[arg-type]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def feed(ladder: Ladder, event: Event, policy: LadderPolicy = POLICY) -> Stepped:
    return step(ladder, event, policy, sms_to=DIRECTORY.emergency_contacts)


def calls(stepped: Stepped) -> list[str]:
    return [a.to for a in stepped.actions if isinstance(a, PlaceCall)]


def texts(stepped: Stepped) -> list[tuple[str, str]]:
    return [(a.to, a.template) for a in stepped.actions if isinstance(a, SendSms)]


def the_call(stepped: Stepped) -> PlaceCall:
    (call,) = [a for a in stepped.actions if isinstance(a, PlaceCall)]
    return call


def test_red_climbs_from_the_emergency_contacts_to_the_closest_other_then_the_services() -> None:
    first = opened(AlertLevel.RED)
    assert first.ladder.phase == "grace"
    assert [type(a) for a in first.actions] == [DeviceCommand]  # only the wearer, who may cancel
    assert [r.why for r in first.ladder.rungs] == [
        "emergency contact 1",
        "emergency contact 2",
        "close contact: 2 answered calls, 40 min in the last 30 days",
        "nobody else confirmed",
    ]
    # Nothing happens before the grace period ends.
    assert feed(first.ladder, Deadline(at=at(29))).actions == ()
    anna = feed(first.ladder, Deadline(at=at(30)))
    assert anna.ladder.phase == "calling"
    assert texts(anna) == [(ANNA.phone, "alarm_sms")]
    assert calls(anna) == [ANNA.phone]
    # Anna does not answer; Ben's phone goes to voicemail (completed, a machine).
    ben = feed(anna.ladder, CallEnded(at=at(60), key=the_call(anna).key, status="no-answer"))
    assert calls(ben) == [BEN.phone]
    assert ben.actions[0].language == "zh"
    dora = feed(
        ben.ladder,
        CallEnded(
            at=at(90), key=the_call(ben).key, status="completed", answered_by="machine_start"
        ),
    )
    assert calls(dora) == [DORA.phone]  # Carl is the less close: not called
    # Dora's call rings out without an outcome: the timeout passes the turn on.
    services = feed(dora.ladder, Deadline(at=at(90 + 90)))
    assert calls(services) == [SERVICES]
    assert texts(services) == [(SERVICES, "services_sms")]
    spoken = the_call(services)
    assert spoken.params["medical"] == "atrial fibrillation; warfarin"
    assert spoken.params["callback"] == "+447700900100"
    done = feed(
        services.ladder,
        CallEnded(at=at(200), key=spoken.key, status="completed", answered_by="human"),
    )
    assert done.ladder.phase == "handed_over"
    assert done.actions == ()
    assert [t.phone for t in done.ladder.told] == [ANNA.phone, BEN.phone, DORA.phone, SERVICES]
    keys = [a.key for s in (first, anna, ben, dora, services, done) for a in s.actions]
    assert len(keys) == len(set(keys)), "every action has its own key"


def test_a_confirmed_call_stops_the_ladder_and_tells_the_others_already_told() -> None:
    anna = feed(opened(AlertLevel.RED).ladder, Deadline(at=at(30)))
    ben = feed(anna.ladder, CallEnded(at=at(50), key=the_call(anna).key, status="busy"))
    acked = feed(
        ben.ladder,
        CallEnded(at=at(70), key=the_call(ben).key, status="completed", confirmed=True),
    )
    assert acked.ladder.phase == "acknowledged"
    assert texts(acked) == [(ANNA.phone, "handled")]
    assert acked.actions[0].params["by"] == "Ben"
    # Nothing more: not the next contact, not when the old deadline passes.
    assert feed(acked.ladder, Deadline(at=at(1000))).actions == ()


def test_a_call_answered_but_not_confirmed_is_not_an_acknowledgement() -> None:
    anna = feed(opened(AlertLevel.RED).ladder, Deadline(at=at(30)))
    answered = feed(
        anna.ladder,
        CallEnded(at=at(50), key=the_call(anna).key, status="completed", answered_by="human"),
    )
    assert answered.ladder.phase == "calling"
    assert calls(answered) == [BEN.phone]


def test_the_wearer_cancels_in_the_grace_period_and_nobody_is_told() -> None:
    first = opened(AlertLevel.RED, source="sos")
    cancelled = feed(first.ladder, Cancelled(at=at(10), by="wb-0001", via="device"))
    assert cancelled.ladder.phase == "cancelled"
    assert cancelled.actions == ()
    assert feed(cancelled.ladder, Deadline(at=at(30))).actions == ()


def test_a_cancel_after_contacts_were_told_sends_each_of_them_a_stand_down() -> None:
    anna = feed(opened(AlertLevel.RED).ladder, Deadline(at=at(30)))
    ben = feed(anna.ladder, CallEnded(at=at(50), key=the_call(anna).key, status="no-answer"))
    # Ben replies "2" (false alarm): everyone told but him gets the stand-down.
    down = feed(ben.ladder, Cancelled(at=at(60), by=BEN.phone, via="sms"))
    assert down.ladder.phase == "cancelled"
    assert texts(down) == [(ANNA.phone, "stand_down")]


def test_orange_tells_the_emergency_contacts_by_sms_and_climbs_to_calls_when_red() -> None:
    first = opened(AlertLevel.ORANGE)
    told = feed(first.ladder, Deadline(at=at(30)))
    assert told.ladder.phase == "open"
    assert texts(told) == [(ANNA.phone, "alert_sms"), (BEN.phone, "alert_sms")]
    assert calls(told) == []
    same = feed(told.ladder, Raised(at=at(100), alert=alert(AlertLevel.ORANGE, alert_id="x2")))
    assert (same.ladder.phase, same.actions) == ("open", ())
    red = feed(told.ladder, Raised(at=at(120), alert=alert(AlertLevel.RED, alert_id="x3")))
    assert red.ladder.phase == "calling"
    assert calls(red) == [ANNA.phone]  # no second grace period
    assert red.ladder.alert_ids == (first.ladder.alert_ids[0], "x3")


def test_an_orange_sms_refused_for_stop_becomes_a_call_to_the_same_person() -> None:
    told = feed(opened(AlertLevel.ORANGE).ladder, Deadline(at=at(30)))
    anna_sms, _ = told.actions
    # Anna sent STOP once: her SMS is refused, so she is called instead (Twilio's STOP
    # blocks texts only); Ben's SMS went.
    refused = feed(
        told.ladder, SendFailed(at=at(31), key=anna_sms.key, code=21610, action=anna_sms)
    )
    assert refused.ladder.phase == "open"
    assert calls(refused) == [ANNA.phone]
    assert the_call(refused).template == "alert_call"
    assert the_call(refused).confirm
    assert refused.ladder.timeline[-1].detail == "error 21610"
    # The call fails too: written down, nothing else to try for her.
    failed = feed(
        refused.ladder,
        SendFailed(at=at(40), key=the_call(refused).key, code=13224, action=the_call(refused)),
    )
    assert (failed.ladder.phase, failed.actions) == ("open", ())
    assert failed.ladder.timeline[-1].what == "could not be reached"


def test_an_alert_that_ends_closes_its_ladder_with_an_all_clear() -> None:
    told = feed(opened(AlertLevel.ORANGE, source="geofence").ladder, Deadline(at=at(30)))
    back = alert(AlertLevel.NONE, source="geofence", change="resolved", summary="back home")
    closed = feed(told.ladder, Ended(at=at(300), alert=back))
    assert closed.ladder.phase == "closed"
    assert texts(closed) == [(ANNA.phone, "all_clear"), (BEN.phone, "all_clear")]


def test_a_stop_opt_out_skips_the_contact_but_an_earlier_contacts_failure_does_not() -> None:
    anna = feed(opened(AlertLevel.RED).ladder, Deadline(at=at(30)))
    anna_sms = anna.actions[0].key
    ben = feed(anna.ladder, CallEnded(at=at(50), key=the_call(anna).key, status="no-answer"))
    # Anna's SMS fails late with 21610: Ben's turn is not cut short.
    late = feed(ben.ladder, SendFailed(at=at(55), key=anna_sms, code=21610))
    assert (late.ladder.rung, late.actions) == (ben.ladder.rung, ())
    # Ben's own SMS gets 21610 (he sent STOP once): on to the next.
    skipped = feed(ben.ladder, SendFailed(at=at(55), key=ben.actions[0].key, code=21610))
    assert calls(skipped) == [DORA.phone]


def test_a_call_ending_after_its_turn_passed_changes_nothing() -> None:
    anna = feed(opened(AlertLevel.RED).ladder, Deadline(at=at(30)))
    ben = feed(anna.ladder, Deadline(at=at(30 + 90)))
    late = feed(ben.ladder, CallEnded(at=at(125), key=the_call(anna).key, status="completed"))
    assert (late.ladder, late.actions) == (ben.ladder, ())


def test_the_services_are_called_again_then_the_ladder_is_exhausted() -> None:
    policy = LadderPolicy(grace_s=0, call_timeout_s=60, services_attempts=2)
    only_services = Directory(wearer_name="Mary", emergency_services=SERVICES)
    first = open_ladder(alert(AlertLevel.RED), only_services, [], policy, now=T0)
    assert calls(first) == [SERVICES]
    again = step(first.ladder, CallEnded(at=at(20), key=the_call(first).key, status="busy"), policy)
    assert calls(again) == [SERVICES]
    assert again.ladder.attempt == 2
    over = step(again.ladder, Deadline(at=at(20 + 120)), policy)
    assert over.ladder.phase == "exhausted"
    assert over.actions == ()


def test_yellow_reminds_the_wearer_and_contacts_only_when_shared() -> None:
    own = opened(AlertLevel.YELLOW, source="stress")
    assert own.ladder.phase == "reminded"
    assert [type(a) for a in own.actions] == [DeviceCommand]
    shared = opened(AlertLevel.YELLOW, source="stress", share_with_contacts=True)
    assert texts(shared) == [(ANNA.phone, "reminder_shared"), (BEN.phone, "reminder_shared")]


def test_one_ladder_per_wearer_and_cause() -> None:
    assert ladder_key(alert(AlertLevel.RED)) == ladder_key(alert(AlertLevel.ORANGE))
    fence_a = alert(AlertLevel.ORANGE, source="geofence", alert_id="wb-0001:1:9:geofence:2:home")
    fence_b = alert(AlertLevel.ORANGE, source="geofence", alert_id="wb-0001:1:9:geofence:2:park")
    assert ladder_key(fence_a) != ladder_key(fence_b)
    assert ladder_key(alert(AlertLevel.RED, source="sos")) != ladder_key(alert(AlertLevel.RED))


def test_an_ack_after_the_ladder_ended_is_only_recorded() -> None:
    ended = feed(opened(AlertLevel.RED).ladder, Cancelled(at=at(5), by="wb-0001", via="device"))
    late = feed(ended.ladder, Acknowledged(at=at(9), by="c1", via="api"))
    assert late.actions == ()
    assert late.ladder.phase == "cancelled"
    assert late.ladder.timeline[-1].what.startswith("acknowledged (after")


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_renders_in_both_languages_with_missing_values_as_unknown(
    template: str,
) -> None:
    params = {"wearer": "Mary", "summary": "NEWS2 7", "level": "red", "location": ""}
    english = render(template, "en", params)
    chinese = render(template, "zh", params)
    assert "{" not in english
    assert "{" not in chinese
    if "{location}" in TEMPLATES[template]["en"]:
        assert "Location: unknown" in english
        assert "未知" in chinese
    if "{level}" in TEMPLATES[template]["zh"]:
        assert "红色" in chinese


def _events(keys: list[str]) -> st.SearchStrategy[Event]:
    times = st.integers(min_value=0, max_value=3600).map(at)
    key = st.sampled_from(keys)
    return st.one_of(
        st.builds(Deadline, at=times),
        st.builds(
            CallEnded,
            at=times,
            key=key,
            status=st.sampled_from(["completed", "busy", "no-answer", "failed"]),
            answered_by=st.sampled_from([None, "human", "machine_start"]),
            confirmed=st.booleans(),
        ),
        st.builds(SendFailed, at=times, key=key, code=st.sampled_from([None, 21610, 30003])),
        st.builds(Acknowledged, at=times, by=st.just("c1"), via=st.just("api")),
        st.builds(Cancelled, at=times, by=st.just("wb-0001"), via=st.just("device")),
        st.builds(
            Raised,
            at=times,
            alert=st.sampled_from([alert(AlertLevel.ORANGE), alert(AlertLevel.RED)]),
        ),
    )


@settings(max_examples=200, deadline=None)
@given(
    level=st.sampled_from([AlertLevel.ORANGE, AlertLevel.RED]),
    script=st.lists(st.integers(min_value=0, max_value=10_000), max_size=25),
    data=st.data(),
)
def test_any_event_sequence_keeps_to_the_table_and_never_repeats_a_key(
    level: AlertLevel, script: list[int], data: st.DataObject
) -> None:
    current = opened(level)
    ladder = current.ladder
    keys = [a.key for a in current.actions] or ["none"]
    seen = set(keys)
    for _ in script:
        before = ladder.phase
        event = data.draw(_events(sorted(seen) or keys))
        result = feed(ladder, event)  # raises IllegalTransitionError if off the table
        if result.ladder.phase != before:
            assert result.ladder.phase in TRANSITIONS[(before, event.__struct_config__.tag)]  # type: ignore[index]
        if before in FINAL:
            assert result.actions == ()
        new = [a.key for a in result.actions]
        assert not seen & set(new)
        seen |= set(new)
        ladder = result.ladder
