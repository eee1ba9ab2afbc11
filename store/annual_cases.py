"""The year's cases as a GeoPackage layer for the annual publication, and the townships its maps draw.

Each case is attributed under the boundary version in force on the day (county clock) it was reported: when the
case was routed under that version its recorded township, village and grid stand; otherwise (a version published
later with a back-dated start, or the case rerouted) its point is located again in that version's units. A case
reported on a day no version was in force keeps `version` empty and no unit. A case with no point (an address
only) keeps its recorded units and an empty geometry.

No personal data: no reporter, no description, no address, no photo, no party, no raw coordinates; only the case
number, its matter, procedure, team, place, dates, status and outcome.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import geopandas as gpd
import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from cases import clock
from store.indicator_facts import _grid, check_reader, matters, version_in_force
from store.schema import CaseRow, TeamRow, UnitRow
from store.users import User

LAYERS = ("township", "village", "grid")
COLUMNS = ("case_id", "reported_at", "month", "status", "matter", "matter_name", "domain", "procedure", "team",
           "team_name", "township", "township_name", "village", "village_name", "grid", "version", "closed_at",
           "on_time", "escalated", "outcome")
LAYER_NAME = "cases"


class _Units:
    """One version's units per layer, for locating points and naming codes."""

    def __init__(self, session: Session, version: int) -> None:
        rows = list(session.execute(sa.select(UnitRow.code, UnitRow.name, UnitRow.layer, UnitRow.geom).where(
            UnitRow.version_id == version, UnitRow.layer.in_(LAYERS)).order_by(UnitRow.code)))
        self.names = {r.code: r.name for r in rows}
        self.layers: dict[str, tuple[list[str], shapely.STRtree]] = {}
        for layer in LAYERS:
            located = [(r.code, r.geom) for r in rows if r.layer == layer and r.geom is not None]
            self.layers[layer] = ([c for c, _ in located], shapely.STRtree([g for _, g in located]))

    def locate(self, point: BaseGeometry) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for layer, (codes, tree) in self.layers.items():
            hits = sorted(codes[i] for i in tree.query(point, predicate="intersects"))
            out[layer] = hits[0] if hits else None
        return out


def _moment(dt: datetime | None) -> str | None:
    return None if dt is None else clock.wall(dt).isoformat(sep=" ", timespec="seconds")


def year_cases(session: Session, user: User, year: int, county: str | None = None) -> gpd.GeoDataFrame:
    """The cases reported in `year` (cancelled aside) the reader may see in aggregate, one row each, WGS84."""
    check_reader(user)
    start, end = clock.from_wall(datetime(year, 1, 1)), clock.from_wall(datetime(year + 1, 1, 1))
    q = sa.select(CaseRow.id, CaseRow.status, CaseRow.matter_code, CaseRow.procedure, CaseRow.team_code,
                  CaseRow.township_code, CaseRow.village_code, CaseRow.routing, CaseRow.version_id, CaseRow.lon,
                  CaseRow.lat, CaseRow.reported_at, CaseRow.closed_at, CaseRow.on_time, CaseRow.escalation_level,
                  CaseRow.outcome).where(CaseRow.reported_at >= start, CaseRow.reported_at < end,
                                         CaseRow.status != "cancelled")
    for code in {county, user.county_code} - {None}:
        q = q.where(CaseRow.county_code == code)
    if user.role == "team_member":
        q = q.where(CaseRow.team_code == user.team_code)
    catalogue = {code: (name, domain) for code, name, domain, _ in matters(session)}
    team_names: dict[str, str] = {c: n for c, n in session.execute(sa.select(TeamRow.code, TeamRow.name))}
    in_force: dict[date, int | None] = {}
    units: dict[int, _Units] = {}
    rows: list[dict[str, Any]] = []
    geoms: list[BaseGeometry | None] = []
    for r in session.execute(q.order_by(CaseRow.id)):
        day = clock.wall(r.reported_at).date()
        if day not in in_force:
            in_force[day] = version_in_force(session, day)
        version = in_force[day]
        point = shapely.Point(r.lon, r.lat) if r.lon is not None and r.lat is not None else None
        place: dict[str, str | None] = {"township": None, "village": None, "grid": None}
        if version is not None:
            if version not in units:
                units[version] = _Units(session, version)
            if version == r.version_id or point is None:
                place = {"township": r.township_code, "village": r.village_code, "grid": _grid(r.routing)}
            else:
                place = units[version].locate(point)
        names = units[version].names if version is not None else {}
        name, domain = catalogue.get(r.matter_code, (r.matter_code, ""))
        rows.append({
            "case_id": r.id, "reported_at": _moment(r.reported_at),
            "month": clock.wall(r.reported_at).strftime("%Y-%m"),
            "status": r.status, "matter": r.matter_code, "matter_name": name, "domain": domain,
            "procedure": r.procedure, "team": r.team_code, "team_name": team_names.get(r.team_code, r.team_code),
            "township": place["township"], "township_name": names.get(place["township"] or ""),
            "village": place["village"], "village_name": names.get(place["village"] or ""),
            "grid": place["grid"], "version": version, "closed_at": _moment(r.closed_at), "on_time": r.on_time,
            "escalated": r.escalation_level > 0, "outcome": r.outcome})
        geoms.append(point)
    frame = gpd.GeoDataFrame(rows, columns=list(COLUMNS), geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"))
    return frame.astype({"case_id": "int64"}) if len(frame) else frame


def write_gpkg(frame: gpd.GeoDataFrame, path: Any) -> None:
    """The frame as a GeoPackage layer `cases` (points, EPSG:4326), written through pyogrio."""
    frame.to_file(path, layer=LAYER_NAME, driver="GPKG", engine="pyogrio")


def year_end_townships(session: Session, year: int) -> list[tuple[str, str, BaseGeometry]]:
    """(code, name, outline) of the townships of the version in force on the year's last day (none: [])."""
    version = version_in_force(session, date(year, 12, 31))
    if version is None:
        return []
    return [(c, n, g) for c, n, g in session.execute(sa.select(UnitRow.code, UnitRow.name, UnitRow.geom).where(
        UnitRow.version_id == version, UnitRow.layer == "township").order_by(UnitRow.code)) if g is not None]

