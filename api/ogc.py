"""OGC API – Features (Part 1: Core, GeoJSON) under /ogc, so GDAL's `OAPIF:` driver and QGIS read GridGov.

Collections: one per layer (county, township, village, grid, zone) of the version in force today (or
`?version=`, or the one in force on `?datetime=` — a date or an instant), and `cases` (points, scoped to
the caller like `GET /cases`, with `datetime` as an instant or interval on their report time). Items take
`bbox` (intersects), `datetime`, `limit` (default 100, at most 10,000), `offset`, and answer with
`numberMatched`, `numberReturned` and a `next` link; cases are counted and paged in SQL. Grid units
defined by H3 cells are served as their cells' polygons.
Every request needs a bearer token (GDAL: GDAL_HTTP_HEADERS / GDAL_HTTP_HEADER_FILE). On PostGIS each
collection links its vector tiles (OGC API – Tiles, `api/tiles.py`).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import urlencode

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.auth import CurrentUser, current_user
from api.deps import GridGovRoute, get_repo, resolve_version
from api.inputs import MAX_INT, Id
from cases import clock
from gis.errors import InvalidInput, NotFound
from gis.layers import LOAD_ORDER, REGISTRY
from gis.model import Unit, Version, in_county
from i18n import T
from store.cases import Cases, case_view
from store.repo import Repository
from store.users import User

router = APIRouter(
    route_class=GridGovRoute, prefix="/ogc", tags=["ogc-api-features"], dependencies=[Depends(current_user)])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
TILES_CONFORMANCE = [f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}"
                     for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt")]
MAX_LIMIT = 10_000


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _version_param(request: Request, version: Version) -> str:
    """A layer's links name the version the request chose (by `version` or by `datetime`), else none."""
    chosen = request.query_params.get("version") or request.query_params.get("datetime")
    return f"?{urlencode({'version': version.id})}" if chosen else ""


_OPEN = ("", "..")


def _instant(text: str, end: bool) -> datetime:
    """One RFC 3339 date-time (an instant; without an offset, the county's wall-clock time) or a date (its first or
    last moment in the county's zone)."""
    try:
        if "T" not in text.upper():
            day = date.fromisoformat(text)
            return clock.from_wall(datetime.combine(day, time.max if end else time.min))
        return clock.parse(text, "datetime")[0]
    except ValueError:
        raise InvalidInput(T("datetime {text} is not a date (2026-03-01) or an RFC 3339 date-time "
                             "(2026-03-01T09:30:00Z)", text=repr(text)), where="datetime") from None


def parse_datetime(value: str | None) -> tuple[datetime | None, datetime | None, bool]:
    """OGC API's `datetime`: an instant, or an interval `start/end` with `..` (or nothing) for an open end.
    Returns (start, end, whether it was an instant); a date-only instant spans its whole day."""
    if value is None or not value.strip():
        return None, None, False
    value = value.strip()
    if "/" not in value:
        return _instant(value, False), _instant(value, True), True
    first, _, last = value.partition("/")
    if first in _OPEN and last in _OPEN:
        raise InvalidInput(T("datetime '../..' bounds nothing; leave one end open at most"), where="datetime")
    start = None if first in _OPEN else _instant(first, False)
    end = None if last in _OPEN else _instant(last, True)
    if start is not None and end is not None and start > end:
        raise InvalidInput(T("datetime interval {value} ends before it starts", value=repr(value)), where="datetime")
    return start, end, False


def _layer_day(version: int | None, value: str | None) -> date | None:
    """The date whose version a boundary layer shows: `datetime` must then be one instant, not with `version`."""
    if value is None or not value.strip():
        return None
    start, _, instant = parse_datetime(value)
    if not instant or start is None:
        raise InvalidInput(T("a boundary layer is drawn as of one date: give datetime=YYYY-MM-DD, not an interval"),
                           where="datetime")
    if version is not None:
        raise InvalidInput(T("give version or datetime, not both"), where="datetime")
    return start.date()


def _units(repo: Repository, layer: str, version: int | None,
           when: str | None = None) -> tuple[Version, list[tuple[Unit, Any]]]:
    v = resolve_version(repo, version, _layer_day(version, when))
    assert v.id is not None
    return v, [(u, u.shape()) for u in repo.units(v.id, layer)]


def _bbox(shapes: list[Any]) -> list[float] | None:
    boxes = [s.bounds for s in shapes if s is not None and not s.is_empty]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _temporal(start: Any, end: Any) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        if v is None:
            return None
        at = clock.to_local(v) if isinstance(v, datetime) else clock.from_wall(datetime.combine(v, time.min))
        return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"interval": [[iso(start), iso(end)]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}


def _layer_collection(request: Request, cid: str, version: Version, units: list[tuple[Unit, Any]],
                      tiles: bool) -> dict[str, Any]:
    """A boundary layer: its extent in space, and in time the dates its version is in force."""
    out = _collection(request, cid, REGISTRY[cid].title, _bbox([s for _, s in units]), tiles,
                      _version_param(request, version))
    if version.effective_from is not None:
        out["extent"]["temporal"] = _temporal(version.effective_from, version.effective_to)
    return out


def _cases_collection(request: Request, repo: Repository, user: User) -> dict[str, Any]:
    bbox, period = Cases(repo.session).located_extent(user)
    out = _collection(request, "cases", "案件", bbox, _tiles(repo))
    if period is not None:
        out["extent"]["temporal"] = _temporal(*period)
    return out


def _collection(request: Request, cid: str, title: str, bbox: list[float] | None, tiles: bool,
                q: str = "") -> dict[str, Any]:
    base = _base(request)
    links = [{"href": f"{base}/collections/{cid}{q}", "rel": "self", "type": "application/json"},
             {"href": f"{base}/collections/{cid}/items{q}", "rel": "items", "type": GEOJSON}]
    if tiles:  # vector tiles (api/tiles.py) need PostGIS
        links.append({"href": f"{base}/collections/{cid}/tiles{q}", "type": "application/json",
                      "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"})
    return {
        "id": cid, "title": title, "itemType": "feature", "crs": [CRS84],
        "extent": {"spatial": {"bbox": [bbox] if bbox else [[-180, -90, 180, 90]], "crs": CRS84}},
        "links": links,
    }


def _tiles(repo: Repository) -> bool:
    """Whether this database builds vector tiles (PostGIS)."""
    return repo.session.get_bind().dialect.name == "postgresql"


def _sees_cases(user: User) -> bool:
    return user.role != "planner"


@router.get("", summary="OGC API – Features landing page")
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return {"title": "GridGov", "description": "Jurisdiction layers and cases of the county",
            "links": [{"href": base, "rel": "self", "type": "application/json"},
                      {"href": f"{root}/openapi.json", "rel": "service-desc",
                       "type": "application/vnd.oai.openapi+json;version=3.0"},
                      {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                      {"href": f"{base}/collections", "rel": "data", "type": "application/json"}]}


@router.get("/conformance", summary="Conformance classes")
def conformance(repo: Repo) -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE + (TILES_CONFORMANCE if _tiles(repo) else [])}


Datetime = Annotated[str | None, Query(alias="datetime", description=(
    "layers: the version in force on this date; cases: reported at this instant, on this date, or in the "
    "interval start/end (.. for an open end)"))]


@router.get("/collections", summary="The layers of the version in force (or on `datetime`), and cases")
def collections(request: Request, repo: Repo, user: CurrentUser, version: Id | None = None,
                when: Datetime = None) -> dict[str, Any]:
    out = []
    for layer in LOAD_ORDER:
        v, units = _units(repo, layer, version, when)
        out.append(_layer_collection(request, layer, v, units, _tiles(repo)))
    if _sees_cases(user):
        out.append(_cases_collection(request, repo, user))
    return {"links": [{"href": f"{_base(request)}/collections", "rel": "self", "type": "application/json"}],
            "collections": out}


@router.get("/collections/{cid}", summary="One collection")
def collection(cid: str, request: Request, repo: Repo, user: CurrentUser, version: Id | None = None,
               when: Datetime = None) -> dict[str, Any]:
    if cid == "cases" and _sees_cases(user):
        return _cases_collection(request, repo, user)
    if cid not in REGISTRY:
        raise NotFound(T("no collection {cid}; GET /ogc/collections lists them", cid=repr(cid)))
    v, units = _units(repo, cid, version, when)
    return _layer_collection(request, cid, v, units, _tiles(repo))


def _parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if not bbox:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InvalidInput(T("bbox must be minx,miny,maxx,maxy in degrees (CRS84)"), where="bbox") from None
    if len(values) != 4 or not all(map(math.isfinite, values)) or values[0] > values[2] or values[1] > values[3]:
        raise InvalidInput(T("bbox must be minx,miny,maxx,maxy with min ≤ max"), where="bbox")
    return values[0], values[1], values[2], values[3]


def _page(request: Request, page: list[dict[str, Any]], matched: int, limit: int, offset: int) -> JSONResponse:
    """One page of features with the counts and the `next` link."""
    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if offset + limit < matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": GEOJSON})
    body = {"type": "FeatureCollection", "features": page, "numberMatched": matched,
            "numberReturned": len(page), "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "links": links}
    return JSONResponse(body, media_type=GEOJSON)


def _unit_feature(u: Unit, shape: Any, version_id: int) -> dict[str, Any]:
    return {"type": "Feature", "id": u.code,
            "geometry": shapely.geometry.mapping(shape) if shape is not None else None,
            "properties": {"code": u.code, "name": u.name, "layer": u.layer, "kind": u.kind,
                           "parent_code": u.parent_code, "derived": u.derived, "to_be_drawn": shape is None,
                           "cells": len(u.cells) if u.cells else None, "version": version_id}}


def _case_feature(row: Any) -> dict[str, Any]:
    view = case_view(row)
    props = {k: v for k, v in view.items() if k not in ("lon", "lat", "input", "co_owners", "photos",
                                                         "allowed_actions", "labels")}
    props["status_label"] = view["labels"]["status"]  # flat, for GIS clients that read plain attributes
    props["co_owners"] = ",".join(view["co_owners"] or [])
    return {"type": "Feature", "id": row.id, "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
            "properties": props}


@router.get("/collections/{cid}/items", summary="Features of a collection (bbox, limit, offset, next links)",
            response_model=None, responses={200: {"content": {GEOJSON: {}}}})
def items(cid: str, request: Request, repo: Repo, user: CurrentUser, version: Id | None = None,
          bbox: str | None = None, when: Datetime = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
          offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
          county: Annotated[str | None, Query(description="only this county's units or cases", max_length=64)] = None,
          ) -> JSONResponse:
    box = _parse_bbox(bbox)
    if cid == "cases":
        if not _sees_cases(user):
            raise NotFound(T("no collection 'cases' for a planner"))
        since, until, _ = parse_datetime(when)
        matched, rows = Cases(repo.session).located_page(user, bbox=box, since=since, until=until, offset=offset,
                                                        limit=limit, county=county)
        return _page(request, [_case_feature(r) for r in rows], matched, limit, offset)
    if cid not in REGISTRY:
        raise NotFound(T("no collection {cid}; GET /ogc/collections lists them", cid=repr(cid)))
    v, units = _units(repo, cid, version, when)
    assert v.id is not None
    if county is not None:
        inside = in_county(repo.units(v.id), county)
        units = [(u, s) for u, s in units if u.code in inside]
    if box is not None:
        area = shapely.box(*box)
        units = [(u, s) for u, s in units if s is not None and s.intersects(area)]
    return _page(request, [_unit_feature(u, s, v.id) for u, s in units[offset: offset + limit]], len(units), limit,
                 offset)


@router.get("/collections/{cid}/items/{fid}", summary="One feature", response_model=None,
            responses={200: {"content": {GEOJSON: {}}}})
def item(cid: str, fid: str, request: Request, repo: Repo, user: CurrentUser,
         version: Id | None = None, when: Datetime = None) -> JSONResponse:
    if cid == "cases":
        if not (fid.isascii() and fid.isdigit() and 0 < int(fid) <= MAX_INT) or not _sees_cases(user):
            raise NotFound(T("no case {fid}", fid=fid))
        return JSONResponse(_case_feature(Cases(repo.session).get(user, int(fid))), media_type=GEOJSON)
    if cid not in REGISTRY:
        raise NotFound(T("no collection {cid}; GET /ogc/collections lists them", cid=repr(cid)))
    v = resolve_version(repo, version, _layer_day(version, when))
    assert v.id is not None
    unit = repo.unit(v.id, fid)
    if unit.layer != cid:
        raise NotFound(T("{fid} is a {layer}, not in collection {cid}", fid=fid, layer=unit.layer, cid=cid))
    return JSONResponse(_unit_feature(unit, unit.shape(), v.id), media_type=GEOJSON)
