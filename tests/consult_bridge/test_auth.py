"""Bearer tokens: only this deployment's, unexpired, HS256, with a role's required claims."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest

from consult_bridge.auth import AuthError, Principal, issue_token, read_token

SECRET = "s" * 32
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
ANNA = Principal(sub="anna", role="family", name="Anna")


def test_a_token_names_its_principal_until_it_expires() -> None:
    token = issue_token(ANNA, SECRET, now=NOW, ttl_s=600)
    assert read_token(token, SECRET, now=NOW + dt.timedelta(seconds=599)) == ANNA
    with pytest.raises(AuthError, match="expired"):
        read_token(token, SECRET, now=NOW + dt.timedelta(seconds=600))


def test_a_clinician_keeps_the_clinic_and_a_wearer_the_band() -> None:
    doctor = Principal(sub="dr-li", role="clinician", tenant="clinic-a")
    mary = Principal(sub="mary", role="wearer", device="wb-0001")
    for who in (doctor, mary):
        assert read_token(issue_token(who, SECRET, now=NOW, ttl_s=60), SECRET, now=NOW) == who


def _unsigned(claims: dict[str, object], alg: str) -> str:
    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}."


CLAIMS = {"iss": "vigil", "sub": "anna", "role": "family", "iat": 1, "exp": 2_000_000_000}


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (issue_token(ANNA, "t" * 32, now=NOW, ttl_s=60), "Signature verification failed"),
        (_unsigned(CLAIMS, "none"), "invalid token"),
        (jwt.encode({**CLAIMS, "iss": "other"}, SECRET, algorithm="HS256"), "issuer"),
        (jwt.encode({**CLAIMS, "role": "root"}, SECRET, algorithm="HS256"), "claims"),
        (jwt.encode({k: v for k, v in CLAIMS.items() if k != "exp"}, SECRET), "exp"),
        (jwt.encode({**CLAIMS, "role": "clinician"}, SECRET), "tenant"),
        (jwt.encode({**CLAIMS, "role": "wearer"}, SECRET), "device"),
        (jwt.encode(CLAIMS, SECRET * 2, algorithm="HS512"), "alg value is not allowed"),
        (jwt.encode({**CLAIMS, "iat": int(NOW.timestamp()) + 3600}, SECRET), "in the future"),
        ("not.a.token", "invalid token"),
    ],
    ids=[
        "forged",
        "alg-none",
        "issuer",
        "role",
        "no-exp",
        "no-tenant",
        "no-device",
        "hs512",
        "future",
        "junk",
    ],
)
def test_anything_else_is_refused(token: str, why: str) -> None:
    with pytest.raises(AuthError, match=why):
        read_token(token, SECRET, now=NOW)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_token(ANNA, "short", now=NOW, ttl_s=60)
