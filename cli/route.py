"""`gridgov route` and `gridgov route-file`: the routing decision from the command line."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cases import clock
from cli.common import DbUrl, console, err, repository, run, say
from gis.crs import to_wgs84
from gis.errors import InvalidInput
from gis.routing.regions import Regions, build_regions
from i18n import T, Text, render
from i18n.units import day as day_text
from i18n.units import distance, listing, term
from store.routers import RouterCache

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
    source: Annotated[Path, typer.Argument(help="CSV with lat/lon columns (and optionally matter, accuracy)")],
    target: Annotated[Path, typer.Argument(help="CSV to write: the input plus team, rule and flag columns")],
    matter: Annotated[str | None, typer.Option(help="matter for every row (else the matter column)")] = None,
    lat_col: Annotated[str, typer.Option(help="latitude column")] = "lat",
    lon_col: Annotated[str, typer.Option(help="longitude column")] = "lon",
    matter_col: Annotated[str, typer.Option(help="matter column")] = "matter",
    accuracy_col: Annotated[str, typer.Option(help="GPS accuracy column (metres), if present")] = "accuracy_m",
    crs: Crs = "wgs84",
    at: At = None,
    database_url: DbUrl = None,
) -> None:
    """Route every row of a CSV file; prints `routed rows=<n> ok=<n> dispute=<n> gap=<n> near_boundary=<n>`."""

    def body() -> None:
        day = _day(at)
        if not source.exists():
            raise InvalidInput(T("no such file"), where=str(source))
        with source.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
        for col in (lat_col, lon_col) + (() if matter else (matter_col,)):
            if col not in header:
                raise InvalidInput(T("missing column {column} (columns: {columns})", column=repr(col),
                                     columns=listing(header)), where=f"{source.name}:1")
        lon, lat = np.empty(len(rows)), np.empty(len(rows))
        acc = np.full(len(rows), np.nan)
        for i, row in enumerate(rows):
            where = f"{source.name}:{i + 2}"
            try:
                lon[i], lat[i] = float(row[lon_col]), float(row[lat_col])
                if row.get(accuracy_col):
                    acc[i] = float(row[accuracy_col])
            except (TypeError, ValueError):
                raise InvalidInput(T("lat/lon/accuracy {lat}, {lon} are not numbers", lat=repr(row.get(lat_col)),
                                     lon=repr(row.get(lon_col))), where=where) from None
            _check_point(lon[i], lat[i], where)
        matters = [matter or row[matter_col] for row in rows]
        x, y = to_wgs84(lon, lat, crs, where=source.name) if rows else (lon, lat)
        out_cols = ["team", "status", "rule", "distance_m", "near_boundary", "version"]
        results: dict[str, list[object]] = {c: [None] * len(rows) for c in out_cols}
        with repository(database_url) as repo:
            router = RouterCache().router_at(repo, day)
            for m in sorted(set(matters)):
                router.matter_index(m)  # unknown matters fail before any work
            with Progress(TextColumn(escape(T("routing").render())), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=err, transient=True) as progress:
                task = progress.add_task("route", total=len(rows))
                by_matter: dict[str, list[int]] = {}
                for i, m in enumerate(matters):
                    by_matter.setdefault(m, []).append(i)
                for m, idx_list in by_matter.items():
                    idx = np.array(idx_list)
                    for start in range(0, len(idx), CHUNK):
                        part = idx[start:start + CHUNK]
                        cols = router.route_table(x[part], y[part], m, day, acc[part])
                        cols["version"] = [router.version.id] * len(part)  # the boundary version that answered
                        for c in out_cols:
                            for k, i in enumerate(part.tolist()):
                                results[c][i] = cols[c][k]
                        progress.advance(task, len(part))
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header + [c for c in out_cols if c not in header])
            writer.writeheader()
            for i, row in enumerate(rows):
                writer.writerow({**row, **{c: results[c][i] for c in out_cols}})
        status = results["status"]
        print(f"routed rows={len(rows)} ok={status.count('ok')} dispute={status.count('dispute')} "
              f"gap={status.count('gap')} near_boundary={sum(bool(v) for v in results['near_boundary'])} "
              f"version={router.version.id}")

    run(body)
