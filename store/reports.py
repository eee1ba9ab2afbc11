"""The store side of the hotspot analytics: report points (historical incidents plus the cases within a
scope) as arrays, the county outlines that make the study area, and recurring sites placed by the router.

Both tables are read, as GET /hotspots always counted them: deployments keep imported history as incidents and
new reports as cases. (The demo's live cases replay its last fortnight at today's dates, so on the demo those
reports count once in the past and once now.) The statistics themselves are analytics/ (pure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from analytics.emerging import bins_to_cube, count_bins, epoch_days, patterns_of, whole_steps
from analytics.hotspots import Floats, points_to_cells
from analytics.sites import Site, SiteParams, find_sites
from cases import clock
from gis.errors import NotFound
from gis.model import Matter
from store.repo import Repository
from store.routers import RouterCache
from store.schema import CaseRow, IncidentRow, VersionRow

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ReportPoints:
    """Located reports: lon, lat, local time (the county's clock) and matter code of each."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    at: list[datetime]
    matter: list[str]

    def __len__(self) -> int:
        return len(self.lon)


def _sources(columns: tuple[str, ...], start: datetime, end: datetime, matters: list[str] | None, bbox: Box | None,
             case_scope: Any) -> list[sa.Select[Any]]:
    """One query per table: `columns` of the incidents, and of the located cases within `case_scope`, reported in
    [start, end), optionally of some matters, inside a box."""
    out = []
    for row, extra in ((IncidentRow, sa.true()),
                       (CaseRow, sa.and_(case_scope if case_scope is not None else sa.true(),
                                         CaseRow.lon.is_not(None)))):
        conds: list[Any] = [row.reported_at >= start, row.reported_at < end, extra]
        if matters:
            conds.append(row.matter_code.in_(matters))
        if bbox is not None:
            conds += [row.lon.between(bbox[0], bbox[2]), row.lat.between(bbox[1], bbox[3])]
        out.append(sa.select(*(getattr(row, c) for c in columns)).where(*conds))
    return out


def report_points(session: Session, start: datetime, end: datetime, *, matters: list[str] | None = None,
                  bbox: Box | None = None, case_scope: Any = None) -> ReportPoints:
    """Incidents and located cases reported in [start, end), optionally of some matters, inside a box, and
    (cases only) within an SQL scope condition; ordered by time then place, so the same data gives the same
    arrays on every backend."""
    rows: list[tuple[float, float, datetime, str]] = []
    for query in _sources(("lon", "lat", "reported_at", "matter_code"), start, end, matters, bbox, case_scope):
        found: list[Any] = list(session.execute(query))  # cases' lon/lat are optional columns, filtered above
        rows += [(float(lon), float(lat), clock.to_local(at), str(m)) for lon, lat, at, m in found]
    rows.sort(key=lambda r: (r[2], r[0], r[1], r[3]))
    return ReportPoints(np.array([r[0] for r in rows], dtype=np.float64),
                        np.array([r[1] for r in rows], dtype=np.float64), [r[2] for r in rows], [r[3] for r in rows])


def report_places(session: Session, start: datetime, end: datetime, *, matters: list[str] | None = None,
                  bbox: Box | None = None, case_scope: Any = None) -> tuple[Floats, Floats]:
    """(lon, lat) of the same reports as `report_points`, in no particular order: all that counting them per cell
    needs, without reading or converting a time per report."""
    lon: list[float] = []
    lat: list[float] = []
    for query in _sources(("lon", "lat"), start, end, matters, bbox, case_scope):
        for x, y in session.execute(query):
            lon.append(x)
            lat.append(y)
    return np.array(lon, dtype=np.float64), np.array(lat, dtype=np.float64)


def reports_stamp(session: Session, slivers: list[tuple[datetime, datetime]], *, matters: list[str] | None = None,
                  case_scope: Any = None) -> tuple[int, ...]:
    """In one round trip, what tells a hotspot answer it may still stand (api/hotspot_cache.py): rows and highest
    id of the incidents, the cases and the boundary versions, then the reports (as `report_points` selects them)
    in each of the `slivers` [start, end)."""
    def scalar(q: sa.Select[Any]) -> sa.ScalarSelect[Any]:
        return q.scalar_subquery()

    parts: list[Any] = []
    for row in (IncidentRow, CaseRow, VersionRow):
        parts += [scalar(sa.select(sa.func.count()).select_from(row)), scalar(sa.select(sa.func.max(row.id)))]
    for start, end in slivers:
        for query in _sources(("lon",), start, end, matters, None, case_scope):
            parts.append(scalar(sa.select(sa.func.count()).select_from(query.subquery())))
    return tuple(int(v or 0) for v in session.execute(sa.select(*parts)).one())


def window_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The local dates [first, last) a window [start, end) touches (a window ending mid-day keeps that day)."""
    s, e = clock.to_local(start), clock.to_local(end)
    last = e.date() if e.time() == time(0) else e.date() + timedelta(days=1)
    return s.date(), last


def county_outlines(repo: Repository, day: date, county: str | None = None) -> list[BaseGeometry]:
    """The county outlines of the version in force on `day` (none without one): the hotspots' study area."""
    try:
        version = repo.version_at(day)
    except NotFound:
        return []
    assert version.id is not None
    return [u.geometry for u in repo.units(version.id, "county")
            if u.geometry is not None and (county is None or u.code == county)]


def cube_of(points: ReportPoints, outlines: list[BaseGeometry], first: date, last: date, step_days: int, res: int,
            k: int) -> tuple[list[str], Floats, date, int]:
    """(cells, counts cells × steps, first step's start, steps) of reports over the window's whole steps."""
    start, n_steps = whole_steps(first, last, step_days)
    bins = count_bins(points.lon, points.lat, epoch_days(a.date() for a in points.at), start, step_days, n_steps,
                      res)  # the one counting function, shared with `gridgov hotspot-cube` (etl/hotspot_cube.py)
    cells, counts = bins_to_cube(bins, outlines, res, k, n_steps)
    return cells, counts, start, n_steps


def sites_in_store(repo: Repository, routers: RouterCache, matter: Matter, start: datetime, end: datetime,
                   params: SiteParams, *, res: int = 9, k: int = 1, time_k: int = 1, case_scope: Any = None,
                   county: str | None = None) -> list[Site]:
    """The recurring sites of one matter in a window, each with its emerging-hot-spot pattern (weekly cube at
    `res`, the pattern of the cell holding its centre) and its village, township and team (the router of the
    version in force on the window's last day; left empty without one)."""
    points = report_points(repo.session, start, end, matters=[matter.code], case_scope=case_scope)
    first, last = window_days(start, end)
    found = find_sites(points.lon, points.lat, points.at, first, last, params)
    if not found:
        return found
    day = last - timedelta(days=1)
    outlines = county_outlines(repo, day, county)
    cells, counts, _, n_steps = cube_of(points, outlines, first, last, 7, res, k)
    if n_steps:
        homes = points_to_cells(np.array([s.lon for s in found]), np.array([s.lat for s in found]), res)
        pattern = patterns_of(cells, counts, homes, k=k, time_k=time_k)  # a trend test only where a site is
        for s, home in zip(found, homes, strict=True):
            s.pattern = pattern.get(home, "none")
    try:
        router = routers.router_at(repo, day)
    except NotFound:
        return found
    for s in found:
        decision = router.explain(s.lon, s.lat, matter.code, day)
        units = {u.layer: u for u in decision.units if u.layer in ("village", "township")}
        if "village" in units:
            s.village, s.village_name = units["village"].code, units["village"].name
        if "township" in units:
            s.township, s.township_name = units["township"].code, units["township"].name
        s.team, s.team_name = decision.team, decision.team_name
    return found
