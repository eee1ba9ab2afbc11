"""Evaluation indicators, the delegation review and the annual publication: thin adapters over `analytics/`.

`GET /indicators` is both the API and the page: a browser that asks for HTML (a navigation: `Accept: text/html`,
no token, no `format`) gets the page (`web/indicators.py`), which signs in and calls the same address for JSON.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from analytics import delegation_review, publication
from analytics.delegation_review import Thresholds
from analytics.indicators import COLUMNS, LEVELS, Scoring, indicators, rows_to_csv
from api.cases import local
from api.deps import GridGovRoute, authenticate_request, get_repo
from api.inputs import Instant
from api.openapi import Error
from cases import clock
from config import Settings
from gis.errors import Forbidden, InvalidInput
from i18n import T, current_language, gettext, set_language
from store import indicator_facts as facts
from store.annual_publication import AnnualPublication
from store.repo import Repository
from store.users import User
from web.indicators import render_indicators_page

router = APIRouter(route_class=GridGovRoute, tags=["indicators"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GPKG = "application/geopackage+sqlite3"
SIGNED: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "no valid token"},
    403: {"model": Error, "description": "a role that does not see indicators (grid workers)"},
}
SECURITY: dict[str, Any] = {"security": [{"bearer": []}]}


def scoring(request: Request) -> Scoring:
    """The composite score's weights and thresholds (GRIDGOV_INDICATORS_CONFIG, else the bundled defaults), read
    once at start-up (`api.app.create_app`)."""
    found: Scoring = request.app.state.scoring
    return found


def reader(request: Request) -> User:
    """The signed-in user (401 without a token), speaking their preferred language unless ?lang= asked."""
    user = authenticate_request(request)
    if user.language and not getattr(request.state, "language_asked", False):
        set_language(user.language)
    facts.check_reader(user)
    return user


def wants_page(request: Request) -> bool:
    """A browser navigation: asks for HTML, carries no token and no `format`."""
    return ("text/html" in request.headers.get("accept", "") and "authorization" not in request.headers
            and "format" not in request.query_params)


def download(body: bytes | str, media: str, name: str) -> Response:
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                     "Vary": "Accept"})


@router.get("/indicators", response_model=None, summary="Evaluation indicators per region, team or post, with a "
            "composite score and grade (JSON, CSV or XLSX)", openapi_extra=SECURITY,
            responses={**SIGNED, 200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}})
def get_indicators(
    request: Request, repo: Repo,
    since: Annotated[Instant | None, Query(alias="from", description="start (default: 30 days before `to`)")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="end, exclusive (default: now)")] = None,
    level: Annotated[str, Query(description="county, township, village, grid, team, grid_worker or officer")] = (
        "township"),
    county: Annotated[str | None, Query(description="only this county's cases")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json (default), csv or xlsx")] = "json",
) -> Response:
    """Cases reported in [from, to), judged as of min(to, now): counts, closure, on-time closure (suspended cases
    out of the denominator), overdue, escalation and rework rates, mean working hours to close, first-violation
    outcomes, score and grade (definitions: analytics/indicators.py). A team member sees their own team's cases."""
    settings: Settings = request.app.state.settings
    if wants_page(request):
        return HTMLResponse(render_indicators_page(settings, current_language()), headers=_page_headers(settings))
    user = reader(request)
    now = clock.now()
    end = local(until) or now
    start = local(since) or end - timedelta(days=30)
    if end <= start:
        raise InvalidInput(T("the period is empty: 'from' {start} is not before 'to' {end}", start=start.isoformat(),
                             end=end.isoformat()), where="to")
    if level not in LEVELS:
        raise InvalidInput(T("level must be one of {levels}, got {level}", levels=", ".join(LEVELS),
                             level=repr(level)), where="level")
    score = scoring(request)
    found = facts.case_facts(repo.session, user, start, end, county)
    label = facts.names(repo.session)
    as_of = min(end, now)
    rows = indicators(found, level, as_of, request.app.state.calendar, score, label.get,
                      facts.grid_workers(repo.session) if level == "grid_worker" else None)
    stem = f"indicators-{level}-{clock.wall(start).date()}-{clock.wall(end).date()}"
    if format == "csv":
        return download(rows_to_csv(rows).encode("utf-8"), "text/csv; charset=utf-8", f"{stem}.csv")
    if format == "xlsx":
        return download(publication.indicators_workbook({level: rows}, as_of), XLSX, f"{stem}.xlsx")
    return JSONResponse(headers={"Vary": "Accept"}, content={  # the page shares the address (Accept: text/html)
        "period": {"from": clock.iso(start), "to": clock.iso(end), "as_of": clock.iso(as_of)},
        "level": level, "county": county or user.county_code,
        "columns": [{"key": k, "label": gettext(label_)} for k, label_ in COLUMNS],
        "first_violation_recorded": any(f.outcome is not None for f in found),
        "scoring": {"weights": dict(score.weights), "invert": sorted(score.invert),
                    "grades": [list(g) for g in score.grades], "min_registered": score.min_registered,
                    "source": score.source},
        "rows": rows,
    })


def _page_headers(settings: Settings) -> dict[str, str]:
    from web.pages import security_policy

    return {"Content-Security-Policy": security_policy(settings), "Cache-Control": "no-cache",
            "Vary": "Accept, Accept-Language", "X-Content-Type-Options": "nosniff"}


@router.get("/indicators/delegation-review", response_model=None, openapi_extra=SECURITY,
            summary="Delegation review per township × matter: cases, township vs county share, overdue rate, "
                    "withdrawal and delegation candidates (JSON or XLSX)",
            responses={**SIGNED, 200: {"content": {"application/json": {}, XLSX: {}}}})
def get_delegation_review(
    request: Request, repo: Repo,
    until: Annotated[Instant | None, Query(alias="to", description="end of the span, exclusive (default: now)")] = (
        None),
    years: Annotated[int | None, Query(ge=1, le=20, description="length of the span (default: 3, the "
                                                                "configuration's span_years)")] = None,
    county: Annotated[str | None, Query(description="only this county's cases")] = None,
    format: Annotated[Literal["json", "xlsx"], Query(description="json (default) or xlsx")] = "json",
) -> Response:
    """Definitions and thresholds: analytics/delegation_review.py and config/indicators.json."""
    user = reader(request)
    thresholds = Thresholds.from_config(scoring(request).delegation)
    span = years or thresholds.span_years
    now = clock.now()
    end = local(until) or now
    rows = facts.delegation_rows(repo.session, user, end, span, county, request.app.state.calendar, thresholds, now)
    if format == "xlsx":
        return download(publication.review_workbook(rows, min(end, now)), XLSX,
                        f"delegation-review-{clock.wall(end).date()}.xlsx")
    return JSONResponse({"to": clock.iso(end), "years": span, "county": county or user.county_code,
                         "thresholds": {**thresholds.__dict__, "span_years": span},
                         "columns": [{"key": k, "label": gettext(label_)} for k, label_ in delegation_review.COLUMNS],
                         "rows": rows})


@router.get("/publication/annual", response_model=None, openapi_extra=SECURITY,
            summary="The annual publication of a year: XLSX workbook, report as HTML or PDF, GeoPackage or JSON",
            responses={**SIGNED, 200: {"content": {"application/json": {}, "text/html": {}, XLSX: {},
                                                   "application/pdf": {}, GPKG: {}}}})
def get_annual(
    request: Request, repo: Repo,
    year: Annotated[int, Query(ge=2000, le=2100, description="the year published (cases reported in it)")],
    county: Annotated[str | None, Query(description="only this county's cases")] = None,
    format: Annotated[Literal["xlsx", "html", "pdf", "gpkg", "json"],
                      Query(description="xlsx (default), html or pdf (the report with its charts), gpkg (the year's "
                                        "cases as points) or json")] = "xlsx",
) -> Response:
    """Indicators per county, township, village and team, cases by matter, domain, procedure and month, the
    delegation review and a short analysis; no personal data. Same data, same bytes (the generated-at stamp aside)."""
    user = reader(request)
    if user.role == "team_member":  # a team sees its own figures at /indicators; the county's are published
        raise Forbidden(T("the annual publication is for dispatchers, auditors and planners"))
    now = clock.now()
    lang = current_language()
    if format == "json":
        annual = facts.annual(repo.session, user, year, county, request.app.state.calendar, scoring(request), now,
                              lang)
        return JSONResponse({"year": annual.year, "county": annual.county, "as_of": clock.iso(annual.as_of),
                             "levels": annual.levels, "breakdown": annual.breakdown, "review": annual.review,
                             "analysis": publication.analysis(annual, lang)})
    made = AnnualPublication(repo.session, user, year, county, request.app.state.calendar, scoring(request), now,
                             lang)  # only the file asked for: the report draws its charts, never a GeoPackage
    if format == "html":
        return HTMLResponse(made.html())
    if format == "pdf":
        return download(made.pdf(), "application/pdf", f"annual-{year}.pdf")
    if format == "gpkg":
        return download(made.gpkg(), GPKG, f"annual-{year}.gpkg")
    return download(made.workbook(), XLSX, f"annual-{year}.xlsx")
