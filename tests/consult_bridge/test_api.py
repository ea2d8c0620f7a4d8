"""The API's alert-ladder, grant and enrolment endpoints over real stores (SQLite, PostgreSQL).

The app is called in process through httpx's ASGI transport (every request goes through
FastAPI's routing, validation and the bearer check as over a socket); ``vigil api`` as a
real server is tested end to end in ``tests/vigil/test_api_service.py``.

The authorization matrix: for each role and grant state, each ladder endpoint answers as
the rules say (``consult_bridge/access.py``); nothing is read without a grant in force.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.ladder import LadderPolicy, open_ladder
from alerting.ladder_store import (
    LadderStore,
    PostgresLadderStore,
    SqliteLadderStore,
    ladder_db_path,
)
from consult_bridge.app import create_app
from consult_bridge.auth import Principal, issue_token
from schemas import Alert, AlertLevel
from storage import open_store
from storage.access import AccessStore, PostgresAccessStore, SqliteAccessStore
from tests.alerting.people import mary
from vigil.api import StoreLadderDesk

SECRET = "k" * 32
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
MARY = mary(LadderPolicy(grace_s=30))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


class Stores:
    def __init__(self, ladders: LadderStore, access: AccessStore) -> None:
        self.ladders = ladders
        self.access = access


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "sqlite":
        db = tmp_path / "vigil.db"
        url = f"sqlite:///{db}"
        main = open_store(url)
        main.migrate()
        main.close()
        made = Stores(SqliteLadderStore(ladder_db_path(db)), SqliteAccessStore(db))
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        main = open_store(dsn)
        main.migrate()
        main.close()
        made = Stores(PostgresLadderStore(dsn), PostgresAccessStore(dsn))
    made.ladders.put_wearer_alerting("wb-0001", MARY)
    yield made
    made.ladders.close()
    made.access.close()


@pytest.fixture
async def client(stores: Stores) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock()
    app = create_app(
        secret=SECRET, ladders=StoreLadderDesk(stores.ladders), access=stores.access, clock=clock
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, clock


def bearer(**principal: Any) -> dict[str, str]:
    token = issue_token(Principal(**principal), SECRET, now=NOW, ttl_s=24 * 3600)
    return {"Authorization": f"Bearer {token}"}


MARY_SELF = bearer(sub="mary", role="wearer", device="wb-0001", name="Mary")
OTHER_WEARER = bearer(sub="joe", role="wearer", device="wb-0002")
ANNA = bearer(sub="anna", role="family", name="Anna")
BEN = bearer(sub="ben", role="family", name="Ben")
DORA = bearer(sub="dora", role="family")
CARL = bearer(sub="carl", role="family")
DR_LI = bearer(sub="dr-li", role="clinician", tenant="clinic-a", name="Dr Li")
DR_ROSS = bearer(sub="dr-ross", role="clinician", tenant="clinic-b")
ADMIN_A = bearer(sub="admin-a", role="admin", tenant="clinic-a")
ADMIN_B = bearer(sub="admin-b", role="admin", tenant="clinic-b")


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


async def set_up_access(http: httpx.AsyncClient) -> None:
    """Mary's grants (Anna: alerts; Ben: vitals only; Dora: alerts, ended) and her clinic."""
    grants = [
        ("anna", ["alerts", "vitals"], None),
        ("ben", ["vitals"], None),
        ("dora", ["alerts"], (NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1))),
    ]
    for viewer, categories, window in grants:
        body: dict[str, Any] = {"viewer": viewer, "categories": categories}
        if window:
            body["not_before"], body["not_after"] = (t.isoformat() for t in window)
        made = await http.post("/v1/wearers/wb-0001/grants", json=body, headers=MARY_SELF)
        assert made.status_code == 201, made.text
    enrolled = await http.put("/v1/wearers/wb-0001/enrolment", headers=ADMIN_A)
    assert enrolled.json() == {"device_id": "wb-0001", "tenant": "clinic-a"}


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
    assert (sos.status_code, sos.json()["detail"]) == (422, "sos alerts cannot be snoozed")
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
    }
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["bearerFormat"] == "JWT"
