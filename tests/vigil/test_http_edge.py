"""The HTTP edge (issue 10): oversize bodies and floods are refused with 413 and 429 and
counted, the server keeps answering everyone else, and every answer is counted by route
template. In process over ASGI for the edge cases, then ``vigil api`` as a process with
its ``/metrics`` scraped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.vigil.service_process import VigilRun
from tests.vigil.test_metrics import scrape
from vigil.embedded_broker import free_port
from vigil.http_edge import EdgeLimits, HttpEdge, HttpMeter
from vigil.rate_limits import TokenBuckets

SECRET = "an-api-secret-of-at-least-32-bytes!"


def edge_app(limits: EdgeLimits) -> tuple[FastAPI, HttpMeter, list[bytes]]:
    """A small app behind the edge; the bodies its route was given."""
    app = FastAPI()
    bodies: list[bytes] = []

    @app.post("/items/{item_id}")
    async def put_item(item_id: str, request: Request) -> dict[str, str]:
        bodies.append(await request.body())
        return {"item": item_id}

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    meter = HttpMeter("test")
    app.add_middleware(HttpEdge, limits=limits, meter=meter)
    return app, meter, bodies


def samples(meter: HttpMeter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(meter.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def client(app: FastAPI, peer: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://vigil")


def test_a_bucket_lets_a_burst_through_then_makes_the_client_wait_for_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: the next token in 1/rate s
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    now[0] = 100.0  # a long pause fills the bucket only up to the burst
    assert [buckets.take("a") for _ in range(4)][-1] > 0


async def test_an_oversize_body_is_refused_before_the_route_and_counted() -> None:
    app, meter, bodies = edge_app(EdgeLimits(max_body_bytes=1024, rate_per_s=0))
    async with client(app) as http:
        declared = await http.post("/items/a", content=b"x" * 2000)
        assert declared.status_code == 413
        assert "1024 bytes" in declared.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(5):
                yield b"y" * 400

        streamed = await http.post("/items/b", content=chunks())
        assert streamed.status_code == 413
        fits = await http.post("/items/c", content=b"z" * 1024)
        assert fits.status_code == 200
    assert bodies == [b"z" * 1024]  # the route saw only the body within the limit, whole
    seen = samples(meter)
    assert seen[("vigil_http_refused_total", (("reason", "too_large"), ("server", "test")))] == 2
    assert seen[("vigil_http_refused_total", (("reason", "rate_limited"), ("server", "test")))] == 0


async def test_a_flooding_client_gets_429_while_others_and_health_checks_go_on() -> None:
    app, meter, _ = edge_app(EdgeLimits(rate_per_s=1.0, burst=5))
    async with client(app, "10.0.0.1") as flood, client(app, "10.0.0.2") as other:
        answers = [(await flood.post("/items/a", content=b"{}")).status_code for _ in range(20)]
        assert answers[:5] == [200] * 5
        assert set(answers[5:]) == {429}
        refused = await flood.post("/items/a", content=b"{}")
        assert refused.headers["retry-after"] == "1"
        assert (await flood.get("/healthz")).status_code == 200  # never limited
        assert (await other.post("/items/a", content=b"{}")).status_code == 200
    seen = samples(meter)
    assert (
        seen[("vigil_http_refused_total", (("reason", "rate_limited"), ("server", "test")))] == 16
    )
    by_route = {
        labels: value
        for (name, labels), value in seen.items()
        if name == "vigil_http_requests_total"
    }
    # By route template: the item ids never become label values.
    assert (
        by_route[
            (
                ("method", "POST"),
                ("route", "/items/{item_id}"),
                ("server", "test"),
                ("status", "200"),
            )
        ]
        == 6
    )
    assert (
        by_route[
            (("method", "POST"), ("route", "unmatched"), ("server", "test"), ("status", "429"))
        ]
        == 16
    )


def test_vigil_api_refuses_floods_and_oversize_bodies_and_shows_them_in_its_metrics(
    tmp_path: Path,
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        "VIGIL_DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.db'}",
        "VIGIL_API_JWT_SECRET": SECRET,
        "VIGIL_API_PORT": str(port),
        "VIGIL_METRICS_PORT": str(metrics_port),
        "VIGIL_HTTP_RATE_PER_S": "2",
        "VIGIL_HTTP_RATE_BURST": "10",
        "VIGIL_HTTP_MAX_BODY_BYTES": "4096",
    }
    api = VigilRun(env, ("api",), ready="ready: the API")
    api.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            huge = http.post("/v1/token", content=b"u" * 100_000)
            assert huge.status_code == 413
            # No token: 401 from the route itself, until the edge says 429.
            answers = [http.get("/v1/wearers/wb-0001/ladders").status_code for _ in range(30)]
            assert answers[:9] == [401] * 9  # the burst, less the oversize request's token
            assert set(answers[9:]) <= {401, 429}
            assert answers.count(429) >= 15
            assert http.get("/healthz").status_code == 200
        seen = scrape(metrics_port)
        refused = {
            dict(labels)["reason"]: value
            for (name, labels), value in seen.items()
            if name == "vigil_http_refused_total"
        }
        assert refused["too_large"] == 1
        assert refused["rate_limited"] == answers.count(429)
        key = (
            "vigil_http_requests_total",
            (
                ("method", "GET"),
                ("route", "/v1/wearers/{device_id}/ladders"),
                ("server", "api"),
                ("status", "401"),
            ),
        )
        assert seen[key] == answers.count(401)
        assert api.alive()
    finally:
        assert api.terminate() == 0
