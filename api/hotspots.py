"""Hotspot analytics over HTTP: Gi* significance (GET /hotspots?mode=significance, answered here), emerging
hot spots (GET /hotspots/emerging) and recurring sites (GET /hotspots/sites). The statistics are
analytics/; this module reads the query, the store and the user's scope, and shapes the answer."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import h3
import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from analytics.emerging import PATTERNS, emerging
from analytics.hotspots import (
    MAX_RES,
    MIN_RES,
    count_cells,
    estimated_cells,
    hotspots,
    points_to_cells,
    study_area,
)
from analytics.sites import params_for
from api.auth import CurrentUser
from api.cases import local
from api.deps import GridGovRoute, get_repo
from api.fastjson import dumps
from api.hotspot_cache import Cells, HotspotCache, scope_key
from api.inputs import Instant
from cases import clock
from gis.errors import InvalidInput, PayloadTooLarge
from i18n import T
from store.cases import Cases
from store.repo import Repository
from store.reports import (
    Box,
    county_outlines,
    cube_of,
    report_places,
    report_points,
    sites_in_store,
    window_days,
)
from store.routers import RouterCache
from store.users import User

router = APIRouter(route_class=GridGovRoute, tags=["map pages"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]

MAX_STUDY_CELLS = 150_000  # the demo county (~700 km²) holds ~99,000 cells at resolution 10, ~690,000 at 11
MAX_CUBE_BINS = 20_000_000
MAX_STEPS = 1_000
MAX_SITE_DAYS = 1830  # five years of weekly series per site
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
Res = Annotated[int, Query(ge=MIN_RES, le=MAX_RES, description="H3 resolution (5–11)")]
Ring = Annotated[int, Query(ge=1, le=5, description="neighbours: the cells within k grid steps (the cell "
                                                     "itself included)")]
Since = Annotated[Instant | None, Query(alias="from", description="start of the window")]
Until = Annotated[Instant | None, Query(alias="to", description="end of the window, exclusive (default now)")]
Days = Annotated[int | None, Query(ge=1, le=3650, description="the window as this many days up to now "
                                                             "(instead of `from`)")]
Fdr = Annotated[bool, Query(description="Benjamini–Hochberg false-discovery-rate correction")]


def _iso(value: datetime) -> str:
    return clock.to_local(value).isoformat(timespec="seconds")


def _window(since: datetime | None, until: datetime | None, days: int | None, default_days: int) -> tuple[
        datetime, datetime]:
    if days is not None and since is not None:
        raise InvalidInput(T("give the window as `from` (and `to`) or as `days`, not both"), where="days")
    try:
        end = local(until) or clock.now()
        start = local(since) or end - timedelta(days=days or default_days)
    except OverflowError:  # year 1 or 9999 moved to the county's zone, or back by `days`
        start = end = EARLIEST - timedelta(days=1)
    if not (EARLIEST <= start and end <= LATEST):
        raise InvalidInput(T("the window must lie between 1970 and 2200"), where="from")
    if start >= end:
        raise InvalidInput(T("the window is empty: `from` must be before `to`"), where="from")
    return start, end


def _matters(repo: Repository, text: str | None) -> list[str] | None:
    matters = [m.strip() for m in text.split(",") if m.strip()] if text else None
    if matters:
        unknown = sorted(set(matters) - {m.code for m in repo.matters()})
        if unknown:
            raise InvalidInput(T("unknown matter code(s) {codes}; see GET /matters", codes=", ".join(unknown)),
                               where="matter")
    return matters


def _outline(cell: str) -> list[float]:
    return [round(v, 6) for lat, lon in h3.cell_to_boundary(cell) for v in (lon, lat)]


def outlines(cells: list[str]) -> list[list[float]]:
    """Each cell's outline as a flat lon,lat list rounded to 6 decimals (about 0.1 m), as `_outline` gives it,
    rounded at once with numpy (a quarter of the time for 10^4 cells)."""
    rings = [h3.cell_to_boundary(c) for c in cells]
    sizes = [2 * len(r) for r in rings]
    flat = np.fromiter(itertools.chain.from_iterable(itertools.chain.from_iterable(rings)), np.float64,
                       count=sum(sizes))
    values = np.round(flat.reshape(-1, 2)[:, ::-1], 6).ravel().tolist()
    ends = itertools.accumulate(sizes)
    out, start = [], 0
    for end in ends:
        out.append(values[start:end])
        start = end
    return out


def centres(cells: list[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(lon, lat) of each cell's centre."""
    pairs = np.array([h3.cell_to_latlng(c) for c in cells], dtype=np.float64).reshape(-1, 2)
    return pairs[:, 1].copy(), pairs[:, 0].copy()


def _in_box(cell: str, box: Box | None) -> bool:
    if box is None:
        return True
    lat, lon = h3.cell_to_latlng(cell)
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def _guard_area(outlines: list[Any], res: int) -> None:
    """413 before the expensive part when the county holds too many cells at `res`."""
    n = estimated_cells(outlines, res)
    if n > MAX_STUDY_CELLS:
        raise PayloadTooLarge(T("{n} cells to test is over {limit}; lower res", n=n, limit=MAX_STUDY_CELLS),
                              where="res")


def _finite(x: float, digits: int = 12) -> float:
    return round(float(x), digits) if math.isfinite(x) else 0.0


def significance(repo: Repository, user: User, cache: HotspotCache, *, res: int, start: datetime, end: datetime,
                 sliding: bool, matters: list[str] | None, box: Box | None, k: int, fdr: bool) -> Response:
    """Gi* over the county's cells at `res` (every report of the window, wherever the view is); the answer keeps
    the cells inside `bbox` that hold a report or are significant. Kept for the next request until a report it
    counted changes (api/hotspot_cache.py); `sliding`: the window is the last so many days up to now."""
    if res < MIN_RES:
        raise InvalidInput(T("significance needs an H3 resolution from {low} to {high}", low=MIN_RES, high=MAX_RES),
                           where="res")
    scope = Cases(repo.session).scope_filter(user)
    day = window_days(start, end)[1] - timedelta(days=1)

    def compute() -> tuple[dict[str, Any], Cells]:
        lon, lat = report_places(repo.session, start, end, matters=matters, case_scope=scope)
        counts = count_cells(points_to_cells(lon, lat, res))
        outlines_ = county_outlines(repo, day, user.county_code)
        _guard_area(outlines_, res)
        cells = study_area(counts, outlines_, res, k)
        if len(cells) > MAX_STUDY_CELLS:
            raise PayloadTooLarge(T("{n} cells to test is over {limit}; lower res", n=len(cells),
                                    limit=MAX_STUDY_CELLS), where="res")
        result = hotspots(cells, np.array([counts.get(c, 0) for c in cells], dtype=np.float64), k=k, fdr=fdr)
        n, b = result.counts.astype(np.int64).tolist(), result.bins.astype(np.int64).tolist()
        kept = sorted((i for i in range(len(cells)) if n[i] or b[i]), key=lambda i: (-b[i], -n[i], cells[i]))
        shown = [cells[i] for i in kept]
        items = [{"h": cells[i], "n": n[i], "z": _finite(result.z[i]), "p": _finite(result.p[i], 15), "bin": b[i],
                  "b": outline} for i, outline in zip(kept, outlines(shown), strict=True)]
        bins = {str(v): int((result.bins == v).sum()) for v in range(-3, 4)}
        head = {"mode": "significance", "res": res, "k": k, "fdr": fdr, "matters": matters, "total": len(lon),
                "tested": len(cells), "bins": bins}
        return head, Cells.of(items, *centres(shown))

    key = ("significance", res, k, fdr, tuple(matters or ()), scope_key(user), day,
           end - start if sliding else (start, end))
    head, cells = cache.answer(repo.session, key, (start, end), compute, sliding=sliding, matters=matters,
                               case_scope=scope)
    body = cells.body({**head, "from": _iso(start), "to": _iso(end)}, box,
                      lambda chosen: max((c["n"] for c in chosen), default=0))
    return Response(body, media_type="application/json")


@router.get("/hotspots/emerging", summary="Emerging hot spots: each H3 cell's space-time pattern (new, "
            "intensifying, persistent, …) over weekly or daily steps", response_model=None)
def emerging_hotspots(
    user: CurrentUser, repo: Repo, res: Res = 9, matter: Annotated[str | None, Query(
        description="matter codes, comma-separated (default all)")] = None,
    since: Since = None, until: Until = None, days: Days = None,
    step: Annotated[Literal["week", "day"], Query(description="the cube's time step")] = "week",
    k: Ring = 1, time_k: Annotated[int, Query(ge=0, le=8, description="earlier steps in a bin's neighbourhood")]
    = 1, confidence: Annotated[Literal["0.90", "0.95", "0.99"], Query(description="significance of a bin")]
    = "0.90", fdr: Fdr = True,
    bbox: Annotated[str | None, Query(description="west,south,east,north: only cells whose centre is inside")]
    = None,
) -> JSONResponse:
    """The window (default the last 12 weeks) is cut into whole steps counted back from its end; every cell of
    the county at `res` is tested (zeros included). Cells with pattern `none` are left out of `cells`;
    `patterns` counts every pattern. Definitions: the README's "Hotspots" section and analytics/emerging.py."""
    from api.wall import _bbox  # here, not at the top: api.wall imports this module for GET /hotspots

    start, end = _window(since, until, days, 84)
    box = _bbox(bbox)
    matters = _matters(repo, matter)
    step_days = 7 if step == "week" else 1
    first, last = window_days(start, end)
    if (last - first).days < step_days:
        raise InvalidInput(T("the window holds no whole week; widen it or use step=day") if step == "week"
                           else T("the window holds no whole day; widen it"), where="from")
    if (last - first).days // step_days > MAX_STEPS:
        raise PayloadTooLarge(T("more than {limit} time steps; use step=week or a shorter window", limit=MAX_STEPS),
                              where="step")
    points = report_points(repo.session, start, end, matters=matters,
                           case_scope=Cases(repo.session).scope_filter(user))
    outlines = county_outlines(repo, last - timedelta(days=1), user.county_code)
    _guard_area(outlines, res)
    cells, counts, first_step, n_steps = cube_of(points, outlines, first, last, step_days, res, k)
    if len(cells) * n_steps > MAX_CUBE_BINS:
        raise PayloadTooLarge(T("{n} cube bins is over {limit}; lower res, use weeks or a shorter window",
                                n=len(cells) * n_steps, limit=MAX_CUBE_BINS), where="res")
    result = emerging(cells, counts, k=k, time_k=time_k, confidence=float(confidence), fdr=fdr)
    tally = dict.fromkeys(PATTERNS, 0)
    out: list[dict[str, Any]] = []
    for i, cell in enumerate(result.cells):
        pattern = result.patterns[i]
        tally[pattern] += 1
        if pattern == "none" or not _in_box(cell, box):
            continue
        tr, p, slope = result.trends[i]
        out.append({"h": cell, "pattern": pattern, "n": int(counts[i].sum()), "hot_steps": int(result.hot[i].sum()),
                    "cold_steps": int(result.cold[i].sum()), "z_final": _finite(result.z[i, -1]), "trend": tr,
                    "trend_p": _finite(p, 9), "trend_slope": _finite(slope, 9),
                    "counts": counts[i].astype(int).tolist(), "b": _outline(cell)})
    out.sort(key=lambda c: (PATTERNS.index(c["pattern"]), -c["n"], c["h"]))
    steps = [first_step + timedelta(days=step_days * t) for t in range(n_steps)]
    return JSONResponse({
        "res": res, "k": k, "time_k": time_k, "step": step, "confidence": float(confidence), "fdr": fdr,
        "from": _iso(start), "to": _iso(end), "matters": matters, "total": int(counts.sum()),
        "steps": [d.isoformat() for d in steps], "tested": len(cells), "patterns": tally, "cells": out})


@router.get("/hotspots/sites", summary="Recurring sites of one category (e.g. coal-slurry drying yards), "
            "found by density clustering, with their history, trend, place and team", response_model=None)
def recurring_sites(
    user: CurrentUser, repo: Repo, request: Request,
    matter: Annotated[str, Query(description="one matter code", min_length=1, max_length=64)],
    since: Since = None, until: Until = None, days: Days = None,
    eps_m: Annotated[float | None, Query(ge=1, le=5000, description="cluster radius in metres (default: the "
                                                                    "matter's attributes.sites, else 100)")] = None,
    min_reports: Annotated[int | None, Query(ge=2, le=10_000, description="reports within eps_m of a core "
                                                                         "report (default 5)")] = None,
    min_weeks: Annotated[int | None, Query(ge=1, le=520, description="distinct active weeks (default 2)")]
    = None, res: Res = 9,
) -> Response:
    """Sites over the window (default 120 days up to now), oldest first. Each site's pattern is the
    emerging-hot-spot pattern of the cell (at `res`) holding its centre, over weekly steps."""
    start, end = _window(since, until, days, 120)
    if end - start > timedelta(days=MAX_SITE_DAYS):
        raise InvalidInput(T("a site search spans at most {days} days; narrow the window", days=MAX_SITE_DAYS),
                           where="from")
    _matters(repo, matter)
    spec = next(m for m in repo.matters() if m.code == matter)
    try:
        params = params_for(spec.attributes, eps_m=eps_m, min_reports=min_reports, min_weeks=min_weeks)
    except ValueError as e:  # the matter's own attributes are out of range
        raise InvalidInput(T("the site parameters of {matter} are out of range: {problem}", matter=matter,
                             problem=str(e)), where="matter") from None
    day = window_days(start, end)[1] - timedelta(days=1)
    _guard_area(county_outlines(repo, day, user.county_code), res)
    routers: RouterCache = request.app.state.routers
    scope = Cases(repo.session).scope_filter(user)
    sliding = since is None and until is None  # "the last `days` days up to now": the window moves with the clock

    def compute() -> bytes:
        found = sites_in_store(repo, routers, spec, start, end, params, res=res, case_scope=scope,
                               county=user.county_code)
        return dumps([s.as_json() for s in found])

    # Kept per worker like GET /hotspots (api/hotspot_cache.py): the sites are a function of the matter's reports
    # in the window, the outline and the routing in force (its counter is part of the check); the big screen
    # asks again every minute, and every wall's coal button asks the same.
    cache: HotspotCache = request.app.state.hotspots
    key = ("sites", matter, params, res, scope_key(user), day, end - start if sliding else (start, end))
    sites = cache.answer(repo.session, key, (start, end), compute, sliding=sliding, matters=[matter],
                         case_scope=scope)
    head = dumps({"matter": matter, "from": _iso(start), "to": _iso(end), "eps_m": params.eps_m,
                  "min_reports": params.min_reports, "min_weeks": params.min_weeks, "res": res})
    return Response(head[:-1] + b',"sites":' + sites + b"}", media_type="application/json")

