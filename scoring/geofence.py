"""Geofence geometry: where a GPS fix is relative to a wearer's fences, in metres.

Fences are circles (centre and radius) or polygons (latitude/longitude vertices).
Coordinates are projected to a local plane in metres (equirectangular around the
wearer's fences; the test finds distances within 0.2 % of the great circle up to 3 km
from the reference, far below GPS accuracy), where shapely measures distances. The
*signed distance* of a fix to a fence is negative inside and positive outside.

GPS accuracy (the fix's 68 % radius, ``accuracy_m``) decides how sure a verdict is:
a fix is *surely outside* a fence when even the nearest point of its accuracy circle is
more than the fence's margin outside (``d - accuracy > margin``), and *surely inside*
when its whole accuracy circle is inside (``d + accuracy <= 0``). Anything between is
*uncertain* and changes nothing: this gap, plus a dwell time in the processor, is what
keeps GPS jitter at the boundary from flapping alerts.

With many fences, a shapely STRtree finds the fences near a fix; the others are surely
outside by construction (their margin-grown shapes do not reach the fix's accuracy
circle) and are not measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal

import msgspec
import shapely
from shapely import STRtree
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
Verdict = Literal["inside", "outside", "uncertain"]


class Circle(msgspec.Struct, frozen=True, kw_only=True, tag="circle"):
    """A round fence."""

    lat_deg: float
    lon_deg: float
    radius_m: float


class Area(msgspec.Struct, frozen=True, kw_only=True, tag="polygon"):
    """A polygon fence: vertices as (lat, lon), not closed (the last joins the first)."""

    vertices: tuple[tuple[float, float], ...]


class Projection(msgspec.Struct, frozen=True):
    """Equirectangular projection around a reference point, in metres."""

    lat0_deg: float
    lon0_deg: float

    def to_xy(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Metres east and north of the reference."""
        x = math.radians(lon_deg - self.lon0_deg) * math.cos(math.radians(self.lat0_deg))
        return x * EARTH_RADIUS_M, math.radians(lat_deg - self.lat0_deg) * EARTH_RADIUS_M


def centre(shape: Circle | Area) -> tuple[float, float]:
    """A fence shape's centre (lat, lon): a circle's, or a polygon's mean vertex."""
    if isinstance(shape, Circle):
        return shape.lat_deg, shape.lon_deg
    lats = [v[0] for v in shape.vertices]
    lons = [v[1] for v in shape.vertices]
    return sum(lats) / len(lats), sum(lons) / len(lons)


def _geometry(shape: Circle | Area, projection: Projection) -> BaseGeometry:
    if isinstance(shape, Circle):
        if shape.radius_m <= 0:
            raise ValueError("a circle fence needs a positive radius")
        return Point(projection.to_xy(shape.lat_deg, shape.lon_deg)).buffer(
            shape.radius_m, quad_segs=32
        )
    if len(shape.vertices) < 3:
        raise ValueError("a polygon fence needs at least three vertices")
    polygon = Polygon([projection.to_xy(lat, lon) for lat, lon in shape.vertices])
    if not polygon.is_valid:
        raise ValueError(f"the polygon is not valid: {shapely.is_valid_reason(polygon)}")
    return polygon


class FenceGeometry:
    """A wearer's fence shapes in one local projection, with a spatial index."""

    def __init__(self, shapes: Sequence[Circle | Area], margins_m: Sequence[float]) -> None:
        if len(shapes) != len(margins_m):
            raise ValueError("one margin per fence")
        if shapes:
            centres = [centre(s) for s in shapes]
            lat0 = sum(c[0] for c in centres) / len(centres)
            lon0 = sum(c[1] for c in centres) / len(centres)
        else:
            lat0 = lon0 = 0.0
        self.projection = Projection(lat0, lon0)
        self.geometries = [_geometry(s, self.projection) for s in shapes]
        self.margins_m = list(margins_m)
        # Index the shapes grown by their margins: a fix whose accuracy circle misses
        # a grown shape is surely outside that fence.
        self._tree = STRtree(
            [g.buffer(m) for g, m in zip(self.geometries, self.margins_m, strict=True)]
        )

    def signed_distance(self, index: int, x: float, y: float) -> float:
        """Metres from the fence's boundary: negative inside, positive outside."""
        geometry = self.geometries[index]
        point = Point(x, y)
        distance = float(geometry.exterior.distance(point))
        return -distance if geometry.contains(point) else distance

    def verdicts(
        self, lat_deg: float, lon_deg: float, accuracy_m: float
    ) -> list[tuple[Verdict, float | None]]:
        """(verdict, signed distance or None when not measured) for every fence."""
        x, y = self.projection.to_xy(lat_deg, lon_deg)
        near = set(self._tree.query(Point(x, y).buffer(max(accuracy_m, 0.0) + 1.0)).tolist())
        out: list[tuple[Verdict, float | None]] = []
        for i, margin in enumerate(self.margins_m):
            if i not in near:
                out.append(("outside", None))
                continue
            d = self.signed_distance(i, x, y)
            if d - accuracy_m > margin:
                out.append(("outside", d))
            elif d + accuracy_m <= 0:
                out.append(("inside", d))
            else:
                out.append(("uncertain", d))
        return out
