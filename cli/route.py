"""`gridgov route` and `gridgov route-file`: the routing decision from the command line.

Heavy imports are made where a command needs them (routing, the store, pyarrow, dask), so `gridgov route …` and
`gridgov route-file …` start without loading the web app, geopandas or anything they do not use
(`cli/entry.py` sends these commands here before the full CLI is imported).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cases import clock
from cli.common import DbUrl, console, err, repository, run, say
from gis.errors import InvalidInput
from i18n import T, Text, render
from i18n.units import day as day_text
from i18n.units import distance, listing, term

if TYPE_CHECKING:
    import pyarrow as pa

    from etl.route_batch import BatchOptions
    from gis.routing.router import Router

CHUNK = 50_000

Crs = Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02 (Amap/WeChat) or bd09 (Baidu)")]
At = Annotated[str | None, typer.Option(help="route as of this date, YYYY-MM-DD (default today)")]


def _day(at: str | None) -> date:
    if at is None:
        return clock.today()
    try:
        return date.fromisoformat(at)
    except ValueError:
        raise InvalidInput(T("--at {text} is not a date like 2026-06-01", text=repr(at)), where="--at") from None


def _check_point(lon: float, lat: float, where: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(T("longitude/latitude must be finite numbers"), where=where)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(T("({lon}, {lat}) is out of range: longitude -180..180, latitude -90..90", lon=lon, lat=lat),
                           where=where)


def route_cmd(
    lat: Annotated[float, typer.Option(help="latitude")],
    lon: Annotated[float, typer.Option(help="longitude")],
    matter: Annotated[str | None, typer.Option(
        help="matter code (GET /matters lists them); without it, only the units at the point")] = None,
    crs: Crs = "wgs84",
    at: At = None,
    accuracy: Annotated[float | None, typer.Option(help="GPS accuracy in metres")] = None,
    database_url: DbUrl = None,
) -> None:
    """Who is responsible for this point and matter, and why (without --matter: which units hold the point)."""

    def body() -> None:
        from gis.crs import to_wgs84
        from store.routers import RouterCache

        _check_point(lon, lat, "--lon/--lat")
        day = _day(at)
        x, y = to_wgs84(lon, lat, crs, where="--crs")
        if matter is None:
            _where(x, y, day, database_url)
            return
        with repository(database_url) as repo:
            d = RouterCache().router_at(repo, day).explain(x, y, matter, day, accuracy)
        colour = {"ok": "green", "dispute": "yellow", "gap": "red"}[d.status]
        console.print(f"[bold]{escape(d.team_name)}[/] ({escape(d.team)})  [{colour}]"
                      f"{escape(render(term('routing_status', d.status)))}[/]", highlight=False)
        say(d.reason)
        if d.co_owners:
            say(T("co-owners: {teams}", teams=listing(d.co_owners)))
        console.print(_units_table(d.lon, d.lat, [(u.layer, u.kind, u.code, u.name, u.selected) for u in d.units]))
        rules = _table(T("rule"), T("priority"), T("team"), T("scope"), T("matters"), title=T("matching rules"))
        for r in d.matched_rules:
            rules.add_row(r.code, str(r.priority), r.team, r.scope, r.matters)
        console.print(rules)
        flags: list[Text] = [
            T("version {id} ({name}, from {day})", id=d.version.id, name=d.version.name,
              day=day_text(d.version.effective_from) if d.version.effective_from else "—"),
            T("distance to nearest boundary {distance}", distance=distance(d.distance_to_boundary_m))]
        if d.accuracy_m is not None:
            flags.append(T("GPS accuracy {distance}", distance=distance(d.accuracy_m)))
        if d.on_boundary:
            flags.append(T("ON A SHARED BOUNDARY: tie-break applied"))
        if d.near_boundary:
            flags.append(T("NEAR A BOUNDARY: confirm the location"))
        say(listing(flags, clauses=True))

    run(body)


def _where(lon: float, lat: float, day: date, database_url: str | None) -> None:
    """The units holding a point in the version in force on `day`, picked by routing's tie-break: the answer
    before any team, matter or rule exists (a county just imported and derived)."""
    from gis.routing.regions import Regions, build_regions

    with repository(database_url) as repo:
        version = repo.version_at(day)
        assert version.id is not None
        units_of = repo.units(version.id)
        regions = Regions(build_regions(units_of, []))
    names = {u.code: u.name for u in units_of}
    covering = regions.covering_one(lon, lat)
    picked = set(regions.select(covering))
    console.print(_units_table(lon, lat, [(r.layer, r.kind, r.code, names[r.code], i in picked)
                                          for i, r in ((i, regions.regions[i]) for i in covering)]))
    chosen = [regions.regions[i] for i in sorted(picked)]
    place: str | Text = listing([T("{layer} {name} ({code})", layer=_layer(r.layer, r.kind), name=names[r.code],
                                   code=r.code) for r in chosen], sep=" › ") if chosen else T("outside every unit")
    say(T("{place}; version {id} ({name}, from {day}). Give --matter CODE for the responsible team (teams, matters "
          "and rules come from the catalogue).", place=place, id=version.id, name=version.name,
          day=day_text(version.effective_from) if version.effective_from else "—"))


def _layer(layer: str, kind: str) -> Text:
    """A layer's word (a zone's kind for a zone) in the reader's language."""
    return term("zone", kind) if layer == "zone" and kind else term("layer", layer)


def _table(*columns: Text, title: Text) -> Table:
    return Table(*(render(c) for c in columns), title=render(title))


def _units_table(lon: float, lat: float, rows: list[tuple[str, str, str, str, bool]]) -> Table:
    """The units holding a point: layer word, name, code, whether routing used it."""
    units = _table(T("layer"), T("name"), T("code"), T("selected"),
                   title=T("units at {lon}, {lat} (WGS84)", lon=format(lon, ".6f"), lat=format(lat, ".6f")))
    for layer, kind, code, name, selected in rows:
        units.add_row(render(_layer(layer, kind)), name, code, "✓" if selected else "")
    return units


def route_file_cmd(
    source: Annotated[Path, typer.Argument(
        help="CSV, Parquet or GeoParquet file (or a directory of Parquet files) with lat/lon columns or point "
             "geometries, and optionally matter and accuracy columns")],
    target: Annotated[Path, typer.Argument(
        help=".csv, .parquet or a directory (with --dask): the input plus team, status, rule, version, "
             "distance_m and near_boundary")],
    matter: Annotated[str | None, typer.Option(help="matter for every row (else the matter column)")] = None,
    lat_col: Annotated[str, typer.Option(help="latitude column")] = "lat",
    lon_col: Annotated[str, typer.Option(help="longitude column")] = "lon",
    matter_col: Annotated[str, typer.Option(help="matter column")] = "matter",
    accuracy_col: Annotated[str, typer.Option(help="GPS accuracy column (metres), if present")] = "accuracy_m",
    crs: Crs = "wgs84",
    at: At = None,
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk (memory stays flat whatever the file size)",
                                            min=1000)] = 262_144,
    dask: Annotated[str | None, typer.Option(
        help="route a Parquet dataset on Dask: local[:N] (N local workers) or tcp://scheduler:8786")] = None,
    database_url: DbUrl = None,
) -> None:
    """Route every row of a file in chunks; prints `routed rows=<n> ok=<n> dispute=<n> gap=<n> near_boundary=<n>
    version=<id>`."""

    def body() -> None:
        from etl.route_batch import BatchOptions, file_format, skip_pandas_import

        skip_pandas_import()
        from gis.crs import normalize_crs
        from store.routers import RouterCache

        day = _day(at)
        opts = BatchOptions(day=day, matter=matter, lat_col=lat_col, lon_col=lon_col, matter_col=matter_col,
                            accuracy_col=accuracy_col, crs=normalize_crs(crs, where="--crs"))
        if not source.exists():
            raise InvalidInput(T("no such file"), where=str(source))
        file_format(source)
        with repository(database_url) as repo:
            router = RouterCache().router_at(repo, day)
            if matter is not None:
                router.matter_index(matter)  # an unknown matter fails before any work
        if dask is not None:
            from etl.route_dask import route_dataset

            counts = route_dataset(router, source, target, opts, dask, chunk_rows=chunk_rows)
        else:
            counts = _route_file(router, source, target, opts, chunk_rows)
        print(f"routed rows={counts['rows']} ok={counts['ok']} dispute={counts['dispute']} gap={counts['gap']} "
              f"near_boundary={counts['near_boundary']} version={router.version.id}")

    run(body)


def _route_file(router: Router, source: Path, target: Path, opts: BatchOptions, chunk_rows: int) -> dict[str, int]:
    """Stream `source` through the router into `target`, with a progress bar on stderr."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from etl.route_batch import Sink, added_schema, open_source, pipeline, route_batch

    pool = pa.default_memory_pool()
    src = open_source(source, chunk_rows)
    sink = Sink(target, src.schema_metadata)
    counts = {"rows": 0, "ok": 0, "dispute": 0, "gap": 0, "near_boundary": 0}
    wrote = [False]
    try:
        with Progress(TextColumn(escape(T("routing").render())), BarColumn(), TextColumn("{task.fields[rows]:,}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True) as progress:
            task = progress.add_task("route", total=src.total or None, rows=0)

            def work(batch: pa.RecordBatch) -> pa.RecordBatch:
                out = route_batch(router, batch, opts, first_line=2 + counts["rows"], where=source.name,
                                  encoded=True)
                counts["rows"] += out.num_rows
                for item in pc.value_counts(out.column("status")).to_pylist():
                    counts[item["values"]] += item["counts"]
                counts["near_boundary"] += int(pc.sum(out.column("near_boundary")).as_py() or 0)
                progress.update(task, completed=src.done(), rows=counts["rows"])
                return out

            def write(out: pa.RecordBatch) -> None:
                sink.write(out)
                wrote[0] = True
                pool.release_unused()  # hand freed chunks back to the system: the peak stays a few chunks'

            # Reading and writing run in threads of their own, beside the routing in this thread.
            pipeline(src.batches, work, write)
        if not wrote[0]:  # no rows: the header (schema) only
            sink.commit(added_schema(_input_schema(source), opts))
        else:
            sink.commit()
    except BaseException:
        sink.abort()
        raise
    return counts


def _input_schema(source: Path) -> pa.Schema:
    """The schema of a file without rows (CSV: its header as text columns)."""
    import csv

    import pyarrow as pa

    from etl.route_batch import file_format

    if file_format(source) == "csv":
        with source.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
        return pa.schema([pa.field(c, pa.string()) for c in header])
    if source.is_file():
        import pyarrow.parquet as pq

        return pq.read_schema(source)
    import pyarrow.dataset as ds

    return ds.dataset(source, format="parquet").schema


def reattribute_cmd(
    source: Annotated[Path, typer.Argument(help="CSV or Parquet file, or a directory of Parquet files (past cases)")],
    target: Annotated[Path, typer.Argument(help=".csv, .parquet, or a directory with --dask: the rows that change")],
    before: Annotated[int, typer.Option("--before", help="version id the cases were routed by")],
    after: Annotated[int, typer.Option("--after", help="version id to re-attribute them under")],
    matter: Annotated[str | None, typer.Option(help="matter for every row (else the matter column)")] = None,
    lat_col: Annotated[str, typer.Option(help="latitude column")] = "lat",
    lon_col: Annotated[str, typer.Option(help="longitude column")] = "lon",
    matter_col: Annotated[str, typer.Option(help="matter column")] = "matter",
    crs: Crs = "wgs84",
    at: At = None,
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk", min=1000)] = 262_144,
    dask: Annotated[str | None, typer.Option(help="local[:N] or tcp://scheduler:8786 (Parquet input)")] = None,
    database_url: DbUrl = None,
) -> None:
    """Which rows would change team from version --before to --after: writes them with both decisions; prints
    `reattributed rows=<n> changed=<n>`."""

    def body() -> None:
        from etl.route_batch import BatchOptions, file_format
        from gis.crs import normalize_crs
        from store.routers import RouterCache

        opts = BatchOptions(day=_day(at), matter=matter, lat_col=lat_col, lon_col=lon_col, matter_col=matter_col,
                            accuracy_col="", crs=normalize_crs(crs, where="--crs"))
        if not source.exists():
            raise InvalidInput(T("no such file"), where=str(source))
        file_format(source)
        with repository(database_url) as repo:
            cache = RouterCache()
            old, new = (cache.router(repo, repo.version(v)) for v in (before, after))
            if matter is not None:
                old.matter_index(matter)
                new.matter_index(matter)
        if dask is not None:
            from etl.route_dask import reattribute_dataset

            counts = reattribute_dataset(old, new, source, target, opts, dask, chunk_rows=chunk_rows)
        else:
            counts = _reattribute_file(old, new, source, target, opts, chunk_rows)
        print(f"reattributed rows={counts['rows']} changed={counts['changed']} before={before} after={after}")

    run(body)


def _reattribute_file(old: Router, new: Router, source: Path, target: Path, opts: BatchOptions,
                      chunk_rows: int) -> dict[str, int]:
    from etl.route_batch import Sink, open_source
    from etl.route_dask import reattribute_batch

    src = open_source(source, chunk_rows)
    sink = Sink(target, src.schema_metadata)
    rows = changed = 0
    try:
        for batch in src.batches:
            out = reattribute_batch(old, new, batch, opts, where=source.name, first_line=2 + rows)
            rows += batch.num_rows
            changed += out.num_rows
            sink.write(out)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    return {"rows": rows, "changed": changed}
