"""`gridgov annual YEAR OUTDIR` (alias `gridgov publish-annual --year Y --out DIR`): the year's enforcement data as
a workbook, a GeoPackage of its cases and the analysis report as HTML and PDF with charts; no personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analytics.indicators import load_scoring
from cases import clock
from cli.common import DbUrl, console, run, settings_for
from i18n import language
from store.annual_publication import annual_files
from store.db import make_engine, session_factory, transaction, upgrade
from store.users import User

# The command line reads as an auditor of the whole deployment (or of one county with --county).
CLI_READER = User(id=0, username="cli", display_name="command line", role="auditor", team_code=None)

County = Annotated[str | None, typer.Option(help="only this county's cases")]
Lang = Annotated[str | None, typer.Option("--lang", help="zh-CN (default: the setting) or en")]


def publish(year: int | None, out: Path, county: str | None, lang: str | None, database_url: str | None) -> None:
    """Write annual-<year>.xlsx, .gpkg, .html and .pdf into `out` (made only once the figures are computed)."""
    settings = settings_for(database_url)
    clock.configure(settings.timezone)
    year = year if year is not None else clock.today().year - 1

    def body() -> None:
        engine = make_engine(settings.resolved_database_url())
        try:
            upgrade(engine)
            with language(lang or settings.language), transaction(session_factory(engine)) as session:
                chosen = lang or settings.language
                files = annual_files(session, CLI_READER, year, county, settings.work_calendar(),
                                     load_scoring(settings.indicators_config), clock.now(), chosen)
            out.mkdir(parents=True, exist_ok=True)
            stem = out / f"annual-{year}"
            stem.with_suffix(".xlsx").write_bytes(files.workbook)
            stem.with_suffix(".html").write_text(files.html, encoding="utf-8")
            stem.with_suffix(".pdf").write_bytes(files.pdf)
            gpkg = stem.with_suffix(".gpkg")
            gpkg.write_bytes(files.gpkg)
        finally:
            engine.dispose()
        county_row = files.annual.levels["county"][0] if files.annual.levels["county"] else {"reported": 0}
        console.print(f"published year={year} cases={county_row['reported']} workbook={stem}.xlsx "
                      f"report={stem}.html pdf={stem}.pdf cases_gpkg={gpkg}", highlight=False)

    run(body)


def annual_cmd(
    year: Annotated[int, typer.Argument(help="the year published (cases reported in it)")],
    outdir: Annotated[Path, typer.Argument(help="folder for annual-<year>.xlsx, .gpkg, .html and .pdf")],
    county: County = None, lang: Lang = None, database_url: DbUrl = None,
) -> None:
    """Publish a year: workbook (indicators per county, township, village and team; cases by matter, domain,
    procedure, month and outcome; disputes; delegation review), GeoPackage of its cases, analysis report as HTML
    and PDF with charts. No personal data; the same data give the same workbook contents."""
    publish(year, outdir, county, lang, database_url)


def publish_annual_cmd(
    year: Annotated[int | None, typer.Option("--year", help="the year published (cases reported in it; default: "
                                                           "last year)")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder for annual-<year>.xlsx, .gpkg, .html and .pdf")] = (
        Path(".")),
    county: County = None, lang: Lang = None, database_url: DbUrl = None,
) -> None:
    """The same as `gridgov annual YEAR OUTDIR` (kept for scripts written against it)."""
    publish(year, out, county, lang, database_url)
