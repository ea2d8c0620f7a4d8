"""Consultations through the API on SQLite and PostgreSQL: flagged alerts raise requests,
a clinic works them from review to the report, every refused transition is a 409 naming
what is allowed, and the triggering episode comes as a FHIR Bundle that validates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from consult_bridge.workflow import RULES, Act, Actor, allowed_actions, apply
from schemas import Alert, AlertLevel
from schemas.consultation import CONSULT_STATES
from storage.access import AccessStore
from storage.consultations import ConsultationStore
from storage.notices import NoticeBoard
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    BEN,
    CARL,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    REVIEWER_A,
    Clock,
    Stores,
    bearer,
    set_up_access,
)
from tests.consult_bridge.test_records import store_a_day
from vigil.consult_intake import ConsultIntake

bundle_model = pytest.importorskip(
    "fhir.resources.R4B.bundle", reason="fhir.resources is a test dependency (.[test])"
)
DR_WU = bearer(sub="dr-wu", role="clinician", tenant="clinic-a", name="Dr Wu")


def alert(n: int, level: AlertLevel, source: str, device_id: str = "wb-0001") -> Alert:
    return Alert(
        alert_id=f"{device_id}:1:{n}:{source}:{level.label}",
        device_id=device_id,
        level=level,
        raised_at=NOW - dt.timedelta(minutes=50 - n),
        source=source,
        summary=f"{source} {level.label}",
    )


def intake(stores: Stores, clock: Clock) -> ConsultIntake:
    return ConsultIntake(
        ConsultationStore(stores.desk),
        AccessStore(stores.desk),
        NoticeBoard(stores.desk),
        grace_s=900,
        clock=clock,
    )


def store_alerts(stores: Stores, *alerts: Alert) -> None:
    with stores.main.transaction() as tx:
        tx.add_alerts(list(alerts))


async def test_flagged_alerts_raise_one_request_per_wearer_in_the_green_channel(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)  # Mary (wb-0001) is clinic A's; wb-0002 is nobody's
    store_alerts(
        stores,
        alert(1, AlertLevel.YELLOW, "news2"),
        alert(2, AlertLevel.ORANGE, "geofence"),
        alert(3, AlertLevel.ORANGE, "news2"),
        alert(4, AlertLevel.RED, "sos", "wb-0002"),
    )
    taker = intake(stores, clock)
    assert taker.take_in() == 1
    store_alerts(stores, alert(5, AlertLevel.YELLOW, "af"), alert(6, AlertLevel.RED, "news2"))
    # A second API process's intake, side by side: nothing twice.
    assert intake(stores, clock).take_in() == 2
    assert taker.take_in() == 0
    queue = (await http.get("/v1/consultations", headers=REVIEWER_A)).json()
    (request,) = queue
    assert request["alert_ids"] == [
        "wb-0001:1:3:news2:orange",
        "wb-0001:1:5:af:yellow",
        "wb-0001:1:6:news2:red",
    ]
    assert (request["state"], request["priority"], request["created_by"]) == (
        "submitted",
        "green",  # the red re-flag moved it to the green channel
        "vigil",
    )
    assert [s["action"] for s in request["history"]] == ["submit", "flagged", "flagged"]
    notices = (await http.get("/v1/me/notices", headers=MARY_SELF)).json()
    texts = sorted(n["text"] for n in notices)
    assert texts == [
        "A consultation was requested for you: orange alert: news2 orange",
        "Flagged again: red alert: news2 red",
        "Flagged again: yellow alert: af yellow",
    ]
    # Clinic B and the unenrolled wearer: nothing.
    assert (await http.get("/v1/consultations", headers=DR_ROSS)).json() == []


async def test_a_red_case_from_review_to_the_report_through_the_api(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)
    store_a_day(stores)
    store_alerts(stores, alert(1, AlertLevel.ORANGE, "news2"))
    intake(stores, clock).take_in()
    store_alerts(stores, alert(2, AlertLevel.RED, "sos", "wb-0003"))
    routine = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "again"}, headers=DR_LI
    )
    assert routine.status_code == 409  # one open request per wearer: it names it
    ((request),) = (await http.get("/v1/consultations", headers=DR_LI)).json()
    cid = request["consult_id"]
    assert "open request exists: " + cid in routine.json()["detail"]
    assert request["allowed"] == ["review", "cancel"]

    async def act(action: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        return await http.post(f"/v1/consultations/{cid}/{action}", json=body, headers=headers)

    planned = NOW + dt.timedelta(minutes=30)
    steps = [
        ("review", REVIEWER_A, {}),
        ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned.isoformat()}),
        ("change_doctor", REVIEWER_A, {"doctor": "dr-wu"}),
        ("start", DR_WU, {"mode": "live"}),
        ("join", MARY_SELF, {}),
        ("join", ANNA, {}),
        ("switch_mode", DR_WU, {"mode": "both"}),
        ("switch_mode", DR_WU, {"mode": "recorded"}),
        ("end", DR_WU, {"diagnosis": "sinus tachycardia", "medical_record": "fluids; review"}),
    ]
    for n, (action, headers, body) in enumerate(steps):
        clock.now = NOW + dt.timedelta(minutes=n)
        done = await act(action, headers, **body)
        assert done.status_code == 200, (action, done.text)
        if action == "switch_mode" and body["mode"] == "both":
            assert done.json()["viewers"] == ["device:wb-0001", "user:anna"]
    final = (await http.get(f"/v1/consultations/{cid}", headers=MARY_SELF)).json()
    assert (final["state"], final["doctor"], final["viewers"], final["allowed"]) == (
        "ended",
        "dr-wu",
        [],
        [],
    )
    assert final["report"]["diagnosis"] == "sinus tachycardia"
    (recording,) = final["recordings"]
    assert recording["ended_at"] is not None
    # Both doctors heard of the change; Anna heard her live session end.
    li = (await http.get("/v1/me/notices", headers=DR_LI)).json()
    assert any("now dr-wu (was dr-li)" in n["text"] for n in li)
    anna = (await http.get("/v1/me/notices", headers=ANNA)).json()
    assert any("live session has ended" in n["text"] for n in anna)
    # Once ended, every action is refused with 409 and the (empty) allowed list.
    for action in RULES:
        refused = await act(action, DR_WU, reason="x", mode="live")
        assert refused.status_code == 409, action
        assert refused.json()["allowed"] == []
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    acted = [e["action"] for e in reversed(log) if e["category"] == "consultation"]
    assert acted[:3] == ["read", "review", "approve"]  # the read: Dr Li's queue
    assert "end" in acted


@pytest.mark.parametrize("state", CONSULT_STATES)
async def test_over_http_each_state_refuses_what_the_table_refuses(
    state: str, client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    made = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "palpitations"}, headers=DR_LI
    )
    cid = made.json()["consult_id"]
    planned = (NOW + dt.timedelta(hours=1)).isoformat()
    paths: dict[str, list[tuple[str, dict[str, str], dict[str, Any]]]] = {
        "submitted": [],
        "pending_review": [("review", REVIEWER_A, {})],
        "returned": [("review", REVIEWER_A, {}), ("return", REVIEWER_A, {"reason": "add ECG"})],
        "approved": [
            ("review", REVIEWER_A, {}),
            ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned}),
        ],
        "reissued": [
            ("review", REVIEWER_A, {}),
            ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned}),
            ("unavailable", DR_LI, {"reason": "in theatre"}),
        ],
        "in_session": [
            ("review", REVIEWER_A, {}),
            ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned}),
            ("start", DR_LI, {"mode": "live"}),
        ],
        "ended": [
            ("review", REVIEWER_A, {}),
            ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": planned}),
            ("start", DR_LI, {"mode": "live"}),
            ("end", DR_LI, {"diagnosis": "AF", "medical_record": "seen"}),
        ],
        "cancelled": [("cancel", MARY_SELF, {"reason": "I feel fine"})],
    }
    for action, headers, body in paths[state]:
        done = await http.post(f"/v1/consultations/{cid}/{action}", json=body, headers=headers)
        assert done.status_code == 200, done.text
    allowed = list(allowed_actions(state))  # type: ignore[arg-type]
    for action, rule in RULES.items():
        if state in rule.sources:
            continue
        refused = await http.post(f"/v1/consultations/{cid}/{action}", json={}, headers=DR_LI)
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["allowed"] == allowed
    shown = (await http.get(f"/v1/consultations/{cid}", headers=DR_LI)).json()
    assert shown["state"] == state


async def test_who_sees_and_who_acts_on_a_request(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)  # Anna: alerts granted; Ben: vitals; Carl: nothing
    made = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "dizzy spells"}, headers=MARY_SELF
    )
    assert made.status_code == 201
    cid = made.json()["consult_id"]
    for outsider in (DR_ROSS, ADMIN_A, BEN, CARL):
        assert (await http.get(f"/v1/consultations/{cid}", headers=outsider)).status_code == 404
        answer = await http.post(f"/v1/consultations/{cid}/review", json={}, headers=outsider)
        assert answer.status_code == 404
    assert (await http.get(f"/v1/consultations/{cid}", headers=ANNA)).status_code == 200
    as_anna = await http.post(f"/v1/consultations/{cid}/review", json={}, headers=ANNA)
    assert as_anna.status_code == 403  # she sees it; reviewing is a reviewer's
    as_doctor = await http.post(f"/v1/consultations/{cid}/review", json={}, headers=DR_LI)
    assert as_doctor.status_code == 403
    assert (await http.get("/v1/consultations", headers=ANNA)).status_code == 403
    missing = await http.post(f"/v1/consultations/{cid}/cancel", json={}, headers=MARY_SELF)
    assert missing.status_code == 422  # a reason is needed
    unknown = await http.post(f"/v1/consultations/{cid}/teleport", json={}, headers=DR_LI)
    assert unknown.status_code == 422
    nobody = await http.post(
        "/v1/wearers/wb-0002/consultations", json={"reason": "dizzy"}, headers=DR_LI
    )
    assert nobody.status_code == 404


async def test_a_missed_planned_time_reissues_the_request(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)
    made = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "palpitations"}, headers=DR_LI
    )
    cid = made.json()["consult_id"]
    planned = NOW + dt.timedelta(minutes=20)
    await http.post(f"/v1/consultations/{cid}/review", json={}, headers=REVIEWER_A)
    await http.post(
        f"/v1/consultations/{cid}/approve",
        json={"doctor": "dr-li", "planned_at": planned.isoformat()},
        headers=REVIEWER_A,
    )
    sweeper = intake(stores, clock)
    clock.now = planned + dt.timedelta(minutes=14)
    assert sweeper.sweep() == 0
    clock.now = planned + dt.timedelta(minutes=15)
    assert sweeper.sweep() == 1
    shown = (await http.get(f"/v1/consultations/{cid}", headers=REVIEWER_A)).json()
    assert (shown["state"], shown["history"][-1]["by"]) == ("reissued", "vigil")
    assert shown["allowed"] == ["cancel", "reschedule"]
    again = await http.post(
        f"/v1/consultations/{cid}/reschedule",
        json={"doctor": "dr-wu", "planned_at": (planned + dt.timedelta(hours=3)).isoformat()},
        headers=REVIEWER_A,
    )
    assert (again.json()["state"], again.json()["doctor"]) == ("approved", "dr-wu")
    # Two reviewers who read the same version: the second save loses.
    consults = ConsultationStore(stores.desk)
    current = consults.get(cid)
    assert current is not None
    reviewer = Actor(sub="rev-a", role="reviewer")
    first = apply(current, Act(action="change_doctor", by=reviewer, at=NOW, doctor="dr-li"))
    second = apply(current, Act(action="change_doctor", by=reviewer, at=NOW, doctor="dr-kim"))
    assert consults.save(first.consultation, current.version) is True
    assert consults.save(second.consultation, current.version) is False
    stored = consults.get(cid)
    assert stored is not None
    assert (stored.doctor, stored.version) == ("dr-li", current.version + 1)


async def test_the_triggering_episode_as_a_fhir_bundle_and_the_export_by_grant(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)
    store_a_day(stores)  # readings an hour before NOW
    red = Alert(
        alert_id="wb-0001:1:9:news2:red",
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=NOW - dt.timedelta(minutes=50),
        source="news2",
        summary="NEWS2 8",
    )
    store_alerts(stores, red)
    intake(stores, clock).take_in()
    ((request),) = (await http.get("/v1/consultations", headers=DR_LI)).json()
    raw = (
        await http.get(f"/v1/consultations/{request['consult_id']}/bundle", headers=DR_LI)
    ).json()
    bundle = bundle_model.Bundle.model_validate(raw)
    kinds = [e.resource.__resource_type__ for e in bundle.entry]
    assert kinds.count("Observation") == 7  # five vitals, the ECG strip, the GPS fix
    assert kinds.count("Flag") == 1
    assert kinds.count("ServiceRequest") == 1
    (service,) = [
        e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "ServiceRequest"
    ]
    assert (service["priority"], service["reasonCode"][0]["text"]) == ("stat", "red alert: NEWS2 8")
    assert (
        await http.get(f"/v1/consultations/{request['consult_id']}/bundle", headers=ANNA)
    ).status_code == 403

    # The export: Ben (vitals only) gets the vitals and nothing else; Carl nothing at all.
    ben = (await http.get("/v1/wearers/wb-0001/fhir", headers=BEN)).json()
    bundle_model.Bundle.model_validate(ben)
    codes = {
        e["resource"]["code"]["coding"][0]["code"]
        for e in ben["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    assert codes == {"8867-4", "59408-5", "9279-1", "85354-9", "8310-5"}
    assert {e["resource"]["resourceType"] for e in ben["entry"]} == {"Patient", "Observation"}
    assert (await http.get("/v1/wearers/wb-0001/fhir", headers=CARL)).status_code == 404
    mine = (await http.get("/v1/wearers/wb-0001/fhir", headers=MARY_SELF)).json()
    kinds_mine = {e["resource"]["resourceType"] for e in mine["entry"]}
    assert {"Flag", "ServiceRequest", "Observation"} <= kinds_mine
