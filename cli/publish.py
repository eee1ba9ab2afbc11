"""`gridgov publish-annual`: the previous year's enforcement data as a workbook and a printable report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analytics import publication
from analytics.indicators import load_scoring
from cases import clock
from cli.common import DbUrl, console, run, settings_for
from i18n import language
from store import indicator_facts
from store.db import make_engine, session_factory, transaction, upgrade
from store.users import User

# The command line reads as an auditor of the whole deployment (or of one county with --county).
CLI_READER = User(id=0, username="cli", display_name="command line", role="auditor", team_code=None)


def publish_annual_cmd(
    year: Annotated[int | None, typer.Option("--year", help="the year published (cases reported in it; default: "
                                                           "last year)")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder for annual-<year>.xlsx and annual-<year>.html")] = (
        Path(".")),
    county: Annotated[str | None, typer.Option(help="only this county's cases")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh-CN (default: the setting) or en")] = None,
    database_url: DbUrl = None,
) -> None:
    """Write annual-<year>.xlsx and annual-<year>.html (indicators, cases by matter, domain, procedure and month,
    delegation review, analysis; no personal data). Same data, same bytes apart from the generated-at stamp."""
    settings = settings_for(database_url)
    clock.configure(settings.timezone)
    year = year if year is not None else clock.today().year - 1

    def body() -> None:
        engine = make_engine(settings.resolved_database_url())
        try:
            upgrade(engine)
            with language(lang or settings.language), transaction(session_factory(engine)) as session:
                now = clock.now()
                chosen = lang or settings.language
                annual = indicator_facts.annual(session, CLI_READER, year, county, settings.work_calendar(),
                                                load_scoring(settings.indicators_config), now, chosen)
                out.mkdir(parents=True, exist_ok=True)
                xlsx, html = out / f"annual-{year}.xlsx", out / f"annual-{year}.html"
                xlsx.write_bytes(publication.annual_workbook(annual, now, chosen))
                html.write_text(publication.annual_html(annual, now, chosen), encoding="utf-8")
        finally:
            engine.dispose()
        county_row = annual.levels["county"][0] if annual.levels["county"] else {"reported": 0}
        console.print(f"published year={year} cases={county_row['reported']} workbook={xlsx} report={html}",
                      highlight=False)

    run(body)
