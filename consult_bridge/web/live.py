"""``GET /ui/wearers/{device_id}/live``: new vital readings as server-sent events.

The stream opens after the same check as a vitals read and is audited once, when it
opens ("dashboard: live"). While it runs the grant is checked again every poll, without
an audit entry each time: a grant that ends, or a window that closes, ends the stream.
A stream lasts at most ``MAX_STREAM_S``; the browser's EventSource then reconnects, which
checks and audits again.

Readings reach storage when ``vigil run`` commits their batch; the stream polls the
store every ``POLL_S`` for readings measured after the last one it sent (device time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from consult_bridge.deps import READERS, check, deps_of
from consult_bridge.web import views
from consult_bridge.web.session import session_of
from schemas.access import READING_TYPES
from schemas.health_records import HealthRecord

routes = APIRouter(prefix="/ui", include_in_schema=False)

POLL_S = 0.5
MAX_STREAM_S = 300.0
BATCH = 500


def event(record: HealthRecord) -> str:
    """One SSE message for a reading: its type, device time and values."""
    data = {"type": record.type, "at": record.measured_at.isoformat(), "values": record.values}
    return f"event: reading\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@routes.get("/wearers/{device_id}/live")
async def live(request: Request, device_id: str) -> StreamingResponse:
    """New vital readings of the wearer, as they are stored."""
    who, _ = session_of(request)
    deps = deps_of(request)
    via = check(deps, who, device_id, "vitals", roles=READERS, action="read")
    deps.record(who, device_id, "vitals", "read", "dashboard: live" + (f" ({via})" if via else ""))
    types = READING_TYPES["vitals"]

    async def stream() -> AsyncIterator[str]:
        now = deps.clock()
        newest = await asyncio.to_thread(
            deps.health.readings, device_id, types, now - dt.timedelta(days=1),
            now + dt.timedelta(days=1), 1, newest=True,
        )  # fmt: skip
        after = newest[0].measured_at if newest else now - dt.timedelta(minutes=1)
        sent_at_after: set[tuple[str, str]] = set()
        yield "retry: 1000\n\n"
        loop = asyncio.get_running_loop()
        ends = loop.time() + MAX_STREAM_S
        while loop.time() < ends and not await request.is_disconnected():
            still = await asyncio.to_thread(views.shared, deps, who, device_id, ("vitals",))
            if not still:
                yield "event: closed\ndata: {}\n\n"
                return
            until = deps.clock() + dt.timedelta(days=1)  # a band's clock may run ahead
            found = await asyncio.to_thread(
                deps.health.readings, device_id, types, after, until, BATCH
            )
            for record in found:
                key = (record.type, json.dumps(record.values, sort_keys=True))
                if record.measured_at == after and key in sent_at_after:
                    continue
                if record.measured_at > after:
                    after, sent_at_after = record.measured_at, set()
                sent_at_after.add(key)
                yield event(record)
            if not found:
                yield ": idle\n\n"  # keeps proxies from closing a quiet stream
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
