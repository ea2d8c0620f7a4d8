"""Schemathesis against the API's own OpenAPI description: no 500s, no response that
breaks its declared schema, whatever the inputs, for callers of each role.

The app runs in process (ASGI) over a real SQLite store holding a wearer with grants, a
clinic, a ladder and a consultation, so the generated calls reach real code paths, not
only the validation layer. Hypothesis draws the inputs from the schema (positive and
negative); ``max_examples`` bounds the run (about a minute here).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from consult_bridge.app import create_app
from schemas import Alert, AlertLevel
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    DR_LI,
    MARY,
    MARY_SELF,
    NOW,
    REVIEWER_A,
    Stores,
)

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency")
from schemathesis.checks import (  # noqa: E402 - after the skip
    not_a_server_error,
    response_schema_conformance,
)

from alerting.ladder import open_ladder  # noqa: E402
from alerting.ladder_store import (  # noqa: E402
    PostgresLadderStore,
    SqliteLadderStore,
    ladder_db_path,
)
from tests.conftest import POSTGRES_DSN_ENV  # noqa: E402


def _app_over_a_real_store(stores: Stores) -> FastAPI:
    """The API over real stores holding a wearer, a clinic and an open SOS ladder."""
    stores.ladders.put_wearer_alerting("wb-0001", MARY)
    alert = Alert(
        alert_id="wb-0001:1:1:sos:red",
        device_id="wb-0001",
        level=AlertLevel.RED,
        raised_at=NOW,
        source="sos",
        summary="SOS key held",
    )
    stepped = open_ladder(alert, MARY.directory, [], MARY.policy, now=NOW)
    stores.ladders.save(stepped.ladder, stepped.actions, alert_id=alert.alert_id)
    stores.access.enrol("wb-0001", "clinic-a", NOW)
    return create_app(stores.deps(lambda: NOW + dt.timedelta(minutes=5)))


# Loaded at import: schemathesis' lazy fixture loader does not work with pytest 9.
_DIR = Path(tempfile.mkdtemp(prefix="vigil-fuzz-"))
_DB = _DIR / "vigil.db"
_STORES = Stores(f"sqlite:///{_DB}", SqliteLadderStore(ladder_db_path(_DB)))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app_over_a_real_store(_STORES))

# And over PostgreSQL, in a schema of its own, when the tests have a server.
_PG_BASE = os.environ.get(POSTGRES_DSN_ENV)
_PG_SCHEMA = f"fuzz_{uuid.uuid4().hex[:12]}"
_PG_STORES: Stores | None = None
if _PG_BASE:
    with psycopg.connect(_PG_BASE, autocommit=True) as _conn:
        _conn.execute(f"CREATE SCHEMA {_PG_SCHEMA}")
    _sep = "&" if "?" in _PG_BASE else "?"
    _dsn = f"{_PG_BASE}{_sep}options=-csearch_path%3D{_PG_SCHEMA}"
    _PG_STORES = Stores(_dsn, PostgresLadderStore(_dsn))
    pg_schema = schemathesis.openapi.from_asgi("/openapi.json", _app_over_a_real_store(_PG_STORES))
else:  # the same description, so the test is collected and then skipped with the reason
    pg_schema = schema


# Session-scoped: under pytest-xdist's work stealing a worker may leave this module and
# come back to it; a module-scoped fixture is then torn down (stores closed, files gone)
# and set up again around stores made once at import. Found with `-n 4`.
@pytest.fixture(scope="session", autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    _STORES.close()
    shutil.rmtree(_DIR, ignore_errors=True)
    if _PG_STORES is not None and _PG_BASE:
        _PG_STORES.close()
        with psycopg.connect(_PG_BASE, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {_PG_SCHEMA} CASCADE")


CALLERS = {
    "wearer": MARY_SELF,
    "family": ANNA,
    "clinician": DR_LI,
    "reviewer": REVIEWER_A,
    "admin": ADMIN_A,
}


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_makes_the_api_fail_or_break_its_schema(case: object) -> None:
    # Each generated call is made as every role (schemathesis tests take no pytest params).
    for headers in CALLERS.values():
        case.call_and_validate(  # type: ignore[attr-defined]
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )


@pytest.mark.postgres
@pg_schema.parametrize()  # type: ignore[untyped-decorator]
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_makes_the_api_fail_on_postgresql(case: object) -> None:
    if _PG_STORES is None:
        pytest.skip(f"{POSTGRES_DSN_ENV} is not set: no PostgreSQL server for this tier")
    for headers in CALLERS.values():
        case.call_and_validate(  # type: ignore[attr-defined]
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
