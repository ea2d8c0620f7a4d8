"""The edge benchmark races like for like: both servers answer the same, and the edged one
really passes every request through the edge (its metrics count them)."""

from __future__ import annotations

import httpx

from bench.http_edge import Served, app, timed
from vigil.http_edge import HttpMeter


def test_both_servers_answer_alike_and_the_edge_counts_every_request() -> None:
    meter = HttpMeter("bench")
    with Served(app(edge=True, meter=meter)) as with_edge, Served(app(edge=False)) as without:
        answers = []
        for server in (with_edge, without):
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
                assert len(timed(client, 20)) == 20
                answers.append(client.post("/v1/wearers/wb-1/notes", json={"a": 1}).json())
    assert answers[0] == answers[1] == {"device_id": "wb-1", "bytes": 7}
    counted = sum(
        s.value
        for metric in meter.registry.collect()
        for s in metric.samples
        if s.name == "vigil_http_requests_total"
    )
    assert counted == 21
