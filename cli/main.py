"""`gridgov`: the one command-line entry point. Each writing command owns one transaction."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from shapely.geometry.base import BaseGeometry

from cases import clock
from cli.catalogue import catalogue_app
from cli.common import DbUrl, VersionOpt, console, err, note, repository, run, say, serve, settings_for, use_language
from cli.demo import demo_cmd
from cli.hotspots import hotspot_cube_cmd, sites_cmd
from cli.publish import annual_cmd, publish_annual_cmd
from cli.route import reattribute_cmd, route_cmd, route_file_cmd
from cli.users import user_app
from etl.derive import derive_version, set_seats
from etl.export import export_units
from etl.importer import import_file
from etl.vector import VectorOptions
from gis.crs import metres_per_degree
from gis.errors import GridGovError, InvalidInput, NotFound
from gis.model import Version
from gis.topology import TopologyOptions
from gis.validate import DEFAULT_OUTSIDE_TOLERANCE
from i18n import T, Text, render
from i18n.units import area, term
from i18n.units import day as day_text
from store.cases import escalate_overdue
from store.db import make_engine, schema_revision, session_factory, upgrade
from store.repo import Repository
from store.routers import RouterCache
from store.versions import Versions, require_reroute_day, summary

app = typer.Typer(help="GridGov: which team is responsible for every incident point, and why.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
version_app = typer.Typer(help="Boundary versions (generations) with effective dates.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(version_app, name="version")
app.add_typer(db_app, name="db")


@app.callback()
def _speak(ctx: typer.Context) -> None:
    # Every command speaks GRIDGOV_LANGUAGE (zh-CN by default); summaries for scripts stay the same.
    use_language(ctx)


def _table(*columns: Text, title: Text | None = None) -> Table:
    """A table for a person: headings and title in the reader's language."""
    return Table(*(render(c) for c in columns), title=render(title) if title is not None else None)


@db_app.command("upgrade")
def db_upgrade(database_url: DbUrl = None) -> None:
    """Create or migrate the schema to the newest revision."""
    engine = make_engine(settings_for(database_url).resolved_database_url())
    upgrade(engine)
    current, head = schema_revision(engine)
    console.print(f"schema revision={current} head={head}")


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help=".csv code tree, .geojson, .gpkg or .shp")],
    crs: Annotated[str | None, typer.Option(help="source CRS: wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = None,
    layer: Annotated[str | None, typer.Option(help="target layer for every feature")] = None,
    code: Annotated[str | None, typer.Option(help="unit code for a single-feature file")] = None,
    code_field: Annotated[str, typer.Option(help="attribute holding the unit code")] = "code",
    name_field: Annotated[str, typer.Option(help="attribute holding the name")] = "name",
    parent_field: Annotated[str, typer.Option(help="attribute holding the parent code")] = "parent_code",
    source_layer: Annotated[str | None, typer.Option(help="layer inside a GeoPackage")] = None,
    strict: Annotated[bool, typer.Option(help="reject invalid polygons instead of repairing them")] = False,
    tolerance: Annotated[float, typer.Option(help="share of a unit allowed outside its parent")] = (
        DEFAULT_OUTSIDE_TOLERANCE),
    version: VersionOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Import units into a draft version, all or nothing; prints `imported <layer>=<n> …`."""
    options = VectorOptions(crs=crs, layer=layer, code=code, code_field=code_field, name_field=name_field,
                            parent_field=parent_field, source_layer=source_layer, strict=strict)

    def body() -> None:
        with repository(database_url) as repo:
            result = import_file(repo, path, version_id=version, options=options, outside_tolerance=tolerance)
        for repaired in result.repaired:
            note(T("repaired:"), repaired)
        print(result.summary())

    run(body)


@app.command("export")
def export_cmd(
    path: Annotated[Path, typer.Argument(help=".geojson or .gpkg (one table per layer)")],
    layer: Annotated[list[str] | None, typer.Option(help="only these layers (repeatable)")] = None,
    crs: Annotated[str, typer.Option(help="output CRS (.gpkg may use gcj02, bd09, EPSG:n)")] = "wgs84",
    version: Annotated[int | None, typer.Option("--version", "-v", help=(
        "version id (default: the newest draft; with no draft, the version in force today)"))] = None,
    database_url: DbUrl = None,
) -> None:
    """Export a version's units; prints `exported <layer>=<n> … version=<id> status=<status>`."""

    def body() -> None:
        with repository(database_url) as repo:
            chosen, why = _version_to_export(repo, version)
            assert chosen.id is not None
            units = [u for u in repo.units(chosen.id) if not layer or u.layer in layer]
            counts = export_units(units, path, crs)
        if why:
            note(T("note:"), why)
        parts = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        print(f"exported {parts or 'nothing'} version={chosen.id} status={chosen.status} path={path}")

    run(body)


@app.command("derive")
def derive_cmd(
    village_radius: Annotated[float, typer.Option(help="metres around a located village when its township "
                                                       "is only partly located")] = 1000.0,
    show: Annotated[int, typer.Option(help="list this many units left to be drawn")] = 10,
    seat: Annotated[list[str] | None, typer.Option(
        help="a seat point CODE=x,y (lon,lat in --crs) for a unit without one; repeatable")] = None,
    crs: Annotated[str, typer.Option(help="CRS of --seat points: wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = "wgs84",
    version: VersionOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Derive township polygons from seats and village polygons from located villages (marked derived).

    Townships without a seat are listed as to be drawn (townships first); their land lies in the seated
    townships' cells until they are drawn or given a seat, and the output says so."""

    def body() -> None:
        seats = dict(_seat_option(text) for text in seat or [])
        with repository(database_url) as repo:
            # The newest unpublished version, validated or not: deriving again after `version validate` (a seat
            # given once the warning named a township) edits that draft, which becomes a draft again.
            unpublished = [v for v in repo.versions() if v.status != "published"]
            vid = version if version is not None else unpublished[-1].id if unpublished else repo.working_draft().id
            assert vid is not None
            set_seats(repo, vid, seats, crs, where="--seat")
            report = derive_version(repo, vid, village_radius_m=village_radius)
            names = {u.code: u.name for u in repo.units(vid)}
        for code, reason in report.skipped.items():
            note(T("skipped {unit}:", unit=_named(names, code)), reason)
        towns = [u for u in report.to_be_drawn if u.layer == "township"]
        if report.to_be_drawn and (show or towns):
            table = _table(T("name"), T("code"), T("layer"), T("parent"),
                           title=T("{n} unit(s) to be drawn", n=len(report.to_be_drawn)))
            for u in towns + [u for u in report.to_be_drawn if u.layer != "township"][:show]:
                table.add_row(u.name, u.code, render(term("layer", u.layer)),
                              render(_named(names, u.parent_code)) if u.parent_code else "")
            err.print(table)
        seatless = report.seatless_note(names)
        if seatless:
            note(T("to be drawn:"), seatless)
        print(report.summary())

    run(body)


@version_app.command("list")
def version_list(database_url: DbUrl = None) -> None:
    """List versions with status and effective dates."""

    def body() -> None:
        with repository(database_url) as repo:
            versions = repo.versions()
            counts = {v.id: repo.counts(v.id) for v in versions}
        table = _table(T("id"), T("name"), T("status"), T("from"), T("to"), T("units"))
        for v in versions:
            c = counts[v.id]
            units = sum(n for k, n in c.items() if k in ("county", "township", "village", "grid", "zone"))
            table.add_row(str(v.id), v.name, render(term("version_status", v.status)),
                          render(day_text(v.effective_from)) if v.effective_from else "",
                          render(day_text(v.effective_to)) if v.effective_to else "", str(units))
        console.print(table)

    run(body)


@version_app.command("create")
def version_create(
    name: Annotated[str, typer.Argument()],
    based_on: Annotated[int | None, typer.Option(help="copy this version's units, rules and delegations")] = None,
    database_url: DbUrl = None,
) -> None:
    """Create a draft version; prints `created version=<id>`."""

    def body() -> None:
        with repository(database_url) as repo:
            v = repo.create_version(name, based_on=based_on)
        print(f"created version={v.id}")

    run(body)


@version_app.command("publish")
def version_publish(
    version_id: Annotated[int, typer.Argument()],
    effective_from: Annotated[str, typer.Option(
        help="YYYY-MM-DD or today (the county's date); the version in force before ends that day")],
    revision: Annotated[int | None, typer.Option(
        help="the draft revision you validated and previewed; refused if the draft changed since")] = None,
    reroute_open_cases: Annotated[bool, typer.Option(
        help="give the open cases the impact preview lists to their new team (a version from today only)")] = False,
    backdate: Annotated[bool, typer.Option(help="allow a date before today (loading past generations only)")] = False,
    database_url: DbUrl = None,
) -> None:
    """Publish a draft after a topology check; prints `published version=<id> effective_from=<date>`
    (and `rerouted=<n> kept=<n>` with --reroute-open-cases, one line per case above it)."""

    def body() -> None:
        day = _day(effective_from)
        if reroute_open_cases:
            require_reroute_day(day, clock.today())
        moved = None
        with repository(database_url) as repo:
            versions = Versions(repo, _topology(database_url))
            before = versions.in_force(clock.today())
            v = versions.publish(version_id, day, clock.today(), backdate=backdate, expected_revision=revision)
            if reroute_open_cases:
                cache = RouterCache(settings_for(database_url).fallback_team)  # as the server's preview routes
                moved = versions.reroute_open_cases(before, v, lambda i: cache.router(repo, repo.version(i)),
                                                    "cli", clock.now())
        if moved is not None:
            for c in moved["rerouted"]:
                say(T("case {case}: {old} → {new} ({how})", case=c["case"], old=c["from"], new=c["to"], how=c["how"]))
            for c in moved["kept"]:
                say(T("case {case} kept by {team}: {why}", case=c["case"], team=c["team"], why=c["kept_because"]))
        print(f"published version={v.id} effective_from={v.effective_from}"
              + (f" rerouted={len(moved['rerouted'])} kept={len(moved['kept'])}" if moved is not None else ""))

    run(body)


@version_app.command("validate")
def version_validate(
    version_id: Annotated[int, typer.Argument()],
    geojson: Annotated[Path | None, typer.Option(help="also write the located problems to this GeoJSON file")] = None,
    database_url: DbUrl = None,
) -> None:
    """Check a draft's topology; with no error it becomes validated. Prints `validated version=… errors=…`."""

    def body() -> None:
        with repository(database_url) as repo:
            version, problems = Versions(repo, _topology(database_url)).validate(version_id)
            gaps = repo.allowed_gaps(version_id)
        for g in gaps:
            say(T("allowed gap {name} ({code}): {area} not checked for gaps", name=g.name, code=g.code,
                  area=area(_km2(g.geometry) * 1e6)))
        for p in problems:
            note(T("{severity} · {check}:", severity=term("severity", p.severity), check=term("check", p.check)),
                 p.text, style="red" if p.severity == "error" else "yellow", to=console)
        if geojson is not None:
            geojson.write_text(json.dumps(summary(problems), ensure_ascii=False), encoding="utf-8")
        errors = sum(p.severity == "error" for p in problems)
        print(f"validated version={version.id} status={version.status} errors={errors} "
              f"warnings={len(problems) - errors} allowed_gaps={len(gaps)}")
        if errors:
            raise typer.Exit(2)

    run(body)


@version_app.command("diff")
def version_diff(
    a: Annotated[int, typer.Argument(help="from version")],
    b: Annotated[int, typer.Argument(help="to version")],
    database_url: DbUrl = None,
) -> None:
    """What changed from one version to another; prints JSON."""

    def body() -> None:
        with repository(database_url) as repo:
            result = Versions(repo).diff(a, b)
        print(json.dumps(result, ensure_ascii=False, indent=1))

    run(body)


@version_app.command("rollback")
def version_rollback(
    to_version: Annotated[int, typer.Argument(help="the published version whose content comes back")],
    effective_from: Annotated[str, typer.Option(help="YYYY-MM-DD or today (the county's date), today or later")],
    database_url: DbUrl = None,
) -> None:
    """Publish an earlier version's content again as a new version; prints `published version=…`."""

    def body() -> None:
        with repository(database_url) as repo:
            v = Versions(repo, _topology(database_url)).rollback(to_version, _day(effective_from), clock.today())
        print(f"published version={v.id} effective_from={v.effective_from} rollback_of={to_version}")

    run(body)


def _seat_option(text: str) -> tuple[str, tuple[float, float]]:
    """`CODE=x,y` → (code, (x, y)); anything else is refused, quoting it."""
    code, sep, xy = text.partition("=")
    parts = xy.split(",")
    try:
        if not sep or not code.strip() or len(parts) != 2:
            raise ValueError
        return code.strip(), (float(parts[0]), float(parts[1]))
    except ValueError:
        raise GridGovError(T("--seat {text} is not CODE=x,y (e.g. --seat 130430400000=115.21,36.80)", text=repr(text)),
                           where="--seat") from None


def _version_to_export(repo: Repository, version: int | None) -> tuple[Version, Text | None]:
    """The version asked for; else the newest draft (validated or not); else the one in force today, else the
    newest — with a note saying so when it is not a draft, so the message and what is written agree."""
    if version is not None:
        return repo.version(version), None
    versions = repo.versions()
    if not versions:
        raise GridGovError(T("nothing to export: there is no version yet"))
    drafts = [v for v in versions if v.status != "published"]
    if drafts:
        return drafts[-1], None
    try:
        current = repo.version_at(clock.today())
        return current, T("no draft: exporting version {id} ({name}), published and in force since {day}",
                          id=current.id, name=current.name, day=_day_text(current.effective_from))
    except NotFound:
        newest = versions[-1]
        return newest, T("no draft and no version in force today: exporting the newest, version {id} ({name}, "
                         "published from {day})", id=newest.id, name=newest.name, day=_day_text(newest.effective_from))


def _day(text: str) -> date:
    """A date as YYYY-MM-DD, or `today`: the county's today (cases.clock), not the machine's — at 01:00 in
    Shanghai a server on UTC still says yesterday, and `$(date +%F)` would publish a day in the past."""
    if text.strip().lower() == "today":
        return clock.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise GridGovError(T("--effective-from {text} is not a date like 2026-12-01 or today", text=repr(text)),
                           where="--effective-from") from None


def _day_text(d: date | None) -> str | Text:
    return day_text(d) if d is not None else "—"


def _named(names: dict[str, str], code: str | None) -> str | Text:
    """A unit's name with its code second, from a code → name map (the code alone when it has no name)."""
    name = names.get(code or "")
    return T("{name} ({code})", name=name, code=code) if name and name != code else code or ""


def _km2(g: BaseGeometry) -> float:
    kx, ky = metres_per_degree(g.centroid.y)
    return float(g.area) * kx * ky / 1e6


def _topology(database_url: str | None) -> TopologyOptions:
    return TopologyOptions(tolerance_m2=settings_for(database_url).topology_tolerance_m2)


@app.command("info")
def info_cmd(database_url: DbUrl = None) -> None:
    """What is stored: counts per kind for the newest version."""

    def body() -> None:
        with repository(database_url) as repo:
            versions = repo.versions()
            counts = repo.counts(versions[-1].id if versions else None)
        print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))

    run(body)


@app.command("tick")
def tick_cmd(
    at: Annotated[str | None, typer.Option(
        help="the moment to judge deadlines at (default: now); ISO 8601, without an offset in GRIDGOV_TIMEZONE")]
    = None,
    database_url: DbUrl = None,
) -> None:
    """Escalate overdue cases once (the server does this every GRIDGOV_TICK_SECONDS; cron can call this)."""

    def body() -> None:
        settings = settings_for(database_url)
        when = clock.now()
        if at is not None:
            try:
                when, assumed = clock.parse(at, "--at")
            except ValueError as exc:
                raise InvalidInput(exc.args[0], where="--at") from None
            if assumed:
                note(T("note:"), clock.assumed_note("--at"))
        engine = make_engine(settings.resolved_database_url())
        try:
            upgrade(engine)
            done = escalate_overdue(session_factory(engine), settings.work_calendar(), when, settings.language)
        finally:
            engine.dispose()
        for item in done:
            say(T("case {case}: escalated to level {level} (team {team})", case=item["case"], level=item["level"],
                  team=item["team"]))
        print(f"escalated={len(done)}")

    run(body)


@app.command("serve")
def serve_cmd(
    host: Annotated[str | None, typer.Option(help="default GRIDGOV_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default GRIDGOV_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes (stateless; one per core)")] = 1,
    database_url: DbUrl = None,
) -> None:
    """Serve the API."""
    settings = settings_for(database_url)
    serve(settings, host or settings.host, port or settings.port, workers)


app.command("demo")(demo_cmd)
app.command("publish-annual")(publish_annual_cmd)
app.command("annual")(annual_cmd)
app.add_typer(user_app, name="user")
app.add_typer(catalogue_app, name="catalogue")
app.command("route")(route_cmd)
app.command("route-file")(route_file_cmd)
app.command("reattribute")(reattribute_cmd)
app.command("sites")(sites_cmd)
app.command("hotspot-cube")(hotspot_cube_cmd)


if __name__ == "__main__":
    app()
