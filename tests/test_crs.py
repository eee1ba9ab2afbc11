"""Tests for gis.crs: GCJ-02/BD-09 against published reference values and properties, EPSG via pyproj."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Point, Polygon

from gis.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometry_from_wgs84,
    geometry_to_wgs84,
    normalize_crs,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.errors import InvalidInput, UnknownCRS

GEOD = Geod(ellps="WGS84")
N_POINTS = 100_000

# Published WGS84 -> GCJ-02 pairs (lon, lat): googollee/eviltransform test suites (go/transform_test.go,
# python/test.py) and the example output in wandergis/coordtransform test/app.js.
GCJ_REFERENCE = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # coordtransform
]
# Published GCJ-02 -> BD-09 pair: wandergis/coordtransform test/app.js, gcj02tobd09(116.404, 39.915).
BD_REFERENCE = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))


def metres(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Geodesic distance in metres on the WGS84 ellipsoid, vectorised."""
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, dtype=np.float64)


@pytest.fixture(scope="module")
def china_points() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """10^5 seeded random WGS84 points covering mainland China, Hainan and Taiwan (well inside the box)."""
    rng = np.random.default_rng(20240601)
    return rng.uniform(73.5, 135.0, N_POINTS), rng.uniform(18.0, 53.5, N_POINTS)


# --- GCJ-02 / BD-09 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("wgs", "gcj"), GCJ_REFERENCE)
def test_wgs84_to_gcj02_matches_published_values(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    lon, lat = wgs84_to_gcj02(*wgs)
    assert float(lon) == pytest.approx(gcj[0], abs=1e-9)
    assert float(lat) == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), GCJ_REFERENCE)
def test_gcj02_to_wgs84_recovers_published_wgs84(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    lon, lat = gcj02_to_wgs84(*gcj)
    assert metres(lon, lat, *wgs) < 0.001


def test_gcj02_to_bd09_matches_published_value() -> None:
    (glon, glat), (blon, blat) = BD_REFERENCE
    lon, lat = gcj02_to_bd09(glon, glat)
    assert float(lon) == pytest.approx(blon, abs=1e-9)
    assert float(lat) == pytest.approx(blat, abs=1e-9)


def test_gcj02_shift_in_beijing_hebei_is_hundreds_of_metres() -> None:
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(113.5, 119.8, 2000), rng.uniform(36.1, 42.6, 2000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    shift = metres(lon, lat, glon, glat)
    assert shift.min() > 300
    assert shift.max() < 800


def test_bd09_is_roughly_a_kilometre_from_gcj02(china_points: tuple[np.ndarray, np.ndarray]) -> None:
    glon, glat = wgs84_to_gcj02(*china_points)
    blon, blat = gcj02_to_bd09(glon, glat)
    offset = metres(glon, glat, blon, blat)
    assert offset.min() > 700
    assert offset.max() < 1300


def test_gcj02_leaves_points_outside_china_unchanged() -> None:
    lon = np.array([-74.0060, 2.3522, 151.2093, 139.6917])  # New York, Paris, Sydney, Tokyo (east of box)
    lat = np.array([40.7128, 48.8566, -33.8688, 35.6895])
    assert out_of_china(lon, lat).all()
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84):
        out_lon, out_lat = convert(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
    assert to_wgs84(-74.0060, 40.7128, "gcj02") == (-74.0060, 40.7128)


def test_gcj02_round_trip_below_a_centimetre(china_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = china_points
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() < 0.01


def test_bd09_round_trip_below_a_centimetre(china_points: tuple[np.ndarray, np.ndarray]) -> None:
    lon, lat = china_points
    assert metres(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))).max() < 0.01
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert metres(glon, glat, *bd09_to_gcj02(*gcj02_to_bd09(glon, glat))).max() < 0.01


def test_one_step_inverse_is_metres_off_so_iteration_matters(
    china_points: tuple[np.ndarray, np.ndarray],
) -> None:
    lon, lat = china_points
    glon, glat = wgs84_to_gcj02(lon, lat)
    flon, flat = wgs84_to_gcj02(glon, glat)
    one_step = metres(lon, lat, 2 * glon - flon, 2 * glat - flat)
    iterative = metres(lon, lat, *gcj02_to_wgs84(glon, glat))
    assert one_step.max() > 0.5
    assert iterative.max() < 0.01


def test_forward_functions_keep_array_shape() -> None:
    lon = np.full((3, 4), 116.4)
    lat = np.full((3, 4), 39.9)
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        out_lon, out_lat = convert(lon, lat)
        assert out_lon.shape == out_lat.shape == (3, 4)


# --- names and EPSG -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("wgs84", "wgs84"),
        ("WGS-84", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("4326", "wgs84"),
        ("cgcs2000", "cgcs2000"),
        ("CGCS-2000", "cgcs2000"),
        ("EPSG:4490", "cgcs2000"),
        ("4490", "cgcs2000"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("gcj", "gcj02"),
        ("amap", "gcj02"),
        ("bd09", "bd09"),
        ("BD-09", "bd09"),
        ("baidu", "bd09"),
        ("epsg:32650", "EPSG:32650"),
        (" EPSG:4547 ", "EPSG:4547"),
        ("32650", "EPSG:32650"),
    ],
)
def test_normalize_crs(name: str, canonical: str) -> None:
    assert normalize_crs(name) == canonical


@pytest.mark.parametrize("name", ["mercator", "", "EPSG:", "EPSG:99999", "gcj03", "EPSG:4978"])
def test_unknown_crs_lists_accepted_names(name: str) -> None:
    with pytest.raises(UnknownCRS) as info:
        to_wgs84(1.0, 2.0, name, where="row 3")
    message = info.value.message
    for accepted in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:"):
        assert accepted in message
    assert info.value.where == "row 3"


def test_geocentric_epsg_is_refused_with_reason() -> None:
    with pytest.raises(UnknownCRS, match="Geocentric"):
        normalize_crs("EPSG:4978")


def test_cgcs2000_and_wgs84_give_identical_lonlat() -> None:
    lon = np.array([116.397128, 87.6177, 121.4737])
    lat = np.array([39.916527, 43.7928, 31.2304])
    results = [to_wgs84(lon, lat, name) for name in ("EPSG:4490", "cgcs2000", "EPSG:4326", "wgs84")]
    for out_lon, out_lat in results:
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_utm_50n_matches_pyproj_reference() -> None:
    reference = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    x = np.array([500000.0, 448252.0, 612345.6])
    y = np.array([4400000.0, 4419412.0, 3456789.0])
    lon, lat = to_wgs84(x, y, "epsg:32650")
    ref_lon, ref_lat = reference.transform(x, y)
    np.testing.assert_allclose(lon, ref_lon, atol=1e-6, rtol=0)
    np.testing.assert_allclose(lat, ref_lat, atol=1e-6, rtol=0)
    # Central meridian of zone 50N is 117E: a sanity check independent of pyproj.
    assert float(lon[0]) == pytest.approx(117.0, abs=1e-9)


def test_scalars_in_give_floats_out_and_bare_code_works() -> None:
    lon, lat = to_wgs84(500000, 4400000, "32650")
    assert isinstance(lon, float) and isinstance(lat, float)
    x, y = from_wgs84(lon, lat, "EPSG:32650")
    assert x == pytest.approx(500000, abs=1e-3)
    assert y == pytest.approx(4400000, abs=1e-3)


def test_from_wgs84_to_gcj02_is_forward_transform() -> None:
    (wlon, wlat), (glon, glat) = GCJ_REFERENCE[0]
    assert from_wgs84(wlon, wlat, "amap") == pytest.approx((glon, glat), abs=1e-9)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09", "EPSG:32650"])
def test_non_finite_input_is_invalid(bad: float, crs: str) -> None:
    with pytest.raises(InvalidInput, match="NaN or infinity") as info:
        to_wgs84(np.array([116.4, bad]), np.array([39.9, 39.9]), crs, where="feature 12")
    assert info.value.where == "feature 12"


def test_projected_metres_labelled_as_degrees_are_invalid() -> None:
    with pytest.raises(InvalidInput, match="out of lon/lat range"):
        to_wgs84(500000.0, 4400000.0, "gcj02")


# --- geometries -----------------------------------------------------------------------------------


@pytest.fixture
def village() -> Polygon:
    """A small concave GCJ-02 polygon in Beijing (a village-sized L shape, ~1 km)."""
    return Polygon(
        [
            (116.400, 39.900),
            (116.412, 39.900),
            (116.412, 39.904),
            (116.405, 39.904),
            (116.405, 39.910),
            (116.400, 39.910),
            (116.400, 39.900),
        ]
    )


def test_geometry_to_wgs84_preserves_vertices_and_validity(village: Polygon) -> None:
    out = geometry_to_wgs84(village, "gcj02")
    assert isinstance(out, Polygon)
    assert shapely.get_num_coordinates(out) == shapely.get_num_coordinates(village)
    assert out.is_valid
    # Moved by the GCJ-02 shift (hundreds of metres), not left in place.
    moved = metres(*village.exterior.coords[0], *out.exterior.coords[0])
    assert 300 < moved < 800


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_geometry_round_trip_within_1e9_degrees(village: Polygon, crs: str) -> None:
    back = geometry_from_wgs84(geometry_to_wgs84(village, crs), crs)
    diff = np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(village))
    assert diff.max() < 1e-9


def test_geometry_keeps_z_and_converts_epsg() -> None:
    point = Point(500000.0, 4400000.0, 42.0)
    out = geometry_to_wgs84(point, "EPSG:32650")
    assert out.has_z
    assert out.coords[0][2] == 42.0
    assert out.coords[0][0] == pytest.approx(117.0, abs=1e-9)


def test_geometry_with_nan_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        geometry_to_wgs84(Point(math.nan, 39.9), "gcj02")
