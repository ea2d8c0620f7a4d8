"""Shared fixtures: a private Mosquitto, a fresh PostgreSQL schema, a store of each backend."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Store
from vigil.local_servers import MosquittoProcess

POSTGRES_DSN_ENV = "VIGIL_TEST_POSTGRES_DSN"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto of the test's own on a free port (skipped when not installed)."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed: apt-get install mosquitto (.ci/run does)")
    with MosquittoProcess(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, dropped after the test."""
    base = os.environ.get(POSTGRES_DSN_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_DSN_ENV} is not set: no PostgreSQL server for this tier")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store of each backend: SQLite in the test's directory, and PostgreSQL."""
    if request.param == "sqlite":
        from storage.sqlite import SqliteStore

        s: Store = SqliteStore(tmp_path / "vigil.db")
    else:
        from storage.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("postgres_dsn"))
    s.migrate()
    yield s
    s.close()


ECG_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ecg"


@pytest.fixture
def ecg_data() -> Path:
    """``../shared/data/ecg`` (PhysioNet recordings); skipped when the checkout lacks it."""
    if not (ECG_DATA / "mitdb" / "100.hea").exists():
        pytest.skip(f"real ECG recordings not found at {ECG_DATA} (../shared/data/ecg)")
    return ECG_DATA
