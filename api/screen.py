"""The big screen's figures in one answer (GET /screen/summary): KPI tiles, trend, rankings, sources, ticker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import CurrentUser
from api.deps import GridGovRoute, get_repo, resolve_version
from cases import clock
from gis.errors import InvalidInput, NotFound
from i18n import T
from store.repo import Repository
from store.screen import county_codes, summary

router = APIRouter(route_class=GridGovRoute, tags=["map pages"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]


@router.get("/screen/summary", summary="The big screen's figures: today, this month's on-time rate, trend, rankings")
def screen_summary(user: CurrentUser, repo: Repo,
                   county: Annotated[str | None, Query(description="only this county's cases", max_length=64)] = None,
                   days: Annotated[int, Query(ge=7, le=90, description="days of trend, categories and sources")] = 30,
                   top: Annotated[int, Query(ge=1, le=50, description="how many categories")] = 10,
                   ticker: Annotated[int, Query(ge=1, le=100, description="how many latest events")] = 20,
                   ) -> dict[str, Any]:
    """Counted in SQL over the cases whose figures you may see (the scope of /stats: your county, your team's
    if you are a team member), on the county's clock. `kpi.on_time_rate_this_month` = closed on time ÷ due to
    close this month, suspended cases out of the denominator (store/screen.py says exactly what each figure
    counts)."""
    if county is not None and county not in county_codes(repo.session):
        raise InvalidInput(T("unknown county {county}; GET /units?layer=county lists the county codes",
                             county=county), where="county")
    try:
        version = resolve_version(repo, None).id
    except NotFound:
        version = None  # no boundaries yet: figures without names
    return summary(repo.session, user, clock.now(), county=county, version_id=version, days=days, top=top,
                   ticker=ticker)
