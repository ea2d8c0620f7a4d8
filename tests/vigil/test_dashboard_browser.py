"""The dashboard in a real browser: headless Debian Chromium driven by Playwright, against
``vigil run`` and ``vigil api`` as processes and a private Mosquitto.

A family member signs in with her password, sees a reading published to MQTT appear on
the wearer's live tiles within 2 s and the live stream end when the wearer takes the grant
back, acknowledges an SOS from its alerts tab and sees the ladder stop, and is refused a
category the wearer did not grant her.

Playwright cannot download a browser here; it drives the Debian package's binary
(``.ci/run`` installs ``chromium``). Skipped, with the reason, where either is missing.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from consult_bridge.web.i18n import EN, ZH
from tests.alerting.test_ladder_service import CONTACTS, lines, publish_sos, runner_env
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from tests.vigil.test_api_service import SECRET, publish_vitals, set_contacts, token
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (.ci/run installs it)", allow_module_level=True)

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def add_user(env: dict[str, str], sub: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "vigil", "users", "add", sub, *args, "--password-stdin"],
        env=VigilRun(env).env,
        input=PASSWORD + "\n",
        check=True,
        capture_output=True,
        text=True,
    )


def sign_in(page: Page, base: str) -> None:
    """Sign in with the password; the form brings her back to the page she asked for."""
    page.goto(f"{base}/ui/wearers/wb-0001/vitals")
    assert page.url.startswith(f"{base}/ui/login")
    page.fill("input[name=username]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/wearers/wb-0001/vitals")
    page.wait_for_selector("#live.connected", timeout=10_000)


def seconds_to_show_a_reading(page: Page, broker_port: int) -> float:
    """Publish a heart rate of 123 to MQTT; seconds until the live tile shows it."""
    published = time.monotonic()
    publish_vitals(broker_port, vitals_batch(2, device_id="wb-0001", hr=123, at=now()))
    page.wait_for_function(
        "() => document.querySelector('.tile[data-type=\"heart_rate\"] .value')"
        ".textContent === '123'",
        timeout=5_000,
    )
    return time.monotonic() - published


def acknowledge_from_the_alerts_tab(page: Page, base: str) -> None:
    """The open SOS ladder's button; the page then shows the ladder acknowledged."""
    page.goto(f"{base}/ui/wearers/wb-0001/alerts")
    ladder = page.locator("article.ladder.open").first
    assert "sos" in (ladder.text_content() or "")
    ladder.locator("button.ack").click()
    page.wait_for_selector(".notice", timeout=5_000)
    page.wait_for_selector('article.ladder[data-phase="acknowledged"]', timeout=30_000)
    assert page.locator("article.ladder.open").count() == 0
    assert "Anna via api" in (page.locator("ol.timeline").first.text_content() or "")


def test_a_family_member_watches_live_vitals_acknowledges_an_sos_and_is_refused_the_rest(
    mosquitto: MosquittoProcess, tmp_path: Path, browser: Browser
) -> None:
    db = tmp_path / "vigil.db"
    port = free_port()
    env = runner_env(mosquitto, db, VIGIL_API_JWT_SECRET=SECRET, VIGIL_API_PORT=str(port))
    set_contacts(env, tmp_path, CONTACTS.replace("call_timeout_s = 4", "call_timeout_s = 60"))
    add_user(env, "anna", "--role", "family", "--name", "Anna")
    mary = token(env, "--sub", "mary", "--role", "wearer", "--device", "wb-0001")
    runner = VigilRun(env)
    api = VigilRun(env, ("api",), ready="ready: the API")
    runner.start()
    api.start()
    base = f"http://127.0.0.1:{port}"
    try:
        as_mary = {"Authorization": f"Bearer {mary}"}
        grants = {}
        for category in ("alerts", "vitals"):
            granted = httpx.post(
                f"{base}/v1/wearers/wb-0001/grants",
                json={"viewer": "anna", "categories": [category]},
                headers=as_mary,
                timeout=10,
            )
            assert granted.status_code == 201, granted.text
            grants[category] = granted.json()["grant_id"]
        publish_vitals(mosquitto.port, vitals_batch(1, device_id="wb-0001", hr=71, at=now()))
        page = browser.new_page(locale="en-GB")
        sign_in(page, base)
        shown_after = seconds_to_show_a_reading(page, mosquitto.port)
        assert shown_after <= 2.0, f"shown {shown_after:.2f} s after publishing"

        # Mary takes the vitals back: the open live stream ends, and the tab goes.
        revoked = httpx.delete(
            f"{base}/v1/wearers/wb-0001/grants/{grants['vitals']}", headers=as_mary, timeout=10
        )
        assert revoked.status_code == 204
        page.wait_for_selector("#live:not(.connected)", timeout=5_000)
        publish_vitals(mosquitto.port, vitals_batch(3, device_id="wb-0001", hr=99, at=now()))
        time.sleep(1.5)
        assert page.locator('.tile[data-type="heart_rate"] .value').text_content() == "123"

        publish_sos(mosquitto.port, "wb-0001")
        wait_for(lambda: lines(runner, "-> call +447700900101") == 1, 30, "Anna called")
        acknowledge_from_the_alerts_tab(page, base)

        # Not granted: location, and vitals no longer. No tab for them; pages refuse them.
        assert page.locator("nav.tabs a").all_text_contents() == [EN["alerts"]]
        for tab in ("location", "vitals"):
            refused = page.goto(f"{base}/ui/wearers/wb-0001/{tab}")
            assert refused is not None
            assert refused.status == 404
            assert EN["not_shared_page"] in (page.locator(".denied").text_content() or "")

        # And in Chinese, by the switch in the header.
        page.goto(f"{base}/ui/")
        page.click("a.lang")
        page.wait_for_selector(f"text={ZH['wearers']}")
    finally:
        assert api.terminate() == 0, "".join(api.log[-30:])
        assert runner.terminate() == 0, "".join(runner.log[-30:])
    assert lines(runner, "Anna is handling the alert") >= 1
    assert lines(runner, "-> call +447700900102") == 0, "Ben was not called"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
