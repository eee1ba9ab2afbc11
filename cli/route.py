"""`gridgov route` and `gridgov route-file`: the routing decision from the command line."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cases import clock
from cli.common import DbUrl, console, err, repository, run
from gis.crs import to_wgs84
from gis.errors import InvalidInput
from gis.routing.regions import Regions, build_regions
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
        raise InvalidInput(f"--at {at!r} is not a date like 2026-06-01", where="--at") from None


def _check_point(lon: float, lat: float, where: str) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput("longitude/latitude must be finite numbers", where=where)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"({lon}, {lat}) is out of range: longitude -180..180, latitude -90..90", where=where)


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
        console.print(f"[bold]{d.team}[/] {d.team_name}  [{colour}]{d.status}[/]", highlight=False)
        console.print(d.reason, highlight=False)
        if d.co_owners:
            console.print(f"co-owners: {', '.join(d.co_owners)}")
        units = Table("layer", "code", "name", "selected", title=f"units at {d.lon:.6f}, {d.lat:.6f} (WGS84)")
        for u in d.units:
            units.add_row(u.layer if u.layer != "zone" else f"zone/{u.kind}", u.code, u.name, "✓" if u.selected else "")
        console.print(units)
        rules = Table("rule", "priority", "team", "scope", "matters", title="matching rules")
        for r in d.matched_rules:
            rules.add_row(r.code, str(r.priority), r.team, r.scope, r.matters)
        console.print(rules)
        flags = [f"version {d.version.id} ({d.version.name}, from {d.version.effective_from})",
                 f"distance to nearest boundary {d.distance_to_boundary_m:.1f} m"]
        if d.accuracy_m is not None:
            flags.append(f"GPS accuracy {d.accuracy_m:g} m")
        if d.on_boundary:
            flags.append("ON A SHARED BOUNDARY: tie-break applied")
        if d.near_boundary:
            flags.append("NEAR A BOUNDARY: confirm the location")
        console.print("; ".join(flags), highlight=False)

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
    units = Table("layer", "code", "name", "selected", title=f"units at {lon:.6f}, {lat:.6f} (WGS84)")
    for i in covering:
        r = regions.regions[i]
        units.add_row(r.layer if r.layer != "zone" else f"zone/{r.kind}", r.code, names[r.code],
                      "✓" if i in picked else "")
    console.print(units)
    chosen = [regions.regions[i] for i in sorted(picked)]
    place = " › ".join(f"{r.layer} {names[r.code]} ({r.code})" for r in chosen) or "outside every unit"
    console.print(f"{place}; version {version.id} ({version.name}, from {version.effective_from}). "
                  "Give --matter CODE for the responsible team (teams, matters and rules come from the catalogue).",
                  highlight=False)


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
            raise InvalidInput("no such file", where=str(source))
        with source.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
        for col in (lat_col, lon_col) + (() if matter else (matter_col,)):
            if col not in header:
                raise InvalidInput(f"missing column {col!r} (columns: {', '.join(header)})", where=f"{source.name}:1")
        lon, lat = np.empty(len(rows)), np.empty(len(rows))
        acc = np.full(len(rows), np.nan)
        for i, row in enumerate(rows):
            where = f"{source.name}:{i + 2}"
            try:
                lon[i], lat[i] = float(row[lon_col]), float(row[lat_col])
                if row.get(accuracy_col):
                    acc[i] = float(row[accuracy_col])
            except (TypeError, ValueError):
                raise InvalidInput(f"lat/lon/accuracy {row.get(lat_col)!r}, {row.get(lon_col)!r} are not numbers",
                                   where=where) from None
            _check_point(lon[i], lat[i], where)
        matters = [matter or row[matter_col] for row in rows]
        x, y = to_wgs84(lon, lat, crs, where=source.name) if rows else (lon, lat)
        out_cols = ["team", "status", "rule", "distance_m", "near_boundary", "version"]
        results: dict[str, list[object]] = {c: [None] * len(rows) for c in out_cols}
        with repository(database_url) as repo:
            router = RouterCache().router_at(repo, day)
            for m in sorted(set(matters)):
                router.matter_index(m)  # unknown matters fail before any work
            with Progress(TextColumn("routing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as progress:
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
