"""Batch benchmark: `route-file` on CSV and Parquet, with distances, against the router core, pandas I/O and
geopandas sjoin + shapely distance on the same rows, plus a Dask LocalCluster run — in one run.

    .venv/bin/python bench/batch.py --rows 10000000        # the issue's size (several minutes on 2 cores)
    .venv/bin/python bench/batch.py --rows 1000000 --no-dask

Rows: uniform over the demo county's bounding box grown 5 % (numpy seed 17), columns id, lat, lon, matter (two
matters), accuracy_m. route-file runs in a child process (loading a pickled router, so the child's peak RSS is
route-file's own: router + one chunk); its time includes reading, routing, distances and writing. The last line:

    batch-bench rows=<n> csv_rows_per_s=<r> parquet_rows_per_s=<r> vs_core=<ratio>x vs_geopandas=<ratio>x
        distance_mismatches=<n> peak_mib=<m> dask_rows_per_s=<r>
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY = date(2026, 11, 1)
GEN_CHUNK = 1_000_000


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_router() -> Any:
    from bench.routing import routing_data
    from gis.demo import build_demo_county
    from gis.routing import Router

    demo = build_demo_county()
    router = Router(routing_data(demo))
    router.boundary_distance  # noqa: B018 - built once, before timing and pickling
    return demo, router


def points(demo: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    county = next(u.geometry for u in demo.units if u.layer == "county")
    minx, miny, maxx, maxy = county.bounds
    mx, my = 0.05 * (maxx - minx), 0.05 * (maxy - miny)
    rng = np.random.default_rng(seed)
    return rng.uniform(minx - mx, maxx + mx, n), rng.uniform(miny - my, maxy + my, n)


def write_inputs(tmp: Path, lon: np.ndarray, lat: np.ndarray, matters: list[str], parts: int) -> tuple[Path, Path]:
    """The same rows as CSV, as one Parquet file and as a directory of `parts` Parquet files."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    n = len(lon)
    csv_path, pq_path, ds_dir = tmp / "in.csv", tmp / "in.parquet", tmp / "dataset"
    ds_dir.mkdir()
    schema = pa.schema([("id", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()), ("matter", pa.string()),
                        ("accuracy_m", pa.float64())])
    per_part = -(-n // parts)
    with pcsv.CSVWriter(str(csv_path), schema) as cw, pq.ParquetWriter(str(pq_path), schema) as pw:
        for start in range(0, n, GEN_CHUNK):
            stop = min(n, start + GEN_CHUNK)
            idx = np.arange(start, stop)
            acc = np.where(idx % 4 == 0, np.nan, (idx % 97).astype(float) * 3.0)
            batch = pa.record_batch([pa.array([f"R{i:09d}" for i in idx]), pa.array(np.round(lat[idx], 7)),
                                     pa.array(np.round(lon[idx], 7)),
                                     pa.array([matters[i % 2] for i in range(start, stop)]), pa.array(acc)],
                                    schema=schema)
            cw.write_batch(batch)
            pw.write_batch(batch)
    table = pq.read_table(pq_path, memory_map=True)
    for k in range(parts):
        pq.write_table(table.slice(k * per_part, per_part), ds_dir / f"part-{k:03d}.parquet")
    return csv_path, pq_path


def child(args: argparse.Namespace) -> None:
    """route-file's in-process path on one file; prints seconds and peak RSS (MiB) as JSON."""
    from etl.route_batch import BatchOptions, skip_pandas_import

    skip_pandas_import()  # as `gridgov route-file` does
    from cli.route import _route_file

    with open(args.router, "rb") as fh:
        router = pickle.load(fh)
    opts = BatchOptions(day=DAY)
    t0 = time.perf_counter()
    counts = _route_file(router, Path(args.source), Path(args.target), opts, args.chunk_rows)
    seconds = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so it would report the parent bench's peak.
    hwm_kib = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0])
    print(json.dumps({"seconds": seconds, "peak_mib": hwm_kib / 1024, "rows": counts["rows"]}))


def run_child(router_pkl: Path, source: Path, target: Path, chunk_rows: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", "--router", str(router_pkl), "--source", str(source),
                          "--target", str(target), "--chunk-rows", str(chunk_rows)],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def core_seconds(router: Any, lon: np.ndarray, lat: np.ndarray, matters: list[str]) -> float:
    """The router alone on the same rows (arrays in memory): outcomes per matter and distances."""
    t0 = time.perf_counter()
    for start in range(0, len(lon), GEN_CHUNK):
        x, y = lon[start:start + GEN_CHUNK], lat[start:start + GEN_CHUNK]
        k = np.arange(start, start + len(x)) % 2
        for j, m in enumerate(matters):
            router.route_outcomes(x[k == j], y[k == j], m, DAY)
        router.distances_to_boundary_m(x, y)
    return time.perf_counter() - t0


def geopandas_seconds(demo: Any, router: Any, lon: np.ndarray, lat: np.ndarray) -> tuple[float, np.ndarray]:
    """The usual alternative on these rows: sjoin(within) over the polygon units plus shapely's nearest
    boundary distance (STRtree nearest over the boundary segments, local metre frame); returns time and
    distances."""
    import geopandas as gpd
    import shapely

    polys = [u for u in demo.units if u.geometry is not None]
    right = gpd.GeoDataFrame({"code": [u.code for u in polys]}, geometry=[u.geometry for u in polys], crs=4326)
    # Boundary segments as single lines (a nearest query over whole rings measures the ring, not the index).
    rings = shapely.get_parts(shapely.boundary(np.array([r.shape for r in router.regions.regions], dtype=object)))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    x, y = router.to_local_m(coords[:, 0], coords[:, 1])
    same = index[1:] == index[:-1]
    xy = np.column_stack([x, y])
    local = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    t0 = time.perf_counter()
    left = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    gpd.sjoin(left, right, predicate="within", how="inner")
    px, py = router.to_local_m(lon, lat)
    tree = shapely.STRtree(local)
    (idx, _), dist = tree.query_nearest(shapely.points(px, py), return_distance=True, all_matches=False)
    seconds = time.perf_counter() - t0
    out = np.full(len(lon), np.inf)
    out[idx] = dist
    return seconds, out


def pandas_seconds(csv_path: Path, tmp: Path) -> float:
    """pandas read_csv + to_csv of the same file (the I/O alone, no routing), in chunks as route-file does."""
    import pandas as pd

    t0 = time.perf_counter()
    first = True
    for chunk in pd.read_csv(csv_path, chunksize=262_144, dtype=str):
        chunk.to_csv(tmp / "pandas.csv", mode="w" if first else "a", header=first, index=False)
        first = False
    return time.perf_counter() - t0


def dask_seconds(router: Any, dataset: Path, target: Path, workers: int) -> float:
    from etl.route_batch import BatchOptions
    from etl.route_dask import route_dataset

    t0 = time.perf_counter()
    route_dataset(router, dataset, target, BatchOptions(day=DAY), f"local:{workers}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--chunk-rows", type=int, default=262_144)
    ap.add_argument("--check-rows", type=int, default=1_000_000, help="rows compared with shapely's distance")
    ap.add_argument("--geopandas-rows", type=int, default=1_000_000, help="sjoin + distance on a prefix, scaled")
    ap.add_argument("--dask-workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--router", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0
    n = args.rows
    log("building the demo county and its router")
    demo, router = make_router()
    matters = sorted({d.matter_code for d in demo.delegations})[:2]
    lon, lat = points(demo, n, args.seed)
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        router_pkl = tmp / "router.pkl"
        router_pkl.write_bytes(pickle.dumps(router))
        log(f"writing {n:,} rows as CSV and Parquet")
        csv_path, pq_path = write_inputs(tmp, lon, lat, matters, parts=max(4, 2 * args.dask_workers))
        log("router core")
        t_core = core_seconds(router, lon, lat, matters)
        log("route-file CSV → CSV")
        r_csv = run_child(router_pkl, csv_path, tmp / "out.csv", args.chunk_rows)
        log("route-file Parquet → Parquet")
        r_pq = run_child(router_pkl, pq_path, tmp / "out.parquet", args.chunk_rows)
        log("pandas read_csv + to_csv")
        t_pandas = pandas_seconds(csv_path, tmp)
        k = min(n, args.geopandas_rows)
        log(f"geopandas sjoin + shapely distance on {k:,} rows")
        t_gpd_k, ref = geopandas_seconds(demo, router, lon[:k], lat[:k])
        t_gpd = t_gpd_k * n / k
        import pyarrow.parquet as pq

        c = min(n, args.check_rows, k)
        got = pq.read_table(tmp / "out.parquet", columns=["distance_m"]).column("distance_m").to_numpy()[:c]
        mismatches = int((np.abs(got - ref[:c]) > 0.01).sum())
        t_dask = float("nan")
        if not args.no_dask:
            log(f"Dask LocalCluster, {args.dask_workers} worker processes")
            t_dask = dask_seconds(router, tmp / "dataset", tmp / "dask-out", args.dask_workers)
        (tmp / "in.csv").unlink()
    csv_rate, pq_rate = n / r_csv["seconds"], n / r_pq["seconds"]
    print(f"rows {n:,}; matters {', '.join(matters)}; chunk {args.chunk_rows:,} rows")
    print(f"router core (outcomes + distances, arrays in memory)  {t_core:8.2f} s  {n / t_core:12,.0f} rows/s")
    print(f"route-file CSV → CSV                                 {r_csv['seconds']:8.2f} s  {csv_rate:12,.0f} rows/s"
          f"  peak {r_csv['peak_mib']:.0f} MiB")
    print(f"route-file Parquet → Parquet                         {r_pq['seconds']:8.2f} s  {pq_rate:12,.0f} rows/s"
          f"  peak {r_pq['peak_mib']:.0f} MiB")
    print(f"pandas read_csv + to_csv (I/O only, no routing)      {t_pandas:8.2f} s  "
          f"route-file CSV is {t_pandas / r_csv['seconds']:.2f}x its speed")
    print(f"geopandas sjoin + shapely distance ({k:,} rows, scaled) {t_gpd:8.2f} s  "
          f"route-file Parquet is {t_gpd / r_pq['seconds']:.1f}x faster, CSV {t_gpd / r_csv['seconds']:.1f}x")
    print(f"distances vs shapely on {c:,} rows: {mismatches} over 1 cm")
    if not args.no_dask:
        print(f"Dask LocalCluster ({args.dask_workers} processes, Parquet dataset → parts) {t_dask:8.2f} s  "
              f"{n / t_dask:12,.0f} rows/s (start-up and scatter included)")
    peak = max(r_csv["peak_mib"], r_pq["peak_mib"])
    print(f"batch-bench rows={n} csv_rows_per_s={csv_rate:.0f} parquet_rows_per_s={pq_rate:.0f} "
          f"vs_core={t_core / r_pq['seconds']:.2f}x vs_geopandas={t_gpd / r_pq['seconds']:.1f}x "
          f"distance_mismatches={mismatches} peak_mib={peak:.0f} dask_rows_per_s={n / t_dask:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
