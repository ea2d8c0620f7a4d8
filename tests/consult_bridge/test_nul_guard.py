"""NUL characters are refused at the door with 422 (schemathesis found one reaching
PostgreSQL as a 500): in the path, the query, a form and a JSON body; other text passes."""

from __future__ import annotations

import httpx

from tests.consult_bridge.conftest import DR_LI, MARY_SELF, Clock, Stores, set_up_access


async def test_nul_anywhere_is_a_422_and_lookalikes_pass(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    refused = [
        await http.post("/v1/token", data={"username": "\x00", "password": "x"}),
        await http.get("/v1/wearers/wb-0001/records/vitals?since=%00", headers=MARY_SELF),
        await http.get("/v1/wearers/wb%000001/ladders", headers=MARY_SELF),
        await http.post(
            "/v1/wearers/wb-0001/consultations",
            content=b'{"reason": "pain\\u0000"}',
            headers={**DR_LI, "Content-Type": "application/json"},
        ),
    ]
    for answer in refused:
        assert answer.status_code == 422, answer.request.url
        assert answer.json()["detail"][0]["msg"] == "text may not contain NUL characters"
    # "%00" inside JSON text is just text, not an encoded NUL.
    fine = await http.post(
        "/v1/wearers/wb-0001/consultations",
        json={"reason": "dose cut 100%00 by error"},
        headers=DR_LI,
    )
    assert fine.status_code == 201, fine.text
    assert fine.json()["reason"] == "dose cut 100%00 by error"
