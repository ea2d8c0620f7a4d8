"""Signing in (``POST /v1/token``) on SQLite and PostgreSQL: Argon2id hashes, one answer for
every wrong sign-in, a lockout after repeated failures, disabled users; ``vigil users add``
as an operator runs it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import httpx
import pytest

from consult_bridge.login import LOCKOUT_WINDOW, MAX_FAILURES, hash_password, password_matches
from schemas.accounts import Account
from tests.consult_bridge.conftest import NOW, Clock, Stores

PASSWORD = "correct horse battery staple"


def add_anna(stores: Stores, disabled: bool = False) -> None:
    stores.accounts.put(
        Account(
            sub="anna",
            role="family",
            name="Anna",
            password_hash=hash_password(PASSWORD),
            disabled=disabled,
            created_at=NOW,
        )
    )


async def sign_in(http: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await http.post("/v1/token", data={"username": user, "password": password})


def test_a_password_is_stored_as_an_argon2id_hash_only() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert password_matches(hashed, PASSWORD)
    assert not password_matches(hashed, PASSWORD + "!")
    assert not password_matches(None, PASSWORD)  # an unknown user never matches
    with pytest.raises(ValueError, match="at least 12"):
        hash_password("short")


async def test_a_user_signs_in_and_the_token_works(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    add_anna(stores)
    answer = await sign_in(http, "anna", PASSWORD)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert (token["token_type"], token["expires_in"]) == ("bearer", 3600)
    me = await http.get(
        "/v1/me/notices", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.status_code == 200
    (stored,) = stores.desk.rows("SELECT password_hash FROM accounts")[0]
    assert PASSWORD not in stored


async def test_every_wrong_sign_in_gets_the_same_answer(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    add_anna(stores)
    add_ben = Account(
        sub="ben",
        role="family",
        password_hash=hash_password(PASSWORD),
        disabled=True,
        created_at=NOW,
    )
    stores.accounts.put(add_ben)
    answers = [
        await sign_in(http, "anna", "wrong password here"),
        await sign_in(http, "nobody", PASSWORD),
        await sign_in(http, "ben", PASSWORD),  # disabled
    ]
    assert {(a.status_code, a.json()["detail"]) for a in answers} == {
        (401, "wrong user or password")
    }


async def test_repeated_failures_lock_the_account_until_the_window_passes(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    add_anna(stores)
    for _ in range(MAX_FAILURES):
        assert (await sign_in(http, "anna", "guess guess guess")).status_code == 401
    locked = await sign_in(http, "anna", PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == str(int(LOCKOUT_WINDOW.total_seconds()))
    clock.now = NOW + LOCKOUT_WINDOW + dt.timedelta(seconds=1)
    assert (await sign_in(http, "anna", PASSWORD)).status_code == 200
    # A good sign-in cleared the count: four more failures do not lock.
    for _ in range(MAX_FAILURES - 1):
        await sign_in(http, "anna", "guess guess guess")
    assert (await sign_in(http, "anna", PASSWORD)).status_code == 200


async def test_vigil_users_add_then_sign_in(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    env = {"VIGIL_DATABASE_URL": stores.url, "PATH": "/usr/bin:/bin"}

    def vigil(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vigil", "users", *args]
        return subprocess.run(
            command, env=env, input=password + "\n", capture_output=True, text=True, check=False
        )

    short = vigil(
        "add",
        "dr-li",
        "--role",
        "clinician",
        "--tenant",
        "clinic-a",
        "--password-stdin",
        password="short",
    )
    assert (short.returncode, "at least 12" in short.stderr) == (2, True)
    no_clinic = vigil("add", "dr-li", "--role", "clinician", "--password-stdin", password=PASSWORD)
    assert (no_clinic.returncode, "clinic" in no_clinic.stderr) == (2, True)
    made = vigil(
        "add",
        "dr-li",
        "--role",
        "clinician",
        "--tenant",
        "clinic-a",
        "--name",
        "Dr Li",
        "--password-stdin",
        password=PASSWORD,
    )
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stdout + made.stderr
    answer = await sign_in(http, "dr-li", PASSWORD)
    assert answer.status_code == 200
    queue = await http.get(
        "/v1/consultations", headers={"Authorization": "Bearer " + answer.json()["access_token"]}
    )
    assert queue.status_code == 200  # a clinician of clinic-a
    assert vigil("disable", "dr-li", password="").returncode == 0
    assert (await sign_in(http, "dr-li", PASSWORD)).status_code == 401
