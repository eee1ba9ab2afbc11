"""Route (or re-attribute) a partitioned Parquet dataset on a Dask distributed cluster.

How the index travels: the router is compiled once, here, with its distance index, and sent to every
worker once with `Client.scatter(..., broadcast=True)` (a pickle of ~40 MB for the demo county: the lookup
grid, the regions, the decision tables and the distance quadtree). Each task then receives a reference to
the worker's copy, not the router itself, so nothing is rebuilt or re-sent per partition. A task streams
one fragment of the dataset (a file, or a row group of a large file) through `etl.route_batch.route_batch`
and writes one part file `part-NNNNN.parquet` into the target directory; parts are numbered in the input's
order, so reading the target directory gives the rows in the input's order, identical to the in-process
path. Memory per worker: one router copy plus one chunk (`chunk_rows` rows, ~100 MB at 262,144 rows with
a dozen columns), whatever the dataset's size.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from etl.route_batch import BatchOptions, route_batch
from gis.errors import InvalidInput
from gis.routing.router import Router
from i18n import T

STATUSES = ("ok", "dispute", "gap")


def client_for(spec: str) -> tuple[Any, Callable[[], None]]:
    """A Dask client for `local`, `local:N` (N worker processes here) or `tcp://host:port`, and its closer."""
    from dask.distributed import Client, LocalCluster

    if spec.startswith(("tcp://", "tls://")):
        try:
            client = Client(spec, timeout="10s")
        except OSError as exc:
            raise InvalidInput(T("no Dask scheduler answers at {address}: {problem}", address=spec, problem=str(exc)),
                               where="--dask") from None
        return client, client.close
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2] or "2"
        if not n.isdigit() or int(n) < 1:
            raise InvalidInput(T("--dask {spec}: the worker count must be a positive number, as in local:4",
                                 spec=repr(spec)), where="--dask")
        cluster = LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    raise InvalidInput(T("--dask {spec}: use local, local:N or tcp://scheduler:8786", spec=repr(spec)), where="--dask")


def fragments(source: Path) -> list[tuple[str, list[int] | None]]:
    """The dataset's pieces in order: (file, row groups) — large files are split by row group."""
    dataset = ds.dataset(source, format="parquet")
    out: list[tuple[str, list[int] | None]] = []
    for frag in dataset.get_fragments():
        groups = [rg.id for rg in frag.row_groups]
        if len(groups) > 1:
            out += [(frag.path, [g]) for g in groups]
        else:
            out.append((frag.path, None))
    return out


def _counts(batch: pa.RecordBatch) -> dict[str, int]:
    counts = dict.fromkeys(("rows", *STATUSES, "near_boundary"), 0)
    counts["rows"] = batch.num_rows
    for item in pc.value_counts(batch.column("status")).to_pylist():
        counts[item["values"]] += item["counts"]
    counts["near_boundary"] = int(pc.sum(batch.column("near_boundary")).as_py() or 0)
    return counts


def route_part(router: Router, path: str, groups: list[int] | None, target: str, opts: BatchOptions,
               chunk_rows: int) -> dict[str, int]:
    """One task: stream one fragment through the router into one part file; its status counts."""
    file = pq.ParquetFile(path)
    total = dict.fromkeys(("rows", *STATUSES, "near_boundary"), 0)
    writer = None
    try:
        for batch in file.iter_batches(batch_size=chunk_rows, row_groups=groups):
            out = route_batch(router, batch, opts, where=Path(path).name)
            if writer is None:
                writer = pq.ParquetWriter(target, out.schema, compression="zstd")
            writer.write_batch(out)
            for k, v in _counts(out).items():
                total[k] += v
    finally:
        if writer is not None:
            writer.close()
    return total


def route_dataset(router: Router, source: Path, target: Path, opts: BatchOptions, spec: str, *,
                  chunk_rows: int = 262_144) -> dict[str, int]:
    """Route every row of a Parquet dataset on Dask into the directory `target` (parts in input order)."""
    return _run(router, source, target, spec, lambda r, p, g, t: route_part(r, p, g, t, opts, chunk_rows))


def _run(payload: Any, source: Path, target: Path, spec: str,
         task: Callable[[Any, str, list[int] | None, str], dict[str, int]]) -> dict[str, int]:
    if source.suffix.lower() == ".csv":
        raise InvalidInput(T("--dask reads Parquet datasets (a .parquet file or a directory of them); convert the CSV "
                             "with `gridgov route-file in.csv out.parquet` first or drop --dask"), where=str(source))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(T("with --dask the target is a directory of part files; give a new or empty directory"),
                           where=str(target))
    pieces = fragments(source)
    if isinstance(payload, Router):
        payload.boundary_distance  # build the distance index once, before it travels  # noqa: B018
    elif isinstance(payload, tuple):
        for r in payload:
            r.boundary_distance  # noqa: B018
    staging = target.with_name(f".{target.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    client, close = client_for(spec)
    try:
        shipped = client.scatter(payload, broadcast=True)  # one copy per worker, sent once
        futures = [client.submit(task, shipped, path, groups, str(staging / f"part-{i:05d}.parquet"), pure=False)
                   for i, (path, groups) in enumerate(pieces)]
        results = client.gather(futures)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        close()
    if target.exists():
        target.rmdir()
    staging.rename(target)
    total = dict.fromkeys(("rows", *STATUSES, "near_boundary"), 0)
    for counts in results:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total


# --- re-attribution: which past cases change team between two versions -------------------------------


def reattribute_batch(before: Router, after: Router, batch: pa.RecordBatch, opts: BatchOptions,
                      where: str = "input", first_line: int = 2) -> pa.RecordBatch:
    """The rows whose team differs between the two routers, with both decisions (`*_before`, `*_after`)."""
    a = route_batch(before, batch, opts, where=where, first_line=first_line)
    b = route_batch(after, batch, opts, where=where, first_line=first_line)
    changed = pc.not_equal(a.column("team"), b.column("team"))
    kept = [n for n in batch.schema.names if n not in ("team", "status", "rule", "version")]
    cols = {n: a.column(n) for n in kept if n in a.schema.names}
    if "matter" in a.schema.names:
        cols["matter"] = a.column("matter")
    for name in ("team", "status", "rule", "version"):
        cols[f"{name}_before"] = a.column(name)
        cols[f"{name}_after"] = b.column(name)
    cols["distance_m_after"] = b.column("distance_m")
    table = pa.RecordBatch.from_pydict(cols)
    return table.filter(changed)


def reattribute_part(routers: tuple[Router, Router], path: str, groups: list[int] | None, target: str,
                     opts: BatchOptions, chunk_rows: int) -> dict[str, int]:
    """One task of a re-attribution: the changed rows of one fragment into one part file."""
    file = pq.ParquetFile(path)
    rows = changed = 0
    writer = None
    try:
        for batch in file.iter_batches(batch_size=chunk_rows, row_groups=groups):
            out = reattribute_batch(routers[0], routers[1], batch, opts, where=Path(path).name)
            rows += batch.num_rows
            changed += out.num_rows
            if writer is None:
                writer = pq.ParquetWriter(target, out.schema, compression="zstd")
            writer.write_batch(out)
    finally:
        if writer is not None:
            writer.close()
    return {"rows": rows, "changed": changed}


def reattribute_dataset(before: Router, after: Router, source: Path, target: Path, opts: BatchOptions,
                        spec: str, *, chunk_rows: int = 262_144) -> dict[str, int]:
    """Which rows of a Parquet dataset change team from `before` to `after`, on Dask, as a dataset."""
    return _run((before, after), source, target, spec,
                lambda rs, p, g, t: reattribute_part(rs, p, g, t, opts, chunk_rows))
