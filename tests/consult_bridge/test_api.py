"""The API's alert-ladder, grant and enrolment endpoints over real stores (SQLite, PostgreSQL).

The authorization matrix: for each role and grant state, each ladder endpoint answers as
the rules say (``consult_bridge/access.py``); nothing is read without a grant in force.
The stores and callers are in ``conftest.py``.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from alerting.ladder import open_ladder
from consult_bridge.auth import Principal, issue_token
from schemas import Alert, AlertLevel
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ADMIN_B,
    ANNA,
    BEN,
    CARL,
    DORA,
    DR_LI,
    DR_ROSS,
    MARY,
    MARY_SELF,
    NOW,
    OTHER_WEARER,
    Clock,
    Stores,
    set_up_access,
)


def sos_ladder(stores: Stores, n: int = 1) -> str:
    alert = Alert(
        alert_id=f"wb-0001:1:{n}:sos:red",
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=NOW,
        source="sos",
        summary="SOS key held",
    )
    stepped = open_ladder(alert, MARY.directory, [], MARY.policy, now=NOW)
    stores.ladders.save(stepped.ladder, stepped.actions, alert_id=alert.alert_id)
    return stepped.ladder.ladder_id


# Expected status per caller for: list ladders, list snoozes, snooze stress, ack, cancel.
# 404: may not see the wearer's alerts; 403: sees them, but the role may not act so.
MATRIX = {
    "the wearer": (MARY_SELF, (200, 200, 200, 403, 202)),
    "another wearer": (OTHER_WEARER, (404, 404, 404, 404, 404)),
    "family, granted alerts": (ANNA, (200, 200, 200, 202, 202)),
    "family, granted vitals only": (BEN, (404, 404, 404, 404, 404)),
    "family, grant ended": (DORA, (404, 404, 404, 404, 404)),
    "family, no grant": (CARL, (404, 404, 404, 404, 404)),
    "clinician of the clinic": (DR_LI, (200, 200, 200, 202, 202)),
    "clinician of another clinic": (DR_ROSS, (404, 404, 404, 404, 404)),
    "admin of the clinic": (ADMIN_A, (404, 404, 404, 404, 404)),
}


@pytest.mark.parametrize("caller", sorted(MATRIX))
async def test_who_may_read_and_act_on_a_wearers_alerts(
    caller: str, client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    headers, expected = MATRIX[caller]
    ladder_id = sos_ladder(stores)
    answers = (
        await http.get("/v1/wearers/wb-0001/ladders", headers=headers),
        await http.get("/v1/wearers/wb-0001/snoozes", headers=headers),
        await http.put("/v1/wearers/wb-0001/snoozes/stress", json={"minutes": 30}, headers=headers),
        await http.post(f"/v1/ladders/{ladder_id}/ack", headers=headers),
        await http.post(f"/v1/ladders/{ladder_id}/cancel", headers=headers),
    )
    assert tuple(a.status_code for a in answers) == expected, [a.text for a in answers]
    if expected[0] == 200:
        (shown,) = answers[0].json()
        assert (shown["ladder_id"], shown["phase"]) == (ladder_id, "grace")
    queued = [a.json()["kind"] for a in answers[3:] if a.status_code == 202]
    assert [r.kind for r in stores.ladders.pending_requests()] == queued
    if expected[2] == 200:
        (snooze,) = stores.ladders.snoozes_of("wb-0001", NOW)
        assert snooze.what == "stress"


async def test_without_a_valid_token_nothing_is_answered(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    sos_ladder(stores)
    missing = await http.get("/v1/wearers/wb-0001/ladders")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = {
        "Authorization": "Bearer "
        + issue_token(
            Principal(sub="mary", role="wearer", device="wb-0001"), "f" * 32, now=NOW, ttl_s=60
        )
    }
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=forged)).status_code == 401
    clock.now = NOW + dt.timedelta(days=2)  # MARY_SELF expired after a day
    expired = await http.get("/v1/wearers/wb-0001/ladders", headers=MARY_SELF)
    assert (expired.status_code, "expired" in expired.text) == (401, True)


async def test_an_acknowledgement_is_queued_once_the_ladder_ends_it_is_refused(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    ladder_id = sos_ladder(stores)
    acked = await http.post(f"/v1/ladders/{ladder_id}/ack", headers=ANNA)
    assert acked.status_code == 202
    (request,) = stores.ladders.pending_requests()
    assert (request.ladder_id, request.kind, request.by, request.at) == (
        ladder_id,
        "ack",
        "Anna",
        NOW,
    )
    # The driver applies it (here by hand): the ladder ends, and the API then says so.
    from alerting.ladder import Acknowledged, step

    ladder = stores.ladders.get(ladder_id)
    assert ladder is not None
    done = step(ladder, Acknowledged(at=NOW, by="Anna", via="api"), MARY.policy)
    stores.ladders.save(done.ladder, done.actions)
    again = await http.post(f"/v1/ladders/{ladder_id}/cancel", headers=DR_LI)
    assert again.status_code == 409
    assert "acknowledged" in again.json()["detail"]
    unknown = await http.post("/v1/ladders/wb-0001/sos/nothing/ack", headers=ANNA)
    assert unknown.status_code == 404


async def test_unsafe_or_unknown_snoozes_are_refused_with_the_reason(
    client: tuple[httpx.AsyncClient, Clock],
) -> None:
    http, _ = client
    await set_up_access(http)
    sos = await http.put("/v1/wearers/wb-0001/snoozes/sos", json={"minutes": 30}, headers=ANNA)
    assert (sos.status_code, sos.json()["detail"][0]["msg"]) == (
        422,
        "sos alerts cannot be snoozed",
    )
    long = await http.put(
        "/v1/wearers/wb-0001/snoozes/pulse:high", json={"minutes": 13 * 60}, headers=ANNA
    )
    assert long.status_code == 422
    made = await http.put(
        "/v1/wearers/wb-0001/snoozes/pulse:high",
        json={"minutes": 45, "reason": "out running"},
        headers=ANNA,
    )
    assert made.json()["by"] == "Anna"
    assert made.json()["until"].startswith("2026-11-29T12:45")
    cleared = await http.delete("/v1/wearers/wb-0001/snoozes/pulse:high", headers=ANNA)
    assert cleared.status_code == 204
    again = await http.delete("/v1/wearers/wb-0001/snoozes/pulse:high", headers=ANNA)
    assert again.status_code == 404


async def test_only_the_wearer_manages_grants_and_a_revoked_grant_reads_nothing(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    sos_ladder(stores)
    listed = await http.get("/v1/wearers/wb-0001/grants", headers=MARY_SELF)
    by_viewer = {g["viewer"]: g for g in listed.json()}
    assert sorted(by_viewer) == ["anna", "ben", "dora"]
    assert by_viewer["dora"]["not_after"].startswith("2026-11-28T12:00")
    for other in (ANNA, DR_LI, ADMIN_A, OTHER_WEARER):
        assert (await http.get("/v1/wearers/wb-0001/grants", headers=other)).status_code == 404
    bad_window = await http.post(
        "/v1/wearers/wb-0001/grants",
        json={
            "viewer": "carl",
            "categories": ["alerts"],
            "not_before": NOW.isoformat(),
            "not_after": NOW.isoformat(),
        },
        headers=MARY_SELF,
    )
    assert bad_window.status_code == 422
    unknown_category = await http.post(
        "/v1/wearers/wb-0001/grants",
        json={"viewer": "carl", "categories": ["diary"]},
        headers=MARY_SELF,
    )
    assert unknown_category.status_code == 422
    anna = by_viewer["anna"]["grant_id"]
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=ANNA)).status_code == 200
    revoked = await http.delete(f"/v1/wearers/wb-0001/grants/{anna}", headers=MARY_SELF)
    assert revoked.status_code == 204
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=ANNA)).status_code == 404
    again = await http.delete(f"/v1/wearers/wb-0001/grants/{anna}", headers=MARY_SELF)
    assert again.status_code == 404


async def test_a_clinic_enrols_its_wearers_and_never_sees_anothers(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    sos_ladder(stores)
    assert (await http.put("/v1/wearers/wb-0001/enrolment", headers=DR_LI)).status_code == 403
    assert (await http.put("/v1/wearers/wb-0001/enrolment", headers=ADMIN_A)).status_code == 200
    assert (await http.put("/v1/wearers/wb-0001/enrolment", headers=ADMIN_A)).status_code == 200
    # Clinic B cannot take clinic A's wearer, nor learn that it exists.
    taken = await http.put("/v1/wearers/wb-0001/enrolment", headers=ADMIN_B)
    assert (taken.status_code, taken.json()["detail"]) == (404, "no such wearer")
    assert stores.access.clinic_of("wb-0001") == "clinic-a"
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=DR_ROSS)).status_code == 404
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=DR_LI)).status_code == 200


async def test_the_openapi_description_names_every_endpoint(
    client: tuple[httpx.AsyncClient, Clock],
) -> None:
    http, _ = client
    spec = (await http.get("/openapi.json")).json()
    assert set(spec["paths"]) == {
        "/v1/wearers/{device_id}/ladders",
        "/v1/ladders/{ladder_id}/ack",
        "/v1/ladders/{ladder_id}/cancel",
        "/v1/wearers/{device_id}/snoozes",
        "/v1/wearers/{device_id}/snoozes/{what}",
        "/v1/wearers/{device_id}/grants",
        "/v1/wearers/{device_id}/grants/{grant_id}",
        "/v1/wearers/{device_id}/enrolment",
        "/v1/wearers/{device_id}/emergency-access",
        "/v1/wearers/{device_id}/records/{category}",
        "/v1/wearers/{device_id}/audit",
        "/v1/me/notices",
        "/v1/wearers/{device_id}/consultations",
        "/v1/consultations",
        "/v1/consultations/{consult_id}",
        "/v1/consultations/{consult_id}/{action}",
        "/v1/consultations/{consult_id}/bundle",
        "/v1/wearers/{device_id}/fhir",
        "/v1/consultations/{consult_id}/play-links",
        "/v1/consultations/{consult_id}/publication-consent",
        "/v1/play-links/{link_id}",
        "/v1/play-links/{link_id}/publish",
        "/v1/play/{token}",
        "/v1/doctors",
        "/v1/doctors/{sub}",
        "/v1/doctors/{sub}/slots",
        "/v1/consultations/{consult_id}/matches",
        "/v1/slots/{slot_id}/booking",
        "/v1/wearers/{device_id}/profile",
        "/v1/wearers/{device_id}/profile/record",
        "/v1/wearers/{device_id}/profile/conditions",
        "/v1/token",
    }
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["bearerFormat"] == "JWT"
