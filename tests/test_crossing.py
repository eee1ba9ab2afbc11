"""The crossing-number path for points in boundary cells (`gis/routing/crossing.py`), checked independently.

The orientation predicate against exact rational arithmetic; then, at 0, 2,500 and 10,000 urban grid units,
random points and points on vertices and edges (exactly on them, and within rounding of them) through the
index alone — every point it decides must get the units geopandas `covers` and the documented tie-break
give (`tests/independent.py`), and every point exactly on a boundary must be left to the exact evaluation —
and through the whole router against the independent reading of the rules.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import shapely

from gis.demo import build_demo_county
from gis.routing.crossing import UNDECIDED, _orient
from gis.routing.grid import BOUNDARY
from tests.independent import CELLS
from tests.test_routing_exact import (
    DAY,
    Floats,
    Sample,
    Setup,
    edge_points,
    exact_edge_points,
    h3_points,
    make_setup,
    mismatches,
    sample,
)

N_RANDOM = 20_000
N_EDGE = 1_500


def _exact_sign(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> int:
    ax, ay, bx, by, cx, cy = (Fraction(v) for v in (*a, *b, *c))
    det = (ax - cx) * (by - cy) - (ay - cy) * (bx - cx)
    return (det > 0) - (det < 0)


def test_orientation_sign_is_proved_or_left_undecided() -> None:
    rng = np.random.default_rng(41)
    n = 1500
    a = np.column_stack([rng.uniform(115.1, 115.3, n), rng.uniform(36.7, 36.9, n)])
    b = a + rng.uniform(-1e-3, 1e-3, (n, 2))
    on = a + rng.uniform(0, 1, n)[:, None] * (b - a)  # interpolated: on the line or an ulp off it
    nudged = on + rng.integers(-3, 4, (n, 2)) * np.spacing(on)
    far = a + rng.uniform(-1e-3, 1e-3, (n, 2))
    # Exactly collinear, coordinates of very different sizes: the rounded differences make the plain
    # floating-point determinant nonzero for many of them (checked below), so a naive sign would be wrong.
    p = rng.uniform(-1, 1, (n, 2)) * 1e-3
    cases = {"on": (a, b, on), "nudged": (a, b, nudged), "far": (a, b, far),
             "collinear": (p, p * 2.0**-20, p * 2.0**-40)}
    decided = {}
    for name, (pa, pb, pc) in cases.items():
        got = _orient(pa[:, 0], pa[:, 1], pb[:, 0], pb[:, 1], pc[:, 0], pc[:, 1])
        exact = np.array([_exact_sign(tuple(x), tuple(y), tuple(z)) for x, y, z in zip(pa, pb, pc, strict=True)])
        sure = got != 0
        assert (got[sure] == exact[sure]).all(), name  # a sign given is the true sign
        assert (got[exact == 0] == 0).all(), name  # collinear is never given a side
        decided[name] = float(sure.mean())
    pa, pb, pc = cases["collinear"]
    naive = (pa[:, 0] - pc[:, 0]) * (pb[:, 1] - pc[:, 1]) - (pa[:, 1] - pc[:, 1]) * (pb[:, 0] - pc[:, 0])
    assert (naive != 0).mean() > 0.1 and decided["collinear"] == 0.0
    assert decided["far"] > 0.999 and decided["nudged"] > 0.5  # ordinary points: decided in floating point


@pytest.fixture(scope="module", params=[0, 2_500, 10_000], ids=lambda n: f"units{n}")
def dense(request: pytest.FixtureRequest) -> Setup:
    demo = build_demo_county(urban_grid_units=request.param)
    return make_setup(demo.units, demo.rules, demo.delegations, demo.matters, demo.teams)


@pytest.fixture(scope="module")
def points(dense: Setup) -> tuple[Sample, Floats, Floats]:
    """Random points where boundaries are densest, then vertices and points on (and near) edges; and the
    points exactly on a polygon boundary among them."""
    setup = dense
    grids = [u.geometry for u in setup.units if u.layer == "grid" and u.geometry is not None]
    county = next(u.geometry for u in setup.units if u.layer == "county")
    assert county is not None
    minx, miny, maxx, maxy = shapely.union_all(grids).bounds if grids else county.bounds
    rng = np.random.default_rng(len(grids) + 5)
    lon = [rng.uniform(minx, maxx, N_RANDOM)]
    lat = [rng.uniform(miny, maxy, N_RANDOM)]
    polygons = [u.geometry for u in setup.units if u.geometry is not None and u.layer != "county"]
    ev = edge_points(polygons, N_EDGE, N_EDGE, seed=6)  # vertices, then interpolated (within rounding)
    on1 = exact_edge_points(polygons, N_EDGE, seed=7)
    on2 = exact_edge_points(polygons, N_EDGE, seed=8, shared=True)
    cells = [u.cells for u in setup.units if u.cells]
    cells += [r.scope.cells for r in setup.rules if r.scope.type == "cells" and r.scope.cells]
    hv = h3_points(cells, 300, seed=9)
    for x, y in (ev, on1, on2, hv):
        lon.append(x)
        lat.append(y)
    on_lon = np.concatenate([ev[0][:N_EDGE], on1[0], on2[0]])  # exactly on a polygon boundary
    on_lat = np.concatenate([ev[1][:N_EDGE], on1[1], on2[1]])
    return sample(setup, np.concatenate(lon), np.concatenate(lat)), on_lon, on_lat


def _boundary_cells(setup: Setup, lon: Floats, lat: Floats) -> np.ndarray:
    """Indices of the points the grids leave to the exact path (what the index is asked about)."""
    r = setup.router
    assert r.grid is not None
    sig = r.grid.lookup(lon, lat, outside=0)
    todo = np.flatnonzero(sig == BOUNDARY)
    if r.fine is not None:
        todo = todo[r.fine.lookup(lon[todo], lat[todo], outside=BOUNDARY) == BOUNDARY]
    return todo


def test_index_decides_like_geopandas_covers_and_leaves_boundary_points(
        dense: Setup, points: tuple[Sample, Floats, Floats]) -> None:
    r = dense.router
    assert r.crossing is not None
    s, on_lon, on_lat = points
    todo = _boundary_cells(dense, s.lon, s.lat)
    got = r.crossing.signatures(s.lon[todo], s.lat[todo], r)
    codes = [reg.code.replace("rule:", CELLS, 1) for reg in r.regions.regions]
    decided = np.flatnonzero(got != UNDECIDED)
    bad = []
    for j in decided.tolist():
        i = int(todo[j])
        mine = tuple(sorted(codes[k] for k in r._sigs[int(got[j])]))
        theirs = dense.ref.select(s.places.covering(i))
        if mine != theirs:
            bad.append(f"({float(s.lon[i])!r}, {float(s.lat[i])!r}): index {mine}, geopandas covers {theirs}")
    assert not bad, f"{len(bad)} of {len(decided)} decided points differ:\n" + "\n".join(bad[:5])
    # It is the path that answers: most random points in boundary cells are decided here, not by shapely.
    random_todo = todo < N_RANDOM
    assert random_todo.sum() > 200
    assert (got[random_todo] != UNDECIDED).mean() > 0.8
    # Points exactly on an edge or a vertex are never decided here: the exact evaluation and its tie-break.
    on_todo = _boundary_cells(dense, on_lon, on_lat)
    assert len(on_todo) == len(on_lon)  # every boundary point is in a boundary cell of both grids
    assert (r.crossing.signatures(on_lon, on_lat, r) == UNDECIDED).all()


@pytest.mark.parametrize("matter", ["M-URB-001", "M-URB-004"])
def test_router_with_the_index_routes_like_the_independent_reading(
        dense: Setup, points: tuple[Sample, Floats, Floats], matter: str) -> None:
    bad, _ = mismatches(dense, points[0], matter, DAY)
    assert not bad, "\n".join(bad)
