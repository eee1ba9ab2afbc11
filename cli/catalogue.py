"""`gridgov catalogue template|import|export`: the county's catalogue workbook (teams, matters, delegations, rules)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.common import DbUrl, VersionOpt, err, note, repository, run
from etl.catalogue import SHEETS, notes, template_rows
from etl.workbook import WorkbookProblems, write_csv_dir, write_xlsx
from gis.errors import InvalidInput
from i18n import T
from store.catalogue import catalogue_version, export_rows, import_catalogue

catalogue_app = typer.Typer(help="The catalogue workbook: teams, matters, delegation lists and rules.",
                            no_args_is_help=True)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                    transient=True)


def _xlsx(path: Path) -> Path:
    if path.suffix.lower() != ".xlsx":
        raise InvalidInput(T("the workbook must be an .xlsx file (or give a folder for CSV files)"), where=str(path))
    return path


@catalogue_app.command("template")
def template_cmd(path: Annotated[Path, typer.Argument(help="the .xlsx file to write")]) -> None:
    """Write an empty workbook: headers, drop-downs for the closed lists, one example row per sheet."""

    def body() -> None:
        write_xlsx(_xlsx(path), SHEETS, template_rows(), notes())
        print(f"template sheets={len(SHEETS)} path={path}")

    run(body)


@catalogue_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="an .xlsx workbook, or a folder of CSV files (队伍.csv …)")],
    version: VersionOpt = None,
    revision: Annotated[int | None, typer.Option(
        help="the draft revision you based the workbook on; refused if the draft changed since")] = None,
    database_url: DbUrl = None,
) -> None:
    """Import a workbook, all or nothing: teams and matters added or updated, the draft's delegation list and
    rules replaced; every problem is listed by sheet, row and column. Prints `imported team=<n> …`."""

    def body() -> None:
        try:
            with _progress() as progress, repository(database_url) as repo:
                progress.add_task(T("checking and importing {file}", file=path.name).render(), total=None)
                result = import_catalogue(repo, path, version_id=version, expected_revision=revision,
                                          actor=f"cli:{getpass.getuser()}")
        except WorkbookProblems as exc:
            for p in exc.problems:
                note(T("problem"), p.located(), style="red")
            raise InvalidInput(T("{n} problem(s) in {file}; nothing was written", n=len(exc.problems), file=path.name),
                               where=exc.where) from None
        print(result.summary())

    run(body)


@catalogue_app.command("export")
def export_cmd(
    path: Annotated[Path, typer.Argument(help="an .xlsx file, or a folder for CSV files")],
    version: Annotated[int | None, typer.Option("--version", "-v", help="version id (default: the one in force "
                                                "today, else the newest)")] = None,
    database_url: DbUrl = None,
) -> None:
    """Write the catalogue (every team and matter, a version's delegations and rules); it imports back as it is.
    Prints `exported team=<n> …`."""

    def body() -> None:
        with _progress() as progress, repository(database_url) as repo:
            progress.add_task(T("reading the catalogue").render(), total=None)
            v = catalogue_version(repo, version)
            assert v.id is not None
            rows = export_rows(repo, v.id)
        if path.suffix.lower() == ".xlsx":
            write_xlsx(path, SHEETS, rows, notes())
        elif path.suffix:
            raise InvalidInput(T("export to an .xlsx file, or to a folder (no suffix) for CSV files"), where=str(path))
        else:
            write_csv_dir(path, SHEETS, rows)
        counts = " ".join(f"{k.removesuffix('s')}={len(v)}" for k, v in rows.items())
        print(f"exported {counts} version={v.id} path={path}")

    run(body)

