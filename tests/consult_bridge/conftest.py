"""The API over real stores (SQLite and PostgreSQL), called in process.

The app is called through httpx's ASGI transport: every request goes through FastAPI's
routing, validation and the bearer check as over a socket; ``vigil api`` as a real
server is tested end to end in ``tests/vigil/test_api_service.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.ladder import LadderPolicy
from alerting.ladder_store import (
    LadderStore,
    PostgresLadderStore,
    SqliteLadderStore,
    ladder_db_path,
)
from consult_bridge.app import create_app
from consult_bridge.audit import link
from consult_bridge.auth import Principal, issue_token
from consult_bridge.deps import Deps
from consult_bridge.desks import Publisher
from storage import Store, open_store
from storage.access import AccessStore
from storage.accounts import AccountStore
from storage.audit import AuditLog
from storage.clinic_staff import ClinicStaffStore
from storage.consultations import ConsultationStore
from storage.health_profiles import HealthProfileStore
from storage.health_reads import HealthReader
from storage.notices import NoticeBoard
from storage.play_links import PlayLinkStore
from storage.sql_desk import SqlDesk, open_desk
from tests.alerting.people import mary
from vigil.api import StoreLadderDesk, StoreProfileDesk

SECRET = "k" * 32
AUDIT_KEY = b"a" * 32
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
MARY = mary(LadderPolicy(grace_s=30))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


class Stores:
    """The stores an API works on, over one database."""

    def __init__(self, url: str, ladders: LadderStore) -> None:
        self.url = url
        self.main: Store = open_store(url)
        self.main.migrate()
        self.ladders = ladders
        self.desk: SqlDesk = open_desk(url)
        self.access = AccessStore(self.desk)
        self.audit = AuditLog(self.desk, functools.partial(link, AUDIT_KEY))
        self.notices = NoticeBoard(self.desk)
        self.health = HealthReader(self.desk)
        self.consults = ConsultationStore(self.desk)
        self.links = PlayLinkStore(self.desk)
        self.clinic = ClinicStaffStore(self.desk)
        self.profiles = StoreProfileDesk(HealthProfileStore(self.desk), self.main)
        self.accounts = AccountStore(self.desk)
        self.publisher: Publisher | None = None  # a test sets one before the client starts

    def deps(self, clock: Callable[[], dt.datetime], **extra: Any) -> Deps:
        """The API's desks over these stores (``extra``: e.g. ``texts``)."""
        return Deps(
            secret=SECRET,
            ladders=StoreLadderDesk(self.ladders),
            access=self.access,
            health=self.health,
            audit=self.audit,
            notices=self.notices,
            consults=self.consults,
            links=self.links,
            clinic=self.clinic,
            profiles=self.profiles,
            accounts=self.accounts,
            publisher=self.publisher,
            clock=clock,
            **extra,
        )

    def close(self) -> None:
        self.ladders.close()
        self.desk.close()
        self.main.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "sqlite":
        db = tmp_path / "vigil.db"
        made = Stores(f"sqlite:///{db}", SqliteLadderStore(ladder_db_path(db)))
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        made = Stores(dsn, PostgresLadderStore(dsn))
    made.ladders.put_wearer_alerting("wb-0001", MARY)
    yield made
    made.close()


@pytest.fixture
async def client(stores: Stores) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock()
    app = create_app(stores.deps(clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http, clock


def bearer(**principal: Any) -> dict[str, str]:
    token = issue_token(Principal(**principal), SECRET, now=NOW, ttl_s=24 * 3600)
    return {"Authorization": f"Bearer {token}"}


MARY_SELF = bearer(sub="mary", role="wearer", device="wb-0001", name="Mary")
OTHER_WEARER = bearer(sub="joe", role="wearer", device="wb-0002")
ANNA = bearer(sub="anna", role="family", name="Anna")
BEN = bearer(sub="ben", role="family", name="Ben")
DORA = bearer(sub="dora", role="family")
CARL = bearer(sub="carl", role="family")
DR_LI = bearer(sub="dr-li", role="clinician", tenant="clinic-a", name="Dr Li")
DR_ROSS = bearer(sub="dr-ross", role="clinician", tenant="clinic-b", name="Dr Ross")
REVIEWER_A = bearer(sub="rev-a", role="reviewer", tenant="clinic-a")
ADMIN_A = bearer(sub="admin-a", role="admin", tenant="clinic-a")
ADMIN_B = bearer(sub="admin-b", role="admin", tenant="clinic-b")


async def set_up_access(http: httpx.AsyncClient) -> None:
    """Mary's grants (Anna: alerts, vitals; Ben: vitals; Dora: alerts, ended) and her clinic."""
    grants = [
        ("anna", ["alerts", "vitals"], None),
        ("ben", ["vitals"], None),
        ("dora", ["alerts"], (NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1))),
    ]
    for viewer, categories, window in grants:
        body: dict[str, Any] = {"viewer": viewer, "categories": categories}
        if window:
            body["not_before"], body["not_after"] = (t.isoformat() for t in window)
        made = await http.post("/v1/wearers/wb-0001/grants", json=body, headers=MARY_SELF)
        assert made.status_code == 201, made.text
    enrolled = await http.put("/v1/wearers/wb-0001/enrolment", headers=ADMIN_A)
    assert enrolled.json() == {"device_id": "wb-0001", "tenant": "clinic-a"}
