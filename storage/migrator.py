"""Versioned SQL migrations: ``storage/migrations/<backend>/NNNN_name[.variant].sql``.

A migration may come in variants (``.plain.sql`` / ``.timescaledb.sql``); the backend
picks one. Applied versions are recorded in ``schema_migrations``.
"""

from __future__ import annotations

import re
from pathlib import Path

from msgspec import Struct

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<variant>[a-z]+))?\.sql$")


class Migration(Struct, frozen=True):
    """One migration file chosen for a backend."""

    version: int
    name: str
    sql: str


def load(backend: str, variant: str | None = None) -> list[Migration]:
    """Migrations of ``backend`` in version order, choosing ``variant`` where one exists."""
    chosen: dict[int, tuple[str, Path]] = {}
    for path in sorted((MIGRATIONS_DIR / backend).glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            msg = f"bad migration file name: {path.name}"
            raise ValueError(msg)
        version = int(match["version"])
        file_variant = match["variant"]
        default = file_variant is None and version not in chosen
        wanted = file_variant is not None and file_variant == (variant or "plain")
        if default or wanted:
            chosen[version] = (match["name"], path)
    return [
        Migration(version, name, path.read_text(encoding="utf-8"))
        for version, (name, path) in sorted(chosen.items())
    ]
