"""What the HTTP edge (``vigil/http_edge.py``) costs a request: with it against without.

Two uvicorn servers on loopback serve the same small FastAPI app, the shape of an API
read (``GET /v1/wearers/{device_id}/ladders``, a short JSON list) and of a write with a
2 KB JSON body (``POST /v1/wearers/{device_id}/notes``). One has the edge in front (size
check, token bucket, metrics by route template); the other, the baseline measured in the
same run, has nothing. The bucket is set high enough never to refuse: what is measured is
the price of checking, not of refusing. Each server is a process of its own (sharing one
with the client, the GIL made the noise larger than the difference). One keep-alive client
sends the requests one at a time, alternating between the servers round by round so that
drift hits both alike.

Usage: ``python -m bench.http_edge [--requests N] [--rounds R]``. Writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request

from bench._report import final_line, write_section
from vigil.embedded_broker import free_port
from vigil.http_edge import EdgeLimits, HttpEdge, HttpMeter

BODY = {"text": "x" * 2000}
NEVER_REFUSES = EdgeLimits(rate_per_s=1e9, burst=10**9)


def app(*, edge: bool, meter: HttpMeter | None = None) -> FastAPI:
    """The benchmark's app, with or without the edge (counting into ``meter``)."""
    made = FastAPI()

    @made.get("/v1/wearers/{device_id}/ladders")
    def ladders(device_id: str) -> list[dict[str, Any]]:
        return [{"ladder_id": f"{device_id}-1", "level": "red", "phase": "acknowledged"}]

    @made.post("/v1/wearers/{device_id}/notes")
    async def note(device_id: str, request: Request) -> dict[str, Any]:
        return {"device_id": device_id, "bytes": len(await request.body())}

    if edge:
        made.add_middleware(HttpEdge, limits=NEVER_REFUSES, meter=meter or HttpMeter("bench"))
    return made


def with_edge() -> FastAPI:
    """The app with the edge (uvicorn's ``--factory``)."""
    return app(edge=True)


def without_edge() -> FastAPI:
    """The baseline app (uvicorn's ``--factory``)."""
    return app(edge=False)


class ServedProcess:
    """``factory`` (``module:function``) on uvicorn in a process of its own."""

    def __init__(self, factory: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(self.port),
             "--log-level", "warning"],
        )  # fmt: skip

    def __enter__(self) -> ServedProcess:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise TimeoutError(f"uvicorn did not listen on {self.port}")

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Served:
    """An app on uvicorn in a thread of its own, on a free loopback port (tests)."""

    def __init__(self, asgi: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(asgi, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def timed(client: httpx.Client, requests: int) -> list[float]:
    """Each request's time in seconds: reads and writes, alternating."""
    took = []
    for i in range(requests):
        started = time.perf_counter()
        if i % 2:
            answer = client.post(f"/v1/wearers/wb-{i % 100:04d}/notes", json=BODY)
        else:
            answer = client.get(f"/v1/wearers/wb-{i % 100:04d}/ladders")
        took.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"answer {answer.status_code}: {answer.text[:200]}")
    return took


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(values, n=100)[98]


async def _asgi_call(asgi: FastAPI, i: int) -> None:
    """One request handed straight to ``asgi`` (no server, no socket)."""
    write = i % 2 == 1
    body = json.dumps(BODY).encode() if write else b""
    path = f"/v1/wearers/wb-{i % 100:04d}/" + ("notes" if write else "ladders")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "POST" if write else "GET", "scheme": "http", "path": path,
        "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"answer {message['status']}")

    await asgi(scope, receive, send)


def asgi_us(rounds: int, calls: int) -> dict[str, float]:
    """Microseconds per request handed in process to each app, best round of ``rounds``."""
    apps = {"edge": app(edge=True), "baseline": app(edge=False)}
    best = dict.fromkeys(apps, float("inf"))

    async def measure() -> None:
        for asgi in apps.values():  # warm-up
            for i in range(200):
                await _asgi_call(asgi, i)
        for _ in range(rounds):
            for name, asgi in apps.items():
                started = time.perf_counter()
                for i in range(calls):
                    await _asgi_call(asgi, i)
                best[name] = min(best[name], (time.perf_counter() - started) / calls * 1e6)

    asyncio.run(measure())
    return best


def main() -> None:
    """Measure both servers, write BENCHMARKS.md, print the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="per server and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    took: dict[str, list[float]] = {"edge": [], "baseline": []}
    with (
        ServedProcess("bench.http_edge:with_edge") as edged,
        ServedProcess("bench.http_edge:without_edge") as plain,
    ):
        clients = {
            "edge": httpx.Client(base_url=f"http://127.0.0.1:{edged.port}", timeout=10),
            "baseline": httpx.Client(base_url=f"http://127.0.0.1:{plain.port}", timeout=10),
        }
        try:
            for client in clients.values():
                timed(client, 200)  # warm-up: connections, imports, first-call caches
            for _ in range(args.rounds):
                for name, client in clients.items():
                    took[name] += timed(client, args.requests)
        finally:
            for client in clients.values():
                client.close()
    rate = {name: len(t) / sum(t) for name, t in took.items()}
    in_process = asgi_us(args.rounds, args.requests)
    figures: dict[str, float | int] = {
        "requests_per_server": len(took["edge"]),
        "edge_requests_per_s": round(rate["edge"]),
        "baseline_requests_per_s": round(rate["baseline"]),
        "edge_p50_ms": round(statistics.median(took["edge"]) * 1000, 3),
        "baseline_p50_ms": round(statistics.median(took["baseline"]) * 1000, 3),
        "edge_p99_ms": round(p99(took["edge"]) * 1000, 3),
        "baseline_p99_ms": round(p99(took["baseline"]) * 1000, 3),
        "edge_us_per_request": round((1 / rate["edge"] - 1 / rate["baseline"]) * 1e6, 1),
        "ratio_to_baseline": round(rate["baseline"] / rate["edge"], 3),
        "asgi_edge_us": round(in_process["edge"], 1),
        "asgi_baseline_us": round(in_process["baseline"], 1),
        "asgi_ratio_to_baseline": round(in_process["edge"] / in_process["baseline"], 3),
    }
    write_section(
        "http_edge",
        f"python -m bench.http_edge --requests {args.requests} --rounds {args.rounds}",
        figures,
        "The cost of `vigil api`'s HTTP edge (body-size check, per-client token bucket, "
        "Prometheus counters and a histogram by route template) per request: the same "
        "FastAPI app on uvicorn over loopback with the edge and without it (the baseline), "
        "each server a process of its own, one keep-alive client, half reads and half 2 KB "
        "JSON writes, rounds alternating between the servers. `ratio_to_baseline` is time "
        "per request with the edge over without; `edge_us_per_request` the difference. "
        "The bucket is set never to refuse. `asgi_*_us`: the same requests handed to each "
        "app in process, no server or socket, which isolates what the edge itself adds.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
