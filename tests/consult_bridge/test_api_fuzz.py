"""Schemathesis against the API's own OpenAPI description: no 500s, no response that
breaks its declared schema, whatever the inputs, for callers of each role.

The app runs in process (ASGI) over a real SQLite store holding a wearer with grants, a
clinic, a ladder and a consultation, so the generated calls reach real code paths, not
only the validation layer. Hypothesis draws the inputs from the schema (positive and
negative); ``max_examples`` bounds the run (about a minute here).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
from vigil.api import StoreLadderDesk

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency")
from schemathesis.checks import (  # noqa: E402 - after the skip
    not_a_server_error,
    response_schema_conformance,
)

from alerting.ladder import open_ladder  # noqa: E402
from alerting.ladder_store import SqliteLadderStore, ladder_db_path  # noqa: E402


def _app_over_a_real_store(db: Path) -> tuple[FastAPI, Stores]:
    """The API over a SQLite store with a wearer, grants, a clinic and an open SOS ladder."""
    stores = Stores(f"sqlite:///{db}", SqliteLadderStore(ladder_db_path(db)))
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
    app = create_app(
        secret="k" * 32,
        ladders=StoreLadderDesk(stores.ladders),
        access=stores.access,
        health=stores.health,
        audit=stores.audit,
        notices=stores.notices,
        consults=stores.consults,
        links=stores.links,
        clinic=stores.clinic,
        profiles=stores.profiles,
        clock=lambda: NOW + dt.timedelta(minutes=5),
    )
    return app, stores


# Loaded at import: schemathesis' lazy fixture loader does not work with pytest 9.
_DIR = Path(tempfile.mkdtemp(prefix="vigil-fuzz-"))
_APP, _STORES = _app_over_a_real_store(_DIR / "vigil.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    _STORES.close()
    shutil.rmtree(_DIR, ignore_errors=True)


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
