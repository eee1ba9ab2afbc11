"""`gridgov sites`: the recurring sites of one category (GET /hotspots/sites on the command line)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from analytics.sites import params_for
from cases import clock
from cli.common import DbUrl, console, repository, run, settings_for
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
