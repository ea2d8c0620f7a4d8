"""What the dashboard's pages show, read through the API's checks and audit log.

Each function reads one thing for one caller: ``check`` decides (and audits a refusal),
the read is audited as ``read`` with ``dashboard`` in its detail, as an API read is. The
wearers list asks ``may`` first, so a category the caller was never granted shows as
"not shared" without a refusal written for every row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import msgspec
import numpy as np

from consult_bridge.access import may
from consult_bridge.auth import Principal
from consult_bridge.deps import READERS, Deps, check
from consult_bridge.desks import LadderView
from consult_bridge.web.svg import Fix, Point
from schemas.access import READING_TYPES, Category
from schemas.consultation import Consultation, ConsultState
from schemas.health_records import HealthRecord

LEVEL_ORDER = {"yellow": 1, "orange": 2, "red": 3}
LEVEL_NAMES = {v: k for k, v in LEVEL_ORDER.items()}
#: A NEWS2 score older than this no longer says how the wearer is now.
SCORE_CURRENT_FOR = dt.timedelta(hours=1)
TABS: tuple[Category, ...] = ("vitals", "indices", "ecg", "alerts", "location")
RANGES: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "6h": dt.timedelta(hours=6),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
}
MAX_POINTS = 2_000  # per reading type in a chart; a longer window is thinned evenly
MAX_STRIPS = 12
QUEUE_STATES: tuple[ConsultState, ...] = (
    "submitted",
    "pending_review",
    "reissued",
    "approved",
    "in_session",
)


def shared(
    deps: Deps, who: Principal, device_id: str, categories: Sequence[Category]
) -> list[Category]:
    """Those of ``categories`` a reader may see of the wearer now (nothing audited).

    The wearer's clinic, grants and break-glass openings are read once for them all.
    """
    if who.role not in READERS:
        return []
    emergencies = deps.access.emergencies_of(device_id) if who.role == "clinician" else []
    clinic, grants, now = (
        deps.access.clinic_of(device_id),
        deps.access.grants_of(device_id),
        deps.clock(),
    )
    return [
        c
        for c in categories
        if may(who, device_id, c, clinic=clinic, grants=grants, now=now, emergencies=emergencies)
    ]


def refuse(deps: Deps, who: Principal, device_id: str, category: Category) -> None:
    """Audit a page asked for a category the caller may not see (as the API's 404 does)."""
    deps.record(who, device_id, category, "denied", "dashboard read")


def visible_wearers(deps: Deps, who: Principal) -> list[str]:
    """The wearers the caller may see something of: own band, grants, or their clinic."""
    if who.role == "wearer":
        return [who.device] if who.device else []
    if who.role == "family":
        now = deps.clock()
        return sorted({g.device_id for g in deps.access.granted_to(who.sub) if g.in_force(now)})
    return deps.access.enrolled_in(who.tenant) if who.tenant else []


class WearerRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the wearers list; ``None``: not shared with the caller."""

    device_id: str
    # The worst of the open ladders and the last hour's newest NEWS2 score; "" for none.
    # An acknowledged ladder has ended, but a wearer still scoring red is still red.
    level: str | None
    last_reading: dt.datetime | None
    shared_vitals: bool
    shared_alerts: bool


def _audit(
    deps: Deps, who: Principal, device_id: str, category: str, *, detail: str, via: str
) -> None:
    text = f"dashboard: {detail}" + (f" ({via})" if via else "")
    deps.record(who, device_id, category, "read", text)


def wearer_row(deps: Deps, who: Principal, device_id: str) -> WearerRow:
    """The wearer's current level and data freshness, as far as the caller may see."""
    level: str | None = None
    last: dt.datetime | None = None
    seen = shared(deps, who, device_id, ("alerts", "vitals"))
    shared_alerts, shared_vitals = "alerts" in seen, "vitals" in seen
    if shared_alerts:
        via = check(deps, who, device_id, "alerts", roles=READERS, action="read")
        levels = [x.level for x in deps.ladders.ladders_of(device_id) if x.is_open]
        score = deps.health.latest_news2(device_id)
        if score is not None and deps.clock() - score[0] <= SCORE_CURRENT_FOR:
            levels.append(LEVEL_NAMES.get(score[1], ""))
        level = max(levels, key=lambda v: LEVEL_ORDER.get(v, 0), default="")
        _audit(deps, who, device_id, "alerts", detail="level in the wearers list", via=via)
    if shared_vitals:
        via = check(deps, who, device_id, "vitals", roles=READERS, action="read")
        now = deps.clock()
        newest = deps.health.readings(
            device_id,
            READING_TYPES["vitals"],
            now - dt.timedelta(days=7),
            now + dt.timedelta(days=1),
            1,
            newest=True,
        )
        last = newest[0].measured_at if newest else None
        _audit(deps, who, device_id, "vitals", detail="freshness in the wearers list", via=via)
    return WearerRow(
        device_id=device_id,
        level=level,
        last_reading=last,
        shared_vitals=shared_vitals,
        shared_alerts=shared_alerts,
    )


def records(
    deps: Deps,
    who: Principal,
    device_id: str,
    category: Category,
    *,
    since: dt.datetime,
    until: dt.datetime,
) -> list[HealthRecord]:
    """A category's records in the window, checked and audited.

    Readings: at most ``MAX_POINTS`` of each type, from every n-th batch when the window
    holds more, so a week is drawn end to end (each kept reading is as measured, not an
    average). Indices: the window's first ``MAX_POINTS``; ECG: the last ``MAX_STRIPS``.
    """
    via = check(deps, who, device_id, category, roles=READERS, action="read")
    if category == "indices":
        found = deps.health.indices(device_id, since, until, MAX_POINTS)
    elif category == "ecg":
        found = deps.health.ecg(device_id, since, until, MAX_STRIPS, newest=True)
    else:
        found = []
        for kind in READING_TYPES[category]:
            count = deps.health.count(device_id, kind, since, until)
            every = max(1, math.ceil(count / MAX_POINTS))
            found += deps.health.readings(device_id, (kind,), since, until, MAX_POINTS, every=every)
        found.sort(key=lambda r: r.measured_at)
    detail = f"{len(found)} records from {since:%Y-%m-%d %H:%M}Z"
    _audit(deps, who, device_id, category, detail=detail, via=via)
    return found


def series_of(found: Sequence[HealthRecord], kind: str, field: str) -> list[Point]:
    """(time, value) of one field of one reading type, skipping missing values."""
    points: list[Point] = []
    for r in found:
        if r.type != kind:
            continue
        value = r.values.get(field)
        if isinstance(value, int | float) and math.isfinite(value):
            points.append((r.measured_at, float(value)))
    return points


def latest_values(found: Sequence[HealthRecord]) -> dict[str, HealthRecord]:
    """The newest record of each type; for temperature a core one when there is one.

    A band's wrist skin temperature runs degrees below core (NEWS2 scores core only).
    """
    newest: dict[str, HealthRecord] = {}
    for r in found:
        core_shown = r.type == "temperature" and newest.get(r.type, r).values.get("site") != "wrist"
        if r.type == "temperature" and r.values.get("site") == "wrist" and core_shown:
            continue
        newest[r.type] = r
    return newest


def ladders(deps: Deps, who: Principal, device_id: str, since: dt.datetime) -> list[LadderView]:
    """The wearer's ladders opened since ``since`` or still open, newest first."""
    via = check(deps, who, device_id, "alerts", roles=READERS, action="read")
    found = [x for x in deps.ladders.ladders_of(device_id) if x.is_open or x.opened_at >= since]
    _audit(deps, who, device_id, "alerts", detail=f"{len(found)} ladders", via=via)
    return sorted(found, key=lambda x: x.opened_at, reverse=True)


class Strip(msgspec.Struct, frozen=True, kw_only=True):
    """An ECG strip for the viewer: its samples, R-peaks and the detector's verdict."""

    at: dt.datetime
    fs_hz: float
    samples_uv: list[int]
    r_peaks: list[int]
    rhythm: str
    heart_rate_bpm: float | None


def strips(found: Sequence[HealthRecord]) -> list[Strip]:
    """Each strip with Vigil's own R-peaks and rhythm (``scoring.af.classify_rhythm``)."""
    from scoring.af import classify_rhythm  # noqa: PLC0415 - scipy loads only for the ECG page
    from scoring.ecg import EcgError  # noqa: PLC0415

    shown = []
    for r in found:
        fs = float(r.values["sampling_rate_hz"])
        samples = [int(v) for v in r.values["samples_uv"]]
        try:
            result = classify_rhythm(np.asarray(samples, dtype=np.float64) / 1000.0, fs)
            peaks, rhythm = list(result.r_peaks), str(result.rhythm)
        except EcgError:
            peaks, rhythm = [], "unreadable"
        rate = None
        if len(peaks) > 1:
            rate = 60.0 * fs / float(np.mean(np.diff(peaks)))
        shown.append(
            Strip(
                at=r.measured_at,
                fs_hz=fs,
                samples_uv=samples,
                r_peaks=peaks,
                rhythm=rhythm,
                heart_rate_bpm=rate,
            )
        )
    return shown


def af_episodes(shown: Sequence[Strip]) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """Runs of strips called AF: (first AF strip, first strip after it that is not AF)."""
    episodes: list[tuple[dt.datetime, dt.datetime | None]] = []
    start: dt.datetime | None = None
    for s in shown:
        if s.rhythm == "af" and start is None:
            start = s.at
        elif s.rhythm not in ("af", "unreadable") and start is not None:
            episodes.append((start, s.at))
            start = None
    if start is not None:
        episodes.append((start, None))
    return episodes


def trail(found: Sequence[HealthRecord]) -> list[Fix]:
    """The GPS fixes as a trail."""
    return [
        Fix(
            r.measured_at,
            float(r.values["lat_deg"]),
            float(r.values["lon_deg"]),
            float(r.values.get("accuracy_m") or 0.0),
        )
        for r in found
        if r.type == "gps" and r.values.get("lat_deg") is not None
    ]


def queue(deps: Deps, who: Principal) -> list[Consultation]:
    """The clinic's open requests, green first, each audited per wearer as the API does."""
    if who.tenant is None:
        return []
    found = deps.consults.queue(who.tenant, QUEUE_STATES)
    for c in found:
        deps.record(who, c.device_id, "consultation", "read", f"dashboard queue: {c.consult_id}")
    return found
