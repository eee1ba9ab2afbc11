"""`gridgov route-file` streams CSV, Parquet and GeoParquet in chunks, keeps every input column and adds the
decision; its start-up loads nothing it does not need."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from cli.common import repository
from store.routers import RouterCache
from tests.test_catalogue import gridgov, gridgov_fails, summary

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 6, 1)
N = 12_000
HEAVY = ("geopandas", "fastapi", "sqlalchemy", "pandas", "starlette", "alembic", "folium", "dask")

SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # the store is not what is tested here


def test_route_file_help_imports_nothing_heavy() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli.entry", "route-file", "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--dask" in done.stdout and "--chunk-rows" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "cli.route" in imported
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, heavy


@pytest.fixture
def rows() -> dict[str, list[str]]:
    """Rows over the scenario county and beyond it, with text columns that must come back unchanged."""
    rng = np.random.default_rng(81)
    lon = rng.uniform(114.95, 115.45, N)
    lat = rng.uniform(35.98, 36.22, N)
    lon[:40] = 115.1  # exactly on the V1/V2 edge
    acc = rng.uniform(0, 2000, N).round(1).astype(str).astype(object)
    acc[::5] = ""
    return {"id": [f"{i:06d}" for i in range(N)], "note": [f"巡查,第{i}号 \"x\"" for i in range(N)],
            "lat": [repr(float(v)) for v in lat], "lon": [repr(float(v)) for v in lon],
            "matter": ["M-STREET" if i % 3 else "M-LAND" for i in range(N)], "accuracy_m": list(acc)}


def write_csv(path: Path, cols: dict[str, list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(cols))
        w.writerows(zip(*cols.values(), strict=True))


def expected(database_url: str, cols: dict[str, list[str]]) -> dict[str, list[object]]:
    """The router core's answer, row by row, per matter."""
    lon, lat = np.array(cols["lon"], dtype=float), np.array(cols["lat"], dtype=float)
    acc = np.array([float(a) if a else np.nan for a in cols["accuracy_m"]])
    out: dict[str, list[object]] = {k: [None] * N for k in ("team", "status", "rule", "distance_m", "near_boundary")}
    with repository(database_url) as repo:
        router = RouterCache().router_at(repo, DAY)
    for m in ("M-STREET", "M-LAND"):
        idx = np.flatnonzero(np.array(cols["matter"]) == m)
        table = router.route_table(lon[idx], lat[idx], m, DAY, acc[idx])
        for k, values in table.items():
            for i, v in zip(idx.tolist(), values, strict=True):
                out[k][i] = v
    return out


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_csv_and_parquet_in_chunks_keep_every_column(database_url: str, tmp_path: Path,
                                                     rows: dict[str, list[str]]) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, rows)
    want = expected(database_url, rows)
    counts = summary(gridgov(database_url, "route-file", src, tmp_path / "out.csv", "--at", DAY.isoformat(),
                             "--chunk-rows", "5000"), "routed")
    assert counts["rows"] == str(N) and int(counts["ok"]) + int(counts["dispute"]) + int(counts["gap"]) == N
    with (tmp_path / "out.csv").open(encoding="utf-8") as fh:
        out = list(csv.DictReader(fh))
    assert list(out[0]) == ["id", "note", "lat", "lon", "matter", "accuracy_m", "team", "status", "rule", "version",
                            "distance_m", "near_boundary"]
    for k in rows:  # input text exactly as it was (leading zeros, commas, quotes, empty cells)
        assert [r[k] for r in out] == rows[k], k
    assert [r["team"] for r in out] == want["team"] and [r["status"] for r in out] == want["status"]
    assert [r["rule"] for r in out] == want["rule"]
    assert [r["near_boundary"] for r in out] == [str(v) for v in want["near_boundary"]]
    assert np.abs(np.array([float(r["distance_m"]) for r in out]) - np.array(want["distance_m"])).max() < 1e-6
    assert {r["version"] for r in out} == {"2"}
    assert int(counts["near_boundary"]) == sum(map(bool, want["near_boundary"]))
    assert {"ok", "dispute", "gap"} == set(want["status"])  # every status is exercised
    # The same rows in Parquet (typed columns), out to Parquet: the same decisions.
    table = pa.table({**{k: rows[k] for k in ("id", "note", "matter")}, "lat": np.array(rows["lat"], dtype=float),
                      "lon": np.array(rows["lon"], dtype=float)})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=3000)
    gridgov(database_url, "route-file", tmp_path / "in.parquet", tmp_path / "out.parquet", "--at", DAY.isoformat(),
            "--chunk-rows", "4000")
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.column_names == ["id", "note", "matter", "lat", "lon", "team", "status", "rule", "version",
                                "distance_m", "near_boundary"]
    assert got.column("id").to_pylist() == rows["id"] and got.column("team").to_pylist() == want["team"]
    assert got.column("near_boundary").type == pa.bool_() and got.column("distance_m").type == pa.float64()
    no_acc = (np.array(want["distance_m"]) < 1e-3).tolist()  # without an accuracy column: on a boundary only
    assert got.column("near_boundary").to_pylist() == no_acc and any(no_acc)


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_geoparquet_points_in_geoparquet_out(database_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(82)
    lon, lat = rng.uniform(115.0, 115.4, 3000), rng.uniform(36.0, 36.2, 3000)
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
    table = pa.table({"case": [f"C{i}" for i in range(3000)],
                      "geometry": pa.array(shapely.to_wkb(shapely.points(lon, lat)), pa.binary())})
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), tmp_path / "in.parquet")
    gridgov(database_url, "route-file", tmp_path / "in.parquet", tmp_path / "out.geoparquet", "--matter", "M-STREET",
            "--at", DAY.isoformat())
    got = pq.read_table(tmp_path / "out.geoparquet")
    assert json.loads(got.schema.metadata[b"geo"])["primary_column"] == "geometry"
    assert got.column("geometry").to_pylist() == table.column("geometry").to_pylist()
    assert set(got.column("matter").to_pylist()) == {"M-STREET"}  # no matter column: the one given, per row
    with repository(database_url) as repo:
        router = RouterCache().router_at(repo, DAY)
    assert got.column("team").to_pylist() == router.route_many(lon, lat, "M-STREET", DAY)[0]
    # And to CSV: the geometry as WKT.
    gridgov(database_url, "route-file", tmp_path / "in.parquet", tmp_path / "out.csv", "--matter", "M-STREET",
            "--at", DAY.isoformat())
    first = next(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert shapely.from_wkt(first["geometry"]).equals(shapely.Point(lon[0], lat[0]))


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_a_bad_row_deep_in_the_file_leaves_no_output(database_url: str, tmp_path: Path,
                                                     rows: dict[str, list[str]]) -> None:
    rows["lat"][9_321] = "36.1x"
    src = tmp_path / "in.csv"
    write_csv(src, rows)
    message = gridgov_fails(database_url, "route-file", src, tmp_path / "out.csv", "--chunk-rows", "2000")
    assert "in.csv:9323" in message and "'36.1x' is not a number" in message
    rows["lat"][9_321] = "36.1"
    rows["matter"][11_000] = "M-NOPE"
    write_csv(src, rows)
    message = gridgov_fails(database_url, "route-file", src, tmp_path / "out.parquet", "--chunk-rows", "2000")
    assert "in.csv:11002" in message and "unknown matter code 'M-NOPE'" in message
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))]  # nothing half-written
    lat_only = _header_only(tmp_path)
    assert "missing column 'lon'" in gridgov_fails(database_url, "route-file", lat_only, tmp_path / "o.csv")


def _header_only(tmp_path: Path) -> Path:
    path = tmp_path / "lat_only.csv"
    path.write_text("lat,matter\n36.1,M-STREET\n", encoding="utf-8")
    return path


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_a_real_run_imports_no_web_app_geopandas_or_pandas(database_url: str, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("lat,lon\n36.05,115.05\n36.15,115.3\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli.entry", "route-file", str(src),
                           str(tmp_path / "out.parquet"), "--matter", "M-STREET", "--database-url", database_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert done.returncode == 0 and "routed rows=2 ok=2" in done.stdout, done.stderr[-2000:]
    # (a blocked import attempt is listed with a few microseconds; a real pandas import takes far longer)
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time") and line.split("|")[1].strip().isdigit()
                and int(line.split("|")[1]) > 1000}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("geopandas", "fastapi", "starlette", "pandas", "folium"))
    assert not heavy, heavy
    assert pq.read_table(tmp_path / "out.parquet").column("team").to_pylist() == ["URBAN", "TT2"]
