"""Play links: signed, expiring, revocable, with an audience; published to a third-party
platform (a real local HTTP server here) only with the wearer's consent."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import msgspec
import pytest

from consult_bridge.play_links import BadLink, PlayClaim, link_key, read, sign
from tests.consult_bridge.conftest import (
    ANNA,
    CARL,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    REVIEWER_A,
    SECRET,
    Clock,
    Stores,
    set_up_access,
)
from vigil.education_webhook import WebhookPublisher

KEY = link_key("s" * 32)


def claim(**changes: Any) -> PlayClaim:
    made = PlayClaim(
        link_id="l1",
        consult_id="c1",
        recording_id="r1",
        audience="logged_in",
        expires_at=NOW + dt.timedelta(hours=1),
    )
    return msgspec.structs.replace(made, **changes)


def test_a_link_reads_back_and_any_change_or_expiry_is_refused() -> None:
    token = sign(claim(), KEY)
    assert read(token, KEY, now=NOW) == claim()
    payload, signature = token.split(".")
    widened = sign(claim(audience="anyone"), KEY).split(".")[0]
    with pytest.raises(BadLink, match="signature"):
        read(f"{widened}.{signature}", KEY, now=NOW)  # the audience widened, old signature
    with pytest.raises(BadLink, match="signature"):
        read(token, link_key("t" * 32), now=NOW)
    with pytest.raises(BadLink, match="expired"):
        read(token, KEY, now=NOW + dt.timedelta(hours=1))
    # Non-ASCII and lone surrogates too: a refused link, never a TypeError (was a 500).
    for junk in ("", "abc", ".", f"{payload}.", f".{signature}", "0.\x80", f"{payload}.\udc80"):
        with pytest.raises(BadLink):
            read(junk, KEY, now=NOW)


class Platform:
    """A third-party platform: a real HTTP server that checks the webhook's signature."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.status = 200
        self.received: list[dict[str, Any]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Vigil-Timestamp"]
                mac = hmac.new(
                    platform.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256
                )
                if self.headers["X-Vigil-Signature"] != f"sha256={mac.hexdigest()}":
                    self.send_response(401)
                else:
                    platform.received.append(json.loads(body))
                    self.send_response(platform.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/publish"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform(stores: Stores) -> Iterator[Platform]:
    made = Platform("a-platform-secret")
    stores.publisher = WebhookPublisher(made.url, "a-platform-secret", timeout_s=5)
    yield made
    made.close()


async def ended_consultation(http: httpx.AsyncClient, clock: Clock) -> dict[str, Any]:
    """Mary's request, run live, then both, live, both (two recordings), and ended."""
    await set_up_access(http)
    made = await http.post(
        "/v1/wearers/wb-0001/consultations", json={"reason": "palpitations"}, headers=DR_LI
    )
    cid = made.json()["consult_id"]
    steps: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("review", REVIEWER_A, {}),
        ("approve", REVIEWER_A, {"doctor": "dr-li", "planned_at": NOW.isoformat()}),
        ("start", DR_LI, {"mode": "both"}),
        ("switch_mode", DR_LI, {"mode": "live"}),
        ("switch_mode", DR_LI, {"mode": "both"}),
        ("end", DR_LI, {"diagnosis": "ectopics", "medical_record": "reassured"}),
    ]
    for n, (action, headers, body) in enumerate(steps):
        clock.now = NOW + dt.timedelta(minutes=n)
        done = await http.post(f"/v1/consultations/{cid}/{action}", json=body, headers=headers)
        assert done.status_code == 200, done.text
    ended: dict[str, Any] = done.json()
    return ended


async def test_the_report_holds_a_link_per_recording_for_those_who_see_the_request(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    ended = await ended_consultation(http, clock)
    assert len(ended["recordings"]) == 2
    links = ended["report"]["play_links"]
    assert len(links) == 2
    first = links[0]
    assert (await http.get(first)).status_code == 401  # logged-in audience
    for allowed in (MARY_SELF, ANNA, DR_LI):
        played = await http.get(first, headers=allowed)
        assert played.status_code == 200, played.text
        assert played.json()["recording_id"] == ended["recordings"][0]["recording_id"]
    for outsider in (CARL, DR_ROSS):  # registered, but not shown this request
        assert (await http.get(first, headers=outsider)).status_code == 404
    token = first.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await http.get(f"/v1/play/{tampered}", headers=MARY_SELF)).status_code == 404
    # Withdrawn: 410 from then on; a second withdrawal says so.
    listed = (
        await http.get(f"/v1/consultations/{ended['consult_id']}/play-links", headers=MARY_SELF)
    ).json()
    assert len(listed) == 2
    listed.sort(key=lambda x: x["recording_id"] != ended["recordings"][0]["recording_id"])
    assert (
        await http.delete(f"/v1/play-links/{listed[0]['link_id']}", headers=ANNA)
    ).status_code == 403
    assert (
        await http.delete(f"/v1/play-links/{listed[0]['link_id']}", headers=MARY_SELF)
    ).status_code == 204
    assert (await http.get(first, headers=MARY_SELF)).status_code == 410
    assert (
        await http.delete(f"/v1/play-links/{listed[0]['link_id']}", headers=DR_LI)
    ).status_code == 410
    # Expired after 30 days (the expiry is read before anyone's token, long expired too).
    clock.now = NOW + dt.timedelta(days=31)
    assert (await http.get(links[1])).status_code == 410
    clock.now = NOW + dt.timedelta(hours=1)
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    plays = [(e["actor"], e["action"]) for e in log if e["action"] == "play"]
    assert sorted(plays) == [("anna", "play"), ("dr-li", "play")]  # Mary's own left out


async def test_audiences_registered_and_anyone(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    ended = await ended_consultation(http, clock)
    recording = ended["recordings"][0]["recording_id"]
    base = f"/v1/consultations/{ended['consult_id']}/play-links"
    refused = await http.post(base, json={"recording_id": recording}, headers=ANNA)
    assert refused.status_code == 403  # family do not hand out links
    unknown = await http.post(base, json={"recording_id": "nope"}, headers=DR_LI)
    assert unknown.status_code == 404
    too_long = await http.post(
        base, json={"recording_id": recording, "ttl_hours": 24 * 31}, headers=DR_LI
    )
    assert too_long.status_code == 422
    registered = await http.post(
        base, json={"recording_id": recording, "audience": "registered"}, headers=DR_LI
    )
    url = registered.json()["url"]
    assert (await http.get(url)).status_code == 401
    assert (await http.get(url, headers=CARL)).status_code == 200
    anyone = await http.post(
        base,
        json={"recording_id": recording, "audience": "anyone", "ttl_hours": 2},
        headers=MARY_SELF,
    )
    assert anyone.status_code == 201
    assert (await http.get(anyone.json()["url"])).status_code == 200
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    assert ("anyone", "anonymous", "play") in {(e["actor"], e["role"], e["action"]) for e in log}
    clock.now += dt.timedelta(hours=2)
    assert (await http.get(anyone.json()["url"])).status_code == 410


async def test_publishing_needs_the_wearers_consent_and_a_link_for_anyone(
    platform: Platform, client: tuple[httpx.AsyncClient, Clock]
) -> None:
    # ``platform`` first: it gives the stores their publisher before the app is made.
    http, clock = client
    ended = await ended_consultation(http, clock)
    cid = ended["consult_id"]
    recording = ended["recordings"][1]["recording_id"]
    base = f"/v1/consultations/{cid}/play-links"
    public = (
        await http.post(base, json={"recording_id": recording, "audience": "anyone"}, headers=DR_LI)
    ).json()
    private = (await http.post(base, json={"recording_id": recording}, headers=DR_LI)).json()
    publish = f"/v1/play-links/{public['link_id']}/publish"
    no_consent = await http.post(publish, headers=DR_LI)
    assert (no_consent.status_code, no_consent.json()["detail"]) == (
        409,
        "the wearer has not consented to publishing",
    )
    consent = f"/v1/consultations/{cid}/publication-consent"
    assert (await http.put(consent, json={"consent": True}, headers=ANNA)).status_code == 403
    assert (await http.put(consent, json={"consent": True}, headers=MARY_SELF)).status_code == 200
    assert (
        await http.post(f"/v1/play-links/{private['link_id']}/publish", headers=DR_LI)
    ).status_code == 409
    assert (await http.post(publish, headers=MARY_SELF)).status_code == 403  # the clinic publishes
    platform.status = 500
    failed = await http.post(publish, headers=DR_LI)
    assert failed.status_code == 502
    platform.status = 200
    done = await http.post(publish, headers=DR_LI)
    assert done.status_code == 200, done.text
    assert done.json()["published_at"] is not None
    (sent,) = platform.received[-1:]
    assert sent["link_id"] == public["link_id"]
    assert sent["url_path"] == public["url"]
    assert "diagnosis" not in json.dumps(sent)  # only the link and the recording's times
    assert (await http.post(publish, headers=DR_LI)).status_code == 409  # published already
    # Consent withdrawn: no further publication.
    another = (
        await http.post(base, json={"recording_id": recording, "audience": "anyone"}, headers=DR_LI)
    ).json()
    await http.put(consent, json={"consent": False}, headers=MARY_SELF)
    assert (
        await http.post(f"/v1/play-links/{another['link_id']}/publish", headers=DR_LI)
    ).status_code == 409


async def test_without_a_platform_publishing_is_unavailable(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    ended = await ended_consultation(http, clock)
    cid = ended["consult_id"]
    recording = ended["recordings"][0]["recording_id"]
    public = (
        await http.post(
            f"/v1/consultations/{cid}/play-links",
            json={"recording_id": recording, "audience": "anyone"},
            headers=DR_LI,
        )
    ).json()
    await http.put(
        f"/v1/consultations/{cid}/publication-consent", json={"consent": True}, headers=MARY_SELF
    )
    answer = await http.post(f"/v1/play-links/{public['link_id']}/publish", headers=DR_LI)
    assert answer.status_code == 503
    assert SECRET not in answer.text
