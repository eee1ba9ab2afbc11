"""The emerging-hot-spot cube of a partitioned Parquet dataset of reports, in process or on a Dask cluster.

How it scales. Each partition (a file, or a row group of a large file: `etl.route_dask.fragments`) is read
column by column and counted on its own: the reports inside the county (the county outline, `covers`: a
point on the edge counts) of the window's whole weeks in the county's clock, per (H3 cell, week), with
`analytics.emerging.count_bins` — the function the database path counts with. A partition's answer is
sparse counts, at most cells × weeks entries (a few MB at most), so the reduction (`sum_bins`, exact integer
sums) and the analysis (`analytics.emerging.emerging`) run in the client on a small cube; the partitions are
the work. Memory per worker: one partition's four columns (~35 bytes a row) and the arrays made from them,
about 150 bytes a row at a task's peak, plus its counts; the outline travels once to every worker
(`Client.scatter(broadcast=True)`).

Timestamps: tz-aware instants are read in the county's zone (`GRIDGOV_TIMEZONE`, the zone travels with the
job), naive ones and text without an offset as the county's wall-clock time (cases/clock.py), dates as
local dates. Nothing is written until every partition has been counted and the analysis has run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from analytics.emerging import EPOCH, Bins, count_bins, sum_bins
from gis.errors import InvalidInput
from gis.prepared import intersects_xy
from i18n import T

Floats = npt.NDArray[np.float64]
Progress = Callable[[int], None]  # called with the rows of each partition done


@dataclass(frozen=True)
class CubeSpec:
    """What every partition needs to count itself: the window's weeks, the resolution, the zone, the outline."""

    start: date
    n_steps: int
    res: int
    zone: str
    outline_wkb: bytes
    matter: str | None = None
    step_days: int = 7
    lon_col: str = "lon"
    lat_col: str = "lat"
    at_col: str = "reported_at"
    matter_col: str = "matter"
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        cols = (self.lon_col, self.lat_col, self.at_col) + ((self.matter_col,) if self.matter else ())
        object.__setattr__(self, "columns", cols)


@dataclass
class Tally:
    """Rows read, rows of the matter, rows inside the county and the window (counted)."""

    rows: int = 0
    matter: int = 0
    counted: int = 0

    def add(self, other: Tally) -> None:
        self.rows += other.rows
        self.matter += other.matter
        self.counted += other.counted


def check_columns(schema: pa.Schema, spec: CubeSpec, where: str) -> None:
    """Every column the cube needs is in the dataset, else an error naming the missing ones."""
    missing = [c for c in spec.columns if c not in schema.names]
    if missing:
        raise InvalidInput(T("missing column {missing} (columns: {columns}); name the columns with --lon-col, "
                             "--lat-col, --time-col and --matter-col", missing=", ".join(map(repr, missing)),
                             columns=", ".join(schema.names)), where=where)


def _coordinates(table: pa.Table, name: str, where: str) -> Floats:
    col = table.column(name)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_null(col.type)):
        raise InvalidInput(T("column {column} holds {kind}, not numbers", column=repr(name), kind=str(col.type)),
                           where=where)
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def local_days(col: pa.ChunkedArray | pa.Array, zone: str, where: str) -> npt.NDArray[np.int64]:
    """The local date (days since 1970-01-01 in `zone`) of each value: instants moved to the zone, naive
    timestamps and text without an offset read as wall-clock time there."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = pc.cast(col, pa.timestamp("us"))
        except pa.ArrowInvalid:
            try:
                col = pc.cast(col, pa.timestamp("us", tz="UTC"))
            except pa.ArrowInvalid as exc:
                raise InvalidInput(T("the time column holds text that is not an ISO 8601 time: {problem}",
                                     problem=str(exc)), where=where) from None
        t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:  # the instant in the county's zone, then its wall-clock date
            col = pc.local_timestamp(pc.cast(col, pa.timestamp(t.unit, tz=zone)))
        col = pc.cast(col, pa.date32())
    elif pa.types.is_date(t):
        col = pc.cast(col, pa.date32())
    else:
        raise InvalidInput(T("the time column holds {kind}, not times", kind=str(t)), where=where)
    return np.asarray(pc.cast(col, pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


@lru_cache(maxsize=4)
def _outline(wkb: bytes) -> Any:
    geom = shapely.from_wkb(wkb)
    shapely.prepare(geom)
    return geom


def count_table(spec: CubeSpec, table: pa.Table, where: str, first_row: int = 1) -> tuple[Bins, Tally]:
    """Counts per (cell, week) of one table of reports; a bad row is an error at `file:row` (the first row 1)."""
    check_columns(table.schema, spec, where)
    n = table.num_rows
    tally = Tally(rows=n)
    if spec.matter is not None:
        table = table.filter(pc.equal(pc.cast(table.column(spec.matter_col), pa.string()), spec.matter))
    tally.matter = table.num_rows
    lon = _coordinates(table, spec.lon_col, where)
    lat = _coordinates(table, spec.lat_col, where)
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(T("({lon}, {lat}) is missing or out of range: longitude -180..180, latitude -90..90",
                             lon=float(lon[i]), lat=float(lat[i])), where=f"{where}:{first_row + i}")
    at = table.column(spec.at_col)
    if at.null_count:
        i = int(np.flatnonzero(pc.is_null(at).to_numpy(zero_copy_only=False))[0])
        raise InvalidInput(T("the report has no time ({column} is empty)", column=spec.at_col),
                           where=f"{where}:{first_row + i}")
    days = local_days(at, spec.zone, where)
    steps = (days - (spec.start - EPOCH).days) // spec.step_days
    keep = (steps >= 0) & (steps < spec.n_steps)
    keep[keep] = intersects_xy(_outline(spec.outline_wkb), lon[keep], lat[keep])  # covers: edges count
    bins = count_bins(lon[keep], lat[keep], days[keep], spec.start, spec.step_days, spec.n_steps, spec.res)
    tally.counted = bins.total
    return bins, tally


def count_part(spec: CubeSpec, path: str, groups: list[int] | None) -> tuple[Bins, Tally]:
    """One task: the counts of one fragment (a file, or row groups of one)."""
    file = pq.ParquetFile(path)
    check_columns(file.schema_arrow, spec, Path(path).name)
    table = file.read_row_groups(groups, columns=list(spec.columns)) if groups is not None else file.read(
        columns=list(spec.columns))
    first = 1 + sum(file.metadata.row_group(g).num_rows for g in range(min(groups))) if groups else 1
    return count_table(spec, table, Path(path).name, first)


def count_dataset(source: Path, spec: CubeSpec, dask: str | None = None, progress: Progress | None = None) -> tuple[
        Bins, Tally]:
    """The summed counts of every partition of the dataset: on Dask (`local[:N]`, `tcp://…`) or in process."""
    from etl.route_dask import fragments

    pieces = fragments(source)
    tally = Tally()
    parts: list[Bins] = []

    def done(result: tuple[Bins, Tally]) -> None:
        parts.append(result[0])
        tally.add(result[1])
        if progress is not None:
            progress(result[1].rows)

    if dask is None:
        for path, groups in pieces:
            done(count_part(spec, path, groups))
    else:
        from dask.distributed import as_completed

        from etl.route_dask import client_for

        client, close = client_for(dask)
        try:
            shipped = client.scatter(spec, broadcast=True)  # the outline, once per worker
            futures = [client.submit(count_part, shipped, path, groups, pure=False) for path, groups in pieces]
            for future in as_completed(futures):
                done(future.result())  # the first failing partition raises here (its error, its place)
        finally:
            close()
    return sum_bins(parts), tally


def dataset_rows(source: Path) -> int:
    """Rows of the dataset, from the Parquet footers (no data read)."""
    import pyarrow.dataset as ds

    return sum(f.metadata.num_rows for f in ds.dataset(source, format="parquet").get_fragments())


def last_day(source: Path, spec_at: str, zone: str) -> date | None:
    """The latest local date of the dataset's reports (one column streamed; None without rows)."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(source, format="parquet")
    if spec_at not in dataset.schema.names:
        return None
    best: int | None = None
    for batch in dataset.to_batches(columns=[spec_at]):
        col = batch.column(0).drop_null()
        if len(col):
            days = local_days(col, zone, spec_at)
            best = int(days.max()) if best is None else max(best, int(days.max()))
    return None if best is None else date.fromordinal(EPOCH.toordinal() + best)


# --- the outputs: the cube and each cell's pattern ----------------------------------------------------


def cube_table(cells: list[str], counts: Floats, start: date, step_days: int = 7) -> pa.Table:
    """The cube in long form: one row per (cell, week), zeros included, weeks in order within each cell."""
    n_cells, n_steps = counts.shape
    steps = np.tile(np.arange(n_steps, dtype=np.int32), n_cells)
    first = (start - EPOCH).days
    return pa.table({
        "h3": pa.array(np.repeat(np.array(cells, dtype=object), n_steps), pa.string()),
        "week": pa.array(steps),
        "week_start": pa.array(first + steps.astype(np.int32) * step_days, pa.int32()).cast(pa.date32()),
        "count": pa.array(counts.ravel().astype(np.int64)),
    })


def cells_table(result: Any, label: Callable[[str, str], str]) -> pa.Table:
    """Each cell of the study area with its pattern (code and label), trend and hexagon, as GeoParquet."""
    import json

    import h3

    cells: list[str] = result.cells
    rings = [[(lon, lat) for lat, lon in h3.cell_to_boundary(c)] for c in cells]
    hexagons = shapely.polygons(rings) if rings else np.array([], dtype=object)
    trends = [t[0] for t in result.trends]
    table = pa.table({
        "h3": pa.array(cells, pa.string()),
        "pattern": pa.array(result.patterns, pa.string()),
        "pattern_label": pa.array([label("hotspot_pattern", p) for p in result.patterns], pa.string()),
        "reports": pa.array(result.counts.sum(axis=1).astype(np.int64)),
        "hot_weeks": pa.array(result.hot.sum(axis=1).astype(np.int32)),
        "cold_weeks": pa.array(result.cold.sum(axis=1).astype(np.int32)),
        "z_final": pa.array(result.z[:, -1] if result.z.size else np.zeros(len(cells))),
        "trend": pa.array(trends, pa.string()),
        "trend_label": pa.array([label("trend", t) for t in trends], pa.string()),
        "trend_p": pa.array([t[1] for t in result.trends], pa.float64()),
        "trend_slope": pa.array([t[2] for t in result.trends], pa.float64()),
        "geometry": pa.array(shapely.to_wkb(hexagons), pa.binary()),
    })
    bounds = [float(v) for v in shapely.total_bounds(hexagons)] if len(cells) else []
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"], "bbox": bounds}}}  # CRS84
    return table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})


def check_target(target: Path) -> None:
    """The target is a new or empty directory (checked before any work)."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(T("the target is a directory for cube.parquet and cells.parquet; give a new or empty "
                             "directory"), where=str(target))


def write_outputs(target: Path, cube: pa.Table, cells: pa.Table) -> None:
    """Both files into `target` at once: written beside it, then renamed (a failure leaves nothing)."""
    import shutil

    check_target(target)
    staging = target.with_name(f".{target.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        pq.write_table(cube, staging / "cube.parquet", compression="zstd")
        pq.write_table(cells, staging / "cells.parquet", compression="zstd")
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
