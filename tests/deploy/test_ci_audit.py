""".ci/pypi_audit.py, the dependency audit CI runs where OSV cannot be reached (issue 10),
against a local index answering as PyPI's JSON API does: an advisory on a pinned release
fails the audit, a withdrawn one does not, and a package pinned below the index's newest
release (whose advisories the API does not give) is listed as unchecked, not as clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "pypi_audit.py"
ADVISORY = {
    "id": "GHSA-xxxx-yyyy-zzzz",
    "aliases": ["CVE-2026-0001"],
    "fixed_in": ["2.1"],
    "withdrawn": None,
}
PROJECTS = {
    "clean": ("1.0", []),
    "bad": ("2.0", [ADVISORY]),
    "retracted": ("3.0", [{**ADVISORY, "id": "PYSEC-0", "withdrawn": "2026-01-01T00:00:00Z"}]),
    "old": ("2.0", []),
}


class Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.split("/")[2]
        if name not in PROJECTS:
            self.send_error(404)
            return
        version, vulns = PROJECTS[name]
        body = json.dumps({"info": {"version": version}, "vulnerabilities": vulns}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def audit(requirements: Path, index: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(requirements), "--index", index],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_advisory_on_a_pinned_release_fails_and_what_cannot_be_checked_is_listed(
    index: str, tmp_path: Path
) -> None:
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("clean==1.0\nbad==2.0\nretracted==3.0\nold==1.0\nunknown==0.1\n")
    found = audit(pinned, index)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "3 of 5 packages checked, 1 advisories" in found.stdout
    assert "VULNERABLE bad 2.0: GHSA-xxxx-yyyy-zzzz (CVE-2026-0001; fixed in 2.1)" in found.stdout
    assert "PYSEC-0" not in found.stdout  # withdrawn
    assert "old 1.0 (the index's newest is 2.0)" in found.stdout
    assert "unknown 0.1 (not on the index)" in found.stdout


def test_clean_pins_pass_and_an_unreachable_index_is_not_a_pass(index: str, tmp_path: Path) -> None:
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("clean==1.0\n")
    assert audit(pinned, index).returncode == 0
    away = audit(pinned, "http://127.0.0.1:9")  # nothing listens on the discard port
    assert away.returncode == 2
    assert "NOT RUN" in away.stdout
