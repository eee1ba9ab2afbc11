"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over the same intake and cases, JSON only.

- services / service definitions are the published matter catalogue (open, like the spec's GET methods);
  a matter's `attributes.open311_attributes` lists its service attributes (the spec's attribute objects).
- POST requests needs `api_key` (a device or session token) and a role that may report; the reporter is
  the key's account, so personal fields (email, phone, names) are not stored.
- GET requests / requests/{id} / tokens/{token} also need `api_key` (query) or a bearer token: cases are
  scoped per role as everywhere else. Filters: service_request_id, service_code, start_date, end_date
  (at most 90 days; default the last 90), status; extensions: bbox=w,s,e,n, page and page_size (≤ 1000).
- Extensions on POST: idempotency_key (retries make no second request; it is also the request's token),
  requested_datetime (when it was seen), external_id, crs (wgs84/cgcs2000/gcj02/bd09), accuracy_m.
- Errors are `[{"code": <http status>, "description": "…"}]`. A missing or unknown api_key is 401 (as for every
  other endpoint here: the spec names 403 for both, but a client must tell "sign in" from "not allowed"); 403
  is a known key whose account may not do this.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.cases import store_report
from api.deps import GridGovRoute, get_repo
from api.inputs import MAX_INT, check_text
from api.openapi import REPLAYED
from cases import clock
from cases.workflow import FINISHED
from gis.errors import Forbidden, GridGovError, NotFound, Unauthorized
from gis.model import Matter
from store.cases import OPEN_STATES, Cases, Report
from store.db import transaction
from store.repo import Repository
from store.schema import CaseRow, ReportKeyRow, UnitRow
from store.users import User, Users

PREFIX = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_DAYS = 90
MAX_PAGE = 1000
router = APIRouter(route_class=GridGovRoute, prefix=PREFIX, tags=["open311"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]


class Open311Error(GridGovError):
    """A GeoReport error with its HTTP status (the spec uses 400 for anything it does not name)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Value(BaseModel):
    key: str | int
    name: str


class Attribute(BaseModel):
    """A service attribute, as the spec defines it."""

    variable: bool = True
    code: str = Field(min_length=1, max_length=64)
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    datatype_description: str | None = None
    order: int = Field(ge=1)
    description: str
    values: list[Value] = Field(default_factory=list)


_ATTRIBUTES = TypeAdapter(list[Attribute])


def open311_error_body(status: int, message: str) -> list[dict[str, Any]]:
    return [{"code": status, "description": message}]


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise Open311Error(400, f"format {fmt!r} is not served here; use .json (this server speaks JSON only)")


def _attributes(matter: Matter) -> list[Attribute]:
    raw = matter.attributes.get("open311_attributes", [])
    try:
        return sorted(_ATTRIBUTES.validate_python(raw), key=lambda a: a.order)
    except ValidationError as exc:
        raise Open311Error(400, f"service {matter.code} has a malformed attribute definition: "
                                f"{exc.errors()[0]['msg']}") from None


def _jurisdiction(repo: Repository, jurisdiction_id: str | None) -> None:
    if not jurisdiction_id:
        return
    known = set(repo.session.scalars(sa.select(UnitRow.code).where(UnitRow.layer == "county").distinct()))
    if jurisdiction_id not in known:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} was not found; this server serves "
                                f"{', '.join(sorted(known)) or 'no county yet'}")


def _service(m: Matter) -> dict[str, Any]:
    unit = "working hours" if m.time_unit == "working_hours" else "working days"
    return {"service_code": m.code, "service_name": m.name,
            "description": f"{m.domain}: {m.procedure} procedure, handled within {m.time_limit} {unit}",
            "metadata": bool(m.attributes.get("open311_attributes")), "type": "realtime",
            "keywords": ", ".join(filter(None, [m.domain, m.procedure])), "group": m.domain}


def _user(request: Request, repo: Repository, api_key: str | None) -> User:
    """The account behind api_key (or a bearer token): 401 when missing or unknown, like every endpoint here."""
    token = api_key
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    if not token:
        raise Open311Error(401, "api_key is required: a device token (gridgov user token) or a sign-in token")
    try:
        return Users(repo.session).authenticate(token)
    except Unauthorized as exc:
        raise Open311Error(401, f"invalid api_key: {exc.message}") from None


def _w3(dt: datetime | None) -> str | None:
    """A w3 date-time with the county's offset (2026-11-29T15:19:00+08:00)."""
    return clock.to_local(dt).isoformat(timespec="seconds") if dt is not None else None


def _when(value: str | None, name: str) -> datetime | None:
    """A w3 date-time as an instant; without an offset it is the county's wall-clock time."""
    if not value:
        return None
    try:
        return clock.parse(value, name)[0]
    except ValueError:
        raise Open311Error(400, f"{name} must be a w3 date-time such as 2010-01-01T00:00:00Z, got {value!r}") from None


def _request_view(row: CaseRow, team_names: dict[str, str], matter_names: dict[str, str]) -> dict[str, Any]:
    closed = row.status in FINISHED
    notes = row.status if row.linked_to is None or row.status != "duplicate" else f"duplicate of {row.linked_to}"
    return {
        "service_request_id": row.id, "status": "closed" if closed else "open", "status_notes": notes,
        "service_name": matter_names.get(row.matter_code, row.matter_code), "service_code": row.matter_code,
        "description": row.description or None, "agency_responsible": team_names.get(row.team_code, row.team_code),
        "service_notice": None, "requested_datetime": _w3(row.reported_at),
        "updated_datetime": _w3(row.closed_at if closed and row.closed_at else row.updated_at),
        "expected_datetime": _w3(row.deadline), "address": row.address, "address_id": None, "zipcode": None,
        "lat": row.lat, "long": row.lon,
        "media_url": f"/photos/{row.photos[0]}" if row.photos else None,
    }


def _names(repo: Repository) -> tuple[dict[str, str], dict[str, str]]:
    return {t.code: t.name for t in repo.teams()}, {m.code: m.name for m in repo.matters()}


@router.get("/discovery.json", summary="Open311 service discovery")
def discovery(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + PREFIX + "/"
    return {"changeset": "2026-11-22T00:00:00Z", "contact": "the county command centre",
            "key_service": "ask the county platform for a device token (gridgov user token)",
            "endpoints": [{"specification": SPEC, "url": base, "changeset": "2026-11-22T00:00:00Z",
                           "type": "production", "formats": ["application/json"]}]}


@router.get("/services.{fmt}", summary="GeoReport v2: the service list (the matter catalogue)")
def services(fmt: str, repo: Repo, jurisdiction_id: str | None = None) -> list[dict[str, Any]]:
    _json_only(fmt)
    _jurisdiction(repo, jurisdiction_id)
    return [_service(m) for m in repo.matters()]


@router.get("/services/{service_code}.{fmt}", summary="GeoReport v2: a service definition (its attributes)")
def service_definition(service_code: str, fmt: str, repo: Repo, jurisdiction_id: str | None = None) -> dict[str, Any]:
    _json_only(fmt)
    _jurisdiction(repo, jurisdiction_id)
    try:
        matter = repo.matter(service_code)
    except NotFound:
        raise Open311Error(404, f"service_code {service_code!r} was not found; GET services.json lists them") from None
    return {"service_code": matter.code, "attributes": [a.model_dump() for a in _attributes(matter)]}


async def _form(request: Request) -> dict[str, list[str]]:
    """The POST body as lists of values: form-encoded (the spec) or a JSON object; no control characters."""
    form = await _parse_form(request)
    for key, values in form.items():
        check_text(key, key, multiline=False)
        for value in values:
            check_text(value, key)
    return form


async def _parse_form(request: Request) -> dict[str, list[str]]:
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise Open311Error(400, f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "body must be a JSON object of request fields")
        return {k: [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in data.items() if v is not None}
    out: dict[str, list[str]] = {}
    try:
        for k, v in parse_qsl(raw.decode("utf-8"), keep_blank_values=False, strict_parsing=False):
            out.setdefault(k, []).append(v)
    except UnicodeDecodeError:
        raise Open311Error(400, "the body must be UTF-8 (application/x-www-form-urlencoded; charset=utf-8)") from None
    return out


def _number(form: dict[str, list[str]], key: str, lo: float, hi: float) -> float | None:
    value = (form.get(key) or [""])[0]
    if value == "":
        return None
    try:
        x = float(value)
    except ValueError:
        raise Open311Error(400, f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise Open311Error(400, f"{key} must be a finite number in [{lo}, {hi}], got {value!r}")
    return x


def _answers(form: dict[str, list[str]], attrs: list[Attribute]) -> dict[str, Any]:
    """attribute[code]=v and attribute[code][]=v, checked against the service definition."""
    given: dict[str, list[str]] = {}
    for key, values in form.items():
        if key.startswith("attribute[") and key.endswith("]"):
            code = key[len("attribute["):].removesuffix("[]").removesuffix("]")
            given.setdefault(code, []).extend(values)
    by_code = {a.code: a for a in attrs}
    unknown = sorted(set(given) - set(by_code))
    if unknown:
        raise Open311Error(400, f"attribute {unknown[0]!r} is not part of this service's definition")
    answers: dict[str, Any] = {}
    for a in attrs:
        values = given.get(a.code, [])
        if not values:
            if a.required and a.variable:
                raise Open311Error(400, f"attribute {a.code!r} is required: {a.description}")
            continue
        keys = {str(v.key) for v in a.values}
        if a.datatype in ("singlevaluelist", "multivaluelist"):
            bad = [v for v in values if v not in keys]
            if bad or (a.datatype == "singlevaluelist" and len(values) > 1):
                how = "one of" if a.datatype == "singlevaluelist" else "any of"
                raise Open311Error(400, f"attribute {a.code!r} takes {how} {', '.join(sorted(keys))}; "
                                        f"got {', '.join(values)}")
            answers[a.code] = values if a.datatype == "multivaluelist" else values[0]
        elif a.datatype == "number":
            try:
                answers[a.code] = float(values[0])
            except ValueError:
                raise Open311Error(400, f"attribute {a.code!r} must be a number, got {values[0]!r}") from None
        elif a.datatype == "datetime":
            answers[a.code] = (_when(values[0], f"attribute[{a.code}]") or datetime.min).isoformat()
        else:
            if a.datatype == "string" and "\n" in values[0]:
                raise Open311Error(400, f"attribute {a.code!r} is a single line of text")
            answers[a.code] = values[0][:4000]
    return answers


_TEXT = {"type": "string"}
_REQUEST_FIELDS = {  # the body `_form` reads (the endpoint parses it itself), for the OpenAPI document
    "type": "object", "required": ["service_code"],
    "properties": {
        "api_key": _TEXT, "jurisdiction_id": _TEXT, "service_code": _TEXT,
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "address_string": _TEXT, "address_id": _TEXT, "description": {"type": "string", "maxLength": 4000},
        "media_url": _TEXT, "requested_datetime": {"type": "string", "format": "date-time"},
        "idempotency_key": {"type": "string", "minLength": 8, "maxLength": 100}, "external_id": _TEXT,
        "crs": {"type": "string", "enum": ["wgs84", "cgcs2000", "gcj02", "bd09"]},
        "accuracy_m": {"type": "number", "minimum": 0, "maximum": 100_000},
    },
}
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _REQUEST_FIELDS}, "application/json": {"schema": _REQUEST_FIELDS}}}}


@router.post("/requests.{fmt}", summary="GeoReport v2: create a service request (form-encoded, with api_key)",
             status_code=201, response_model=None, responses=REPLAYED, openapi_extra=REQUEST_BODY)
async def post_request(fmt: str, request: Request) -> JSONResponse:
    _json_only(fmt)
    form = await _form(request)
    one = {k: v[0] for k, v in form.items() if v}
    sessions = request.app.state.sessions

    def prepare() -> tuple[User, Report]:
        with transaction(sessions) as session:
            repo = Repository(session)
            user = _user(request, repo, one.get("api_key"))
            if user.role not in ("grid_worker", "team_member", "dispatcher"):
                raise Open311Error(403, f"a {user.role} may not submit requests")
            _jurisdiction(repo, one.get("jurisdiction_id"))
            code = one.get("service_code")
            if not code:
                raise Open311Error(400, "service_code was not provided; GET services.json lists them")
            try:
                matter = repo.matter(code)
            except NotFound:
                raise Open311Error(404, f"service_code {code!r} was not found; GET services.json lists them") from None
            answers = _answers(form, _attributes(matter))
        lat, lon = _number(form, "lat", -90, 90), _number(form, "long", -180, 180)
        if (lat is None) != (lon is None):
            raise Open311Error(400, "lat and long must be sent together")
        address = one.get("address_string") or (f"address_id {one['address_id']}" if one.get("address_id") else None)
        if lat is None and not address:
            raise Open311Error(400, "a location is required: lat and long, or address_string, or address_id")
        description = one.get("description", "")
        if len(description) > 4000:
            raise Open311Error(400, f"description is {len(description)} characters; the limit is 4000")
        key = one.get("idempotency_key")
        if key is not None and not 8 <= len(key) <= 100:
            raise Open311Error(400, "idempotency_key must be 8 to 100 characters (a UUID is ideal)")
        details: dict[str, Any] = {"channel": "open311"}  # the report event says how it came (the big screen's sources)
        if answers:
            details["attributes"] = answers
        if one.get("media_url"):
            details["media_url"] = one["media_url"][:2000]
        report = Report(matter=code, x=lon, y=lat, crs=one.get("crs", "wgs84"),
                        accuracy_m=_number(form, "accuracy_m", 0, 100_000), description=description,
                        idempotency_key=key, reported_at=_when(one.get("requested_datetime"), "requested_datetime"),
                        external_id=one.get("external_id"), address=address[:500] if address else None,
                        details=details)
        return user, report

    user, report = await run_in_threadpool(prepare)
    result = await run_in_threadpool(store_report, request, user, report)
    row = result.case
    if row.triage:
        notice = f"held for the command centre ({row.triage}); it confirms the responsible team"
    elif row.status == "duplicate":
        notice = f"linked to open request {row.linked_to}, which reports the same"
    else:
        notice = f"dispatched to {row.team_code}; expected by {_w3(row.deadline)}"
    given = one.get("requested_datetime")
    if given and clock.parse(given)[1]:
        notice += f"; {clock.assumed_note('requested_datetime')}"
    body = [{"service_request_id": row.id, "service_notice": notice, "account_id": None}]
    return JSONResponse(body, status_code=200 if result.replayed else 201)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.get("/requests.{fmt}", summary="GeoReport v2: service requests (filters, plus bbox and paging extensions)")
def get_requests(fmt: str, request: Request, repo: Repo, api_key: str | None = None,
                 jurisdiction_id: str | None = None, service_request_id: str | None = None,
                 service_code: str | None = None, start_date: str | None = None, end_date: str | None = None,
                 status: str | None = None, bbox: str | None = None, page: int = 1,
                 page_size: int = MAX_PAGE) -> list[dict[str, Any]]:
    _json_only(fmt)
    user = _user(request, repo, api_key)
    _jurisdiction(repo, jurisdiction_id)
    cases = Cases(repo.session)
    teams, matters = _names(repo)
    if not 1 <= page_size <= MAX_PAGE or not 1 <= page <= MAX_INT // MAX_PAGE:
        raise Open311Error(400, f"page must be 1..{MAX_INT // MAX_PAGE} and page_size 1..{MAX_PAGE}")
    if user.role == "planner":
        raise Open311Error(403, "a planner does not see service requests")
    if service_request_id:  # overrides every other argument, per the spec
        try:
            ids = [int(v) for v in _split(service_request_id)]
            if not all(0 < i <= MAX_INT for i in ids):
                raise ValueError("out of range")
        except ValueError:
            raise Open311Error(400, "service_request_id must be comma-separated numbers") from None
        rows = cases.in_scope(user, ids=ids, limit=len(ids) or 1)
        return [_request_view(r, teams, matters) for r in sorted(rows, key=lambda r: r.id)]
    given_start, given_end = _when(start_date, "start_date"), _when(end_date, "end_date")
    if given_start is None:
        end = given_end or clock.now()
        start = end - timedelta(days=MAX_DAYS)
    else:
        start, end = given_start, given_end or given_start + timedelta(days=MAX_DAYS)
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > timedelta(days=MAX_DAYS):
        raise Open311Error(400, f"start_date to end_date may not span more than {MAX_DAYS} days")
    states = _split(status)
    if any(s not in ("open", "closed") for s in states):
        raise Open311Error(400, f"status must be open and/or closed, got {status!r}")
    box = None
    if bbox:
        try:
            w, s, e, n = (float(v) for v in bbox.split(","))
        except ValueError:
            raise Open311Error(400, "bbox must be west,south,east,north in degrees") from None
        if not (all(map(math.isfinite, (w, s, e, n))) and -180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise Open311Error(400, "bbox must be west,south,east,north with west ≤ east and south ≤ north")
        box = (w, s, e, n)
    wanted = None
    if states and set(states) != {"open", "closed"}:
        wanted = list(FINISHED) if states == ["closed"] else [*OPEN_STATES, "duplicate"]
    rows = cases.in_scope(user, status=wanted, matters=_split(service_code) or None, since=start, until=end,
                          bbox=box, limit=page * page_size)
    rows = rows[(page - 1) * page_size: page * page_size]
    return [_request_view(r, teams, matters) for r in rows]


@router.get("/requests/{service_request_id}.{fmt}", summary="GeoReport v2: one service request")
def get_request(service_request_id: str, fmt: str, request: Request, repo: Repo, api_key: str | None = None,
                jurisdiction_id: str | None = None) -> list[dict[str, Any]]:
    _json_only(fmt)
    user = _user(request, repo, api_key)
    _jurisdiction(repo, jurisdiction_id)
    if not (service_request_id.isascii() and service_request_id.isdigit() and 0 < int(service_request_id) <= MAX_INT):
        raise Open311Error(404, f"service_request_id {service_request_id!r} was not found")
    try:
        row = Cases(repo.session).get(user, int(service_request_id))
    except NotFound:
        raise Open311Error(404, f"service_request_id {service_request_id} was not found") from None
    except Forbidden as exc:
        raise Open311Error(403, exc.message) from None
    teams, matters = _names(repo)
    return [_request_view(row, teams, matters)]


@router.get("/tokens/{token}.{fmt}", summary="GeoReport v2: the request id behind a token (our idempotency key)")
def get_token(token: str, fmt: str, request: Request, repo: Repo, api_key: str | None = None,
              jurisdiction_id: str | None = None) -> list[dict[str, Any]]:
    _json_only(fmt)
    user = _user(request, repo, api_key)
    _jurisdiction(repo, jurisdiction_id)
    # Keys are per reporter: your own request under this token first, else one you may see.
    rows = repo.session.scalars(
        sa.select(CaseRow).join(ReportKeyRow, ReportKeyRow.case_id == CaseRow.id)
        .where(ReportKeyRow.idempotency_key == token)
        .order_by(sa.case((ReportKeyRow.reporter == user.username, 0), else_=1), CaseRow.id)).all()
    row = next((r for r in rows if Cases(repo.session).visible(user, r)), None)
    if row is None:
        raise Open311Error(404, f"token {token!r} was not found")
    return [{"service_request_id": row.id, "token": token}]


def is_open311(path: str) -> bool:
    return path.startswith(PREFIX + "/")

