"""Provisional township and village polygons derived from seat points (Voronoi), marked derived.

Most Chinese counties publish no township or village boundaries, so GridGov starts from the
seat points and lets planners correct the result. Two rules matter:

* townships (and villages when every village is located) get an exact partition of the parent:
  no gaps, no overlaps, union == parent, so every incident point has exactly one owner;
* villages when only some are located get a bounded disc-shaped area around each known point,
  because a full partition would hand a few located villages the land of all the others.

Pure core: shapely and numpy only, WGS84 lon/lat in and out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gis.crs import metres_per_degree
from gis.errors import InvalidInput
from gis.model import check_lonlat_bounds
from i18n import T, Text
from i18n.units import listing

Method = Literal["partition", "bounded"]

# Two seats closer than this are the same place; a Voronoi edge between them would be noise.
DUPLICATE_TOLERANCE_M = 0.001
# 64-gon discs: inscribed in the true circle, so a village area never exceeds radius_m.
_DISC_QUAD_SEGS = 16
# Derived pieces must add up to the parent this closely, or the derivation has a bug.
_AREA_RTOL = 1e-9


@dataclass(frozen=True)
class DeriveResult:
    """Derived polygons by code, points skipped (code → reason) and the method used."""

    polygons: dict[str, MultiPolygon]
    skipped: dict[str, Text] = field(default_factory=dict)
    method: Method = "partition"


@dataclass(frozen=True)
class _LocalFrame:
    """Affine local equidistant frame (metres) around a centre; affine, so lines map to lines."""

    lon0: float
    lat0: float
    kx: float  # metres per degree of longitude at lat0
    ky: float  # metres per degree of latitude at lat0

    @classmethod
    def around(cls, geom: BaseGeometry) -> _LocalFrame:
        minx, miny, maxx, maxy = geom.bounds
        lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
        kx, ky = metres_per_degree(lat0)
        return cls(lon0, lat0, kx, ky)

    def to_metres(self, lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack(((lonlat[:, 0] - self.lon0) * self.kx, (lonlat[:, 1] - self.lat0) * self.ky))

    def to_lonlat(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack((xy[:, 0] / self.kx + self.lon0, xy[:, 1] / self.ky + self.lat0))


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Polygon/MultiPolygon (or a collection of them) → MultiPolygon, dropping lower dimensions."""
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(polys)


def _check_area(area: BaseGeometry, what: str) -> None:
    """Refuse a parent that is not a valid, non-empty lon/lat (Multi)Polygon."""
    if not isinstance(area, Polygon | MultiPolygon):
        raise InvalidInput(T("{what} must be a Polygon or MultiPolygon, got {geom_type}",
                             what=what, geom_type=area.geom_type), where=what)
    if area.is_empty:
        raise InvalidInput(T("{what} geometry is empty", what=what), where=what)
    check_lonlat_bounds(area, where=what)
    if not area.is_valid:
        raise InvalidInput(T("{what} geometry is invalid: {is_valid_reason}",
                             what=what, is_valid_reason=shapely.is_valid_reason(area)), where=what)


def _lonlat(code: str, value: tuple[float, float], what: str) -> tuple[float, float]:
    """A point as two finite floats within lon/lat range, or InvalidInput naming its code."""
    try:
        lon, lat = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInput(T("{what} {code}: expected (lon, lat), got {value}",
                             what=what, code=code, value=repr(value)), where=code) from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(T("{what} {code}: ({lon}, {lat}) is not a lon/lat position",
                             what=what, code=code, lon=lon, lat=lat), where=code)
    return lon, lat


def _duplicate_groups(codes: list[str], xy: NDArray[np.float64]) -> list[list[str]]:
    """Groups of codes whose points coincide (within DUPLICATE_TOLERANCE_M in the local frame)."""
    if len(codes) < 2:
        return []
    pts = shapely.points(xy)
    left, right = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=DUPLICATE_TOLERANCE_M)
    # Union-find over the close pairs, so A≈B≈C is reported as one group.
    parent = list(range(len(codes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i != j:
            parent[find(i)] = find(j)
    groups: dict[int, list[str]] = {}
    for i, code in enumerate(codes):
        groups.setdefault(find(i), []).append(code)
    return [g for g in groups.values() if len(g) > 1]


def _disc(lon: float, lat: float, radius_m: float) -> Polygon:
    """A polygon inscribed in the circle of radius_m metres around a point, in lon/lat."""
    # Scaled at the point's own latitude, not the frame centre, so the radius holds anywhere.
    kx, ky = metres_per_degree(lat)
    unit = shapely.Point(0.0, 0.0).buffer(radius_m, quad_segs=_DISC_QUAD_SEGS)
    disc = shapely.transform(unit, lambda xy: np.column_stack((xy[:, 0] / kx + lon, xy[:, 1] / ky + lat)))
    assert isinstance(disc, Polygon)
    return disc


def _cover(
    area: BaseGeometry,
    sites: Mapping[str, tuple[float, float]],
    discs: Mapping[str, Polygon] | None = None,
) -> dict[str, MultiPolygon]:
    """Voronoi cells of sites (in metres) cut from area exactly; optionally each cut to its disc.

    The Voronoi edges, the outline of area and the disc outlines are noded together and
    polygonized, so every face is bounded by shared, identical linework: faces of different
    sites cannot overlap or leave slivers, and the faces inside area add up to area itself.
    """
    codes = list(sites)
    if len(codes) == 1 and discs is None:
        return {codes[0]: _as_multipolygon(area)}
    frame = _LocalFrame.around(area)
    xy = frame.to_metres(np.array([sites[c] for c in codes], dtype=float))

    lines: list[BaseGeometry] = [area.boundary]
    if len(codes) > 1:
        # Edges run well past the outline (not clipped to it): an edge clipped exactly at the
        # outline can end a rounding error short of it, leave a dangle and fail to split a face.
        ax0, ay0, ax1, ay1 = shapely.bounds(
            shapely.transform(area, lambda c: frame.to_metres(np.asarray(c, dtype=float)))
        )
        x0, y0 = min(ax0, xy[:, 0].min()), min(ay0, xy[:, 1].min())
        x1, y1 = max(ax1, xy[:, 0].max()), max(ay1, xy[:, 1].max())
        pad = max(x1 - x0, y1 - y0, 1.0)
        edges_m = shapely.voronoi_polygons(
            shapely.multipoints(xy),
            extend_to=shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
            only_edges=True,
        )
        lines.append(shapely.transform(edges_m, lambda c: frame.to_lonlat(np.asarray(c, dtype=float))))
    if discs is not None:
        lines.extend(d.exterior for d in discs.values())

    noded = shapely.union_all(lines)  # full noding: every crossing becomes a shared vertex
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    reps = shapely.point_on_surface(faces)
    # A face lies wholly inside or outside area (the outline is part of the linework), so one
    # interior point decides; faces in holes or beyond the outline are dropped here.
    inside = shapely.contains(area, reps)
    faces, reps = faces[inside], reps[inside]

    # Each face lies in one Voronoi cell; the seat nearest its interior point owns it. That also
    # gives pieces cut off from their seat by a concave outline to the seat whose cell they are in.
    rep_xy = frame.to_metres(shapely.get_coordinates(reps))
    d2 = ((rep_xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    owner = d2.argmin(axis=1)
    keep = np.ones(len(faces), dtype=bool)
    if discs is not None:
        disc_arr = np.array([discs[c] for c in codes], dtype=object)
        keep = shapely.contains(disc_arr[owner], reps)

    result: dict[str, MultiPolygon] = {}
    for i, code in enumerate(codes):
        mine = faces[(owner == i) & keep]
        if len(mine) == 0:
            continue
        # coverage union keeps the shared vertices exactly, so neighbours still fit edge to edge.
        merged = _as_multipolygon(shapely.coverage_union_all(mine))
        if not merged.is_valid:  # should not happen for polygonized faces; repair rather than fail
            merged = _as_multipolygon(shapely.make_valid(merged))
        result[code] = merged

    if discs is None:
        total = sum(p.area for p in result.values())
        if abs(total - area.area) > _AREA_RTOL * area.area:
            raise RuntimeError(f"derived pieces cover {total!r} of {area.area!r} deg²; not a partition")
    return result


def derive_townships(county: BaseGeometry, seats: Mapping[str, tuple[float, float]]) -> DeriveResult:
    """Township polygons: Voronoi cells of the seats (lon, lat) that partition the county exactly."""
    _check_area(county, "county")
    if len(seats) < 1:
        raise InvalidInput(T("no township seats given; at least one is needed"), where="seats")
    clean = {code: _lonlat(code, value, "township seat") for code, value in seats.items()}
    pts = shapely.points(np.array(list(clean.values()), dtype=float))
    outside = [c for c, ok in zip(clean, shapely.covers(county, pts), strict=True) if not ok]
    if outside:
        raise InvalidInput(T("township seat(s) outside the county: {codes}", codes=listing(outside)), where=outside[0])
    frame = _LocalFrame.around(county)
    dups = _duplicate_groups(list(clean), frame.to_metres(np.array(list(clean.values()), dtype=float)))
    if dups:
        listed = listing([" = ".join(g) for g in dups], clauses=True)
        raise InvalidInput(T("township seats at the same point: {codes}", codes=listed), where=dups[0][0])
    return DeriveResult(polygons=_cover(county, clean), skipped={}, method="partition")


def derive_villages(
    township: BaseGeometry,
    points: Mapping[str, tuple[float, float]],
    n_villages: int,
    radius_m: float = 1000.0,
) -> DeriveResult:
    """Village polygons: exact partition if all n_villages are located, else bounded discs."""
    _check_area(township, "township")
    if n_villages < 1:
        raise InvalidInput(T("n_villages must be at least 1, got {n_villages}", n_villages=n_villages),
                           where="n_villages")
    if len(points) > n_villages:
        raise InvalidInput(
            T("{n} village points given but the township has only {n_villages} villages",
              n=len(points), n_villages=n_villages),
            where="n_villages",
        )
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise InvalidInput(T("radius_m must be a positive number of metres, got {radius_m}", radius_m=radius_m),
                           where="radius_m")

    clean = {code: _lonlat(code, value, "village point") for code, value in points.items()}
    skipped: dict[str, Text] = {}
    if clean:
        pts = shapely.points(np.array(list(clean.values()), dtype=float))
        for code, ok in zip(list(clean), shapely.covers(township, pts), strict=True):
            if not ok:
                lon, lat = clean.pop(code)
                skipped[code] = T("point ({lon}, {lat}) lies outside the township", lon=format(lon, ".6f"),
                                  lat=format(lat, ".6f"))
    # Villages sharing one point are usually geocoder fallbacks to a common centre: none of them
    # is really located, so all are skipped rather than splitting a made-up point between them.
    frame = _LocalFrame.around(township)
    if clean:
        xy = frame.to_metres(np.array(list(clean.values()), dtype=float))
        for group in _duplicate_groups(list(clean), xy):
            for code in group:
                skipped[code] = T("same point as {others}; cannot tell the villages apart",
                                  others=listing([c for c in group if c != code]))
                clean.pop(code)
    if not clean:
        return DeriveResult(polygons={}, skipped=skipped, method="bounded")

    if len(clean) == n_villages:
        return DeriveResult(polygons=_cover(township, clean), skipped=skipped, method="partition")
    discs = {code: _disc(lon, lat, radius_m) for code, (lon, lat) in clean.items()}
    return DeriveResult(polygons=_cover(township, clean, discs), skipped=skipped, method="bounded")


__all__ = ["DUPLICATE_TOLERANCE_M", "DeriveResult", "Method", "derive_townships", "derive_villages"]
