"""``vigil contacts set`` files: what is accepted, and what is refused with a reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.contacts_file import load_contacts
from vigil.profiles import ProfileError

GOOD = b"""
wearer_name = "Mary"
emergency_services = "+447700900999"
language = "zh"

[policy]
grace_s = 10

[[contacts]]
contact_id = "anna"
name = "Anna"
phone = "+447700900101"
emergency = true

[[contacts]]
contact_id = "dora"
name = "Dora"
phone = "+447700900104"

[[call_log]]
phone = "+447700900104"
started_at = 2026-11-20T18:30:00Z
duration_s = 900
"""


def test_a_toml_file_gives_the_directory_policy_and_call_log() -> None:
    alerting = load_contacts(GOOD, toml=True)
    assert alerting.directory.language == "zh"
    assert [c.name for c in alerting.directory.emergency_contacts] == ["Anna"]
    assert [c.name for c in alerting.directory.other_contacts] == ["Dora"]
    assert alerting.policy.grace_s == 10
    assert alerting.policy.call_timeout_s == 90  # the default stays
    assert alerting.call_log[0].started_at.isoformat() == "2026-11-20T18:30:00+00:00"


ANNA_PHONE = b'phone = "+447700900101"'


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"grace_s = 10", b"grace_s = 10\ngrase = 3", r"unknown keys \$.policy.grase"),
        (b"emergency = true", b"emergncy = true", r"unknown keys \$.contacts\[0\].emergncy"),
        (ANNA_PHONE, b'phone = "+447700900104"', "listed twice"),
        (ANNA_PHONE, b'phone = "07700900101"', "phone"),
    ],
)
def test_typos_duplicates_and_numbers_not_in_e164_are_refused(
    old: bytes, new: bytes, reason: str
) -> None:
    with pytest.raises(ProfileError, match=reason):
        load_contacts(GOOD.replace(old, new), toml=True)


def test_vigil_contacts_set_refuses_stores_and_shows(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    env = {"VIGIL_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vigil", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    good, bad = tmp_path / "mary.toml", tmp_path / "typo.toml"
    good.write_bytes(GOOD)
    bad.write_bytes(GOOD.replace(b"grace_s = 10", b"grase_s = 10"))
    refused = vigil("contacts", "set", "wb-7", str(bad))
    assert refused.returncode == 2
    assert "unknown keys $.policy.grase_s" in refused.stderr
    missing = vigil("contacts", "set", "wb-7", str(tmp_path / "none.toml"))
    assert (missing.returncode, "cannot read" in missing.stderr) == (2, True)
    assert vigil("contacts", "show", "wb-7").returncode == 1
    stored = vigil("contacts", "set", "wb-7", str(good))
    assert stored.returncode == 0, stored.stderr
    assert "stored 2 contacts (1 emergency) and 1 calls for wb-7" in stored.stdout
    shown = json.loads(vigil("contacts", "show", "wb-7").stdout)
    assert [c["name"] for c in shown["directory"]["contacts"]] == ["Anna", "Dora"]
    assert shown["policy"]["grace_s"] == 10
