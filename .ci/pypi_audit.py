"""The dependency audit where OSV cannot be reached: PyPI's own advisories (issue 10).

PyPI's JSON API gives, for a project's newest release, the known vulnerabilities of that
release (``vulnerabilities``, sourced from OSV). For each pinned ``name==version`` this
asks the index; where the pinned version is the index's newest, its advisories are read
and any that is not withdrawn fails the audit. A package pinned below the index's newest
cannot be checked this way: it is listed as unchecked, never counted as clean.

Usage: ``python3 .ci/pypi_audit.py REQUIREMENTS [--index URL]``. Exit 0: no advisory for
the packages checked; 1: at least one; 2: the index could not be reached.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import urllib.error
import urllib.request
from typing import Any


def pins(path: str) -> list[tuple[str, str]]:
    """``(name, version)`` of each ``name==version`` line."""
    found = []
    for line in open(path, encoding="utf-8"):  # noqa: SIM115, PTH123 - a short script
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep and name and version:
            found.append((name.strip(), version.strip()))
    return found


def project(index: str, name: str) -> dict[str, Any] | None:
    """The index's JSON for ``name``; None if it does not know the project."""
    try:
        with urllib.request.urlopen(f"{index}/pypi/{name}/json", timeout=15) as answer:  # noqa: S310
            found: dict[str, Any] = json.load(answer)
            return found
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def main() -> int:
    """Audit; the exit code."""
    parser = argparse.ArgumentParser()
    parser.add_argument("requirements")
    parser.add_argument("--index", default="https://pypi.org")
    args = parser.parse_args()
    pinned = pins(args.requirements)
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda p: project(args.index, p[0]), pinned))
    except (OSError, ValueError) as exc:
        print(f"dependency audit NOT RUN: {args.index} cannot be read ({exc})")
        return 2
    checked, unchecked, advisories = 0, [], []
    for (name, version), answer in zip(pinned, answers, strict=True):
        newest = answer["info"]["version"] if answer else None
        if newest != version:
            why = "not on the index" if answer is None else f"the index's newest is {newest}"
            unchecked.append(f"{name} {version} ({why})")
            continue
        checked += 1
        for vuln in answer.get("vulnerabilities") or []:  # type: ignore[union-attr]
            if vuln.get("withdrawn"):
                continue
            fixed = ", ".join(vuln.get("fixed_in") or []) or "no fix yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            advisories.append(f"{name} {version}: {vuln.get('id')} ({aliases}; fixed in {fixed})")
    print(
        f"dependency audit against {args.index}'s advisories: {checked} of {len(pinned)} "
        f"packages checked, {len(advisories)} advisories"
    )
    for line in advisories:
        print(f"  VULNERABLE {line}")
    if unchecked:
        print(f"  unchecked ({len(unchecked)}): " + "; ".join(unchecked))
    return 1 if advisories else 0


if __name__ == "__main__":
    sys.exit(main())
