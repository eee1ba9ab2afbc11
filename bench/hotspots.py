"""Gi* and the emerging hot-spot analysis on a synthetic county-year, against PySAL's esda in the same run.

The cube: the demo county's resolution-9 H3 cells (centre inside the county outline, `analytics.hotspots.area_cells`)
× 52 weekly steps, `--events` synthetic reports (default 10^6): a uniform background over every cell and week,
plus hot cells (a few hundred, chosen by the seed) drawing extra reports, some of them from a start week on and
growing (so the emerging patterns have something to find). Counts go into the cube by cell index and week.

Timed, ours: `gi_s` = Gi* (`analytics.hotspots.hotspots`, k = 1, FDR bins) on the year's counts per cell;
`emerging_s` = the whole emerging analysis (`analytics.emerging.emerging`: space-time Gi* with k = 1 and one
earlier week, significance with Benjamini–Hochberg, Mann–Kendall per significant cell, the pattern).
Timed, esda: `esda.G_Local(star=True, transform="B", permutations=0)` on the same two statistics — the year's
counts with the same k-ring weights, and the cube's bins (cells × weeks) with the same space-time weights
(k-ring × {this week, the week before}, built as a sparse Kronecker product and handed over with
`libpysal.weights.W.from_sparse`) — weights construction excluded. `vs_esda` is esda's time for the two z
computations over ours for the whole of `gi_s` + `emerging_s` (conservative: ours includes Mann–Kendall,
classification and the FDR bins, which esda does not do); the line before it also gives the z-only ratio.
`max_abs_z_diff` is the largest |z_ours − z_esda| over both.

    python bench/hotspots.py [--events 1000000] [--weeks 52] [--res 9] [--seed 7]

Last line: `hotspot-bench events=<n> cells=<n> steps=<n> gi_s=<s> emerging_s=<s> vs_esda=<ratio>x
max_abs_z_diff=<d>`.

With `--dask`, the cube of `gridgov hotspot-cube` instead (etl/hotspot_cube.py): for each size in `--rows`
(default 10^6 and 10^7) a partitioned Parquet dataset of that many reports (lon, lat, reported_at as UTC
instants, matter) over the demo county's bounding box in 52 weeks, `--parts` files; the counting of every
partition timed in process (`count_dataset` without Dask) and on a LocalCluster of `--dask-workers` worker
processes (start-up and scatter included, and the run again on the started cluster without them), the
summed counts checked identical, then the client's cube and emerging analysis timed once.

    python bench/hotspots.py --dask [--rows 1000000,10000000] [--parts 16] [--dask-workers 2]

Last line: `hotspot-cube-bench rows=<n> parts=<p> workers=<w> inprocess_rows_per_s=<r> dask_rows_per_s=<r>
dask_warm_rows_per_s=<r> analysis_s=<s> cells=<n> weeks=<n> identical=<bool>` (for the largest size).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.emerging import emerging, space_time_z  # noqa: E402
from analytics.hotspots import area_cells, gi_star_z, hotspots, ring_weights  # noqa: E402
from gis.demo import build_demo_county  # noqa: E402


def synthetic_cube(n_cells: int, weeks: int, events: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hot = rng.choice(n_cells, size=max(n_cells // 50, 1), replace=False)
    background = events // 2
    cell = rng.integers(0, n_cells, background)
    week = rng.integers(0, weeks, background)
    extra = events - background
    hcell = rng.choice(hot, extra)
    start = (hot % 3) * (weeks // 3)  # a third from the start, a third later, a third in the last third
    first = dict(zip(hot.tolist(), start.tolist(), strict=True))
    lo = np.array([first[c] for c in hcell.tolist()])
    # growing within the active span: a week drawn with a triangular density rising to the end
    hweek = np.minimum(lo + np.floor(rng.triangular(0, weeks - lo, weeks - lo + 1e-9)).astype(np.int64), weeks - 1)
    cube = np.zeros((n_cells, weeks))
    np.add.at(cube, (np.concatenate([cell, hcell]), np.concatenate([week, hweek])), 1.0)
    return cube


def esda_z(values: np.ndarray, weights: sparse.csr_matrix) -> tuple[np.ndarray, float]:
    """esda's Gi* z with binary weights (the diagonal set by esda itself: star=True), and its time."""
    from esda.getisord import G_Local
    from libpysal.weights import W

    off = weights.tolil()
    off.setdiag(0)
    w = W.from_sparse(off.tocsr())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        g = G_Local(values.astype(float), w, transform="B", star=True, permutations=0)
        return np.asarray(g.Zs), time.perf_counter() - t


def write_reports(root: Path, bounds: tuple[float, float, float, float], rows: int, parts: int, first: date,
                  weeks: int, seed: int) -> None:
    """`rows` reports, uniform over `bounds` and the weeks, in `parts` Parquet files (one row group each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    root.mkdir()
    start_us = int((datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=8)).timestamp() * 1e6)
    per = -(-rows // parts)
    for i in range(parts):
        n = min(per, rows - i * per)
        at = start_us + rng.integers(0, weeks * 7 * 86_400 * 1_000_000, n)
        pq.write_table(pa.table({
            "lon": rng.uniform(bounds[0], bounds[2], n), "lat": rng.uniform(bounds[1], bounds[3], n),
            "reported_at": pa.array(at, pa.timestamp("us", tz="UTC")),
            "matter": pa.array(np.where(rng.random(n) < 0.5, "M-A", "M-B"))}), root / f"part-{i:03d}.parquet",
            row_group_size=n)


def cube_bench(args: argparse.Namespace) -> None:
    """In process vs a LocalCluster: counting a partitioned dataset of reports into the weekly cube."""
    import os
    import tempfile

    import shapely

    from analytics.emerging import bins_to_cube
    from etl.hotspot_cube import CubeSpec, count_dataset
    from etl.route_dask import client_for

    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    demo = build_demo_county()
    county = [u.geometry for u in demo.units if u.layer == "county" and u.geometry is not None]
    outline = shapely.union_all(county)
    first = date(2025, 1, 6)
    spec = CubeSpec(start=first, n_steps=args.weeks, res=args.res, zone="Asia/Shanghai",
                    outline_wkb=shapely.to_wkb(outline))
    sizes = [int(float(x)) for x in args.rows.split(",")]
    line = ""
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="cube-bench-") as tmp:
            root = Path(tmp) / "reports"
            t = time.perf_counter()
            write_reports(root, outline.bounds, rows, args.parts, first, args.weeks, args.seed)
            print(f"rows={rows:,}: dataset of {args.parts} files written in {time.perf_counter() - t:.1f}s",
                  flush=True)
            t = time.perf_counter()
            local, tally = count_dataset(root, spec)
            local_s = time.perf_counter() - t
            print(f"  in process: {local_s:.2f}s, {rows / local_s:,.0f} rows/s, counted {tally.counted:,}", flush=True)
            t = time.perf_counter()
            spread, _ = count_dataset(root, spec, f"local:{args.dask_workers}")
            dask_s = time.perf_counter() - t
            print(f"  LocalCluster ({args.dask_workers} processes, start-up included): {dask_s:.2f}s, "
                  f"{rows / dask_s:,.0f} rows/s", flush=True)
            warm_s = _warm_seconds(root, spec, args.dask_workers, client_for)
            print(f"  LocalCluster, already started: {warm_s:.2f}s, {rows / warm_s:,.0f} rows/s", flush=True)
            identical = all(np.array_equal(getattr(local, f), getattr(spread, f)) for f in ("cells", "steps", "counts"))
            t = time.perf_counter()
            cells, cube = bins_to_cube(local, county, args.res, 1, args.weeks)
            em = emerging(cells, cube, k=1, time_k=1)
            analysis_s = time.perf_counter() - t
            hot = sum(p.endswith("_hot") for p in em.patterns)
            print(f"  client: cube {len(cells):,} cells × {args.weeks} weeks and the emerging analysis in "
                  f"{analysis_s:.2f}s ({hot} hot cells); identical={identical}", flush=True)
            line = (f"hotspot-cube-bench rows={rows} parts={args.parts} workers={args.dask_workers} "
                    f"inprocess_rows_per_s={rows / local_s:.0f} dask_rows_per_s={rows / dask_s:.0f} "
                    f"dask_warm_rows_per_s={rows / warm_s:.0f} analysis_s={analysis_s:.2f} cells={len(cells)} "
                    f"weeks={args.weeks} identical={str(identical).lower()}")
    print(line)


def _warm_seconds(root: Path, spec: Any, workers: int, client_for: Any) -> float:
    """The counting on a cluster started (and the spec scattered) beforehand: the work alone."""
    import importlib

    from dask.distributed import wait

    from etl.hotspot_cube import count_part
    from etl.route_dask import fragments

    client, close = client_for(f"local:{workers}")
    try:
        shipped = client.scatter(spec, broadcast=True)
        client.run(importlib.import_module, "etl.hotspot_cube")  # every worker has imported the code
        t = time.perf_counter()
        futures = [client.submit(count_part, shipped, p, g, pure=False) for p, g in fragments(root)]
        wait(futures)
        [f.result() for f in futures]
        return time.perf_counter() - t
    finally:
        close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--res", type=int, default=9)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dask", action="store_true", help="the hotspot-cube counting: in process vs LocalCluster")
    ap.add_argument("--rows", default="1000000,10000000", help="with --dask: dataset sizes, comma-separated")
    ap.add_argument("--parts", type=int, default=16, help="with --dask: files in the dataset")
    ap.add_argument("--dask-workers", type=int, default=2)
    args = ap.parse_args()
    if args.dask:
        cube_bench(args)
        return

    demo = build_demo_county()
    county = [u.geometry for u in demo.units if u.layer == "county" and u.geometry is not None]
    cells = sorted(area_cells(county, args.res))
    cube = synthetic_cube(len(cells), args.weeks, args.events, args.seed)
    assert int(cube.sum()) == args.events
    totals = cube.sum(axis=1)
    print(f"cells={len(cells)} steps={args.weeks} events={args.events}", flush=True)

    t = time.perf_counter()
    gi = hotspots(cells, totals, k=1)
    gi_s = time.perf_counter() - t
    t = time.perf_counter()
    em = emerging(cells, cube, k=1, time_k=1)
    emerging_s = time.perf_counter() - t
    patterns = {p: em.patterns.count(p) for p in sorted(set(em.patterns))}
    print(f"gi: hot={int((gi.bins > 0).sum())} cold={int((gi.bins < 0).sum())} in {gi_s:.2f}s", flush=True)
    print(f"emerging in {emerging_s:.2f}s: {patterns}", flush=True)

    # Our z-only time on the two statistics esda computes.
    spatial = ring_weights(cells, 1)
    t = time.perf_counter()
    z_year = gi_star_z(totals, spatial)
    z_cube = space_time_z(cube, spatial, 1)
    ours_z_s = time.perf_counter() - t

    # esda on the same: the year's totals; the cube's bins (cell-major: index = cell × weeks + week).
    e_year, esda_year_s = esda_z(totals, spatial)
    weeks = args.weeks
    time_w = sparse.eye(weeks, format="csr") + sparse.eye(weeks, k=-1, format="csr")  # this week and the one before
    st = sparse.kron(spatial, time_w, format="csr")
    e_cube, esda_cube_s = esda_z(cube.ravel(), st)
    diff = max(float(np.abs(e_year - z_year).max()), float(np.abs(e_cube - z_cube.ravel()).max()),
               float(np.abs(gi.z - z_year).max()), float(np.abs(em.z - z_cube).max()))
    esda_s = esda_year_s + esda_cube_s
    print(f"ours z-only {ours_z_s:.3f}s; esda {esda_s:.2f}s (year {esda_year_s:.2f}s, cube {esda_cube_s:.2f}s); "
          f"z-only ratio {esda_s / ours_z_s:.0f}x", flush=True)
    print(f"hotspot-bench events={args.events} cells={len(cells)} steps={weeks} gi_s={gi_s:.3f} "
          f"emerging_s={emerging_s:.3f} vs_esda={esda_s / (gi_s + emerging_s):.1f}x max_abs_z_diff={diff:.2e}")


if __name__ == "__main__":
    main()
