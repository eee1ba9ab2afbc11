"""Route tables of points in chunks: CSV, Parquet and GeoParquet in, the same columns plus the decision out.

Every input column is kept as it was read (CSV cells as text, so codes keep their leading zeros) and the
columns `matter` (when no column gives it), `team`, `status`, `rule`, `version`, `distance_m` and
`near_boundary` are added (an input column of the same name is replaced). Files are read and written one
record batch at a time with pyarrow, so memory stays flat whatever the file's size; the output is written
to a temporary file beside the target and renamed only when every row has been routed, so a refused row
leaves no half-written file. The same `route_batch` serves `gridgov route-file`, the Dask partitions
(`etl/route_dask.py`) and `POST /route`'s streamed batches.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gis.errors import InvalidInput
from gis.routing.router import Router
from i18n import T

Floats = npt.NDArray[np.float64]
ADDED = ("matter", "team", "status", "rule", "version", "distance_m", "near_boundary")
CHUNK_ROWS = 262_144
CSV_BLOCK_BYTES = 8 << 20


def skip_pandas_import() -> None:
    """Keep pyarrow from importing pandas (a second or more of start-up) in a process that never converts to pandas.

    pyarrow's first `pa.array` imports pandas when it is installed, only to recognise pandas objects; seeing
    the import fail once, it records "no pandas" for those checks, and still imports pandas for real if
    `to_pandas` is ever called. Used by the CLI's batch commands only, never in the server."""
    import sys

    if "pandas" in sys.modules:
        return

    class _NoPandas:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "pandas":
                raise ImportError("pandas is not needed here")

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


@dataclass(frozen=True)
class BatchOptions:
    """Which columns hold what, the matter for every row (else the matter column), CRS and day."""

    day: date
    matter: str | None = None
    lat_col: str = "lat"
    lon_col: str = "lon"
    matter_col: str = "matter"
    accuracy_col: str = "accuracy_m"
    crs: str = "wgs84"


def file_format(path: Path) -> str:
    """'csv' or 'parquet' from a file's suffix (a directory is a partitioned Parquet dataset)."""
    if path.is_dir() or path.suffix.lower() in (".parquet", ".geoparquet", ".pq"):
        return "parquet"
    if path.suffix.lower() in (".csv", ".txt"):
        return "csv"
    raise InvalidInput(T("unknown file type {suffix}: use .csv, .parquet or .geoparquet (or a directory of Parquet "
                         "files)", suffix=repr(path.suffix)), where=str(path))


# --- routing one record batch -------------------------------------------------------------------------


def _floats(column: pa.Array | pa.ChunkedArray, name: str, first_line: int, where: str,
            allow_empty: bool = False) -> Floats:
    """A numeric column as float64 (text is parsed); a cell that is not a number names its line."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        stripped = pc.utf8_trim_whitespace(column)
        if allow_empty:
            stripped = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
        try:
            column = pc.cast(stripped, pa.float64())
        except pa.ArrowInvalid:
            for i, v in enumerate(stripped.to_pylist()):
                try:
                    float(v) if v is not None else None
                except ValueError:
                    raise InvalidInput(T("{column} {value} is not a number", column=name, value=repr(v)),
                                       where=f"{where}:{first_line + i}") from None
            raise
    elif not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        raise InvalidInput(T("column {column} holds {kind}, not numbers", column=repr(name), kind=str(column.type)),
                           where=where)
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _points(batch: pa.RecordBatch, opts: BatchOptions, first_line: int, where: str) -> tuple[Floats, Floats]:
    names = batch.schema.names
    if opts.lat_col in names and opts.lon_col in names:
        lat = _floats(batch.column(opts.lat_col), opts.lat_col, first_line, where)
        lon = _floats(batch.column(opts.lon_col), opts.lon_col, first_line, where)
    else:
        geo = _geometry_column(batch.schema)
        if geo is None:
            missing = " and ".join(repr(c) for c in (opts.lat_col, opts.lon_col) if c not in names)
            raise InvalidInput(T("missing column {missing} (columns: {columns}); give --lat-col/--lon-col, or a "
                                 "GeoParquet file with point geometries", missing=missing, columns=", ".join(names)),
                               where=f"{where}:1")
        import shapely

        geoms = shapely.from_wkb(batch.column(geo).to_numpy(zero_copy_only=False))
        kinds = shapely.get_type_id(geoms)
        if ((kinds != 0) & (kinds != -1)).any():  # 0: Point; -1: missing
            k = int(np.flatnonzero((kinds != 0) & (kinds != -1))[0])
            raise InvalidInput(T("the geometry is not a point"), where=f"{where}:{first_line + k}")
        lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
    bad: npt.NDArray[np.bool_] = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(T("({lon}, {lat}) is missing or out of range: longitude -180..180, latitude -90..90",
                             lon=float(lon[i]), lat=float(lat[i])),
                           where=f"{where}:{first_line + i}")
    return lon, lat


def _geometry_column(schema: pa.Schema) -> str | None:
    """The primary geometry column of a GeoParquet schema (WKB), if any."""
    import json

    meta = (schema.metadata or {}).get(b"geo")
    if meta is None:
        return None
    name = json.loads(meta).get("primary_column", "geometry")
    return str(name) if name in schema.names else None


def route_batch(router: Router, batch: pa.RecordBatch, opts: BatchOptions, *, first_line: int = 2,
                where: str = "input") -> pa.RecordBatch:
    """The batch with the decision columns added; `first_line` is the file line of its first row (messages)."""
    from gis.crs import to_wgs84

    n = batch.num_rows
    lon, lat = _points(batch, opts, first_line, where)
    if opts.crs != "wgs84" and n:
        lon, lat = to_wgs84(lon, lat, opts.crs, where=where)
    acc = (_floats(batch.column(opts.accuracy_col), opts.accuracy_col, first_line, where, allow_empty=True)
           if opts.accuracy_col in batch.schema.names else None)
    if opts.matter is not None:
        matters = pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), pa.array([opts.matter]))
    elif opts.matter_col in batch.schema.names:
        matters = pc.dictionary_encode(pc.cast(batch.column(opts.matter_col), pa.string()))
    else:
        raise InvalidInput(T("missing column {column} (columns: {columns}); or give --matter",
                             column=repr(opts.matter_col), columns=", ".join(batch.schema.names)), where=f"{where}:1")
    codes = matters.indices.to_numpy(zero_copy_only=False)
    outcome = np.zeros(n, dtype=np.int32)
    for k, m in enumerate(matters.dictionary.to_pylist()):
        rows = np.flatnonzero(codes == k)
        if not rows.size:
            continue
        if m is None:
            raise InvalidInput(T("the matter is empty"), where=f"{where}:{first_line + int(rows[0])}")
        try:
            router.matter_index(m)
        except InvalidInput as exc:
            raise InvalidInput(exc.text, where=f"{where}:{first_line + int(rows[0])}") from None
        outcome[rows] = router.route_outcomes(lon[rows], lat[rows], m, opts.day)
    dist = router.distances_to_boundary_m(lon, lat)
    teams, statuses, rules = router.outcome_labels()
    ids = pa.array(outcome, pa.int32())
    added: dict[str, pa.Array] = {
        "team": pc.take(pa.array(teams, pa.string()), ids),
        "status": pc.take(pa.array(statuses, pa.string()), ids),
        "rule": pc.take(pa.array(rules, pa.string()), ids),
        "version": pa.array(np.full(n, router.version.id or 0, dtype=np.int64)),
        "distance_m": pa.array(np.round(dist, 3)),
        "near_boundary": pa.array(router.near_boundary(dist, acc)),
    }
    if opts.matter_col not in batch.schema.names or opts.matter is not None:
        added = {"matter": matters.cast(pa.string()), **added}
    keep = [i for i, name in enumerate(batch.schema.names) if name not in added]
    columns = [batch.column(i) for i in keep] + list(added.values())
    fields = [batch.schema.field(i) for i in keep] + [pa.field(k, v.type) for k, v in added.items()]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


# --- streaming readers and writers ---------------------------------------------------------------------


@dataclass
class Source:
    """Record batches of a file, with its size for progress (rows for Parquet, bytes for CSV)."""

    batches: Iterator[pa.RecordBatch]
    total: int
    unit: str  # "rows" or "bytes"
    done: Callable[[], int]  # progress so far, in `unit`
    schema_metadata: dict[bytes, bytes] | None


def open_source(path: Path, chunk_rows: int = CHUNK_ROWS) -> Source:
    """Stream a CSV (every column as text) or a Parquet file/dataset, one record batch at a time."""
    if not path.exists():
        raise InvalidInput(T("no such file"), where=str(path))
    if file_format(path) == "csv":
        return _csv_source(path)
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    rows = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        # Little read-ahead: the scanner's defaults buffer many batches and files, and memory must stay flat.
        for b in dataset.to_batches(batch_size=chunk_rows, batch_readahead=1, fragment_readahead=1):
            rows[0] += b.num_rows
            yield b

    return Source(batches(), dataset.count_rows(), "rows", lambda: rows[0], dataset.schema.metadata)


def _csv_source(path: Path) -> Source:
    import pyarrow.csv as pcsv

    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    if not header:
        raise InvalidInput(T("the file is empty: a header line is needed"), where=f"{path.name}:1")
    raw = path.open("rb")
    reader = pcsv.open_csv(
        raw, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding="utf-8"),
        convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                            strings_can_be_null=False))

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            raise InvalidInput(T("the CSV cannot be read: {problem}", problem=str(exc)), where=path.name) from None
        finally:
            raw.close()

    return Source(batches(), path.stat().st_size, "bytes", lambda: raw.tell() if not raw.closed else 0, None)


class Sink:
    """Writes record batches to a temporary file that becomes `path` on `commit` (CSV or Parquet)."""

    def __init__(self, path: Path, schema_metadata: dict[bytes, bytes] | None = None) -> None:
        self.path = path
        self.format = "csv" if path.suffix.lower() in (".csv", ".txt") else "parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        self._writer: Any = None
        self._metadata = schema_metadata

    def write(self, batch: pa.RecordBatch) -> None:
        if self.format == "csv":
            batch = _for_csv(batch)
        if self._writer is None:
            schema = batch.schema if self._metadata is None else batch.schema.with_metadata(self._metadata)
            if self.format == "csv":
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(str(self.tmp), schema,
                                              write_options=pcsv.WriteOptions(quoting_style="needed"))
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.tmp), schema, compression="zstd")
            self._schema = schema
        self._writer.write_batch(batch.replace_schema_metadata(self._schema.metadata))

    def commit(self, empty_schema: pa.Schema | None = None) -> None:
        """Close and move into place (an input without rows still gets its header)."""
        if self._writer is None and empty_schema is not None:
            self.write(pa.RecordBatch.from_pylist([], schema=empty_schema))
        if self._writer is not None:
            self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _for_csv(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV cells: the flag as True/False (as before), WKB geometry as WKT."""
    columns, fields = [], []
    geo = _geometry_column(batch.schema)
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.name == "near_boundary" and pa.types.is_boolean(field.type):
            column = pc.if_else(column, "True", "False")
        elif field.name == geo or pa.types.is_binary(field.type):
            import shapely

            wkt = shapely.to_wkt(shapely.from_wkb(column.to_numpy(zero_copy_only=False)), rounding_precision=-1)
            column = pa.array(wkt, pa.string())
        columns.append(column)
        fields.append(pa.field(field.name, column.type))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def added_schema(schema: pa.Schema, opts: BatchOptions) -> pa.Schema:
    """The output schema for an input schema (for inputs without rows)."""
    added = {"matter": pa.string(), "team": pa.string(), "status": pa.string(), "rule": pa.string(),
             "version": pa.int64(), "distance_m": pa.float64(), "near_boundary": pa.bool_()}
    if opts.matter_col in schema.names and opts.matter is None:
        del added["matter"]
    kept = [f for f in schema if f.name not in added]
    return pa.schema(kept + [pa.field(k, v) for k, v in added.items()], metadata=schema.metadata)
