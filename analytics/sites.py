"""Recurring sites: the reports of one category clustered by density over metres (DBSCAN), each cluster a
site with its first and last report, active weeks, weekly trend and, once placed by the router, its village,
township and responsible team.

Clustering: scikit-learn's DBSCAN (haversine-free: points are projected first to a transverse Mercator
centred on the reports, exact to well under a millimetre across a county) with `eps_m` metres and
`min_reports` reports per core point. A report within `eps_m` of no core point is noise: it belongs to no
site. Parameters are data: a matter's `attributes["sites"] = {"eps_m": …, "min_reports": …,
"min_weeks": …}` overrides the defaults (SiteParams); a cluster active in fewer than `min_weeks` distinct
weeks is a one-off burst, not a recurring site, and is dropped.

Weeks are the county's ISO weeks (Monday to Sunday, local dates). A site's trend is the Mann–Kendall test
of its reports per week over the weeks of the analysis window (analytics.emerging.trend).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Transformer
from sklearn.cluster import DBSCAN

from analytics.emerging import trend
from analytics.hotspots import Floats

DEFAULT_EPS_M = 100.0
DEFAULT_MIN_REPORTS = 5
DEFAULT_MIN_WEEKS = 2


@dataclass(frozen=True)
class SiteParams:
    """Density clustering parameters of one matter."""

    eps_m: float = DEFAULT_EPS_M
    min_reports: int = DEFAULT_MIN_REPORTS
    min_weeks: int = DEFAULT_MIN_WEEKS

    def __post_init__(self) -> None:
        if not (1.0 <= self.eps_m <= 5000.0):
            raise ValueError("eps_m must lie between 1 and 5000 metres")
        if not (2 <= self.min_reports <= 10_000):
            raise ValueError("min_reports must lie between 2 and 10000")
        if not (1 <= self.min_weeks <= 520):
            raise ValueError("min_weeks must lie between 1 and 520")


def params_for(attributes: Mapping[str, Any] | None, **overrides: float | int | None) -> SiteParams:
    """A matter's parameters: its attributes["sites"] over the defaults, explicit overrides over both.
    ValueError (saying which) for anything that is not a number in range: attributes are free-form data."""
    given = (attributes or {}).get("sites") or {}
    if not isinstance(given, Mapping):
        raise ValueError("attributes.sites must be an object such as {\"eps_m\": 100, \"min_reports\": 5}")
    merged = {**given, **{k: v for k, v in overrides.items() if v is not None}}
    out: dict[str, Any] = {}
    for name, kind in (("eps_m", float), ("min_reports", int), ("min_weeks", int)):
        if name not in merged:
            continue
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or (
                kind is int and value != int(value)):
            raise ValueError(f"{name} must be {'a whole number' if kind is int else 'a number'}, not {value!r}")
        out[name] = kind(value)
    return SiteParams(**out)


def project_m(lon: Floats, lat: Floats) -> Floats:
    """(x, y) metres in a transverse Mercator centred on the points."""
    lon0, lat0 = float(np.mean(lon)), float(np.mean(lat))
    tm = Transformer.from_crs("EPSG:4326", f"+proj=tmerc +lon_0={lon0} +lat_0={lat0} +k=1 +ellps=WGS84 +units=m",
                              always_xy=True)
    x, y = tm.transform(lon, lat)
    return np.column_stack([x, y])


def cluster(lon: Floats, lat: Floats, eps_m: float, min_reports: int) -> npt.NDArray[np.int64]:
    """DBSCAN labels per report (−1: noise), clusters numbered from 0 by their first report's index."""
    labels = np.full(len(lon), -1, dtype=np.int64)
    xy = project_m(lon, lat) if len(lon) else np.zeros((0, 2))
    # A report a quarter of the globe from the others has no transverse Mercator position (infinite x or y): it
    # is far from every site, so it is noise, and the rest are clustered without it.
    ok = np.flatnonzero(np.isfinite(xy).all(axis=1))
    if len(ok):
        labels[ok] = DBSCAN(eps=eps_m, min_samples=min_reports).fit_predict(xy[ok]).astype(np.int64)
    return labels


def iso_week(d: date) -> str:
    """'2026-W07'."""
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def week_starts(start: date, end: date) -> list[date]:
    """The Mondays of the weeks meeting [start, end)."""
    first = start - timedelta(days=start.weekday())
    return [first + timedelta(weeks=i) for i in range(max(1, math.ceil((end - first).days / 7)))]


@dataclass
class Site:
    """One recurring site."""

    id: int
    lon: float
    lat: float
    radius_m: float  # the farthest member from the centre
    reports: int
    first_seen: datetime
    last_seen: datetime
    first_week: str
    last_week: str
    active_weeks: int
    weekly: list[int]  # reports per week of the window
    trend: str
    trend_p: float
    slope_per_week: float  # Sen's slope of the weekly counts
    members: list[int] = field(repr=False)  # indices into the input
    pattern: str = "none"  # the emerging-hot-spot pattern of its cell, when computed
    village: str | None = None
    village_name: str | None = None
    township: str | None = None
    township_name: str | None = None
    team: str | None = None
    team_name: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The site as JSON fields (times as given, with their offset)."""
        return {"id": self.id, "lon": self.lon, "lat": self.lat, "radius_m": self.radius_m, "reports": self.reports,
                "first_seen": self.first_seen.isoformat(timespec="seconds"),
                "last_seen": self.last_seen.isoformat(timespec="seconds"), "first_week": self.first_week,
                "last_week": self.last_week, "active_weeks": self.active_weeks, "weekly": self.weekly,
                "trend": self.trend, "trend_p": self.trend_p, "slope_per_week": self.slope_per_week,
                "pattern": self.pattern, "village": self.village, "village_name": self.village_name,
                "township": self.township, "township_name": self.township_name, "team": self.team,
                "team_name": self.team_name}


def find_sites(lon: Floats, lat: Floats, at: Sequence[datetime], start: date, end: date,
               params: SiteParams) -> list[Site]:
    """Sites among reports of one category (local times `at`), the window's weeks running over [start, end).

    Sites are numbered by their first report, then by longitude (stable for the same input)."""
    labels = cluster(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), params.eps_m,
                     params.min_reports)
    xy = project_m(lon, lat) if len(lon) else np.zeros((0, 2))
    weeks = week_starts(start, end)
    sites: list[Site] = []
    for label in sorted(set(labels.tolist()) - {-1}):
        members = np.flatnonzero(labels == label)
        times = [at[i] for i in members.tolist()]
        days = [t.date() for t in times]
        active = {d - timedelta(days=d.weekday()) for d in days}
        if len(active) < params.min_weeks:
            continue
        weekly = [0] * len(weeks)
        for d in days:
            i = (d - weeks[0]).days // 7
            if 0 <= i < len(weeks):
                weekly[i] += 1
        centre = xy[members].mean(axis=0)
        radius = float(np.max(np.hypot(*(xy[members] - centre).T)))
        tr, p, slope = trend(np.array(weekly, dtype=np.float64))
        first, last = min(times), max(times)
        sites.append(Site(
            id=0, lon=round(float(np.mean(lon[members])), 7), lat=round(float(np.mean(lat[members])), 7),
            radius_m=round(radius, 1), reports=len(members), first_seen=first, last_seen=last,
            first_week=iso_week(first.date()), last_week=iso_week(last.date()), active_weeks=len(active),
            weekly=weekly, trend=tr, trend_p=round(p, 6), slope_per_week=round(slope, 4),
            members=members.tolist()))
    sites.sort(key=lambda s: (s.first_seen, s.lon))
    for n, s in enumerate(sites, start=1):
        s.id = n
    return sites
