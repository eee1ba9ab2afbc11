"""Density sweep: the compiled router against geopandas sjoin as boundaries densify (urban grids of ~100 m).

    .venv/bin/python bench/density.py                          # 10^6 points, 0 → 10,000 grid units
    .venv/bin/python bench/density.py --points 300000 --steps 0,2500,10000

Each step is `build_demo_county(urban_grid_units=N)`: the demo county (200 villages, same area) whose H3 grids
are replaced by N polygon grid units of ~100 m around the seat (N = 0 keeps the demo's H3 grids). Points are
uniform over the county's bounding box, and then again uniform over the dense square (where a city's reports
are). Router: `route_indices` best of 3 after a warm call; sjoin: `sjoin(points, polygons, predicate="within")`
over every polygon unit, points built outside the timing, best of 2. Also printed: the share of points that
fall in boundary cells (the exact path). Last line:

    density-bench n=<points> steps=<a,b,...> vs_sjoin=<r1,r2,...> vs_sjoin_dense=<ratio>x exact_share_dense=<share>
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DAY = date(2026, 11, 1)


def best(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def step(n_units: int, n: int, seed: int) -> dict[str, float]:
    import geopandas as gpd
    import shapely

    from bench.routing import default_matter, routing_data
    from gis.demo import build_demo_county
    from gis.routing import Router
    from gis.routing.grid import BOUNDARY

    demo = build_demo_county(urban_grid_units=n_units)
    t0 = time.perf_counter()
    router = Router(routing_data(demo))
    build = time.perf_counter() - t0
    county = next(u.geometry for u in demo.units if u.layer == "county")
    assert county is not None
    grids = [u.geometry for u in demo.units if u.layer == "grid" and u.geometry is not None]
    area = shapely.union_all(grids) if grids else county
    out = {"units": float(len(demo.units)), "build_s": build}
    matter = default_matter(demo)
    polys = [u for u in demo.units if u.geometry is not None]
    right = gpd.GeoDataFrame({"code": [u.code for u in polys]}, geometry=[u.geometry for u in polys], crs=4326)
    rng = np.random.default_rng(seed)
    for where, shape in (("county", county), ("dense", area)):
        minx, miny, maxx, maxy = shape.bounds
        lon, lat = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        router.route_indices(lon, lat, matter, DAY)
        t_router = best(lambda: router.route_indices(lon, lat, matter, DAY), 3)  # noqa: B023
        left = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
        t_sjoin = best(lambda: gpd.sjoin(left, right, predicate="within", how="inner"), 2)  # noqa: B023
        assert router.grid is not None
        exact = float((router.grid.lookup(lon, lat, outside=0) == BOUNDARY).mean())
        out |= {f"{where}_router_s": t_router, f"{where}_sjoin_s": t_sjoin, f"{where}_exact": exact}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--steps", default="0,1000,2500,5000,10000", help="urban grid units per step")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    rows = []
    for n_units in steps:
        print(f"step {n_units} grid units", file=sys.stderr, flush=True)
        r = step(n_units, args.points, args.seed)
        rows.append(r)
        print(f"grid units {n_units:>6}  ({r['units']:,.0f} units)  build {r['build_s']:.2f} s  |  county box: router "
              f"{r['county_router_s']:.3f} s, sjoin {r['county_sjoin_s']:.2f} s, "
              f"{r['county_sjoin_s'] / r['county_router_s']:.1f}x, exact share {r['county_exact']:.3f}  |  dense "
              f"square: router {r['dense_router_s']:.3f} s, sjoin {r['dense_sjoin_s']:.2f} s, "
              f"{r['dense_sjoin_s'] / r['dense_router_s']:.1f}x, exact share {r['dense_exact']:.3f}", flush=True)
    ratios = [r["county_sjoin_s"] / r["county_router_s"] for r in rows]
    last = rows[-1]
    print(f"density-bench n={args.points} steps={','.join(map(str, steps))} "
          f"vs_sjoin={','.join(f'{x:.1f}' for x in ratios)} "
          f"vs_sjoin_dense={last['dense_sjoin_s'] / last['dense_router_s']:.1f}x "
          f"exact_share_dense={last['dense_exact']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
