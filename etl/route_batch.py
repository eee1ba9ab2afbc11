"""Route tables of points in chunks: CSV, Parquet and GeoParquet in, the same columns plus the decision out.

Every input column is kept as it was read (CSV cells as text, so codes keep their leading zeros) and the
columns `matter` (when no column gives it), `team`, `status`, `rule`, `version`, `distance_m` and
`near_boundary` are added (an input column of the same name is replaced). Files are read and written one
record batch at a time with pyarrow (route-file reads and writes in threads beside the routing: `pipeline`),
so memory stays flat whatever the file's size; the output is written to a temporary file beside the target
and renamed only when every row has been routed, so a refused row leaves no half-written file. The same
`route_batch` serves `gridgov route-file`, the Dask partitions (`etl/route_dask.py`) and `POST /route`'s
streamed batches.
"""

from __future__ import annotations

import csv
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gis.errors import InvalidInput
from gis.routing.router import Router
from i18n import T

Floats = npt.NDArray[np.float64]
Out = TypeVar("Out")
ADDED = ("matter", "team", "status", "rule", "version", "distance_m", "near_boundary")
CHUNK_ROWS = 262_144
CSV_BLOCK_BYTES = 8 << 20
CSV_BLOCKS_AHEAD = 2  # blocks Arrow's CSV reader may read ahead of the batches taken
PARQUET_BUFFER_BYTES = 1 << 20  # read column chunks through a buffer, not whole (with pre-buffering off)
DICTIONARY_SAMPLE_ROWS = 8192
ENCODED_KEY = b"gridgov:text"  # a field route_batch(encoded=True) left as a dictionary array: written as text
ENCODED = {ENCODED_KEY: b"1"}


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
                where: str = "input", encoded: bool = False) -> pa.RecordBatch:
    """The batch with the decision columns added; `first_line` is the file line of its first row (messages).

    The text columns it adds (matter, team, status, rule) hold a few distinct values; `encoded` leaves them
    as dictionary arrays over the router's outcome ids (no string per row is built) and marks their fields
    with `ENCODED`: `Sink` writes them as text, the same file as without it, only cheaper."""
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
    team, status, rule = _labels(router, outcome)
    added: dict[str, pa.Array] = {
        "team": team, "status": status, "rule": rule,
        "version": pa.array(np.full(n, router.version.id or 0, dtype=np.int64)),
        "distance_m": pa.array(np.round(dist, 3)),
        "near_boundary": pa.array(router.near_boundary(dist, acc)),
    }
    if opts.matter_col not in batch.schema.names or opts.matter is not None:
        added = {"matter": matters, **added}
    text = {"matter", "team", "status", "rule"}
    if not encoded:
        added = {k: v.cast(pa.string()) if k in text else v for k, v in added.items()}
    keep = [i for i, name in enumerate(batch.schema.names) if name not in added]
    columns = [batch.column(i) for i in keep] + list(added.values())
    fields = [batch.schema.field(i) for i in keep] + [
        pa.field(k, v.type, metadata=ENCODED if k in text and encoded else None) for k, v in added.items()]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


def _labels(router: Router, outcome: npt.NDArray[np.int32]) -> tuple[pa.DictionaryArray, ...]:
    """Team, status and rule per row as dictionary arrays: each outcome id mapped to its label's index."""
    columns = []
    for labels in router.outcome_labels():
        values = sorted({v for v in labels if v is not None})
        index = {v: i for i, v in enumerate(values)}
        code = np.array([index[v] if v is not None else -1 for v in labels], dtype=np.int32)[outcome]
        indices = pa.array(code, mask=code < 0) if (code < 0).any() else pa.array(code)
        columns.append(pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string())))
    return tuple(columns)


def logical_schema(schema: pa.Schema) -> pa.Schema:
    """The schema as read back: the fields `route_batch(encoded=True)` marked as text are plain strings."""
    return pa.schema([pa.field(f.name, pa.string(), f.nullable) if f.metadata and ENCODED_KEY in f.metadata else f
                      for f in schema], metadata=schema.metadata)


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
    if path.is_file():
        return _parquet_file_source(path, chunk_rows)
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet")
    rows = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        # Little read-ahead: the scanner's defaults buffer many batches and files, and memory must stay flat.
        for b in dataset.to_batches(batch_size=chunk_rows, batch_readahead=1, fragment_readahead=1):
            rows[0] += b.num_rows
            yield b

    return Source(batches(), dataset.count_rows(), "rows", lambda: rows[0], dataset.schema.metadata)


def _parquet_file_source(path: Path, chunk_rows: int) -> Source:
    """One Parquet file, one row group decoded at a time (without the dataset scanner's machinery)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(T("the Parquet file cannot be read: {problem}", problem=str(exc)),
                           where=path.name) from None
    rows = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for b in pf.iter_batches(batch_size=chunk_rows):
                rows[0] += b.num_rows
                yield b
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(T("the Parquet file cannot be read: {problem}", problem=str(exc)),
                               where=path.name) from None
        finally:
            pf.close()

    return Source(batches(), pf.metadata.num_rows, "rows", lambda: rows[0], pf.schema_arrow.metadata)


def _csv_source(path: Path) -> Source:
    import pyarrow.csv as pcsv

    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    if not header:
        raise InvalidInput(T("the file is empty: a header line is needed"), where=f"{path.name}:1")
    raw = _Throttled(path.open("rb"), CSV_BLOCKS_AHEAD)
    try:  # the first block is read (and parsed) here already
        reader = pcsv.open_csv(
            raw, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding="utf-8"),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        raw.close()
        raise InvalidInput(T("the CSV cannot be read: {problem}", problem=str(exc)), where=path.name) from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                raw.allow(1)
                yield batch
        except pa.ArrowInvalid as exc:
            raise InvalidInput(T("the CSV cannot be read: {problem}", problem=str(exc)), where=path.name) from None
        finally:
            raw.close()

    return Source(batches(), path.stat().st_size, "bytes", raw.tell, None)


class _Throttled:
    """A binary file that lets its reader get at most `ahead` reads ahead of the batches taken.

    Arrow's streaming CSV reader reads blocks in a background thread up to 32 blocks ahead of its
    consumer (256 MiB at 8 MiB blocks: a whole file of a million rows), so its memory grows with the file
    until that bound. Each of its reads asks for one block; letting a read through only when fewer than
    `ahead` blocks wait keeps it to a few blocks."""

    def __init__(self, raw: Any, ahead: int) -> None:
        self._raw = raw
        self._cond = threading.Condition()
        self._allowed = ahead
        self._reads = 0
        self._pos = 0
        self.closed = False

    def allow(self, n: int) -> None:
        with self._cond:
            self._allowed += n
            self._cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            while self._reads >= self._allowed and not self.closed:
                self._cond.wait()
            if self.closed:
                raise ValueError("read of closed file")
            self._reads += 1
        data: bytes = self._raw.read(size)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self._raw.close()


class Sink:
    """Writes record batches to a temporary file that becomes `path` on `commit` (CSV or Parquet).

    Parquet: zstd; a row group per batch; dictionary encoding only for the columns whose first batch holds
    few distinct values (decision columns, codes: not coordinates or ids, where trying it only costs time).
    Columns `route_batch(encoded=True)` left as dictionaries are written straight from their indices and
    read back as text: the file's stored Arrow schema is the text one (`logical_schema`)."""

    def __init__(self, path: Path, schema_metadata: dict[bytes, bytes] | None = None) -> None:
        self.path = path
        self.format = "csv" if path.suffix.lower() in (".csv", ".txt") else "parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        self._writer: Any = None
        self._metadata = schema_metadata
        self._logical: pa.Schema | None = None

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

                logical = logical_schema(schema)
                self._logical = None if logical.equals(schema) else logical
                self._writer = pq.ParquetWriter(str(self.tmp), schema, compression="zstd",
                                                use_dictionary=_dictionary_columns(batch))
            self._schema = schema
        self._writer.write_batch(batch.replace_schema_metadata(self._schema.metadata))

    def commit(self, empty_schema: pa.Schema | None = None) -> None:
        """Close and move into place (an input without rows still gets its header)."""
        if self._writer is None and empty_schema is not None:
            self.write(pa.RecordBatch.from_pylist([], schema=empty_schema))
        if self._writer is not None:
            if self._logical is not None:  # replaces the Arrow schema the writer stores, as it would store it
                import base64

                self._writer.add_key_value_metadata(
                    {"ARROW:schema": base64.b64encode(self._logical.serialize().to_pybytes()).decode()})
            self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _dictionary_columns(batch: pa.RecordBatch) -> list[str]:
    """Columns worth dictionary-encoding in Parquet: dictionaries, and flat columns with few distinct values
    in the first rows of this (first) batch. Parquet's default tries every column and gives up after a 1 MiB
    dictionary, which for coordinates and ids is time spent for nothing."""
    names = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        t = field.type
        if pa.types.is_dictionary(t):
            names.append(field.name)
        elif (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) or pa.types.is_binary(t)
              or pa.types.is_large_string(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t)):
            sample = column.slice(0, DICTIONARY_SAMPLE_ROWS)  # counting all would build a big hash table
            if pc.count_distinct(sample).as_py() <= max(16, len(sample) // 8):
                names.append(field.name)
    return names


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


# --- reading, routing and writing at once -----------------------------------------------------------

_END = object()


class _Failed:
    """An exception raised in the reading thread, carried to the routing thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def pipeline(batches: Iterator[pa.RecordBatch], work: Callable[[pa.RecordBatch], Out],
             write: Callable[[Out], None], *, depth: int = 1) -> None:
    """`write(work(batch))` for every batch in order, reading and writing in two threads of their own.

    The calling thread does the work (routing: the router is used by this one thread, as GEOS's prepared
    geometries, behind the exact path, are not safe to query from two threads at once); pyarrow reads,
    encodes and compresses without holding the GIL, so on two cores the reading and writing of the
    neighbouring batches run while it works. The queues between the threads hold at most `depth` batches
    each, so memory stays a few batches whatever the file's size. An error in any thread stops the others
    and is raised here once both threads have ended (the caller can then remove its half-written output)."""
    stop = threading.Event()
    inbox: queue.Queue[object] = queue.Queue(maxsize=depth)
    outbox: queue.Queue[object] = queue.Queue(maxsize=depth)
    failed: list[BaseException] = []

    def put(q: queue.Queue[object], item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def get(q: queue.Queue[object]) -> object:
        while not stop.is_set():
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                pass
        return _END

    def reader() -> None:
        try:
            for batch in batches:
                if not put(inbox, batch):
                    return
            put(inbox, _END)
        except BaseException as exc:  # noqa: BLE001 - carried to the calling thread and raised there
            put(inbox, _Failed(exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def writer() -> None:
        try:
            while (item := get(outbox)) is not _END:
                write(item)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - raised in the calling thread
            failed.append(exc)
            stop.set()

    threads = [threading.Thread(target=reader, name="route-read", daemon=True),
               threading.Thread(target=writer, name="route-write", daemon=True)]
    for t in threads:
        t.start()
    try:
        while (item := get(inbox)) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            if not put(outbox, work(item)):  # type: ignore[arg-type]
                break  # the writer failed: its error is raised below
        put(outbox, _END)
        threads[1].join()
    finally:
        stop.set()
        for t in threads:
            t.join()
    if failed:
        raise failed[0]


def added_schema(schema: pa.Schema, opts: BatchOptions) -> pa.Schema:
    """The output schema for an input schema (for inputs without rows)."""
    added = {"matter": pa.string(), "team": pa.string(), "status": pa.string(), "rule": pa.string(),
             "version": pa.int64(), "distance_m": pa.float64(), "near_boundary": pa.bool_()}
    if opts.matter_col in schema.names and opts.matter is None:
        del added["matter"]
    kept = [f for f in schema if f.name not in added]
    return pa.schema(kept + [pa.field(k, v) for k, v in added.items()], metadata=schema.metadata)
