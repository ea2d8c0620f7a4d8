"""``vigil snooze set|list|clear`` as a user runs it, on the embedded runner's files."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from alerting.ladder_store import SqliteLadderStore, ladder_db_path


def test_vigil_snooze_refuses_the_floors_stores_lists_and_clears(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    env = {"VIGIL_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vigil", "snooze", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    sos = vigil("set", "wb-7", "sos", "--for", "1h", "--by", "Anna")
    assert (sos.returncode, "sos alerts cannot be snoozed" in sos.stderr) == (2, True)
    too_long = vigil("set", "wb-7", "pulse:high", "--for", "13h", "--by", "Anna")
    assert too_long.returncode == 2
    assert "at most 43200 s" in too_long.stderr
    typo = vigil("set", "wb-7", "pulse:up", "--for", "1h", "--by", "Anna")
    assert (typo.returncode, "unknown direction 'pulse:up'" in typo.stderr) == (2, True)

    before = dt.datetime.now(dt.UTC)
    stored = vigil("set", "wb-7", "pulse:high", "--for", "90m", "--by", "Anna", "--reason", "run")
    assert stored.returncode == 0, stored.stderr
    ladders = SqliteLadderStore(ladder_db_path(db))
    try:
        (snooze,) = ladders.snoozes_of("wb-7", before)
    finally:
        ladders.close()
    assert (snooze.what, snooze.by, snooze.reason) == ("pulse:high", "Anna", "run")
    assert 89 * 60 <= (snooze.until - before).total_seconds() <= 91 * 60
    listed = vigil("list", "wb-7")
    assert "pulse:high: until" in listed.stdout
    assert "by Anna (run); 0 alerts held back" in listed.stdout

    assert vigil("clear", "wb-7", "pulse:high").returncode == 0
    assert "no snoozes in force for wb-7" in vigil("list", "wb-7").stdout
    again = vigil("clear", "wb-7", "pulse:high")
    assert (again.returncode, "was not snoozed" in again.stderr) == (1, True)
