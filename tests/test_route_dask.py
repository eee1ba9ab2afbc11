"""`--dask local:2` routes a partitioned Parquet dataset on a two-worker LocalCluster (worker processes) exactly as
the in-process path does, and re-attributes past cases between two versions as a dataset."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli.common import repository
from store.routers import RouterCache
from tests.test_catalogue import gridgov, gridgov_fails, summary

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 6, 1)
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def dataset(tmp_path: Path) -> tuple[Path, pa.Table]:
    """Three files, the last with three row groups: five partitions of past cases."""
    rng = np.random.default_rng(101)
    n = 7_500
    table = pa.table({"case": [f"C{i:05d}" for i in range(n)], "lat": rng.uniform(35.98, 36.22, n),
                      "lon": rng.uniform(114.95, 115.45, n),
                      "matter": ["M-STREET" if i % 4 else "M-LAND" for i in range(n)]})
    root = tmp_path / "cases"
    root.mkdir()
    pq.write_table(table.slice(0, 2000), root / "a-2024.parquet")
    pq.write_table(table.slice(2000, 2500), root / "b-2025.parquet")
    pq.write_table(table.slice(4500), root / "c-2026.parquet", row_group_size=1000)
    return root, table


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_dask_output_is_the_single_process_output(database_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the worker processes import this tree
    root, table = dataset(tmp_path)
    local = summary(gridgov(database_url, "route-file", root, tmp_path / "one.parquet", "--at", DAY.isoformat()),
                    "routed")
    on_dask = summary(gridgov(database_url, "route-file", root, tmp_path / "parts", "--at", DAY.isoformat(),
                              "--dask", "local:2", "--chunk-rows", "1000"), "routed")
    assert local == on_dask and local["rows"] == str(table.num_rows)
    parts = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(5)]
    single, spread = pq.read_table(tmp_path / "one.parquet"), pq.read_table(tmp_path / "parts")
    assert spread.equals(single)
    assert spread.column("case").to_pylist() == table.column("case").to_pylist()
    assert {"ok", "dispute", "gap"} == set(spread.column("status").to_pylist())
    # Re-attribution v1 → v2 (v2 adds a claim on V3): the changed rows, on Dask and in process alike.
    gridgov(database_url, "reattribute", root, tmp_path / "moved", "--before", "1", "--after", "2",
            "--at", DAY.isoformat(), "--dask", "local:2")
    gridgov(database_url, "reattribute", root, tmp_path / "moved.parquet", "--before", "1", "--after", "2",
            "--at", DAY.isoformat())
    moved, moved_local = pq.read_table(tmp_path / "moved"), pq.read_table(tmp_path / "moved.parquet")
    assert moved.equals(moved_local) and moved.num_rows > 0
    with repository(database_url) as repo:
        cache = RouterCache()
        v1, v2 = cache.router(repo, repo.version(1)), cache.router(repo, repo.version(2))
    lat, lon = table.column("lat").to_numpy(), table.column("lon").to_numpy()
    matters = np.array(table.column("matter").to_pylist())
    expected = []
    for m in ("M-LAND", "M-STREET"):
        idx = np.flatnonzero(matters == m)
        a, b = v1.route_many(lon[idx], lat[idx], m, DAY)[0], v2.route_many(lon[idx], lat[idx], m, DAY)[0]
        expected += [table.column("case")[int(i)].as_py() for i, x, y in zip(idx, a, b, strict=True) if x != y]
    assert sorted(moved.column("case").to_pylist()) == sorted(expected)
    assert all(x != y for x, y in zip(moved.column("team_before").to_pylist(), moved.column("team_after").to_pylist(),
                                      strict=True))
    # A target that already holds files is refused before any work.
    assert "new or empty directory" in gridgov_fails(database_url, "route-file", root, tmp_path / "parts",
                                                     "--dask", "local:2")
