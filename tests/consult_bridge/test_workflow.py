"""The consultation workflow's transition table (consult_bridge/workflow.py).

Every state x every action: the table's transitions go through; every other one is
refused with 409 naming the actions allowed. Who may act (403), what an action needs
(422), whom each transition tells, sessions switched between live and recorded, and a
doctor who misses the planned time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consult_bridge.workflow import (
    ACTIONS,
    RULES,
    Act,
    Actor,
    Refused,
    allowed_actions,
    apply,
    overdue,
    raise_request,
)
from schemas.consultation import CONSULT_STATES, Consultation, ConsultState

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
VIGIL = Actor(sub="vigil", role="system")
REVIEWER = Actor(sub="rev-a", role="reviewer", name="Ms Rev")
DR_LI = Actor(sub="dr-li", role="clinician", name="Dr Li")
DR_WU = Actor(sub="dr-wu", role="clinician", name="Dr Wu")
DR_SUBMITTER = Actor(sub="dr-gp", role="clinician")
MARY = Actor(sub="mary", role="wearer", device="wb-0001")
ANNA = Actor(sub="anna", role="family")


def act(action: str, by: Actor, minutes: float = 0, **fields: Any) -> Act:
    return Act(action=action, by=by, at=T0 + dt.timedelta(minutes=minutes), **fields)


def raised(red: bool = True) -> Consultation:
    return raise_request(
        device_id="wb-0001",
        tenant="clinic-a",
        reason="red alert: SOS key held",
        by=VIGIL,
        at=T0,
        red=red,
        alert_id="wb-0001:1:7:sos:red",
    ).consultation


APPROVE: dict[str, Any] = {"doctor": "dr-li", "planned_at": T0 + dt.timedelta(minutes=30)}
# A way into each state from a new request: (action, actor, fields).
PATHS: dict[ConsultState, list[tuple[str, Actor, dict[str, Any]]]] = {
    "submitted": [],
    "pending_review": [("review", REVIEWER, {})],
    "returned": [("review", REVIEWER, {}), ("return", REVIEWER, {"reason": "add the ECG"})],
    "approved": [("review", REVIEWER, {}), ("approve", REVIEWER, APPROVE)],
    "reissued": [
        ("review", REVIEWER, {}),
        ("approve", REVIEWER, APPROVE),
        ("unavailable", DR_LI, {"reason": "in theatre"}),
    ],
    "in_session": [
        ("review", REVIEWER, {}),
        ("approve", REVIEWER, APPROVE),
        ("start", DR_LI, {"mode": "live"}),
    ],
    "ended": [
        ("review", REVIEWER, {}),
        ("approve", REVIEWER, APPROVE),
        ("start", DR_LI, {"mode": "live"}),
        ("end", DR_LI, {"diagnosis": "vasovagal syncope", "medical_record": "seen, well"}),
    ],
    "cancelled": [("cancel", MARY, {"reason": "I am fine"})],
}


def in_state(state: ConsultState) -> Consultation:
    consult = raised()
    for n, (action, by, fields) in enumerate(PATHS[state]):
        consult = apply(consult, act(action, by, n, **fields)).consultation
    assert consult.state == state
    return consult


def test_every_state_is_reachable_and_the_table_covers_every_action() -> None:
    assert set(PATHS) == set(CONSULT_STATES)
    assert set(ACTIONS) == set(RULES)
    assert allowed_actions("ended") == allowed_actions("cancelled") == ()


# A caller and fields that make each action valid wherever the table allows it.
VALID: dict[str, tuple[Actor, dict[str, Any]]] = {
    "review": (REVIEWER, {}),
    "approve": (REVIEWER, APPROVE),
    "return": (REVIEWER, {"reason": "add the ECG"}),
    "resubmit": (DR_SUBMITTER, {}),
    "cancel": (REVIEWER, {"reason": "duplicate"}),
    "change_doctor": (REVIEWER, {"doctor": "dr-wu"}),
    "unavailable": (DR_LI, {"reason": "in theatre"}),
    "reschedule": (REVIEWER, {"planned_at": T0 + dt.timedelta(hours=2)}),
    "start": (DR_LI, {"mode": "both"}),
    "switch_mode": (DR_LI, {"mode": "recorded"}),
    "join": (ANNA, {}),
    "end": (DR_LI, {"diagnosis": "AF", "medical_record": "anticoagulation started"}),
}


@pytest.mark.parametrize("state", CONSULT_STATES)
@pytest.mark.parametrize("action", sorted(VALID))
def test_each_action_in_each_state_is_taken_or_refused_with_409(
    state: ConsultState, action: str
) -> None:
    consult = in_state(state)
    by, fields = VALID[action]
    attempt = act(action, by, 10, **fields)
    if state in RULES[action].sources:
        stepped = apply(consult, attempt)
        expected = RULES[action].target or state
        assert stepped.consultation.state == expected
        assert stepped.consultation.history[-1].action == action
        assert stepped.consultation.version == consult.version + 1
    else:
        with pytest.raises(Refused) as refused:
            apply(consult, attempt)
        assert refused.value.status == 409
        assert refused.value.allowed == allowed_actions(state)
        for name in refused.value.allowed:
            assert name in str(refused.value)


def test_a_whole_consultation_live_then_both_then_recorded_then_ended() -> None:
    consult = raised()
    assert (consult.state, consult.priority) == ("submitted", "green")
    steps = [
        act("review", REVIEWER, 1),
        act("approve", REVIEWER, 2, **APPROVE),
        act("start", DR_LI, 30, mode="live"),
        act("join", MARY, 31),
        act("join", ANNA, 32),
        act("switch_mode", DR_LI, 35, mode="both"),
        act("switch_mode", DR_LI, 40, mode="recorded"),
        act("end", DR_LI, 50, diagnosis="paroxysmal AF", medical_record="ECG reviewed; referred"),
    ]
    told: list[list[str]] = []
    for step in steps:
        stepped = apply(consult, step)
        consult = stepped.consultation
        told.append([n.recipient for n in stepped.notices])
        if step.action == "switch_mode" and step.mode == "both":
            assert consult.viewers == ("device:wb-0001", "user:anna")  # both keeps viewers
    assert consult.state == "ended"
    assert consult.viewers == ()
    # Live to recorded ended the viewers' live session: each was told.
    assert "device:wb-0001" in told[6]
    assert "user:anna" in told[6]
    (recording,) = consult.recordings  # recorded from "both" at 35 until the end at 50
    assert (recording.started_at, recording.ended_at) == (
        T0 + dt.timedelta(minutes=35),
        T0 + dt.timedelta(minutes=50),
    )
    assert consult.report is not None
    assert consult.report.diagnosis == "paroxysmal AF"
    assert [s.after for s in consult.history] == [
        "submitted",
        "pending_review",
        "approved",
        "in_session",
        "in_session",
        "in_session",
        "in_session",
        "in_session",
        "ended",
    ]
    # Nobody is told of their own action.
    for step, recipients in zip(steps, told, strict=True):
        own = f"device:{step.by.device}" if step.by.role == "wearer" else f"user:{step.by.sub}"
        assert own not in recipients


def test_only_those_named_may_act() -> None:
    pending = in_state("pending_review")
    for outsider in (ANNA, MARY, DR_LI):
        with pytest.raises(Refused) as refused:
            apply(pending, act("approve", outsider, **APPROVE))
        assert refused.value.status == 403
    approved = in_state("approved")
    with pytest.raises(Refused) as other_doctor:
        apply(approved, act("start", DR_WU, mode="live"))
    assert other_doctor.value.status == 403
    assert "assigned doctor" in str(other_doctor.value)
    with pytest.raises(Refused) as family_cancel:
        apply(in_state("submitted"), act("cancel", ANNA, reason="no"))
    assert family_cancel.value.status == 403


@pytest.mark.parametrize(
    ("state", "action", "by", "fields"),
    [
        ("pending_review", "approve", REVIEWER, {"doctor": "dr-li"}),
        ("pending_review", "approve", REVIEWER, {"planned_at": T0}),
        ("pending_review", "return", REVIEWER, {"reason": "  "}),
        ("submitted", "cancel", MARY, {}),
        ("approved", "change_doctor", REVIEWER, {"doctor": "dr-li"}),
        ("approved", "start", DR_LI, {}),
        ("in_session", "switch_mode", DR_LI, {"mode": "live"}),
        ("in_session", "end", DR_LI, {"diagnosis": "AF"}),
        ("reissued", "reschedule", REVIEWER, {"doctor": "dr-wu"}),
    ],
)
def test_an_action_missing_what_it_needs_is_refused_with_422(
    state: ConsultState, action: str, by: Actor, fields: dict[str, Any]
) -> None:
    with pytest.raises(Refused) as refused:
        apply(in_state(state), act(action, by, **fields))
    assert refused.value.status == 422


def test_joining_needs_a_live_session() -> None:
    consult = in_state("approved")
    recorded = apply(consult, act("start", DR_LI, mode="recorded")).consultation
    with pytest.raises(Refused) as refused:
        apply(recorded, act("join", ANNA))
    assert (refused.value.status, "not live" in str(refused.value)) == (422, True)


def test_changing_the_doctor_tells_both_doctors() -> None:
    consult = in_state("approved")
    stepped = apply(consult, act("change_doctor", REVIEWER, doctor="dr-wu"))
    assert stepped.consultation.doctor == "dr-wu"
    recipients = {n.recipient for n in stepped.notices}
    assert {"user:dr-li", "user:dr-wu", "device:wb-0001"} <= recipients
    assert "user:rev-a" not in recipients  # the reviewer acted
    assert all("dr-wu (was dr-li)" in n.text for n in stepped.notices)


def test_a_missed_planned_time_reissues_the_request_for_another_doctor() -> None:
    consult = in_state("approved")
    planned = consult.planned_at
    assert planned is not None
    assert overdue(consult, planned + dt.timedelta(minutes=14), grace_s=900) is None
    missed = overdue(consult, planned + dt.timedelta(minutes=15), grace_s=900)
    assert missed is not None
    stepped = apply(consult, missed)
    assert stepped.consultation.state == "reissued"
    assert stepped.consultation.history[-1].by == "vigil"
    assert "user:dr-li" in {n.recipient for n in stepped.notices}
    assert overdue(stepped.consultation, planned + dt.timedelta(hours=5), grace_s=900) is None
    later = planned + dt.timedelta(hours=2)
    again = apply(
        stepped.consultation, act("reschedule", REVIEWER, 60, planned_at=later, doctor="dr-wu")
    )
    assert (again.consultation.state, again.consultation.doctor) == ("approved", "dr-wu")
    assert again.consultation.planned_at == later
    assert {"user:dr-li", "user:dr-wu"} <= {n.recipient for n in again.notices}


def test_a_routine_case_and_a_wearers_own_request() -> None:
    routine = raised(red=False)
    assert routine.priority == "routine"
    own = raise_request(
        device_id="wb-0001", tenant="clinic-a", reason="palpitations", by=MARY, at=T0
    )
    assert own.notices == ()  # not told of their own request
    unknown = act("teleport", REVIEWER)
    with pytest.raises(Refused) as refused:
        apply(routine, unknown)
    assert refused.value.status == 422
