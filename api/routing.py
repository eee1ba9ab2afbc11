"""`POST /route` and `GET /jurisdictions/at`: who is responsible here, and which units contain this point."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from api.auth import current_user
from api.deps import GridGovRoute, LeanRoute, get_repo
from api.fastjson import FastJSONResponse
from api.route_stream import RouteStream, answer_type, stream_type
from cases import clock
from etl.route_batch import BatchOptions
from gis.crs import to_wgs84
from gis.errors import InvalidInput, PayloadTooLarge
from gis.model import Version
from gis.routing import Router
from gis.routing.decision import VersionRef
from i18n import T
from store.repo import Repository
from store.routers import RouterCache

router = APIRouter(
    route_class=GridGovRoute, tags=["routing"], dependencies=[Depends(current_user)])  # any signed-in user
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
CRSName = Literal["wgs84", "cgcs2000", "gcj02", "bd09"]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude in the request's crs")]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude in the request's crs")]
Accuracy = Annotated[float | None, Field(default=None, ge=0, le=100_000, allow_inf_nan=False,
                                         description="reported GPS accuracy in metres")]
FULL_DETAIL_LIMIT = 1000


class PointIn(BaseModel):
    """One point of a batch; `id` is echoed back."""

    lat: Lat
    lon: Lon
    accuracy_m: Accuracy = None
    id: str | None = Field(default=None, max_length=100)


class RouteRequest(BaseModel):
    """One point (lat/lon), a batch (`points`) or GeoJSON (Point, MultiPoint, Feature, FeatureCollection)."""

    matter: str = Field(min_length=1, max_length=64, description="matter code, see GET /matters")
    crs: CRSName = Field(default="wgs84", description="phones on Amap/WeChat give gcj02, Baidu gives bd09")
    at: datetime | date | None = Field(default=None, description="route as of this time (default now)")
    lat: Lat | None = None
    lon: Lon | None = None
    accuracy_m: Accuracy = None
    points: list[PointIn] | None = None
    geojson: dict[str, Any] | None = None
    detail: Literal["full", "summary"] = Field(
        default="full", description=f"full explanations (≤ {FULL_DETAIL_LIMIT} points) or summary columns")

    @model_validator(mode="after")
    def _one_location(self) -> RouteRequest:
        given = [self.lat is not None or self.lon is not None, self.points is not None, self.geojson is not None]
        if sum(given) != 1:
            raise ValueError(T("give exactly one of lat/lon, points or geojson"))
        if given[0] and (self.lat is None or self.lon is None):
            raise ValueError(T("give both lat and lon"))
        return self

    def point_list(self) -> list[PointIn]:
        """Every point of the request, in order."""
        if self.points is not None:
            return self.points
        if self.geojson is not None:
            out = []
            for n, (x, y, fid) in enumerate(_geojson_points(self.geojson)):
                try:
                    out.append(PointIn(lon=x, lat=y, accuracy_m=self.accuracy_m, id=fid))
                except ValidationError as exc:
                    problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                    raise InvalidInput(T("point {n}: {problems}", n=n, problems=problems), where="geojson") from None
            return out
        assert self.lat is not None and self.lon is not None
        return [PointIn(lat=self.lat, lon=self.lon, accuracy_m=self.accuracy_m)]

    def day(self) -> date:
        if self.at is None:
            return clock.today()
        return clock.to_local(self.at).date() if isinstance(self.at, datetime) else self.at  # the county's date


def _geojson_points(doc: Any, where: str = "geojson") -> list[tuple[Any, Any, str | None]]:
    """The points of a GeoJSON Point, MultiPoint, Feature or FeatureCollection, checking its shape on the way
    (a malformed document is a 422 naming the member, never a 500)."""
    if not isinstance(doc, dict):
        raise InvalidInput(T("must be a GeoJSON object, got {kind}", kind=type(doc).__name__), where=where)
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise InvalidInput(T("a FeatureCollection needs a list of features"), where=f"{where}.features")
        return [p for n, f in enumerate(features) for p in _geojson_points(f, f"{where}.features[{n}]")]
    if kind == "Feature":
        fid = doc.get("id")
        geometry = doc.get("geometry")
        if geometry is None:
            raise InvalidInput(T("a Feature needs a geometry"), where=f"{where}.geometry")
        return [(x, y, str(fid) if fid is not None else None)
                for x, y, _ in _geojson_points(geometry, f"{where}.geometry")]
    coords = doc.get("coordinates")
    if kind == "Point":
        return [_position(coords, f"{where}.coordinates")]
    if kind == "MultiPoint":
        if not isinstance(coords, list):
            raise InvalidInput(T("a MultiPoint needs a list of positions"), where=f"{where}.coordinates")
        return [_position(c, f"{where}.coordinates[{n}]") for n, c in enumerate(coords)]
    raise InvalidInput(T("GeoJSON type {kind} is not a point; send Point, MultiPoint, Feature or "
                         "FeatureCollection", kind=repr(kind)),
                       where=where)


def _position(c: Any, where: str) -> tuple[Any, Any, None]:
    if not isinstance(c, list) or len(c) < 2:
        raise InvalidInput(T("a position is a list [lon, lat]"), where=where)
    return c[0], c[1], None


def _count(doc: dict[str, Any]) -> int:
    """How many points a request body holds, counted on the parsed JSON before any per-point validation."""
    points = doc.get("points")
    if points is not None:
        if not isinstance(points, list):
            raise InvalidInput(T("points must be a list of {{lat, lon}}"), where="points")
        return len(points)
    geojson = doc.get("geojson")
    if geojson is not None:
        return _geojson_count(geojson)
    return 1


def _geojson_count(doc: Any) -> int:
    """Points in a GeoJSON document without building them (shape errors surface in `_geojson_points`)."""
    if not isinstance(doc, dict):
        return 1
    if doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        return sum(_geojson_count(f) for f in doc["features"])
    if doc.get("type") == "Feature":
        return _geojson_count(doc.get("geometry"))
    if doc.get("type") == "MultiPoint" and isinstance(doc.get("coordinates"), list):
        return len(doc["coordinates"])
    return 1


async def _raw_body(request: Request) -> bytes:
    """The request body as bytes (parsed on the endpoint's thread, so the event loop never parses megabytes);
    a streamed batch (NDJSON, Arrow IPC) is left unread: its answer reads it chunk by chunk."""
    if stream_type(request.headers.get("content-type")) is not None:
        return b""
    return await request.body()


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its `$defs` inlined, to stand alone in the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


ROUTE_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _inline_refs(RouteRequest.model_json_schema())}}}}


def routers(request: Request) -> RouterCache:
    cache: RouterCache = request.app.state.routers
    return cache


async def route(request: Request, raw: Annotated[bytes, Depends(_raw_body)]) -> Response:
    """Route one point or a batch; every decision carries its explanation (or summary columns).

    The body is parsed once and its points counted before any of them is validated, so an oversized batch
    is refused in the time it takes to parse it (the bytes themselves are capped by GRIDGOV_MAX_UPLOAD_MIB).
    A body of type application/x-ndjson or application/vnd.apache.arrow.stream is a streamed batch: rows in,
    rows out with route-file's columns, chunk by chunk (`?matter=`, `?crs=`, `?at=`; api/route_stream.py).
    A small body on a router the worker holds is answered on the event loop (a few hundred µs of work,
    cheaper than the thread hop); anything else, or a router that must be read first, runs on a thread."""
    kind = stream_type(request.headers.get("content-type"))
    if kind is not None:
        return await run_in_threadpool(_route_stream, request, kind)
    if len(raw) <= INLINE_BYTES:
        try:
            return _route(request, raw, inline=True)
        except _NeedsThread:
            pass
    return await run_in_threadpool(_route, request, raw)


# A LeanRoute (api/deps.py): its dependencies (the app's control-character check, the token, the raw body) are
# awaited directly, without FastAPI's general solver.
router.add_api_route("/route", route, methods=["POST"], route_class_override=LeanRoute,
                     summary="Who is responsible for these points and this matter, and why",
                     response_model=None, openapi_extra=ROUTE_BODY,
                     responses={200: {"description": "decisions (Decision schema) or summary rows"}})


INLINE_BYTES = 2048  # a handful of points


class _NeedsThread(Exception):
    """The router is not in memory: reading it is I/O, not for the event loop."""


def _route(request: Request, raw: bytes, *, inline: bool = False) -> JSONResponse:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(T("the body is not valid JSON: {exc}", exc=exc), where="body") from None
    if not isinstance(doc, dict):
        raise InvalidInput(T("the body must be a JSON object, got {kind}", kind=type(doc).__name__),
                           where="body")
    limit = request.app.state.settings.max_batch
    count = _count(doc)
    if count > limit:
        raise PayloadTooLarge(T("{count} points is over the limit of {limit} per request; split the batch",
                                count=count, limit=limit),
                              where="points")
    try:
        body = RouteRequest.model_validate(doc)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    points = body.point_list()
    if not points:
        raise InvalidInput(T("the batch is empty; send at least one point"), where="points")
    if body.detail == "full" and len(points) > FULL_DETAIL_LIMIT:
        raise PayloadTooLarge(T("full explanations are limited to {limit} points; send "
                                "detail='summary' for larger batches", limit=FULL_DETAIL_LIMIT),
                              where="detail")
    day = body.day()
    cache = routers(request)
    r = cache.remembered(day) if inline else cache.router_in_force(request.app.state.sessions, day)
    if r is None:
        raise _NeedsThread
    lon, lat = _wgs84(points, body.crs)
    version = _version_ref(r)
    if body.detail == "summary":
        acc = np.array([np.nan if p.accuracy_m is None else p.accuracy_m for p in points])
        cols = r.route_table(lon, lat, body.matter, day, acc)
        results = [{"id": p.id, "lon": float(x), "lat": float(y), **{k: v[i] for k, v in cols.items()}}
                   for i, (p, x, y) in enumerate(zip(points, lon.tolist(), lat.tolist(), strict=True))]
        return _json({"version": version, "matter": body.matter, "day": day.isoformat(), "results": results})
    decisions = []
    for p, x, y in zip(points, lon.tolist(), lat.tolist(), strict=True):
        d = r.explain_json(x, y, body.matter, day, p.accuracy_m)  # explain(...).model_dump(mode="json")
        decisions.append({"id": p.id, "input": {"lon": p.lon, "lat": p.lat, "crs": body.crs}, **d})
    return _json({"version": version, "matter": body.matter, "day": day.isoformat(), "decisions": decisions})


def _wgs84(points: list[PointIn], crs: str) -> tuple[np.ndarray[Any, np.dtype[np.float64]],
                                                      np.ndarray[Any, np.dtype[np.float64]]]:
    """The points in WGS84. Their fields were validated finite and within ±180/±90, so for wgs84 and cgcs2000
    (the same numbers) `to_wgs84`'s checks cannot fail and its answer is the input: taken as it is."""
    raw_x = np.array([p.lon for p in points], dtype=np.float64)
    raw_y = np.array([p.lat for p in points], dtype=np.float64)
    if crs in ("wgs84", "cgcs2000"):
        return raw_x, raw_y
    return to_wgs84(raw_x, raw_y, crs, where="coordinates")


def _route_stream(request: Request, kind: str) -> Response:
    """The streamed answer: options from the query, the router of the day, then rows as they come."""
    q = request.query_params
    try:
        at = StreamQuery.model_validate({k: q[k] for k in ("matter", "crs", "at") if k in q})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None
    day = RouteRequest(matter="-", lat=0, lon=0, at=at.at).day()
    r = routers(request).router_in_force(request.app.state.sessions, day)
    if at.matter is not None:
        r.matter_index(at.matter)  # an unknown matter is refused before any row is read
    opts = BatchOptions(day=day, matter=at.matter, crs=at.crs)
    return RouteStream(r, opts, kind, answer_type(request.headers.get("accept"), kind))


class StreamQuery(BaseModel):
    """The query of a streamed `POST /route`."""

    matter: str | None = Field(default=None, min_length=1, max_length=64)
    crs: CRSName = "wgs84"
    at: datetime | date | None = None


def _json(content: dict[str, Any]) -> JSONResponse:
    """Already JSON-ready content, sent without FastAPI's generic encoder, written by orjson (api/fastjson.py)."""
    return FastJSONResponse(content)


@router.get("/jurisdictions/at", summary="Every unit containing a point, with its version, as of a date")
def jurisdictions_at(
    repo: Repo,
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    crs: CRSName = "wgs84",
    at: date | None = None,
) -> dict[str, Any]:
    """All covering units at every level (county, township, village, grid, zones); on shared edges all of them,
    with `selected` marking the tie-break's choice."""
    day = at or clock.today()
    r = routers(request).router_at(repo, day)
    x, y = to_wgs84(lon, lat, crs, where="coordinates")
    return {"version": _version_ref(r), "day": day, "lon": x, "lat": y, "input": {"lon": lon, "lat": lat, "crs": crs},
            **containing_units(r, x, y)}


def containing_units(r: Router, x: float, y: float) -> dict[str, Any]:
    """Every unit covering a WGS84 point (`selected`: the tie-break's choice on a shared edge), the distance to the
    nearest boundary and whether the point is on one (what the lookup page and its result sheet show)."""
    covering = r.regions.covering_lists(np.array([x]), np.array([y]))[0]
    selected = set(r.regions.select(covering))
    units = []
    for rid in covering:
        reg = r.regions.regions[rid]
        if reg.is_unit:
            units.append({"code": reg.code, "name": r.unit_names.get(reg.code, reg.code), "layer": reg.layer,
                          "kind": reg.kind, "parent_code": reg.parent_code, "selected": rid in selected})
    return {"units": units, "distance_to_boundary_m": round(r.distance_to_boundary_m(x, y), 3),
            "on_boundary": len(selected) < len(covering)}


def _version_ref(r: Router) -> dict[str, Any]:
    """The router's version as answers show it, built once per version label (read it, never change it)."""
    v = r.version
    kept = _VERSION_REFS.get(id(v))
    if kept is not None and kept[0] is v:
        return kept[1]
    ref = VersionRef(id=v.id or 0, name=v.name, effective_from=v.effective_from,
                     effective_to=v.effective_to).model_dump(mode="json")
    if len(_VERSION_REFS) > 64:
        _VERSION_REFS.clear()
    _VERSION_REFS[id(v)] = (v, ref)
    return ref


_VERSION_REFS: dict[int, tuple[Version, dict[str, Any]]] = {}  # id(label) → (label, answer); the label held
