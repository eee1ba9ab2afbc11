"""OGC API – Features (Part 1: Core, GeoJSON) under /ogc, so GDAL's `OAPIF:` driver and QGIS read GridGov.

Collections: one per layer (county, township, village, grid, zone) of the version in force today (or
`?version=`), and `cases` (points, scoped to the caller like `GET /cases`). Items take `bbox`
(intersects), `limit` (default 100, at most 10,000), `offset`, and answer with `numberMatched`,
`numberReturned` and a `next` link. Grid units defined by H3 cells are served as their cells' polygons.
Every request needs a bearer token (GDAL: GDAL_HTTP_HEADERS / GDAL_HTTP_HEADER_FILE). On PostGIS each
collection links its vector tiles (OGC API – Tiles, `api/tiles.py`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.auth import CurrentUser, current_user
from api.deps import get_repo, resolve_version
from gis.errors import InvalidInput, NotFound
from gis.layers import LOAD_ORDER, REGISTRY
from gis.model import Unit
from store.cases import Cases, case_view
from store.repo import Repository
from store.users import User

router = APIRouter(prefix="/ogc", tags=["ogc-api-features"], dependencies=[Depends(current_user)])
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


def _version_param(request: Request) -> str:
    v = request.query_params.get("version")
    return f"?version={v}" if v else ""


def _units(repo: Repository, layer: str, version: int | None) -> tuple[int, list[tuple[Unit, Any]]]:
    v = resolve_version(repo, version)
    assert v.id is not None
    return v.id, [(u, u.shape()) for u in repo.units(v.id, layer)]


def _bbox(shapes: list[Any]) -> list[float] | None:
    boxes = [s.bounds for s in shapes if s is not None and not s.is_empty]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _collection(request: Request, cid: str, title: str, bbox: list[float] | None, tiles: bool) -> dict[str, Any]:
    base, q = _base(request), _version_param(request)
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


@router.get("/collections", summary="The layers of the version in force, and cases")
def collections(request: Request, repo: Repo, user: CurrentUser, version: int | None = None) -> dict[str, Any]:
    out = []
    for layer in LOAD_ORDER:
        _, units = _units(repo, layer, version)
        out.append(_collection(request, layer, REGISTRY[layer].title, _bbox([s for _, s in units]), _tiles(repo)))
    if _sees_cases(user):
        rows = Cases(repo.session).in_scope(user, limit=MAX_LIMIT)
        pts = [shapely.Point(r.lon, r.lat) for r in rows if r.lon is not None]
        out.append(_collection(request, "cases", "案件", _bbox(pts), _tiles(repo)))
    return {"links": [{"href": f"{_base(request)}/collections", "rel": "self", "type": "application/json"}],
            "collections": out}


@router.get("/collections/{cid}", summary="One collection")
def collection(cid: str, request: Request, repo: Repo, user: CurrentUser, version: int | None = None) -> dict[str, Any]:
    if cid == "cases" and _sees_cases(user):
        rows = Cases(repo.session).in_scope(user, limit=MAX_LIMIT)
        return _collection(request, "cases", "案件", _bbox([shapely.Point(r.lon, r.lat) for r in rows
                                                           if r.lon is not None]), _tiles(repo))
    if cid not in REGISTRY:
        raise NotFound(f"no collection {cid!r}; GET /ogc/collections lists them")
    _, units = _units(repo, cid, version)
    return _collection(request, cid, REGISTRY[cid].title, _bbox([s for _, s in units]), _tiles(repo))


def _parse_bbox(bbox: str | None) -> Any:
    if not bbox:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError:
        raise InvalidInput("bbox must be minx,miny,maxx,maxy in degrees (CRS84)", where="bbox") from None
    if len(values) != 4 or not all(map(math.isfinite, values)) or values[0] > values[2] or values[1] > values[3]:
        raise InvalidInput("bbox must be minx,miny,maxx,maxy with min ≤ max", where="bbox")
    return shapely.box(*values)


def _page(request: Request, features: list[dict[str, Any]], limit: int, offset: int) -> JSONResponse:
    page = features[offset: offset + limit]
    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if offset + limit < len(features):
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": GEOJSON})
    body = {"type": "FeatureCollection", "features": page, "numberMatched": len(features),
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
                                                         "allowed_actions")}
    props["co_owners"] = ",".join(view["co_owners"] or [])
    return {"type": "Feature", "id": row.id, "geometry": {"type": "Point", "coordinates": [row.lon, row.lat]},
            "properties": props}


@router.get("/collections/{cid}/items", summary="Features of a collection (bbox, limit, offset, next links)",
            response_model=None)
def items(cid: str, request: Request, repo: Repo, user: CurrentUser, version: int | None = None,
          bbox: str | None = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
          offset: Annotated[int, Query(ge=0)] = 0) -> JSONResponse:
    box = _parse_bbox(bbox)
    if cid == "cases":
        if not _sees_cases(user):
            raise NotFound("no collection 'cases' for a planner")
        rows = [r for r in reversed(Cases(repo.session).in_scope(user, limit=1_000_000)) if r.lon is not None]
        if box is not None:
            rows = [r for r in rows if box.covers(shapely.Point(r.lon, r.lat))]
        return _page(request, [_case_feature(r) for r in rows], limit, offset)
    if cid not in REGISTRY:
        raise NotFound(f"no collection {cid!r}; GET /ogc/collections lists them")
    version_id, units = _units(repo, cid, version)
    if box is not None:
        units = [(u, s) for u, s in units if s is not None and s.intersects(box)]
    return _page(request, [_unit_feature(u, s, version_id) for u, s in units], limit, offset)


@router.get("/collections/{cid}/items/{fid}", summary="One feature", response_model=None)
def item(cid: str, fid: str, request: Request, repo: Repo, user: CurrentUser,
         version: int | None = None) -> JSONResponse:
    if cid == "cases":
        if not fid.isdigit() or not _sees_cases(user):
            raise NotFound(f"no case {fid}")
        return JSONResponse(_case_feature(Cases(repo.session).get(user, int(fid))), media_type=GEOJSON)
    if cid not in REGISTRY:
        raise NotFound(f"no collection {cid!r}; GET /ogc/collections lists them")
    v = resolve_version(repo, version)
    assert v.id is not None
    unit = repo.unit(v.id, fid)
    if unit.layer != cid:
        raise NotFound(f"{fid} is a {unit.layer}, not in collection {cid}")
    return JSONResponse(_unit_feature(unit, unit.shape(), v.id), media_type=GEOJSON)
