"""`gridgov hotspot-cube` counts a partitioned dataset of reports per (H3 cell, local week) on a two-worker
LocalCluster exactly as in process, and both equal the store's emerging-hot-spot path over the same reports and
an independent count (pandas groupby over h3-py cells, shapely `covers` for the county); bad input writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from analytics.emerging import emerging
from cli.common import repository
from gis.model import Incident
from store.reports import county_outlines, cube_of, report_points
from tests import routing_scenario as sc
from tests.test_catalogue import gridgov, gridgov_fails, summary

ROOT = Path(__file__).resolve().parent.parent
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
FIRST, END, RES = date(2026, 3, 2), date(2026, 5, 11), 8  # ten whole weeks
ZONE = "Asia/Shanghai"


def reports(n: int = 6_000) -> pd.DataFrame:
    """Reports over the county and a little beyond it, with a cluster that grows in the last weeks; instants in
    UTC, many of them late in the UTC day (the next local day in the county)."""
    rng = np.random.default_rng(17)
    lon, lat = rng.uniform(114.97, 115.43, n), rng.uniform(35.98, 36.22, n)
    hot = rng.random(n) < 0.3
    lon[hot], lat[hot] = rng.normal(115.25, 0.01, hot.sum()), rng.normal(36.1, 0.008, hot.sum())
    span = (END - FIRST).days * 86_400 + 3 * 86_400
    seconds = rng.integers(-2 * 86_400, span, n)
    seconds[hot] = span - rng.integers(0, 30 * 86_400, hot.sum())  # the cluster: the last month
    start = datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC)
    at = pd.to_datetime([start + timedelta(seconds=int(s)) for s in seconds], utc=True)
    matter = np.where(rng.random(n) < 0.8, "M-STREET", "M-LAND")
    return pd.DataFrame({"id": np.arange(n), "lon": lon, "lat": lat, "reported_at": at, "matter": matter})


def write_dataset(df: pd.DataFrame, root: Path) -> Path:
    """Three files, the last in row groups of 500: six partitions."""
    root.mkdir()
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table.slice(0, 2000), root / "a.parquet")
    pq.write_table(table.slice(2000, 2500), root / "b.parquet")
    pq.write_table(table.slice(4500), root / "c.parquet", row_group_size=500)
    return root


def independent(df: pd.DataFrame) -> dict[tuple[str, int], int]:
    """Counts per (cell, week) by pandas: local dates via tz_convert, the county by shapely covers."""
    local = df["reported_at"].dt.tz_convert(ZONE).dt.date
    week = np.array([(d - FIRST).days // 7 for d in local])
    inside = shapely.covers(sc.C, shapely.points(df["lon"], df["lat"]))
    keep = df[(df["matter"] == "M-STREET").to_numpy() & inside & (week >= 0) & (week < 10)].copy()
    keep["week"] = week[keep.index]
    keep["cell"] = [h3.latlng_to_cell(y, x, RES) for x, y in zip(keep["lon"], keep["lat"], strict=True)]
    return {(str(c), int(w)): int(n) for (c, w), n in keep.groupby(["cell", "week"]).size().items()}


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_dask_cube_is_the_in_process_and_the_store_cube(database_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the worker processes import this tree
    df = reports()
    root = write_dataset(df, tmp_path / "reports")
    window = ["--res", str(RES), "--from", FIRST.isoformat(), "--to", END.isoformat(), "--matter", "M-STREET"]
    local = summary(gridgov(database_url, "hotspot-cube", root, tmp_path / "one", *window), "hotspot-cube")
    spread = summary(gridgov(database_url, "hotspot-cube", root, tmp_path / "two", *window, "--dask", "local:2"),
                     "hotspot-cube")
    assert local == spread and local["weeks"] == "10" and local["rows"] == str(len(df))
    for name in ("cube.parquet", "cells.parquet"):
        assert pq.read_table(tmp_path / "two" / name).equals(pq.read_table(tmp_path / "one" / name))
    cube = pq.read_table(tmp_path / "one" / "cube.parquet").to_pandas()
    cells = pq.read_table(tmp_path / "one" / "cells.parquet")
    expected = independent(df)
    got = {(c, int(w)): int(n) for c, w, n in zip(cube["h3"], cube["week"], cube["count"], strict=True) if n}
    assert got == expected and int(local["counted"]) == sum(expected.values())
    assert set(cube["week_start"]) == {FIRST + timedelta(days=7 * w) for w in range(10)}
    # The store's path (GET /hotspots/emerging's cube_of + emerging) over the same reports.
    inside = df[shapely.covers(sc.C, shapely.points(df["lon"], df["lat"]))]
    with repository(database_url) as repo:
        repo.add_incidents([Incident(reported_at=r.reported_at.to_pydatetime(), lon=r.lon, lat=r.lat,
                                     matter_code=r.matter) for r in inside.itertuples()])
        start, end = (datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(ZONE)) for d in (FIRST, END))
        points = report_points(repo.session, start, end, matters=["M-STREET"])
        outlines = county_outlines(repo, END - timedelta(days=1))
    store_cells, store_counts, first, n_steps = cube_of(points, outlines, FIRST, END, 7, RES, 1)
    result = emerging(store_cells, store_counts)
    assert (first, n_steps) == (FIRST, 10)
    assert cells.column("h3").to_pylist() == store_cells
    assert np.array_equal(cube["count"].to_numpy().reshape(len(store_cells), 10), store_counts)
    assert cells.column("pattern").to_pylist() == result.patterns
    assert np.array_equal(cells.column("z_final").to_numpy(), result.z[:, -1])
    hot = [p for p in result.patterns if p.endswith("_hot")]
    assert hot and int(local["hot"]) == len(hot)  # the growing cluster is found
    labels = dict(zip(cells.column("pattern").to_pylist(), cells.column("pattern_label").to_pylist(), strict=True))
    assert labels["none"] != "none" and all(lab != code for code, lab in labels.items())  # Chinese words
    hexagons = shapely.from_wkb(cells.column("geometry").to_numpy(zero_copy_only=False))
    centres = [h3.cell_to_latlng(c) for c in store_cells[:50]]
    assert all(shapely.contains_xy(g, lon, lat) for g, (lat, lon) in zip(hexagons[:50], centres, strict=True))
    assert b"geo" in (cells.schema.metadata or {})
    # A bad row in one partition stops the Dask run with its file and row; nothing is written.
    pq.write_table(pa.table({"lon": [115.1, float("nan")], "lat": [36.1, 36.1], "matter": ["M-STREET"] * 2,
                             "reported_at": pa.array([datetime(2026, 4, 1, tzinfo=UTC)] * 2)}), root / "d.parquet")
    message = gridgov_fails(database_url, "hotspot-cube", root, tmp_path / "three", *window, "--dask", "local:2")
    assert "d.parquet:2" in message and not (tmp_path / "three").exists()


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_bad_input_is_refused_and_nothing_is_written(database_url: str, tmp_path: Path) -> None:
    df = reports(400)
    window = ["--res", str(RES), "--from", FIRST.isoformat(), "--to", END.isoformat()]

    def refused(table: pa.Table | None, *extra: str) -> str:
        src = tmp_path / f"in{len(list(tmp_path.iterdir()))}"
        src.mkdir()
        if table is not None:
            pq.write_table(table, src / "part.parquet")
        out = tmp_path / f"{src.name}-out"
        message = gridgov_fails(database_url, "hotspot-cube", src, out, *window, *extra)
        assert not out.exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())
        return message

    good = pa.Table.from_pandas(df, preserve_index=False)
    assert "reported_at" in refused(good.drop_columns(["reported_at"]))
    nan = df.copy()
    nan.loc[123, "lat"] = np.nan
    assert "part.parquet:124" in refused(pa.Table.from_pandas(nan, preserve_index=False))
    assert "no reports" in refused(good.slice(0, 0))
    assert "no reports" in refused(None)
    assert "M-NOPE" in refused(good, "--matter", "M-NOPE")
    far = df.assign(lon=df["lon"] + 5)
    assert "inside the county" in refused(pa.Table.from_pandas(far, preserve_index=False))


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_window_defaults_to_weeks_before_the_latest_report_and_text_times_count_alike(database_url: str,
                                                                                      tmp_path: Path) -> None:
    df = reports(1_500)
    latest = df["reported_at"].dt.tz_convert(ZONE).dt.date.max()
    root = write_dataset(df, tmp_path / "instants")
    got = summary(gridgov(database_url, "hotspot-cube", root, tmp_path / "a", "--res", str(RES)), "hotspot-cube")
    end = latest + timedelta(days=1)
    assert (got["to"], got["from"], got["weeks"]) == (end.isoformat(), (end - timedelta(weeks=12)).isoformat(), "12")
    three = summary(gridgov(database_url, "hotspot-cube", root, tmp_path / "b", "--res", str(RES), "--weeks", "3"),
                    "hotspot-cube")
    assert three["weeks"] == "3" and int(three["counted"]) < int(got["counted"])
    # The same instants written as text with the county's offset give the same cube.
    text = df.assign(reported_at=df["reported_at"].dt.tz_convert(ZONE).map(lambda t: t.isoformat()))
    other = write_dataset(text, tmp_path / "text")
    gridgov(database_url, "hotspot-cube", other, tmp_path / "c", "--res", str(RES))
    assert pq.read_table(tmp_path / "c" / "cube.parquet").equals(pq.read_table(tmp_path / "a" / "cube.parquet"))
    assert "not both" in gridgov_fails(database_url, "hotspot-cube", root, tmp_path / "d", "--weeks", "3",
                                       "--from", "2026-03-02")
    assert not (tmp_path / "d").exists()
