"""The authorization matrix: every endpoint that reads a wearer's data, for every kind of
caller and grant state, on SQLite and PostgreSQL; nothing is read without a grant in force.

The expectations are written out by hand from the rules (docs/api.md, "Who may see what"):
which categories each caller sees of Mary, and which roles each endpoint serves; they are
not computed by the code under test.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from schemas import Alert, AlertLevel
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    BEN,
    CARL,
    DORA,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    OTHER_WEARER,
    REVIEWER_A,
    Clock,
    Stores,
    bearer,
    set_up_access,
)
from tests.consult_bridge.test_records import store_a_day

ALL = {"vitals", "steps", "location", "ecg", "sleep", "indices", "alerts", "profile"}
ELLA = bearer(sub="ella", role="family", name="Ella")  # granted everything, from tomorrow
# What each caller sees of Mary (wb-0001), by the rules and set_up_access's grants.
SEES: dict[str, tuple[dict[str, str], set[str], str]] = {
    "the wearer": (MARY_SELF, ALL, "wearer"),
    "another wearer": (OTHER_WEARER, set(), "wearer"),
    "family granted alerts and vitals": (ANNA, {"alerts", "vitals"}, "family"),
    "family granted vitals": (BEN, {"vitals"}, "family"),
    "family whose grant ended": (DORA, set(), "family"),
    "family with a grant not yet begun": (ELLA, set(), "family"),
    "family with no grant": (CARL, set(), "family"),
    "the clinic's clinician": (DR_LI, ALL, "clinician"),
    "the clinic's reviewer": (REVIEWER_A, ALL, "reviewer"),
    "another clinic's clinician": (DR_ROSS, set(), "clinician"),
    "the clinic's admin": (ADMIN_A, set(), "admin"),
}
# Endpoint -> (the category it reads, the roles it serves when the category is seen).
READERS = {"wearer", "family", "clinician", "reviewer"}
ENDPOINTS: dict[str, tuple[str, set[str]]] = {
    "/v1/wearers/wb-0001/ladders": ("alerts", READERS),
    "/v1/wearers/wb-0001/snoozes": ("alerts", READERS),
    "/v1/wearers/wb-0001/records/vitals": ("vitals", READERS),
    "/v1/wearers/wb-0001/records/steps": ("steps", READERS),
    "/v1/wearers/wb-0001/records/location": ("location", READERS),
    "/v1/wearers/wb-0001/records/ecg": ("ecg", READERS),
    "/v1/wearers/wb-0001/records/sleep": ("sleep", READERS),
    "/v1/wearers/wb-0001/records/indices": ("indices", READERS),
    "/v1/wearers/wb-0001/profile": ("profile", READERS),
    "/v1/wearers/wb-0001/consultations": ("alerts", {"wearer", "clinician", "reviewer"}),
}
# The wearer's own pages: nobody else, whatever they are granted.
OWN_ONLY = ["/v1/wearers/wb-0001/grants", "/v1/wearers/wb-0001/audit"]


@pytest.mark.parametrize("caller", sorted(SEES))
async def test_each_caller_reads_exactly_what_the_rules_allow(
    caller: str, client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    future = {
        "viewer": "ella",
        "categories": sorted(ALL),
        "not_before": (NOW + dt.timedelta(days=1)).isoformat(),
    }
    assert (
        await http.post("/v1/wearers/wb-0001/grants", json=future, headers=MARY_SELF)
    ).status_code == 201
    store_a_day(stores)
    with stores.main.transaction() as tx:
        tx.add_alerts(
            [
                Alert(
                    alert_id="wb-0001:1:3:news2:orange",
                    device_id="wb-0001",
                    level=AlertLevel.ORANGE,
                    raised_at=NOW - dt.timedelta(hours=1),
                    source="news2",
                    summary="NEWS2 5",
                )
            ]
        )
    headers, sees, role = SEES[caller]
    for path, (category, roles) in ENDPOINTS.items():
        answer = await http.get(path, headers=headers)
        if category not in sees:
            expected = 404
        elif role not in roles:
            expected = 403
        else:
            expected = 200
        assert answer.status_code == expected, (path, answer.text)
    for path in OWN_ONLY:
        expected = 200 if caller == "the wearer" else 404
        assert (await http.get(path, headers=headers)).status_code == expected, path
    # The FHIR export holds only what the caller sees: 404 when nothing at all.
    export = await http.get("/v1/wearers/wb-0001/fhir", headers=headers)
    if not sees:
        assert export.status_code == 404
    else:
        kinds = {e["resource"]["resourceType"] for e in export.json()["entry"]}
        assert ("Flag" in kinds) == ("alerts" in sees)
        assert ("Observation" in kinds) == bool(sees & {"vitals", "steps", "location", "ecg"})
