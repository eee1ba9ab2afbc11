"""The vectorised boundary distance equals shapely's point-to-boundary distance within 1 cm on every point.

The reference is independent of `gis/routing/distance.py`: GEOS's nearest query over the regions' own
boundary rings (not the router's deduplicated segments), in the same local metre frame. Points: ~10^4
random ones around the county and the edge/vertex points the routing tests use (unit vertices, points
exactly on edges and on shared edges, H3 vertices and edges), on the demo county with its extra H3 units
and rules.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from shapely.strtree import STRtree

from gis.demo import build_demo_county
from gis.routing import Router
from gis.routing.router import SCAN_CALLS
from tests.test_routing_exact import DAY, Setup, augmented, boundary_sample, make_setup, random_points

Floats = npt.NDArray[np.float64]
TOLERANCE_M = 0.01


def reference_m(router: Router, lon: Floats, lat: Floats) -> Floats:
    """shapely's distance from each point to the boundary rings of every region, in the router's frame."""
    rings = shapely.get_parts(shapely.boundary(np.array([r.shape for r in router.regions.regions], dtype=object)))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    x, y = router.to_local_m(coords[:, 0], coords[:, 1])
    local = shapely.linestrings(np.column_stack([x, y]), indices=index)
    px, py = router.to_local_m(lon, lat)
    (idx, _), dist = STRtree(local).query_nearest(shapely.points(px, py), return_distance=True, all_matches=False)
    out = np.full(len(lon), np.inf)
    out[idx] = dist
    return out


@pytest.fixture(scope="module")
def setup() -> Setup:
    demo = build_demo_county()
    units, rules, teams = augmented(demo)
    return make_setup(units, rules, demo.delegations, demo.matters, teams)


@pytest.fixture(scope="module")
def points(setup: Setup) -> tuple[Floats, Floats, int]:
    lon_r, lat_r = random_points(setup.units, 10_000, seed=71)
    edges = boundary_sample(setup, n_vertices=3000, n_between=3000, n_h3=1500, seed=72)
    return np.concatenate([lon_r, edges.lon]), np.concatenate([lat_r, edges.lat]), len(lon_r)


def test_batch_distances_equal_shapely_within_a_centimetre(setup: Setup, points: tuple[Floats, Floats, int]) -> None:
    lon, lat, n_random = points
    got = setup.router.distances_to_boundary_m(lon, lat)
    ref = reference_m(setup.router, lon, lat)
    worst = int(np.argmax(np.abs(got - ref)))
    assert np.abs(got - ref).max() <= TOLERANCE_M, (lon[worst], lat[worst], got[worst], ref[worst])
    # The sample spans the cases: far outside the county, deep inside units, and thousands on edges.
    assert ref[:n_random].max() > 2_000 and np.median(ref[:n_random]) > 50
    assert int((ref[n_random:] < 1e-6).sum()) > 5_000
    index = setup.router.boundary_distance
    assert index is not None and index.max_candidates <= 64  # short lists: boundary cells do not dominate


def test_scalar_distance_is_the_batch_distance(setup: Setup, points: tuple[Floats, Floats, int]) -> None:
    lon, lat, _ = points
    pick = np.random.default_rng(73).permutation(len(lon))[:1500]
    batch = setup.router.distances_to_boundary_m(lon[pick], lat[pick])
    one = [setup.router.distance_to_boundary_m(float(x), float(y)) for x, y in zip(lon[pick], lat[pick], strict=True)]
    np.testing.assert_allclose(one, batch, rtol=0, atol=1e-9)


def test_single_points_before_the_index_is_built_get_the_same_distance_by_a_scan(
        setup: Setup, points: tuple[Floats, Floats, int]) -> None:
    # A fresh router answers its first single points by scanning every segment (no index to wait for), then builds
    # the index on a thread of its own; scan and index give the same number (bit for bit inside the index's grid,
    # to rounding far outside, where the index asks GEOS).
    lon, lat, _ = points
    fresh = make_setup(setup.units, setup.rules, [], [], setup.teams).router
    assert fresh.boundary_distance is not None  # the same segments, its own index (built here, for comparison)
    index = fresh.boundary_distance
    fresh._distance = None  # as a router is before its first single point
    pick = np.random.default_rng(75).permutation(len(lon))[:SCAN_CALLS + 200]
    far = np.linspace(0.5, 3.0, 20)  # degrees east of the sample: outside the index's grid
    lon, lat = np.concatenate([lon[pick], lon[pick[:20]] + far]), np.concatenate([lat[pick], lat[pick[:20]]])
    x, y = fresh.to_local_m(lon, lat)
    want = [index.distance_one(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    got = [fresh.distance_to_boundary_m(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]
    inside = (np.floor((x - index.x0) / index.root_m) >= 0) & (np.floor((x - index.x0) / index.root_m) < index.nx) & \
             (np.floor((y - index.y0) / index.root_m) >= 0) & (np.floor((y - index.y0) / index.root_m) < index.ny)
    assert inside.sum() > 500 and (~inside).sum() > 0  # both kinds of point are in the sample
    assert [g for g, i in zip(got, inside, strict=True) if i] == [w for w, i in zip(want, inside, strict=True) if i]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert fresh._scan is not None and fresh._scans == len(lon)
    for _ in range(200):  # the index, started after SCAN_CALLS points, arrives on its own
        if fresh._distance is not None:
            break
        time.sleep(0.05)
    assert fresh._distance is not None and fresh._distance is not index
    assert fresh.distance_to_boundary_m(float(lon[0]), float(lat[0])) == index.distance_one(
        *(float(v[0]) for v in fresh.to_local_m(lon[:1], lat[:1])))
    assert fresh.distance_to_boundary_m(float("nan"), 36.0) == np.inf


def test_route_table_near_boundary_follows_the_exact_distance(setup: Setup,
                                                               points: tuple[Floats, Floats, int]) -> None:
    lon, lat, _ = points
    ref = reference_m(setup.router, lon, lat)
    accuracy = np.random.default_rng(74).uniform(0, 300, len(lon))
    accuracy[::7] = np.nan  # no accuracy given: only points on a boundary are near
    table = setup.router.route_table(lon, lat, "M-URB-001", DAY, accuracy)
    near = np.array(table["near_boundary"])
    dist = np.array(table["distance_m"])
    assert np.abs(dist - ref).max() <= TOLERANCE_M + 0.0005  # the column is rounded to the millimetre
    clear = np.abs(ref - np.nan_to_num(accuracy, nan=0.0)) > TOLERANCE_M
    expected = (ref < np.nan_to_num(accuracy, nan=0.0)) | (ref < 1e-3)
    assert (near[clear] == expected[clear]).all()
    assert near[ref == 0.0].all() and 0 < near.sum() < len(near)


def test_outside_points_and_nan_coordinates(setup: Setup) -> None:
    county = next(u.geometry for u in setup.units if u.layer == "county")
    assert county is not None
    minx, miny, maxx, maxy = county.bounds
    lon = np.array([minx - 0.5, maxx + 1.0, (minx + maxx) / 2, np.nan])
    lat = np.array([miny - 0.5, (miny + maxy) / 2, maxy + 0.3, 36.8])
    got = setup.router.distances_to_boundary_m(lon, lat)
    ref = reference_m(setup.router, lon[:3], lat[:3])
    assert np.abs(got[:3] - ref).max() <= TOLERANCE_M and (ref > 20_000).all()
    assert np.isinf(got[3])
