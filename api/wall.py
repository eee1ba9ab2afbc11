"""Data for the map pages: a compact live feed of cases and H3 hotspots by category and time window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import h3
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from analytics.hotspots import count_cells, points_to_cells
from api.auth import CurrentUser
from api.cases import local
from api.deps import GridGovRoute, get_repo, resolve_version
from api.fastjson import FastJSONResponse
from api.hotspot_cache import Cells, HotspotCache, scope_key
from api.hotspots import centres, outlines, significance
from api.inputs import MAX_INT, Id, Instant
from cases import clock
from gis.errors import InvalidInput, PayloadTooLarge
from i18n import T
from store.cases import OPEN_STATES, Cases
from store.repo import Repository
from store.reports import report_places
from store.schema import CaseEventRow, CaseRow, unix_seconds

router = APIRouter(route_class=GridGovRoute, tags=["map pages"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]

# The order of a feed row's columns; the pages read rows by these names (GET /wall/cases gives them too).
FEED_COLUMNS = ("id", "lon", "lat", "status", "matter", "team", "deadline", "escalation_level", "triage",
                "township", "linked_to", "reported_at", "updated_at")
CURSOR_MARGIN = timedelta(seconds=10)  # a transaction that began before a poll may commit just after it
MAX_HEXES = 50_000


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 with the county's offset, to the second."""
    return clock.to_local(value).isoformat(timespec="seconds") if value is not None else None


@router.get("/wall/cases", summary="A compact feed of cases for the map wall: open ones and recent changes",
            response_model=None)
def wall_cases(user: CurrentUser, repo: Repo, request: Request,
               since: Annotated[Instant | None, Query(description="cursor from the previous answer")] = None,
               recent_hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24.0,
               limit: Annotated[int, Query(ge=1, le=200_000)] = 100_000,
               county: Annotated[str | None, Query(description="only this county's cases", max_length=64)] = None,
               ) -> JSONResponse:
    """Without `since`: every open case in your scope plus those finished in the last `recent_hours`.
    With `since` (the `cursor` of the previous answer): every case changed since then, finished ones
    included, so the page can update or drop them. Rows are arrays in the order of `columns`; a row may
    come twice across polls (the cursor overlaps on purpose), so pages upsert by id."""
    now = clock.now()
    cursor = local(since)
    if cursor is not None and cursor > now + timedelta(minutes=10):
        raise InvalidInput(T("since lies in the future; pass the cursor of the previous answer"), where="since")
    cases = Cases(repo.session)
    if cursor is None:
        change = sa.or_(CaseRow.status.in_(OPEN_STATES), CaseRow.updated_at >= now - timedelta(hours=recent_hours))
    else:
        # A step done offline reaches the server later than its time (`updated_at`): what the server recorded
        # since the cursor counts too.
        change = sa.or_(CaseRow.updated_at >= cursor, CaseRow.id.in_(
            sa.select(CaseEventRow.case_id).where(CaseEventRow.recorded_at >= cursor)))
    # The three times come as Unix seconds and are written at once (10^4 cases: 3·10^4 of them, the feed's
    # largest cost when read and formatted one by one).
    dialect = repo.session.get_bind().dialect.name
    columns = (CaseRow.id, CaseRow.lon, CaseRow.lat, CaseRow.status, CaseRow.matter_code, CaseRow.team_code,
               unix_seconds(CaseRow.deadline, dialect), CaseRow.escalation_level, CaseRow.triage,
               CaseRow.township_code, CaseRow.linked_to, unix_seconds(CaseRow.reported_at, dialect),
               unix_seconds(CaseRow.updated_at, dialect))
    where = [cases.scope_filter(user), change] + ([CaseRow.county_code == county] if county is not None else [])
    query = sa.select(*columns).where(*where).order_by(CaseRow.id).limit(limit + 1)
    rows: list[Any] = list(repo.session.execute(query))  # co-owned cases included (the scope filter has them)
    if len(rows) > limit:
        raise PayloadTooLarge(T("more than {limit} cases changed; poll more often or raise limit", limit=limit),
                              where="limit")
    times = iter(clock.iso_seconds([t for r in rows for t in (r[6], r[11], r[12])]))
    out = [[r[0], r[1], r[2], r[3], r[4], r[5], next(times), r[7], r[8], r[9], r[10], next(times), next(times)]
           for r in rows]
    return FastJSONResponse({
        "now": _iso(now), "cursor": _iso(now - CURSOR_MARGIN), "columns": list(FEED_COLUMNS),
        "open_states": sorted(OPEN_STATES), "refresh_seconds": request.app.state.settings.wall_refresh_seconds,
        "cases": out})


@router.get("/hotspots", summary="Reports counted per H3 cell for a category and a time window",
            response_model=None)
def hotspots(
    user: CurrentUser,
    repo: Repo,
    request: Request,
    res: Annotated[int, Query(ge=4, le=11, description="H3 resolution (pages follow the zoom)")] = 7,
    matter: Annotated[str | None, Query(description="matter codes, comma-separated (default all)")] = None,
    since: Annotated[Instant | None, Query(alias="from", description="start of the window (default 30 days ago)")]
    = None,
    until: Annotated[Instant | None, Query(alias="to", description="end of the window, exclusive (default now)")]
    = None,
    days: Annotated[int | None, Query(ge=1, le=3650, description="the window as this many days up to now, by the "
                                      "server's clock (instead of `from`)")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north in WGS84")] = None,
    min_count: Annotated[int, Query(ge=1, le=MAX_INT)] = 1,
    mode: Annotated[Literal["counts", "significance"], Query(
        description="counts: reports per cell; significance: Getis–Ord Gi* z-score, p-value and hot/cold bin "
                    "(±3/±2/±1 at 99/95/90 %) per cell, tested over the whole county")] = "counts",
    k: Annotated[int, Query(ge=1, le=5, description="significance: neighbours within k grid steps")] = 1,
    fdr: Annotated[bool, Query(description="significance: Benjamini–Hochberg correction")] = True,
) -> Response:
    """Historical incidents plus the cases in your scope, counted per cell of resolution `res`. Each cell
    comes with its outline (a flat lon,lat list) so a page draws it without an H3 library. With
    `mode=significance` each cell also has `z`, `p` and `bin` (analytics/hotspots.py; README "Hotspots"). Answers
    over the whole county are kept per worker until a report they count changes (api/hotspot_cache.py)."""
    if days is not None and since is not None:
        raise InvalidInput(T("give the window as `from` (and `to`) or as `days`, not both"), where="days")
    end = local(until) or clock.now()
    start = local(since) or end - timedelta(days=days or 30)
    if start >= end:
        raise InvalidInput(T("the window is empty: `from` must be before `to`"), where="from")
    box = _bbox(bbox)
    matters = [m.strip() for m in matter.split(",") if m.strip()] if matter else None
    if matters:
        known = {m.code for m in repo.matters()}
        unknown = sorted(set(matters) - known)
        if unknown:
            raise InvalidInput(T("unknown matter code(s) {items}; see GET /matters", items=', '.join(unknown)),
                               where="matter")
    cache: HotspotCache = request.app.state.hotspots
    sliding = since is None and until is None  # "the last `days` days up to now": the window moves with the clock
    if mode == "significance":
        return significance(repo, user, cache, res=res, start=start, end=end, sliding=sliding, matters=matters,
                            box=box, k=k, fdr=fdr)
    scope = Cases(repo.session).scope_filter(user)

    def compute() -> tuple[dict[str, Any], Cells]:
        # The box filters reports, not cells (a cell on its edge counts only the reports inside): with a box the
        # answer is computed afresh; the whole county is what pages ask first, and keep asking.
        lon, lat = report_places(repo.session, start, end, matters=matters, bbox=box, case_scope=scope)
        counts = count_cells(points_to_cells(lon, lat, res))
        cells = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        if len(cells) > MAX_HEXES:
            raise PayloadTooLarge(T("{n} cells is over {MAX_HEXES}; zoom in, narrow the window or lower res",
                                    n=len(cells), MAX_HEXES=MAX_HEXES), where="res")
        items = [{"h": c, "n": counts[c], "b": b} for c, b in zip(cells, outlines(cells), strict=True)]
        return {"res": res, "matters": matters, "total": len(lon)}, Cells.of(items, *centres(cells))

    if box is None:
        key = ("counts", res, min_count, tuple(matters or ()), scope_key(user),
               end - start if sliding else (start, end))
        head, cells = cache.answer(repo.session, key, (start, end), compute, sliding=sliding, matters=matters,
                                   case_scope=scope)
    else:
        head, cells = compute()
    return Response(cells.body({**head, "from": _iso(start), "to": _iso(end)}, None,
                               lambda chosen: chosen[0]["n"] if chosen else 0), media_type="application/json")


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(T("bbox must be four numbers: west,south,east,north"), where="bbox") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(T("bbox must satisfy -180 ≤ west ≤ east ≤ 180 and -90 ≤ south ≤ north ≤ 90"), where="bbox")
    return west, south, east, north


@router.get("/cells", summary="The H3 cells of a version's cell-based units, each with its outline and unit",
            response_model=None)
def cells(user: CurrentUser, repo: Repo, version: Id | None = None) -> JSONResponse:
    """For pages that let a planner click a cell and move it to another unit: outlines as flat lon,lat lists."""
    v = resolve_version(repo, version)
    assert v.id is not None
    out = []
    for unit in repo.units(v.id):
        for cell in unit.cells or []:
            ring = h3.cell_to_boundary(cell)
            out.append({"h": cell, "unit": unit.code, "layer": unit.layer, "parent_code": unit.parent_code,
                        "b": [round(x, 7) for lat, lon in ring for x in (lon, lat)]})
    return JSONResponse({"version": v.id, "cells": out})
