"""`gridgov sites`: the recurring sites of one category (GET /hotspots/sites on the command line); `gridgov
hotspot-cube`: the emerging hot spots of a partitioned dataset of reports (etl/hotspot_cube.py), on Dask or in
process."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from analytics.sites import params_for
from cases import clock
from cli.common import DbUrl, console, err, repository, run, say, settings_for
from gis.errors import InvalidInput
from i18n import T
from i18n.units import term
from store.reports import sites_in_store
from store.routers import RouterCache


def _instant(text: str | None, where: str) -> datetime | None:
    if text is None:
        return None
    try:
        return clock.parse(text, where)[0]
    except ValueError as e:
        raise InvalidInput(str(e), where=where) from None


def sites_cmd(
    matter: Annotated[str, typer.Argument(help="the matter code, e.g. M-ENV-COAL")],
    since: Annotated[str | None, typer.Option("--from", help="start (ISO 8601; default: --days before --to)")]
    = None,
    until: Annotated[str | None, typer.Option("--to", help="end, exclusive (ISO 8601; default now)")] = None,
    days: Annotated[int, typer.Option(help="the window's length when --from is not given", min=1, max=3650)] = 120,
    eps_m: Annotated[float | None, typer.Option(help="cluster radius in metres (default: the matter's own)")]
    = None,
    min_reports: Annotated[int | None, typer.Option(help="reports around a core report")] = None,
    min_weeks: Annotated[int | None, typer.Option(help="distinct active weeks")] = None,
    res: Annotated[int, typer.Option(help="H3 resolution of the pattern's cube", min=5, max=11)] = 9,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per site")] = False,
    database_url: DbUrl = None,
) -> None:
    """Recurring sites of one matter (density clustering), each with its weeks, trend, pattern, village,
    township and team; ends with `sites matter=<code> n=<sites>`."""

    def body() -> None:
        end = _instant(until, "--to") or clock.now()
        start = _instant(since, "--from") or end - timedelta(days=days)
        if start >= end:
            raise InvalidInput(T("the window is empty: `from` must be before `to`"), where="--from")
        with repository(database_url) as repo:
            spec = next((m for m in repo.matters() if m.code == matter), None)
            if spec is None:
                raise InvalidInput(T("unknown matter code(s) {codes}; see GET /matters", codes=matter),
                                   where="matter")
            try:
                params = params_for(spec.attributes, eps_m=eps_m, min_reports=min_reports, min_weeks=min_weeks)
            except ValueError as e:
                raise InvalidInput(str(e), where="matter") from None
            cache = RouterCache(settings_for(database_url).fallback_team)
            found = sites_in_store(repo, cache, spec, start, end, params, res=res)
        if as_json:
            for s in found:
                print(json.dumps(s.as_json(), ensure_ascii=False))
        else:
            table = Table(title=str(T("Recurring sites of {matter}", matter=spec.name)))
            for column in (T("Site"), T("Village"), T("Township"), T("Team"), T("First week"), T("Last week"),
                           T("Active weeks"), T("Reports"), T("Trend"), T("Pattern")):
                table.add_column(str(column))
            for s in found:
                table.add_row(str(s.id), s.village_name or "", s.township_name or "", s.team_name or "",
                              s.first_week, s.last_week, str(s.active_weeks), str(s.reports),
                              str(term("trend", s.trend)), str(term("hotspot_pattern", s.pattern)))
            console.print(table)
        print(f"sites matter={matter} n={len(found)}", flush=True)

    run(body)


def _local_date(text: str | None, where: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(T("{text} is not a date like 2026-06-01", text=repr(text)), where=where) from None


MAX_CUBE_CELLS = 2_000_000  # the county's cells at `res` (estimated before the minutes-long exact listing)
MAX_CUBE_BINS = 50_000_000  # cells × weeks held in the client


def hotspot_cube_cmd(
    source: Annotated[Path, typer.Argument(help="a Parquet file or a directory of them (partitions) with lon, lat, "
                                                "reported_at and, for --matter, matter columns")],
    target: Annotated[Path, typer.Argument(help="a new directory: cube.parquet (cell × week counts) and "
                                                "cells.parquet (GeoParquet: each cell's hexagon and pattern)")],
    res: Annotated[int, typer.Option(help="H3 resolution", min=5, max=11)] = 9,
    weeks: Annotated[int | None, typer.Option(help="whole weeks up to --to (default 12; not with --from)",
                                              min=1, max=1000)] = None,
    since: Annotated[str | None, typer.Option("--from", help="first local date, YYYY-MM-DD (instead of --weeks)")]
    = None,
    until: Annotated[str | None, typer.Option("--to", help="end local date, exclusive (default: the day after the "
                                                           "latest report)")] = None,
    matter: Annotated[str | None, typer.Option(help="count only the reports of this matter code")] = None,
    k: Annotated[int, typer.Option(help="neighbours: cells within k grid steps", min=1, max=5)] = 1,
    time_k: Annotated[int, typer.Option(help="earlier weeks in a bin's neighbourhood", min=0, max=8)] = 1,
    lat_col: Annotated[str, typer.Option(help="latitude column")] = "lat",
    lon_col: Annotated[str, typer.Option(help="longitude column")] = "lon",
    time_col: Annotated[str, typer.Option(help="report time column")] = "reported_at",
    matter_col: Annotated[str, typer.Option(help="matter column")] = "matter",
    dask: Annotated[str | None, typer.Option(
        help="count the partitions on Dask: local[:N] (N local workers) or tcp://scheduler:8786")] = None,
    database_url: DbUrl = None,
) -> None:
    """Emerging hot spots of a dataset of reports: counts per (H3 cell, week in the county's clock) over every
    partition, the analysis of GET /hotspots/emerging on that cube; ends with `hotspot-cube rows=<n>
    counted=<n> cells=<n> weeks=<n> from=<date> to=<date> hot=<n> cold=<n>`."""

    def body() -> None:
        import pyarrow.dataset as ds
        import shapely
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from analytics.emerging import bins_to_cube, emerging, whole_steps
        from analytics.hotspots import estimated_cells
        from etl import hotspot_cube as hc
        from i18n.terms import label
        from store.reports import county_outlines

        if not source.exists():
            raise InvalidInput(T("no such file"), where=str(source))
        hc.check_target(target)
        if weeks is not None and since is not None:
            raise InvalidInput(T("give the window as --from (and --to) or as --weeks, not both"), where="--weeks")
        start_day, end_day = _local_date(since, "--from"), _local_date(until, "--to")
        try:
            schema = ds.dataset(source, format="parquet").schema
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
            raise InvalidInput(T("not a Parquet dataset: {problem}", problem=str(exc)), where=str(source)) from None
        zone = clock.zone_name()
        probe = hc.CubeSpec(start=date(1970, 1, 1), n_steps=0, res=res, zone=zone, outline_wkb=b"", matter=matter,
                            lon_col=lon_col, lat_col=lat_col, at_col=time_col, matter_col=matter_col)
        total_rows = hc.dataset_rows(source)
        if total_rows == 0:
            raise InvalidInput(T("the dataset holds no reports"), where=str(source))
        hc.check_columns(schema, probe, str(source))
        if end_day is None:
            latest = hc.last_day(source, time_col, zone)
            if latest is None:
                raise InvalidInput(T("no report of the dataset has a time"), where=time_col)
            end_day = latest + timedelta(days=1)
        if start_day is None:
            start_day = end_day - timedelta(days=7 * (weeks or 12))
        first, n_steps = whole_steps(start_day, end_day, 7)
        if n_steps == 0:
            raise InvalidInput(T("the window holds no whole week; widen it"), where="--from")
        with repository(database_url) as repo:
            if matter is not None and matter not in {m.code for m in repo.matters()}:
                raise InvalidInput(T("unknown matter code(s) {codes}; see GET /matters", codes=matter),
                                   where="--matter")
            outlines = county_outlines(repo, end_day - timedelta(days=1))
        if not outlines:
            raise InvalidInput(T("no county outline is in force on {day}: import and publish the county's boundaries "
                                 "first", day=(end_day - timedelta(days=1)).isoformat()), where="--to")
        if estimated_cells(outlines, res) > MAX_CUBE_CELLS:
            raise InvalidInput(T("{n} cells to test is over {limit}; lower res", n=estimated_cells(outlines, res),
                                 limit=MAX_CUBE_CELLS), where="--res")
        spec = hc.CubeSpec(start=first, n_steps=n_steps, res=res, zone=zone,
                           outline_wkb=shapely.to_wkb(shapely.union_all(outlines)), matter=matter,
                           lon_col=lon_col, lat_col=lat_col, at_col=time_col, matter_col=matter_col)
        with Progress(TextColumn(str(T("counting reports"))), BarColumn(), TextColumn("{task.fields[rows]:,}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True) as progress:
            task = progress.add_task("count", total=total_rows, rows=0)
            done = [0]

            def step(rows: int) -> None:
                done[0] += rows
                progress.update(task, completed=done[0], rows=done[0])

            bins, tally = hc.count_dataset(source, spec, dask, step)
        if tally.counted == 0:
            raise InvalidInput(T("none of the {n} reports ({counted} of matter {matter}) lies inside the county in "
                                 "the weeks from {start} to {end}; check the window, --matter and the coordinates",
                                 n=tally.rows, counted=tally.matter, matter=matter, start=first.isoformat(),
                                 end=end_day.isoformat()) if matter else
                               T("none of the {n} reports lies inside the county in the weeks from {start} to {end}; "
                                 "check the window and the coordinates", n=tally.rows, start=first.isoformat(),
                                 end=end_day.isoformat()), where=str(source))
        cells, counts = bins_to_cube(bins, outlines, res, k, n_steps)
        if len(cells) * n_steps > MAX_CUBE_BINS:
            raise InvalidInput(T("{n} cube bins is over {limit}; lower res, use weeks or a shorter window",
                                 n=len(cells) * n_steps, limit=MAX_CUBE_BINS), where="--res")
        result = emerging(cells, counts, k=k, time_k=time_k)
        hc.write_outputs(target, hc.cube_table(cells, counts, first),
                         hc.cells_table(result, lambda kind, code: label(kind, code, "zh-CN") or code))
        hot = sum(p.endswith("_hot") for p in result.patterns)
        cold = sum(p.endswith("_cold") for p in result.patterns)
        say(T("{counted} of {rows} reports counted in {cells} cells over {weeks} weeks; {hot} hot-spot and {cold} "
              "cold-spot cells", counted=tally.counted, rows=tally.rows, cells=len(cells), weeks=n_steps, hot=hot,
              cold=cold))
        print(f"hotspot-cube rows={tally.rows} counted={tally.counted} cells={len(cells)} weeks={n_steps} "
              f"from={first.isoformat()} to={end_day.isoformat()} hot={hot} cold={cold}", flush=True)

    run(body)
