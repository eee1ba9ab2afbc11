"""The demo county with a dense urban grid (polygon units of ~100 m): a tiling, parented by villages, routed
exactly (against the independent reading) and with exact boundary distances, where boundaries are densest."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.demo import build_demo_county
from tests.test_boundary_distance import TOLERANCE_M, reference_m
from tests.test_routing_exact import DAY, Setup, make_setup, mismatches, sample

N_UNITS = 900


@pytest.fixture(scope="module")
def dense() -> Setup:
    demo = build_demo_county(urban_grid_units=N_UNITS)
    return make_setup(demo.units, demo.rules, demo.delegations, demo.matters, demo.teams)


def test_urban_grid_is_a_tiling_of_hundred_metre_units(dense: Setup) -> None:
    grids = [u for u in dense.units if u.layer == "grid"]
    assert len(grids) == N_UNITS and all(u.geometry is not None and u.geometry.is_valid for u in grids)
    shapes = np.array([u.geometry for u in grids], dtype=object)
    lat0 = shapely.centroid(shapes[0]).y
    m2 = shapely.area(shapes) * 111_320 * 110_574 * np.cos(np.radians(lat0))
    assert 6_000 < np.median(m2) < 14_000  # ~100 m across
    # Neighbours share edges exactly: no overlap, no gap inside the square they cover.
    union = shapely.union_all(shapes)
    assert abs(float(shapely.area(union)) - float(shapely.area(shapes).sum())) < 1e-9 * float(shapely.area(union))
    villages = {u.code: u.geometry for u in dense.units if u.layer == "village" and u.geometry is not None}
    for u in grids[::37]:
        assert u.geometry is not None and shapely.intersects(villages[u.parent_code or ""],
                                                             u.geometry.point_on_surface())


def test_dense_grid_routes_like_the_independent_reading(dense: Setup) -> None:
    grids = [u.geometry for u in dense.units if u.layer == "grid"]
    minx, miny, maxx, maxy = shapely.union_all(grids).bounds
    rng = np.random.default_rng(111)
    lon, lat = rng.uniform(minx, maxx, 6000), rng.uniform(miny, maxy, 6000)
    corners = shapely.get_coordinates(np.array(grids[::3], dtype=object))  # shared lattice vertices
    lon, lat = np.concatenate([lon, corners[:, 0]]), np.concatenate([lat, corners[:, 1]])
    s = sample(dense, lon, lat)
    assert dense.router.fine is not None  # the dense window has its finer grid, and is what is checked here
    for matter in ("M-URB-001", "M-URB-009"):
        bad, _ = mismatches(dense, s, matter, DAY)
        assert not bad, "\n".join(bad)
    got = dense.router.distances_to_boundary_m(lon, lat)
    ref = reference_m(dense.router, lon, lat)
    assert np.abs(got - ref).max() <= TOLERANCE_M
    assert np.median(ref[:6000]) < 40  # boundaries everywhere: the median point is tens of metres from one
