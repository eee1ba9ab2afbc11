"""OGC API – Tiles (vector tiles) for the OGC collections, built by PostGIS.

`/ogc/collections/{cid}/tiles` lists the one tileset (WebMercatorQuad); `…/tiles/WebMercatorQuad` describes
it, as OGC tileset metadata and as TileJSON 3.0 in one document (URL template, zoom range, bounds, the
layer's fields); `…/tiles/WebMercatorQuad/{z}/{x}/{y}` is the tile (`application/vnd.mapbox-vector-tile`,
an ETag, 304 on `If-None-Match`, 204 where the tile holds nothing). Unit layers take `?version=` (default:
the version in force today); `cases` are scoped to the caller exactly like `/ogc/collections/cases/items`.
On SQLite the tile resources do not exist (404, pointing at `/items`; the collections link no tiles there):
building them would mean a second MVT encoder in Python, and the embedded deployment's layers are small
enough for GeoJSON. (They were a 501 once: a 5xx reads as a broken server to clients and monitors alike.)
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import CurrentUser, current_user
from api.deps import GridGovRoute, resolve_version
from api.inputs import Id
from api.ogc import Repo, _base, _bbox, _sees_cases, _tiles, _units
from cases import clock
from cases.workflow import is_overdue
from gis.errors import NotFound
from gis.layers import REGISTRY
from gis.tiles import MAX_ZOOM, MIN_ZOOM, TILE_MATRIX_SET, TILE_MATRIX_SET_URI, check_tile, tile_to_lonlat_bounds
from i18n import T
from store.cases import Cases, case_state
from store.repo import Repository
from store.tiles import case_tile, unit_tile
from store.users import User

router = APIRouter(
    route_class=GridGovRoute, prefix="/ogc", tags=["ogc-api-tiles"], dependencies=[Depends(current_user)])
MVT = "application/vnd.mapbox-vector-tile"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
TILESETS_REL = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
UNIT_FIELDS = {"code": "String", "name": "String", "layer": "String", "kind": "String", "parent_code": "String",
               "team": "String (comma-separated team codes of the unit-scoped rules naming it)"}
CASE_FIELDS = {"id": "Number", "status": "String", "matter": "String", "team": "String", "overdue": "Boolean",
               "escalation_level": "Number"}


def _collection_id(cid: str, user: User) -> str:
    if cid == "cases":
        if not _sees_cases(user):
            raise NotFound(T("no collection 'cases' for a planner"))
        return cid
    if cid not in REGISTRY:
        raise NotFound(T("no collection {cid}; GET /ogc/collections lists them", cid=repr(cid)))
    return cid


def _tms(tms: str) -> None:
    if tms != TILE_MATRIX_SET:
        raise NotFound(T("no tile matrix set {tms}; tiles come in {TILE_MATRIX_SET} only",
                         tms=repr(tms), TILE_MATRIX_SET=TILE_MATRIX_SET))


def _need_postgis(repo: Repository, cid: str) -> None:
    if not _tiles(repo):
        raise NotFound(T("vector tiles are built by PostGIS (ST_AsMVT) and this server runs on SQLite; read the "
                         "same features as GeoJSON from /ogc/collections/{cid}/items?bbox=west,south,east,north "
                         "or run GridGov on PostgreSQL+PostGIS", cid=cid), where="database")


def _version_query(request: Request) -> str:
    """Tiles are of one version: `?version=` carried into their links (default: the version in force)."""
    v = request.query_params.get("version")
    return f"?version={int(v)}" if v and v.isdigit() else ""


def _visible_cases(repo: Repository, user: User, bbox: tuple[float, float, float, float] | None) -> list[Any]:
    rows = Cases(repo.session).in_scope(user, bbox=bbox, limit=10**9)
    return [r for r in rows if r.lon is not None]


@router.get("/collections/{cid}/tiles", summary="The vector tilesets of a collection")
def tilesets(cid: str, request: Request, repo: Repo, user: CurrentUser) -> dict[str, Any]:
    _collection_id(cid, user)
    _need_postgis(repo, cid)
    base, q = _base(request), _version_query(request)
    return {"links": [{"href": f"{base}/collections/{cid}/tiles{q}", "rel": "self", "type": "application/json"}],
            "tilesets": [{"title": f"{cid} ({TILE_MATRIX_SET})", "dataType": "vector", "crs": WEB_MERCATOR,
                          "tileMatrixSetURI": TILE_MATRIX_SET_URI,
                          "links": [{"href": f"{base}/collections/{cid}/tiles/{TILE_MATRIX_SET}{q}", "rel": "self",
                                     "type": "application/json"}]}]}


@router.get("/collections/{cid}/tiles/{tms}", summary="Tileset metadata, also TileJSON 3.0 (URL template, zooms, "
            "bounds, fields)")
def tileset(cid: str, tms: str, request: Request, repo: Repo, user: CurrentUser,
            version: Id | None = None) -> dict[str, Any]:
    _collection_id(cid, user)
    _tms(tms)
    _need_postgis(repo, cid)
    base, q = _base(request), _version_query(request)
    if cid == "cases":
        bounds, _ = Cases(repo.session).located_extent(user)
        title, fields = "案件", CASE_FIELDS
    else:
        _, units = _units(repo, cid, version)
        bounds, title, fields = _bbox([s for _, s in units]), REGISTRY[cid].title, UNIT_FIELDS
    template = f"{base}/collections/{cid}/tiles/{TILE_MATRIX_SET}/{{z}}/{{x}}/{{y}}{q}"
    box = bounds or [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
    return {
        "tilejson": "3.0.0", "name": cid, "title": title, "scheme": "xyz", "tiles": [template],
        "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM, "bounds": box,
        "center": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 9],
        "vector_layers": [{"id": cid, "fields": fields, "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM}],
        "dataType": "vector", "crs": WEB_MERCATOR, "tileMatrixSetURI": TILE_MATRIX_SET_URI,
        "links": [{"href": f"{base}/collections/{cid}/tiles/{TILE_MATRIX_SET}{q}", "rel": "self",
                   "type": "application/json"},
                  {"href": f"{base}/collections/{cid}{q}", "rel": "collection", "type": "application/json"},
                  {"href": template, "rel": "item", "type": MVT, "templated": True}],
    }


@router.get("/collections/{cid}/tiles/{tms}/{z}/{x}/{y}", summary="One Mapbox Vector Tile",
            response_class=Response, responses={200: {"content": {MVT: {}}}, 204: {"description": "nothing here"},
                                                304: {"description": "not modified (If-None-Match)"}})
def tile(cid: str, tms: str, z: int, x: int, y: int, request: Request, repo: Repo, user: CurrentUser,
         version: Id | None = None) -> Response:
    _collection_id(cid, user)
    _tms(tms)
    check_tile(z, x, y)
    _need_postgis(repo, cid)
    if cid == "cases":
        now = clock.now()
        rows = _visible_cases(repo, user, tile_to_lonlat_bounds(z, x, y))
        data = case_tile(repo.session, [(r.id, is_overdue(case_state(r), now)) for r in rows], z, x, y)
    else:
        v = resolve_version(repo, version)
        assert v.id is not None
        data = unit_tile(repo.session, v.id, cid, z, x, y)
    # Weak: the same tile goes out gzipped or plain (the middleware decides), and If-None-Match compares weakly.
    tag = '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"'
    headers = {"ETag": "W/" + tag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    sent = [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]
    if tag in sent or "*" in sent:
        return Response(status_code=304, headers=headers)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)
