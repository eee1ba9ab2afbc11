"""Derived township/village polygons, checked by independent means (geopandas, pyproj, area sums)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gis.derive import DeriveResult, derive_townships, derive_villages
from gis.errors import InvalidInput

GEOD = Geod(ellps="WGS84")


def star_polygon(seed: int, lon0: float, lat0: float, r_deg: float, n: int = 500) -> Polygon:
    """An irregular star-shaped polygon: lobes give concavities, noise gives a ragged outline."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    radius = r_deg * (
        1 + 0.35 * np.sin(3 * theta) + 0.15 * np.sin(7 * theta + 1) + rng.uniform(-0.06, 0.06, n)
    )
    # Divide lon by cos(lat) so the shape is roughly round on the ground.
    lon = lon0 + radius * np.cos(theta) / math.cos(math.radians(lat0))
    lat = lat0 + radius * np.sin(theta)
    poly = Polygon(np.column_stack((lon, lat)))
    assert poly.is_valid
    return poly


def points_inside(area: BaseGeometry, n: int, seed: int) -> NDArray[np.float64]:
    """n uniformly random points strictly inside area (rejection sampling)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = area.bounds
    out: list[NDArray[np.float64]] = []
    got = 0
    while got < n:
        xy = np.column_stack((rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)))
        xy = xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]
        out.append(xy)
        got += len(xy)
    return np.concatenate(out)[:n]


def aeqd(area: BaseGeometry) -> str:
    """An azimuthal equidistant CRS centred on area: metres, independent of gis.derive's frame."""
    c = area.centroid
    return f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m +no_defs"


def assert_partition(parent: BaseGeometry, polygons: dict[str, MultiPolygon]) -> None:
    """The polygons are valid MultiPolygons with no gaps or overlaps whose union is parent."""
    for code, poly in polygons.items():
        assert isinstance(poly, MultiPolygon), code
        assert poly.is_valid, (code, shapely.is_valid_reason(poly))
        assert not poly.is_empty, code
    total = sum(p.area for p in polygons.values())
    assert total == pytest.approx(parent.area, rel=1e-9, abs=0)

    gdf = gpd.GeoDataFrame({"code": list(polygons)}, geometry=list(polygons.values()), crs=4326)
    pairs = gpd.overlay(gdf, gdf, how="intersection", keep_geom_type=True)
    cross = pairs[pairs["code_1"] != pairs["code_2"]]
    # Areas in degrees² on purpose: compared with parent.area in the same unit.
    assert shapely.area(cross.geometry.to_numpy()).sum() <= 1e-12 * parent.area

    union = gdf.union_all()
    assert union.symmetric_difference(parent).area <= 1e-9 * parent.area


@pytest.fixture(scope="module")
def county() -> Polygon:
    return star_polygon(seed=1, lon0=113.5, lat0=29.0, r_deg=0.3)


@pytest.fixture(scope="module")
def seats(county: Polygon) -> dict[str, tuple[float, float]]:
    xy = points_inside(county, 7, seed=2)
    return {f"T{i:02d}": (float(x), float(y)) for i, (x, y) in enumerate(xy)}


@pytest.fixture(scope="module")
def townships(county: Polygon, seats: dict[str, tuple[float, float]]) -> DeriveResult:
    return derive_townships(county, seats)


def test_townships_partition_the_county(county: Polygon, townships: DeriveResult) -> None:
    assert townships.method == "partition"
    assert townships.skipped == {}
    assert len(townships.polygons) == 7
    assert_partition(county, townships.polygons)


def test_each_seat_lies_in_its_own_township(
    seats: dict[str, tuple[float, float]], townships: DeriveResult
) -> None:
    for code, (lon, lat) in seats.items():
        assert townships.polygons[code].covers(Point(lon, lat)), code
        others = [c for c in seats if c != code]
        assert not any(townships.polygons[c].contains(Point(lon, lat)) for c in others), code


def test_random_points_belong_to_the_nearest_seat(
    county: Polygon, seats: dict[str, tuple[float, float]], townships: DeriveResult
) -> None:
    crs = aeqd(county)
    cells = gpd.GeoDataFrame(
        {"code": list(townships.polygons)}, geometry=list(townships.polygons.values()), crs=4326
    )
    xy = points_inside(county, 3000, seed=3)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)
    hit = gpd.sjoin(pts, cells, predicate="within", how="left")
    # Partition: every point falls in exactly one cell.
    assert hit.index.is_unique
    assert hit["code"].notna().all()

    seat_codes = list(seats)
    seat_m = gpd.GeoSeries(gpd.points_from_xy(*np.array(list(seats.values())).T), crs=4326).to_crs(crs)
    pts_m = pts.to_crs(crs)
    sx, sy = seat_m.x.to_numpy(), seat_m.y.to_numpy()
    px, py = pts_m.geometry.x.to_numpy(), pts_m.geometry.y.to_numpy()
    dist = np.hypot(px[:, None] - sx[None, :], py[:, None] - sy[None, :])
    nearest = np.array(seat_codes)[dist.argmin(axis=1)]
    agree = (hit.sort_index()["code"].to_numpy() == nearest).mean()
    assert agree >= 0.99, agree


def test_seat_outside_county_is_named(county: Polygon, seats: dict[str, tuple[float, float]]) -> None:
    minx, miny, _, _ = county.bounds
    bad = {**seats, "FAR_AWAY": (minx - 0.1, miny - 0.1)}
    with pytest.raises(InvalidInput, match="FAR_AWAY") as info:
        derive_townships(county, bad)
    assert info.value.where == "FAR_AWAY"


def test_bad_seat_sets_are_refused(county: Polygon, seats: dict[str, tuple[float, float]]) -> None:
    with pytest.raises(InvalidInput):
        derive_townships(county, {})
    first = next(iter(seats.values()))
    with pytest.raises(InvalidInput, match="T00"):
        derive_townships(county, {**seats, "COPY": first})
    with pytest.raises(InvalidInput, match="NAN"):
        derive_townships(county, {**seats, "NAN": (float("nan"), 29.0)})


def test_single_seat_gets_the_whole_county(county: Polygon, seats: dict[str, tuple[float, float]]) -> None:
    code, point = next(iter(seats.items()))
    result = derive_townships(county, {code: point})
    assert list(result.polygons) == [code]
    assert result.polygons[code].symmetric_difference(county).area == 0
    assert isinstance(result.polygons[code], MultiPolygon)


def test_concave_county_cuts_a_cell_into_pieces() -> None:
    # A trident: a base bar and three upward prongs. The middle prong's seat is nearest to the
    # tops of the outer prongs too, so its Voronoi cell reaches across the two notches.
    def box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
        return shapely.box(110 + x0 * 0.01, 30 + y0 * 0.01, 110 + x1 * 0.01, 30 + y1 * 0.01)

    county = shapely.union_all([box(0, 0, 10, 1), box(0, 0, 1, 10), box(4.5, 0, 5.5, 10), box(9, 0, 10, 10)])
    assert isinstance(county, Polygon)
    seats = {
        "MID": (110 + 0.05, 30 + 0.095),
        "LEFT": (110 + 0.005, 30 + 0.005),
        "RIGHT": (110 + 0.095, 30 + 0.005),
    }
    result = derive_townships(county, seats)
    assert_partition(county, result.polygons)
    mid = result.polygons["MID"]
    assert len(mid.geoms) >= 3  # middle prong plus a piece at the top of each outer prong
    assert mid.covers(Point(110.005, 30.095)) and mid.covers(Point(110.095, 30.095))
    assert result.polygons["LEFT"].covers(Point(110.005, 30.005))


@pytest.fixture(scope="module")
def township() -> Polygon:
    return star_polygon(seed=4, lon0=104.0, lat0=31.0, r_deg=0.06, n=300)


def test_villages_partially_located_get_bounded_areas(township: Polygon) -> None:
    radius = 1000.0
    crs = aeqd(township)
    centre = township.centroid
    # Two villages 1.2 km apart (their discs overlap), three elsewhere, one outside the township.
    lat_step = 1200.0 / 111_000
    xy = points_inside(township.buffer(-0.015), 3, seed=5)
    points = {
        "V01": (centre.x, centre.y - lat_step / 2),
        "V02": (centre.x, centre.y + lat_step / 2),
        **{f"V{i + 3:02d}": (float(x), float(y)) for i, (x, y) in enumerate(xy)},
        "V99": (township.bounds[2] + 0.05, centre.y),
    }
    result = derive_villages(township, points, n_villages=67, radius_m=radius)

    assert result.method == "bounded"
    assert set(result.skipped) == {"V99"} and "outside" in str(result.skipped["V99"])  # a Text: English by str()
    assert set(result.polygons) == set(points) - {"V99"}

    for code, poly in result.polygons.items():
        lon, lat = points[code]
        assert isinstance(poly, MultiPolygon) and poly.is_valid, code
        assert poly.covers(Point(lon, lat)), code
        assert poly.difference(township).area <= 1e-12 * township.area, code
        # Distance is convex, so the farthest point of a polygon from the village is a vertex.
        coords = shapely.get_coordinates(poly)
        _, _, dist = GEOD.inv(
            np.full(len(coords), lon), np.full(len(coords), lat), coords[:, 0], coords[:, 1]
        )
        assert dist.max() <= radius * 1.01, (code, dist.max())

    gdf = gpd.GeoDataFrame(
        {"code": list(result.polygons)}, geometry=list(result.polygons.values()), crs=4326
    ).to_crs(crs)
    pairs = gpd.overlay(gdf, gdf, how="intersection", keep_geom_type=True)
    assert pairs[pairs["code_1"] != pairs["code_2"]].geometry.area.sum() <= 1e-6  # m²

    disc_area = math.pi * radius**2
    areas = dict(zip(gdf["code"], gdf.geometry.area, strict=True))
    assert all(a <= disc_area * 1.01**2 for a in areas.values())
    # Geometry of the layout in metres (independent projection), to know what each village should get.
    outline_m = gpd.GeoSeries([township.boundary], crs=4326).to_crs(crs).iloc[0]
    pts_m = gpd.GeoSeries([Point(points[c]) for c in gdf["code"]], crs=4326).to_crs(crs)
    pts_m.index = gdf["code"]
    to_outline = {c: p.distance(outline_m) for c, p in pts_m.items()}
    to_other = {c: pts_m.drop(index=c).distance(p).min() for c, p in pts_m.items()}

    # The two close villages split their overlap at the bisector: each loses the circular segment
    # beyond it. Nothing else may cut them for this to hold, so check that first.
    h = pts_m["V01"].distance(pts_m["V02"]) / 2 / radius
    segment = radius**2 * (math.acos(h) - h * math.sqrt(1 - h**2))
    for code in ("V01", "V02"):
        others = pts_m.drop(index=["V01", "V02"]).distance(pts_m[code]).min()
        assert to_outline[code] > radius and others > 2 * radius, "test layout: pick other seeds"
        assert areas[code] == pytest.approx(disc_area - segment, rel=0.01), code

    # A village far from the outline and from other villages gets (nearly) its whole disc
    # (a 64-gon inscribed in the circle holds 99.84 % of it).
    lonely = [c for c in areas if to_outline[c] > radius and to_other[c] > 2 * radius]
    assert lonely, "test layout: no isolated village; pick other seeds"
    for code in lonely:
        assert areas[code] == pytest.approx(disc_area, rel=0.005), code

    # Honesty: the located villages get a small share, not the township.
    assert sum(areas.values()) < 0.5 * gpd.GeoSeries([township], crs=4326).to_crs(crs).area.iloc[0]


def test_villages_all_located_partition_the_township(township: Polygon) -> None:
    xy = points_inside(township, 5, seed=6)
    points = {f"V{i:02d}": (float(x), float(y)) for i, (x, y) in enumerate(xy)}
    result = derive_villages(township, points, n_villages=5)
    assert result.method == "partition"
    assert result.skipped == {}
    assert_partition(township, result.polygons)


def test_villages_bad_counts_and_duplicates(township: Polygon) -> None:
    xy = points_inside(township, 3, seed=7)
    points = {f"V{i:02d}": (float(x), float(y)) for i, (x, y) in enumerate(xy)}
    with pytest.raises(InvalidInput):
        derive_villages(township, points, n_villages=2)
    with pytest.raises(InvalidInput):
        derive_villages(township, points, n_villages=0)
    with pytest.raises(InvalidInput):
        derive_villages(township, points, n_villages=5, radius_m=0)

    # Two villages geocoded to one point are not located: both are skipped, the rest kept.
    shared = {**points, "DUP": points["V00"]}
    result = derive_villages(township, shared, n_villages=4)
    assert set(result.skipped) == {"V00", "DUP"}
    assert set(result.polygons) == {"V01", "V02"}
    assert result.method == "bounded"
