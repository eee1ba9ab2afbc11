"""Density sweep: the compiled router against geopandas sjoin as boundaries densify (urban grids of ~100 m).

    .venv/bin/python bench/density.py                          # 10^6 points, 200 → 10,000 grid units
    .venv/bin/python bench/density.py --points 300000 --steps 0,2500,10000

`bench/routing.py` runs the same sweep (`--density-steps`, `--no-density`) and adds `vs_sjoin_dense` to its
last line; this script is the sweep alone.

Each step is `build_demo_county(urban_grid_units=N)`: the demo county (200 villages, same area) whose H3 grids
are replaced by N polygon grid units of ~100 m around the seat (N = 0 keeps the demo's H3 grids). Points are
uniform over the county's bounding box, and then again uniform over the dense square (where a city's reports
are). Router: `route_indices` best of 3 after a warm call; sjoin: `sjoin(points, polygons, predicate="within")`
over every polygon unit, points built outside the timing, best of 2. Every point's polygon units from sjoin
are compared with the router's (an XOR hash of the unit codes per point: `mismatches`). Also printed: where
the dense square's points are answered (main grid, the finer window grid, the crossing index of
`gis/routing/crossing.py`, shapely) and what each stage costs. Last line:

    density-bench n=<points> steps=<a,b,...> vs_sjoin=<r1,r2,...> vs_sjoin_dense=<ratio>x exact_share_dense=<share>
    mismatches=<count>

(`exact_share_dense`: the share of the densest step's dense-square points left to shapely.)
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DAY = date(2026, 11, 1)
STEPS = "200,1000,2500,5000,10000"  # urban grid units per step (0: the demo's H3 grids)


def parse_steps(text: str) -> list[int]:
    """"200,1000,..." → [200, 1000, ...]; a ValueError with the reason otherwise."""
    try:
        steps = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"density steps must be comma-separated whole numbers, got {text!r}") from None
    if not steps or any(s < 0 or s > 40_000 for s in steps):
        raise ValueError(f"density steps must be 0 … 40,000 urban grid units, got {text!r}")
    return steps


def best(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _unit_hashes(router: Any, codes: npt.NDArray[Any], keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Per signature of the router, the XOR of the keys of its polygon units (what sjoin can see)."""
    regions = router.regions.regions
    index = {str(c): k for c, k in zip(codes.tolist(), keys.tolist(), strict=True)}
    out = np.zeros(len(router._sigs), dtype=np.uint64)
    for s, sig in enumerate(list(router._sigs)):
        h = 0
        for i in sig:
            h ^= index.get(regions[i].code, 0) if regions[i].cells_by_res is None else 0
        out[s] = h
    return out


def _stages(router: Any, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> dict[str, float]:
    """Where the points are answered and what each stage costs (best of 3; private router attributes)."""
    from gis.routing.crossing import UNDECIDED
    from gis.routing.grid import BOUNDARY

    n = len(lon)
    out: dict[str, float] = {}
    out["t_grid"] = best(lambda: router.grid.lookup(lon, lat, outside=0), 3)
    sig = router.grid.lookup(lon, lat, outside=0)
    todo = np.flatnonzero(sig == BOUNDARY)
    out["main_boundary"] = len(todo) / n
    if router.fine is not None:
        x, y = lon[todo], lat[todo]
        out["t_fine"] = best(lambda: router.fine.lookup(x, y, outside=BOUNDARY), 3)
        todo = todo[router.fine.lookup(x, y, outside=BOUNDARY) == BOUNDARY]
    out["fine_boundary"] = len(todo) / n
    if router.crossing is not None and todo.size:
        x, y = lon[todo], lat[todo]
        out["t_crossing"] = best(lambda: router.crossing.signatures(x, y, router), 3)
        todo = todo[router.crossing.signatures(x, y, router) == UNDECIDED]
    out["exact"] = len(todo) / n
    if todo.size:
        x, y = lon[todo], lat[todo]
        out["t_shapely"] = best(lambda: router._exact_signatures(x, y), 3)
    return out


def step(n_units: int, n: int, seed: int) -> dict[str, float]:
    """One density: build, then router and sjoin over the county box and over the dense square."""
    import geopandas as gpd
    import shapely

    from bench.routing import default_matter, routing_data
    from gis.demo import build_demo_county
    from gis.routing import Router

    demo = build_demo_county(urban_grid_units=n_units)
    t0 = time.perf_counter()
    router = Router(routing_data(demo))
    build = time.perf_counter() - t0
    county = next(u.geometry for u in demo.units if u.layer == "county")
    assert county is not None
    grids = [u.geometry for u in demo.units if u.layer == "grid" and u.geometry is not None]
    area = shapely.union_all(grids) if grids else county
    index_mib = sum(g.nbytes for g in (router.grid, router.fine, router.crossing) if g is not None) / 2**20
    out = {"units": float(len(demo.units)), "build_s": build, "index_mib": index_mib}
    matter = default_matter(demo)
    polys = [u for u in demo.units if u.geometry is not None]
    codes = np.array([u.code for u in polys], dtype=object)
    keys = np.random.default_rng(seed).integers(1, 2**63, len(polys), dtype=np.int64).view(np.uint64)
    right = gpd.GeoDataFrame({"key": keys}, geometry=[u.geometry for u in polys], crs=4326)
    rng = np.random.default_rng(seed)
    mismatches = 0
    for where, shape in (("county", county), ("dense", area)):
        minx, miny, maxx, maxy = shape.bounds
        lon, lat = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        router.route_indices(lon, lat, matter, DAY)
        t_router = best(lambda: router.route_indices(lon, lat, matter, DAY), 3)  # noqa: B023
        left = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
        joined: list[Any] = []
        t_sjoin = best(lambda: joined.append(gpd.sjoin(left, right, predicate="within", how="inner")), 2)  # noqa: B023
        # The check: every point's polygon units, sjoin's against the router's (random floats are on no edge).
        theirs = np.zeros(n, dtype=np.uint64)
        np.bitwise_xor.at(theirs, joined[-1].index.to_numpy(), joined[-1]["key"].to_numpy(dtype=np.uint64))
        sig = router.signatures(lon, lat)
        mine = _unit_hashes(router, codes, keys)[sig]
        mismatches += int((mine != theirs).sum())
        out |= {f"{where}_router_s": t_router, f"{where}_sjoin_s": t_sjoin}
        out |= {f"{where}_{k}": v for k, v in _stages(router, lon, lat).items()}
    out["mismatches"] = float(mismatches)
    return out


def sweep(steps: list[int], n: int, seed: int, progress: Any = None) -> list[dict[str, float]]:
    """Every step in turn (`progress(text)` before each)."""
    rows = []
    for n_units in steps:
        if progress is not None:
            progress(f"density step: {n_units:,} urban grid units, {n:,} points")
        rows.append(step(n_units, n, seed))
        gc.collect()  # the step's demo, router and frames are gone: free them before the next build
    return rows


def ratio(r: dict[str, float], where: str) -> float:
    return r[f"{where}_sjoin_s"] / r[f"{where}_router_s"]


def stage_text(r: dict[str, float], where: str) -> str:
    """Shares of points per stage and the stages' times, one line."""
    times = ", ".join(f"{k[2:]} {r[f'{where}_{k}'] * 1e3:.1f} ms" for k in ("t_grid", "t_fine", "t_crossing",
                                                                          "t_shapely") if f"{where}_{k}" in r)
    return (f"boundary cells {r[f'{where}_main_boundary']:.1%} → after the window grid "
            f"{r[f'{where}_fine_boundary']:.1%} → to shapely {r[f'{where}_exact']:.2%}; {times}")


def add_to_report(report: Any, steps: list[int], n: int, seed: int) -> float:
    """The sweep as rows of `bench/routing.py`'s report; returns the dense-square ratio of the densest step."""
    rows = sweep(steps, n, seed, report.progress)
    for n_units, r in zip(steps, rows, strict=True):
        label = f"{n_units:,} urban grid units" if n_units else "the demo's H3 grids"
        for where, what in (("county", "county box"), ("dense", "dense square")):
            report.add("density", f"{label} ({r['units']:,.0f} units), {what}, {n:,} pts",
                       f"{r[f'{where}_router_s'] * 1e3:.1f} ms", "sjoin", f"{r[f'{where}_sjoin_s']:.2f} s",
                       f"{ratio(r, where):.1f}x", note=stage_text(r, where) + (
                           f"; build {r['build_s']:.2f} s, grids + index {r['index_mib']:.0f} MiB, "
                           f"{r['mismatches']:.0f} mismatches" if where == "county" else ""))
    densest = rows[steps.index(max(steps))]
    return ratio(densest, "dense")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--steps", default=STEPS, help=f"urban grid units per step (default {STEPS})")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args(argv)
    try:
        steps = parse_steps(args.steps)
    except ValueError as exc:
        ap.error(str(exc))
    started = time.perf_counter()
    rows = sweep(steps, args.points, args.seed,
                 lambda text: print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True))
    for n_units, r in zip(steps, rows, strict=True):
        print(f"grid units {n_units:>6}  ({r['units']:,.0f} units)  build {r['build_s']:.2f} s, "
              f"{r['index_mib']:.0f} MiB  |  county box: router {r['county_router_s']:.3f} s, sjoin "
              f"{r['county_sjoin_s']:.2f} s, {ratio(r, 'county'):.1f}x  |  dense square: router "
              f"{r['dense_router_s']:.3f} s, sjoin {r['dense_sjoin_s']:.2f} s, {ratio(r, 'dense'):.1f}x  |  "
              f"mismatches {r['mismatches']:.0f}", flush=True)
        print(f"    dense square: {stage_text(r, 'dense')}", flush=True)
    densest = rows[steps.index(max(steps))]
    county_ratios = ",".join(f"{ratio(r, 'county'):.1f}" for r in rows)
    print(f"density-bench n={args.points} steps={','.join(map(str, steps))} "
          f"vs_sjoin={county_ratios} "
          f"vs_sjoin_dense={ratio(densest, 'dense'):.1f}x exact_share_dense={densest['dense_exact']:.4f} "
          f"mismatches={sum(int(r['mismatches']) for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
