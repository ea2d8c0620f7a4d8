"""Charts drawn as SVG on the server: time series, an ECG strip, fences and a trail.

Pure functions from numbers to markup, so a page needs no charting library and no tile
server. Every text that reaches the markup is escaped; numbers are formatted here.

The ECG strip is drawn on the usual paper (ANSI/AAMI EC11): small squares of 40 ms by
0.1 mV, large ones of 200 ms by 0.5 mV, at 25 mm/s and 10 mm/mV.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import msgspec
from markupsafe import Markup, escape

from consult_bridge.desks import FenceShape
from scoring.geofence import Circle, Projection, centre

Point = tuple[dt.datetime, float]


class Series(msgspec.Struct, frozen=True):
    """One line of a chart: its name (for the legend), points, and CSS class."""

    name: str
    points: Sequence[Point]
    css: str = "s0"


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _time_ticks(since: dt.datetime, until: dt.datetime, count: int = 6) -> list[dt.datetime]:
    span = (until - since).total_seconds()
    steps = [60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400]
    step = next(
        (s for s in steps if span / s <= count), 86400 * max(1, round(span / 86400 / count))
    )
    first = math.ceil(since.timestamp() / step) * step
    return [
        dt.datetime.fromtimestamp(t, tz=since.tzinfo or dt.UTC)
        for t in range(int(first), int(until.timestamp()) + 1, step)
    ]


def _value_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def time_chart(
    series: Sequence[Series],
    since: dt.datetime,
    until: dt.datetime,
    *,
    title: str,
    empty: str = "",
    width: int = 720,
    height: int = 180,
) -> Markup:
    """A line chart of ``series`` over ``[since, until)``; gaps over 5 minutes break a line.

    Times are shown in the zone of ``since`` (the page's choice); ``empty`` is written
    across a chart with no value in the window. Series without a name have no legend.
    """
    left, right, top, bottom = 44, 8, 22, 22
    values = [v for s in series for _, v in s.points if math.isfinite(v)]
    if values:
        low, high = min(values), max(values)
        pad = max((high - low) * 0.1, 1.0)
        low, high = low - pad, high + pad
    else:
        low, high = 0.0, 1.0
    t0, t1 = since.timestamp(), until.timestamp()
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: dt.datetime) -> float:
        return left + (t.timestamp() - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + (high - v) / (high - low) * plot_h

    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<text class="title" x="{left}" y="14">{escape(title)}</text>',
    ]
    parts.extend(
        f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(y(v))}" '
        f'y2="{_fmt(y(v))}"/><text class="tick" x="{left - 4}" y="{_fmt(y(v) + 4)}" '
        f'text-anchor="end">{v:g}</text>'
        for v in _value_ticks(low, high)
    )
    for t in _time_ticks(since, until):
        label = t.astimezone(since.tzinfo).strftime("%H:%M" if t1 - t0 <= 86400 else "%m-%d %H:%M")
        parts.append(
            f'<line class="grid" x1="{_fmt(x(t))}" x2="{_fmt(x(t))}" y1="{top}" '
            f'y2="{height - bottom}"/><text class="tick" x="{_fmt(x(t))}" y="{height - 6}" '
            f'text-anchor="middle">{label}</text>'
        )
    for s in series:
        for run in _runs(s.points):
            if len(run) == 1:
                t, v = run[0]
                parts.append(
                    f'<circle class="{escape(s.css)}" cx="{_fmt(x(t))}" cy="{_fmt(y(v))}" r="2"/>'
                )
            else:
                coords = " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in run)
                parts.append(f'<polyline class="{escape(s.css)}" points="{coords}"/>')
    if not values and empty:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle">{escape(empty)}</text>'
        )
    legend_x = width - right
    for s in reversed([s for s in series if s.name]):
        parts.append(
            f'<text class="legend {escape(s.css)}" x="{legend_x}" y="14" '
            f'text-anchor="end">{escape(s.name)}</text>'
        )
        legend_x -= 9 * len(s.name) + 16
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _runs(points: Sequence[Point], gap_s: float = 300.0) -> list[list[Point]]:
    runs: list[list[Point]] = []
    for t, v in points:
        if not math.isfinite(v):
            continue
        if runs and (t - runs[-1][-1][0]).total_seconds() <= gap_s:
            runs[-1].append((t, v))
        else:
            runs.append([(t, v)])
    return runs


def ecg_strip(
    samples_uv: Sequence[int],
    fs_hz: float,
    r_peaks: Sequence[int],
    *,
    title: str,
    px_per_mm: float = 4.0,
) -> Markup:
    """An ECG strip on paper (25 mm/s, 10 mm/mV) with its R-peaks marked."""
    seconds = len(samples_uv) / fs_hz
    mm_w = seconds * 25.0
    mv = [v / 1000.0 for v in samples_uv]
    low = min([*mv, -0.5]) - 0.2
    high = max([*mv, 1.0]) + 0.2
    mm_h = (high - low) * 10.0
    width, height = mm_w * px_per_mm, mm_h * px_per_mm

    def x(i: float) -> float:
        return i / fs_hz * 25.0 * px_per_mm

    def y(v: float) -> float:
        return (high - v) * 10.0 * px_per_mm

    parts = [
        (
            f'<svg class="ecg" viewBox="0 0 {_fmt(width)} {_fmt(height)}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        )
    ]
    for mm in range(int(mm_w) + 1):
        css = "major" if mm % 5 == 0 else "minor"
        parts.append(
            f'<line class="{css}" x1="{_fmt(mm * px_per_mm)}" x2="{_fmt(mm * px_per_mm)}" '
            f'y1="0" y2="{_fmt(height)}"/>'
        )
    for mm in range(int(mm_h) + 1):
        css = "major" if mm % 5 == 0 else "minor"
        parts.append(
            f'<line class="{css}" x1="0" x2="{_fmt(width)}" y1="{_fmt(mm * px_per_mm)}" '
            f'y2="{_fmt(mm * px_per_mm)}"/>'
        )
    step = max(1, len(mv) // 2000)  # at most ~2,000 vertices a strip
    coords = " ".join(f"{_fmt(x(i))},{_fmt(y(mv[i]))}" for i in range(0, len(mv), step))
    parts.append(f'<polyline class="trace" points="{coords}"/>')
    parts.extend(
        f'<path class="rpeak" d="M{_fmt(x(p))},{_fmt(y(mv[p]) - 6)} l-4,-7 h8 z">'
        f"<title>R {p / fs_hz:.2f} s</title></path>"
        for p in r_peaks
        if 0 <= p < len(mv)
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and an escaped title only


class Fix(msgspec.Struct, frozen=True):
    """A location fix for the trail."""

    at: dt.datetime
    lat_deg: float
    lon_deg: float
    accuracy_m: float


def map_view(
    fences: Sequence[FenceShape],
    trail: Sequence[Fix],
    *,
    title: str,
    scale_word: str,
    size: int = 520,
) -> Markup:
    """Fences and a trail on a plain local projection (metres), with a scale bar.

    No map tiles: the picture is the fences, the path and the last fix's accuracy circle,
    north up.
    """
    lats = [f.lat_deg for f in trail] + [centre(f.shape)[0] for f in fences]
    lons = [f.lon_deg for f in trail] + [centre(f.shape)[1] for f in fences]
    if not lats:
        lats, lons = [0.0], [0.0]
    projection = Projection(sum(lats) / len(lats), sum(lons) / len(lons))
    xy: list[tuple[float, float]] = [projection.to_xy(f.lat_deg, f.lon_deg) for f in trail]
    extent: list[tuple[float, float]] = list(xy)
    for f in fences:
        if isinstance(f.shape, Circle):
            cx, cy = projection.to_xy(f.shape.lat_deg, f.shape.lon_deg)
            r = f.shape.radius_m
            extent += [(cx - r, cy - r), (cx + r, cy + r)]
        else:
            extent += [projection.to_xy(lat, lon) for lat, lon in f.shape.vertices]
    extent = extent or [(0.0, 0.0)]
    min_x, max_x = min(p[0] for p in extent), max(p[0] for p in extent)
    min_y, max_y = min(p[1] for p in extent), max(p[1] for p in extent)
    span = max(max_x - min_x, max_y - min_y, 50.0) * 1.15
    mid_x, mid_y = (min_x + max_x) / 2, (min_y + max_y) / 2
    scale = size / span

    def px(p: tuple[float, float]) -> tuple[float, float]:
        return size / 2 + (p[0] - mid_x) * scale, size / 2 - (p[1] - mid_y) * scale

    parts = [
        (
            f'<svg class="map" viewBox="0 0 {size} {size}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<rect class="ground" width="{size}" height="{size}"/>',
    ]
    for f in fences:
        css = "fence " + ("inside" if f.rule == "stay_inside" else "outside")
        if isinstance(f.shape, Circle):
            cx, cy = px(projection.to_xy(f.shape.lat_deg, f.shape.lon_deg))
            parts.append(
                f'<circle class="{css}" cx="{_fmt(cx)}" cy="{_fmt(cy)}" '
                f'r="{_fmt(f.shape.radius_m * scale)}"><title>{escape(f.name)}</title></circle>'
            )
            label_at = (cx, cy - f.shape.radius_m * scale - 4)
        else:
            pts = [px(projection.to_xy(lat, lon)) for lat, lon in f.shape.vertices]
            coords = " ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in pts)
            parts.append(
                f'<polygon class="{css}" points="{coords}"><title>{escape(f.name)}</title>'
                "</polygon>"
            )
            label_at = (min(a for a, _ in pts), min(b for _, b in pts) - 4)
        parts.append(
            f'<text class="fence-name" x="{_fmt(label_at[0])}" y="{_fmt(label_at[1])}">'
            f"{escape(f.name)}</text>"
        )
    if xy:
        coords = " ".join("{},{}".format(*map(_fmt, px(p))) for p in xy)
        parts.append(f'<polyline class="trail" points="{coords}"/>')
        last = px(xy[-1])
        parts.append(
            f'<circle class="accuracy" cx="{_fmt(last[0])}" cy="{_fmt(last[1])}" '
            f'r="{_fmt(trail[-1].accuracy_m * scale)}"/>'
            f'<circle class="here" cx="{_fmt(last[0])}" cy="{_fmt(last[1])}" r="5">'
            f"<title>{trail[-1].at.isoformat(timespec='seconds')}</title></circle>"
        )
    bar_m = _round_metres(span / 4)
    bar_px = bar_m * scale
    parts.append(
        f'<line class="scalebar" x1="12" x2="{_fmt(12 + bar_px)}" y1="{size - 14}" '
        f'y2="{size - 14}"/><text class="tick" x="12" y="{size - 20}">{escape(scale_word)} '
        f"{_metres(bar_m)}</text>"
        f'<text class="tick" x="{size - 14}" y="18" text-anchor="middle">N ↑</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - escaped names and numbers only


def _round_metres(m: float) -> float:
    magnitude = 10 ** math.floor(math.log10(m))
    return float(max(m2 * magnitude for m2 in (1, 2, 5) if m2 * magnitude <= m))


def _metres(m: float) -> str:
    return f"{m / 1000:g} km" if m >= 1000 else f"{m:g} m"
