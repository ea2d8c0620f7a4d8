"""The dashboard's pages (``/ui``) over real stores, in process: sign-in, what each
caller sees, refusals audited, forms guarded by CSRF, both languages.

The same pages in a real browser, against ``vigil run`` and ``vigil api`` as processes:
``tests/vigil/test_dashboard_browser.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import get_args

import httpx
import pytest

from alerting.ladder import Phase
from consult_bridge.auth import Principal, issue_token
from consult_bridge.web import views
from consult_bridge.web.i18n import EN, ZH, choose
from consult_bridge.web.session import COOKIE, csrf_token
from consult_bridge.web.views import latest_values
from schemas import AlertLevel
from schemas.health_records import HealthRecord
from scoring.news2 import Vitals, news2
from storage.records import ScoreRecord
from tests.consult_bridge.conftest import NOW, SECRET, Clock, Stores, set_up_access
from tests.consult_bridge.test_api import sos_ladder
from tests.consult_bridge.test_login import PASSWORD, add_anna
from tests.consult_bridge.test_records import store_a_day
from tests.factories import received, vitals_batch


def session(http: httpx.AsyncClient, **principal: str) -> str:
    """Sign ``principal`` in by setting the cookie the sign-in form sets; the token."""
    token = issue_token(Principal(**principal), SECRET, now=NOW, ttl_s=24 * 3600)  # type: ignore[arg-type]
    http.cookies.set(
        COOKIE, token, domain="api.local", path="/ui"
    )  # cookiejar: a dotless host is .local
    return token


ANNA = {"sub": "anna", "role": "family", "name": "Anna"}
BEN = {"sub": "ben", "role": "family", "name": "Ben"}
MARY = {"sub": "mary", "role": "wearer", "device": "wb-0001", "name": "Mary"}
DR_LI = {"sub": "dr-li", "role": "clinician", "tenant": "clinic-a", "name": "Dr Li"}


async def audit_of(http: httpx.AsyncClient) -> list[dict[str, object]]:
    token = issue_token(
        Principal(sub="mary", role="wearer", device="wb-0001"), SECRET, now=NOW, ttl_s=3600
    )
    shown = await http.get(
        "/v1/wearers/wb-0001/audit", headers={"Authorization": f"Bearer {token}"}
    )
    assert shown.status_code == 200, shown.text
    entries: list[dict[str, object]] = shown.json()
    return entries


async def test_pages_ask_for_a_sign_in_and_the_form_sets_a_strict_httponly_cookie(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    first = await http.get("/ui/wearers/wb-0001/vitals")
    assert first.status_code == 303
    assert first.headers["location"] == "/ui/login?next=/ui/wearers/wb-0001/vitals"
    add_anna(stores)
    wrong = await http.post("/ui/login", data={"username": "anna", "password": "nope"})
    assert wrong.status_code == 401
    assert EN["wrong_login"] in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    signed = await http.post(
        "/ui/login",
        data={"username": "anna", "password": PASSWORD, "next": "/ui/wearers/wb-0001/vitals"},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/ui/wearers/wb-0001/vitals"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/ui" in cookie
    # Only a path of the dashboard to go back to, never another site.
    away = await http.post(
        "/ui/login", data={"username": "anna", "password": PASSWORD, "next": "//evil.example/"}
    )
    assert away.headers["location"] == "/ui/"
    page = await http.get("/ui/")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_the_wearers_list_shows_what_each_caller_may_see(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)  # Anna: alerts and vitals; Ben: vitals; Dr Li's clinic
    store_a_day(stores)
    sos_ladder(stores)
    session(http, **ANNA)
    anna = (await http.get("/ui/")).text
    row = re.search(r'<tr data-device="wb-0001">(.*?)</tr>', anna, re.DOTALL)
    assert row is not None
    assert 'class="level red"' in row.group(1)  # the open SOS ladder
    assert "1 h ago" in row.group(1)  # the vitals stored an hour before NOW
    assert "wb-0002" not in anna  # not granted
    session(http, **BEN)
    ben = (await http.get("/ui/")).text
    row = re.search(r'<tr data-device="wb-0001">(.*?)</tr>', ben, re.DOTALL)
    assert row is not None
    assert EN["not_shared"] in row.group(1)  # no alerts grant: no level shown
    assert 'class="level' not in row.group(1)
    session(http, **DR_LI)
    clinic = (await http.get("/ui/")).text
    assert 'data-device="wb-0001"' in clinic


async def test_a_wearer_still_scoring_red_is_red_after_the_ladder_ended(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    """The level is the worst of the open ladders and the last hour's NEWS2 score."""
    http, clock = client
    await set_up_access(http)
    red = news2(Vitals(pulse_bpm=135, spo2_pct=88, respiration_rate_per_min=26, systolic_mmhg=95))
    assert red.level == AlertLevel.RED
    with stores.main.transaction() as tx:
        tx.add_scores([ScoreRecord(device_id="wb-0001", evaluated_at=NOW, news2=red)])
    session(http, **DR_LI)

    def level() -> str:
        row = re.search(r'<tr data-device="wb-0001">(.*?)</tr>', page.text, re.DOTALL)
        assert row is not None
        found = re.search(r'class="level (\w+)"', row.group(1))
        assert found is not None
        return found.group(1)

    page = await http.get("/ui/")
    assert level() == "red"  # no ladder open, the score says red
    clock.now = NOW + dt.timedelta(hours=2)
    page = await http.get("/ui/")
    assert level() == "quiet"  # a two-hour-old score says nothing of now


async def test_a_family_viewer_is_refused_an_ungranted_category_and_it_is_audited(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    store_a_day(stores)
    session(http, **ANNA)
    vitals = await http.get("/ui/wearers/wb-0001/vitals?range=6h")
    assert vitals.status_code == 200
    tabs = re.findall(r'href="/ui/wearers/wb-0001/(\w+)\?', vitals.text)
    assert tabs == ["vitals", "alerts"]
    assert "<svg" in vitals.text
    assert ">88<" in vitals.text  # the heart-rate tile holds the stored reading
    location = await http.get("/ui/wearers/wb-0001/location")
    assert location.status_code == 404
    assert EN["not_shared_page"] in location.text
    assert "51.50" not in location.text  # nothing of the fix leaks
    live = await http.get("/ui/wearers/wb-0002/live")
    assert live.status_code == 404
    entries = await audit_of(http)
    assert {(e["actor"], e["category"], e["action"]) for e in entries if e["actor"] == "anna"} >= {
        ("anna", "vitals", "read"),
        ("anna", "location", "denied"),
    }


async def test_acknowledging_from_the_page_needs_the_forms_csrf_token(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    ladder_id = sos_ladder(stores)
    token = session(http, **ANNA)
    page = await http.get("/ui/wearers/wb-0001/alerts")
    assert f'data-ladder="{ladder_id}"' in page.text
    assert EN["acknowledge"] in page.text
    assert 'class="deliveries"' in page.text  # what the ladder sent, and how it went
    assert "+44" not in page.text  # contacts' numbers only by their last digits
    anna_bearer = {"Authorization": f"Bearer {token}"}
    (shown,) = (await http.get("/v1/wearers/wb-0001/ladders", headers=anna_bearer)).json()
    assert shown["deliveries"], "the API shows what the ladder sent, too"
    assert all(not d["to"].startswith("+") for d in shown["deliveries"])
    forged = await http.post(f"/ui/ladders/{ladder_id}/ack", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert stores.ladders.pending_requests() == []
    assert csrf_token(SECRET, token) in page.text
    acked = await http.post(
        f"/ui/ladders/{ladder_id}/ack", data={"csrf": csrf_token(SECRET, token)}
    )
    assert acked.status_code == 303
    assert acked.headers["location"] == "/ui/wearers/wb-0001/alerts?done=ack"
    (queued,) = stores.ladders.pending_requests()
    assert (queued.ladder_id, queued.kind, queued.by) == (ladder_id, "ack", "Anna")
    # A wearer may cancel but not acknowledge their own alarm: no button, and 403.
    mary = session(http, **MARY)
    own = await http.get("/ui/wearers/wb-0001/alerts")
    assert EN["acknowledge"] not in own.text
    assert EN["cancel_alarm"] in own.text
    refused = await http.post(
        f"/ui/ladders/{ladder_id}/ack", data={"csrf": csrf_token(SECRET, mary)}
    )
    assert refused.status_code == 403


async def test_the_ecg_and_location_tabs_draw_the_stored_data(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)
    store_a_day(stores)
    session(http, **MARY)
    clock.now = NOW
    ecg = await http.get("/ui/wearers/wb-0001/ecg?range=6h")
    assert ecg.status_code == 200
    assert 'class="ecg"' in ecg.text
    assert "data-rhythm=" in ecg.text
    where = await http.get("/ui/wearers/wb-0001/location?range=6h")
    assert where.status_code == 200
    assert 'class="here"' in where.text  # the fix, drawn without any tile server
    assert "http" not in where.text.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org/2000/svg", ""
    )


async def test_the_pages_speak_chinese_when_asked(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    session(http, **ANNA)
    switched = await http.get("/ui/lang/zh?back=/ui/")
    assert switched.status_code == 303
    page = await http.get("/ui/")
    assert ZH["wearers"] in page.text
    assert 'lang="zh-CN"' in page.text
    http.cookies.delete("vigil_lang")
    by_browser = await http.get("/ui/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert ZH["wearers"] in by_browser.text


def test_both_languages_have_every_word() -> None:
    assert set(EN) == set(ZH)
    assert all(ZH[k] for k in ZH)
    assert {f"phase_{p}" for p in get_args(Phase)} <= set(EN)  # every ladder phase named
    assert choose(None, "fr-FR,zh-TW;q=0.8") == "zh"
    assert choose("en", "zh-CN") == "en"
    assert choose("xx", None) == "en"


@pytest.mark.parametrize("range_", ["1h", "24h", "7d", "bogus"])
async def test_every_range_renders(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores, range_: str
) -> None:
    http, _ = client
    await set_up_access(http)
    store_a_day(stores)
    session(http, **DR_LI)
    page = await http.get(f"/ui/wearers/wb-0001/vitals?range={range_}")
    assert page.status_code == 200
    selected = re.search(r'<option value="(\w+)" selected', page.text)
    assert selected is not None
    assert selected.group(1) == (range_ if range_ != "bogus" else "6h")
    assert page.text.count('class="chart"') == 5


def test_the_temperature_tile_prefers_core_to_wrist_skin() -> None:
    at = NOW
    core = HealthRecord(measured_at=at, type="temperature", values={"temp_c": 37.9, "site": "core"})
    skin = HealthRecord(
        measured_at=at + dt.timedelta(seconds=5),
        type="temperature",
        values={"temp_c": 34.1, "site": "wrist"},
    )
    assert latest_values([core, skin])["temperature"] is core
    assert latest_values([skin])["temperature"] is skin  # a band with only skin


async def test_a_long_window_is_drawn_end_to_end_from_every_nth_batch(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = client
    await set_up_access(http)
    start = NOW - dt.timedelta(hours=5)
    batches = [
        vitals_batch(
            seq, device_id="wb-0001", at=start + dt.timedelta(minutes=20 * seq), hr=60 + seq
        )
        for seq in range(1, 13)
    ]
    with stores.main.transaction() as tx:
        tx.add_messages([received(b) for b in batches])
    assert stores.health.count("wb-0001", "heart_rate", start, NOW) == 12
    monkeypatch.setattr(views, "MAX_POINTS", 4)  # 12 heart rates: every 3rd batch is drawn
    found = views.records(
        stores.deps(lambda: NOW),
        Principal(sub="dr-li", role="clinician", tenant="clinic-a"),
        "wb-0001",
        "vitals",
        since=start,
        until=NOW,
    )
    rates = [r.values["heart_rate_bpm"] for r in found if r.type == "heart_rate"]
    assert rates == [63, 66, 69, 72]  # batches 3, 6, 9, 12: the whole window, not its end
