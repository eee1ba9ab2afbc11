"""route-file's pipeline: reading and writing in threads beside the routing, errors from any thread raised
cleanly with no output left behind, and the decision columns written from dictionaries giving the same file
as plain text columns."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cli.common import repository
from etl.route_batch import BatchOptions, Sink, pipeline, route_batch
from gis.routing.router import Router
from store.routers import RouterCache
from tests.test_catalogue import gridgov, gridgov_fails, summary

DAY = date(2026, 6, 1)
SQLITE = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # the store is not what is tested here


def _batches(n: int, fail_at: int | None = None, closed: list[bool] | None = None) -> Iterator[pa.RecordBatch]:
    try:
        for i in range(n):
            if i == fail_at:
                raise OSError(f"disk gone at batch {i}")
            yield pa.record_batch({"i": pa.array(np.arange(i * 10, i * 10 + 10))})
    finally:
        if closed is not None:
            closed.append(True)


def _pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("route-read", "route-write")]


def test_pipeline_writes_every_result_in_order() -> None:
    got: list[int] = []
    pipeline(_batches(40), lambda b: pc.multiply(b.column("i"), 2), lambda a: got.extend(a.to_pylist()))
    assert got == [2 * i for i in range(400)]
    assert not _pipeline_threads()


def test_a_reading_error_is_raised_after_both_threads_end() -> None:
    written: list[int] = []
    with pytest.raises(OSError, match="disk gone at batch 7"):
        pipeline(_batches(20, fail_at=7), lambda b: b, lambda b: written.append(b.num_rows))
    assert sum(written) <= 70 and not _pipeline_threads()


def test_a_writing_error_stops_the_reader_and_is_raised() -> None:
    closed: list[bool] = []
    seen: list[int] = []

    def write(b: pa.RecordBatch) -> None:
        if len(seen) == 3:
            raise OSError("no space left on device")
        seen.append(b.num_rows)

    with pytest.raises(OSError, match="no space left"):
        pipeline(_batches(10_000, closed=closed), lambda b: b, write)
    assert seen == [10, 10, 10] and closed == [True] and not _pipeline_threads()


def test_a_routing_error_stops_both_threads_and_is_raised() -> None:
    def work(b: pa.RecordBatch) -> pa.RecordBatch:
        if b.column("i")[0].as_py() == 50:
            raise ValueError("row 50 is bad")
        return b

    with pytest.raises(ValueError, match="row 50 is bad"):
        pipeline(_batches(10_000), work, lambda b: None)
    assert not _pipeline_threads()


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_a_csv_broken_deep_in_the_file_fails_in_the_reader_and_leaves_nothing(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("etl.route_batch.CSV_BLOCK_BYTES", 1 << 18)  # many blocks: the error comes mid-stream
    src = tmp_path / "in.csv"
    rng = np.random.default_rng(5)
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lat", "lon", "matter"])
        for i in range(60_000):
            w.writerow([i, rng.uniform(35.98, 36.22), rng.uniform(114.95, 115.45), "M-STREET"])
        w.writerow([60_000, 36.1, 115.1, "M-STREET", "an extra cell"])  # Arrow's reader refuses this row
    for out in ("out.csv", "out.parquet"):
        message = gridgov_fails(database_url, "route-file", src, tmp_path / out, "--chunk-rows", "5000")
        assert "the CSV cannot be read" in message and "in.csv" in message
    assert not [p.name for p in tmp_path.iterdir() if "out" in p.name]  # no output, no .part
    # A file broken within its first block fails as clearly (Arrow parses that block on opening).
    (tmp_path / "small.csv").write_text("id,lat,lon,matter\n1,36.1,115.1,M-STREET,x\n", encoding="utf-8")
    assert "the CSV cannot be read" in gridgov_fails(database_url, "route-file", tmp_path / "small.csv",
                                                     tmp_path / "o.csv")
    # A Parquet file cut short: its reader's error, in the reader's words, and no output either.
    pq.write_table(pa.table({"lat": [36.1] * 5000, "lon": [115.1] * 5000}), tmp_path / "cut.parquet")
    data = (tmp_path / "cut.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[:100] + data[-2000:])
    assert "the Parquet file cannot be read" in gridgov_fails(
        database_url, "route-file", tmp_path / "cut.parquet", tmp_path / "o.parquet", "--matter", "M-STREET")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("o.", ".o."))]


def _router(database_url: str) -> Router:
    with repository(database_url) as repo:
        return RouterCache().router_at(repo, DAY)


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_dictionary_columns_write_the_same_files_as_text_columns(database_url: str, tmp_path: Path) -> None:
    router = _router(database_url)
    rng = np.random.default_rng(6)
    n = 9_000
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {}}
    table = pa.table({"id": [f"{i:05d}" for i in range(n)], "lat": rng.uniform(35.98, 36.22, n),
                      "lon": rng.uniform(114.95, 115.45, n),
                      "kind": pa.array(["a", "b", None] * (n // 3)).dictionary_encode()})
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    opts = BatchOptions(day=DAY, matter="M-STREET")
    for suffix in ("parquet", "csv"):
        for encoded in (False, True):
            sink = Sink(tmp_path / f"{encoded}.{suffix}", table.schema.metadata)
            for first, batch in enumerate(table.to_batches(max_chunksize=2_000)):
                sink.write(route_batch(router, batch, opts, first_line=2 + 2_000 * first, encoded=encoded))
            sink.commit()
    plain, coded = pq.read_table(tmp_path / "False.parquet"), pq.read_table(tmp_path / "True.parquet")
    assert coded.schema.equals(plain.schema, check_metadata=True)  # text columns come back as text
    assert coded.schema.field("team").type == pa.string() and coded.schema.field("matter").type == pa.string()
    assert pa.types.is_dictionary(coded.schema.field("kind").type)  # an input dictionary column stays one
    assert coded.to_pylist() == plain.to_pylist() and json.loads(coded.schema.metadata[b"geo"]) == geo
    assert set(coded.column("status").to_pylist()) == {"ok", "dispute", "gap"}
    assert "" in coded.column("rule").to_pylist()
    assert (tmp_path / "True.csv").read_bytes() == (tmp_path / "False.csv").read_bytes()
    # Parquet dictionary encoding where it pays: the decision columns, not the ids or the coordinates.
    meta = pq.read_metadata(tmp_path / "True.parquet").row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in encodings["team"] and "RLE_DICTIONARY" in encodings["status"]
    assert "RLE_DICTIONARY" not in encodings["id"] and "RLE_DICTIONARY" not in encodings["lat"]


@SQLITE
@pytest.mark.usefixtures("loaded")
def test_route_file_parquet_through_the_pipeline_matches_the_router(database_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 30_000
    lon, lat = rng.uniform(114.95, 115.45, n), rng.uniform(35.98, 36.22, n)
    pq.write_table(pa.table({"lat": lat, "lon": lon}), tmp_path / "in.parquet", row_group_size=7_000)
    counts = summary(gridgov(database_url, "route-file", tmp_path / "in.parquet", tmp_path / "out.parquet",
                             "--matter", "M-STREET", "--at", DAY.isoformat(), "--chunk-rows", "4000"), "routed")
    got = pq.read_table(tmp_path / "out.parquet")
    teams, statuses = _router(database_url).route_many(lon, lat, "M-STREET", DAY)[:2]
    assert counts["rows"] == str(n) and got.column("team").to_pylist() == teams
    assert int(counts["ok"]) == statuses.count("ok") and got.column("lon").to_pylist() == lon.tolist()
