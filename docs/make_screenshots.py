"""Take the dashboard screenshots in ``docs/screenshots/`` from the simulator's real data.

Run from the project root: ``.venv/bin/python docs/make_screenshots.py`` (needs Mosquitto,
Debian ``chromium`` and, for the Chinese pages, a CJK font such as ``fonts-wqy-zenhei``).

1. ``vigil demo --db`` keeps its SQLite file: five wearers (deteriorating to a red ladder,
   wandering out of the home fence, stressed, two healthy);
2. ``vigil run`` and ``vigil api`` on that file with a private Mosquitto; every wearer is
   enrolled in clinic-a, and ``vigil sim verify af_episode --running`` adds a wearer whose
   band records ECG strips through an AF episode (its AF alert raises a consultation
   request); Dr Li asks for a consultation about wb-0001;
3. Dr Li (a clinician) and Anna (family, granted alerts and vitals of wb-0002) sign in
   through the form in headless Chromium.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

OUT = Path(__file__).parent / "screenshots"
SECRET = "screenshots-only-secret-of-32-bytes!"
PASSWORD = "correct horse battery staple"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def vigil(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def wait_ready(url: str, seconds: float = 30) -> None:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")


def shoot(page: Page, base: str, path: str, name: str) -> None:
    page.goto(f"{base}{path}")
    page.wait_for_load_state("networkidle") if "vitals" not in path else time.sleep(1.5)
    page.screenshot(path=OUT / name, full_page=True)
    print(f"{name}: {path}")


def bearer(env: dict[str, str], *args: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + vigil(env, "api", "token", *args).strip()}


def new_sim_device(db: Path) -> str | None:
    """The device id ``vigil sim verify --running`` stored a profile for, once it has."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT device_id FROM wearers WHERE device_id LIKE 'sim%'").fetchone()
    return None if row is None else str(row[0])


def prepare(env: dict[str, str], db: Path, base: str) -> str:
    """Enrol the demo's wearers and the AF wearer; requests in the queue; the AF device id."""
    admin = bearer(env, "--sub", "admin-a", "--role", "admin", "--tenant", "clinic-a")
    for device in ("wb-0001", "wb-0002", "wb-0003", "wb-0004", "wb-0005"):
        httpx.put(f"{base}/v1/wearers/{device}/enrolment", headers=admin).raise_for_status()
    wearer = bearer(env, "--sub", "wb-0002", "--role", "wearer", "--device", "wb-0002")
    httpx.post(
        f"{base}/v1/wearers/wb-0002/grants",
        json={"viewer": "anna", "categories": ["alerts", "vitals"]},
        headers=wearer,
    ).raise_for_status()
    # The AF wearer is enrolled while the scenario waits for the pipeline to read its
    # profile, so its AF alert raises a request in the clinic (vigil/consult_intake.py).
    verify = subprocess.Popen(
        [sys.executable, "-m", "vigil", "sim", "verify", "af_episode", "--running", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    while (af_device := new_sim_device(db)) is None:
        time.sleep(0.5)
    httpx.put(f"{base}/v1/wearers/{af_device}/enrolment", headers=admin).raise_for_status()
    out, _ = verify.communicate(timeout=300)
    print(out.strip().splitlines()[-1])
    dr_li = bearer(env, "--sub", "dr-li", "--role", "clinician", "--tenant", "clinic-a")
    httpx.post(
        f"{base}/v1/wearers/wb-0001/consultations",
        json={"reason": "NEWS2 8 this morning; handed to the emergency services: follow up"},
        headers=dr_li,
    ).raise_for_status()
    for _ in range(40):
        if len(httpx.get(f"{base}/v1/consultations", headers=dr_li).json()) >= 2:
            break
        time.sleep(0.5)
    return af_device


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(Path(tmp) / "mqtt") as broker:
        db = Path(tmp) / "shots.db"
        port = free_port()
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": f"sqlite:///{db}",
            "VIGIL_MQTT_PORT": str(broker.port),
            "VIGIL_API_PORT": str(port),
            "VIGIL_API_JWT_SECRET": SECRET,
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        vigil(env, "demo", "--db", str(db), "--seconds", "40", "--json")
        vigil(env, "users", "add", "dr-li", "--role", "clinician", "--tenant", "clinic-a",
              "--name", "Dr Li", "--password-stdin", stdin=PASSWORD)  # fmt: skip
        vigil(env, "users", "add", "anna", "--role", "family", "--name", "Anna",
              "--password-stdin", stdin=PASSWORD)  # fmt: skip
        runner = subprocess.Popen([sys.executable, "-m", "vigil", "run"], env=env)
        api = subprocess.Popen([sys.executable, "-m", "vigil", "api"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(f"{base}/healthz")
            af_device = prepare(env, db, base)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1180, "height": 900}, locale="en-GB")
                sign_in(page, base, "dr-li")
                shoot(page, base, "/ui/", "wearers.png")
                shoot(page, base, "/ui/wearers/wb-0001/vitals?range=1h", "vitals.png")
                shoot(page, base, "/ui/wearers/wb-0001/alerts", "alerts.png")
                shoot(page, base, "/ui/wearers/wb-0002/location?range=1h", "location.png")
                shoot(page, base, "/ui/wearers/wb-0003/indices?range=6h", "indices.png")
                shoot(page, base, f"/ui/wearers/{af_device}/ecg?range=1h", "ecg.png")
                shoot(page, base, "/ui/queue", "queue.png")
                page.goto(f"{base}/ui/lang/zh?back=/ui/")
                shoot(page, base, "/ui/wearers/wb-0001/vitals?range=1h", "vitals-zh.png")
                shoot(page, base, "/ui/", "wearers-zh.png")
                family = browser.new_page(viewport={"width": 1180, "height": 600}, locale="en-GB")
                sign_in(family, base, "anna")
                shoot(family, base, "/ui/wearers/wb-0002/location", "family-refused.png")
                browser.close()
        finally:
            for process in (api, runner):
                process.terminate()
                process.wait(30)


if __name__ == "__main__":
    main()
