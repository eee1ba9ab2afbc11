"""Boundary versions for planners: edit a draft, check its topology, preview the impact, publish, diff, roll back.

Every edit names the draft revision it was based on (`?revision=`); a stale one is a 409, never a
silent overwrite. Reads need any signed-in user; writes need a planner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from api.auth import current_user, require
from api.deps import GridGovRoute, get_repo
from api.geojson import geometry_from_geojson, unit_feature
from api.inputs import MAX_INT, Day, Id, JsonId
from api.openapi import CREATED, Error
from api.topology_cache import TopologyCache
from cases import clock
from gis.crs import geometry_to_wgs84
from gis.errors import InvalidInput, NotFound
from gis.model import CODE_PATTERN, AllowedGap, Delegation, Rule, Unit, Version
from gis.topology import TopologyOptions, TopologyProblem
from i18n import T, current_language
from store.assign import MAX_CELLS_PER_MOVE, move_cells, reassign
from store.repo import Repository
from store.routers import RouterCache
from store.users import User
from store.versions import Versions, require_reroute_day, summary

router = APIRouter(route_class=GridGovRoute, tags=["versions"], dependencies=[Depends(current_user)])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
Planner = Annotated[User, Depends(require("planner"))]
GapReader = Annotated[User, Depends(require("planner", "auditor"))]  # auditors read everything, change nothing
# The impact preview lists open cases of every team: those who see all cases, and planners who redraw.
ImpactReader = Annotated[User, Depends(require("planner", "dispatcher", "auditor"))]
CODE = re.compile(CODE_PATTERN)
REVISION_HELP = ("the draft's revision your edit is based on (required: `revision` in GET /versions/{id}; every "
                 "edit answers with the new one)")


def _revision(request: Request,
              revision: Annotated[int | None, Query(ge=0, le=MAX_INT, description=REVISION_HELP)] = None) -> int:
    """`?revision=`, or a 422 saying where to read it (a bare "field required" left new users guessing)."""
    if revision is None:
        vid = request.path_params.get("version_id", "{id}")
        raise InvalidInput(T("?revision= is required: the draft revision you checked, i.e. `revision` in GET "
                             "/versions/{vid} (every edit's answer carries the new one), e.g. ?revision=3",
                             vid=vid),
                           where="revision")
    return revision


Revision = Annotated[int, Depends(_revision)]


def _versions(request: Request, repo: Repository) -> Versions:
    s = request.app.state.settings
    return Versions(repo, TopologyOptions(tolerance_m2=s.topology_tolerance_m2), language=s.language)


class RerouteIn(BaseModel):
    expected_cases: list[JsonId] | None = Field(
        None, max_length=1_000_000, description="the case ids your impact preview listed; if the list is no longer "
                                                "the same, nothing changes (409)")


class PublishIn(RerouteIn):
    effective_from: Day = Field(description="today or later; the version in force before it ends that day")
    reroute_open_cases: bool = Field(
        False, description="give the open cases the impact preview lists as changing owner to their new team, in "
                           "the same transaction (only for a version that takes effect today; expected_cases "
                           "goes with it)")


class UnitFeature(BaseModel):
    """A GeoJSON Feature for one unit: geometry in `crs` (default WGS84) or H3 cells in properties."""

    type: str = Field(pattern="^Feature$")
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


def unit_from_feature(code: str, body: UnitFeature, crs: str, old: Unit | None) -> Unit:
    """The unit a feature describes, keeping the old unit's fields the feature leaves out."""
    props = dict(body.properties)
    if "code" in props and props.pop("code") != code:
        raise InvalidInput(T("the feature's code differs from the path's {code}", code=code), where="properties.code")
    base = old.model_dump(exclude={"geometry", "raw_geometry", "raw_crs", "derived"}) if old else {"code": code}
    geometry = None
    if body.geometry is not None:
        geometry = geometry_from_geojson(body.geometry, crs)
        base.pop("cells", None)
    try:
        return Unit.model_validate({**base, **props, "code": code, "geometry": geometry if geometry is not None
                                    else (None if "cells" in props or old is None else old.geometry)})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "feature"
        raise InvalidInput(str(err["msg"]).removeprefix("Value error, "), where=where) from None


@router.get("/versions/{version_id}/topology", summary="Topology problems of a version, each a located GeoJSON "
            "feature (planners and auditors; cached per revision)", response_model=None)
def topology(version_id: Id, repo: Repo, request: Request, user: GapReader) -> Response:
    """The check takes about a second on a county, so its answer is kept per (version, revision): a published
    version never changes and every edit of a draft bumps its revision (`api/topology_cache.py`); with the day and
    the matters, which the rule gaps read."""
    version = repo.version(version_id)  # 404 names a missing one
    cache: TopologyCache = request.app.state.topology
    # The rule-gap part also reads the day (gaps are checked from today on) and the matter catalogue, which is
    # not part of a version (a catalogue import adds matters without a draft edit): both are in the key.
    matters = hash(tuple((m.code, m.domain) for m in repo.matters()))
    key = (version_id, version.revision, request.app.state.settings.topology_tolerance_m2, clock.today(), matters)
    # The problems are kept with their messages as `Text` and rendered per language, so a cached answer is never
    # in another reader's language: the check runs once per key, its rendering once per key and language.
    problems: list[TopologyProblem] = cache.answer(key, lambda: _versions(request, repo).check(version_id))
    body: bytes = cache.answer((*key, current_language()), lambda: bytes(JSONResponse(summary(problems)).body))
    return Response(body, media_type="application/json")


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="the draft's new name")


# `:int` in the paths: /versions/diff (GET only) must not be read as a version id, so DELETE on it is a 405 — as is
# any id that is not a whole number (only GET /versions/{id} takes that path, to answer 422 naming it).
NOT_AN_ID: dict[int | str, dict[str, Any]] = {405: {"model": Error, "description": "the id is not a whole number: "
                                                   "only GET answers at that path"}}


@router.patch("/versions/{version_id:int}", summary="Rename a draft (a published version keeps its name: 409)",
              responses=NOT_AN_ID)
def rename_version(version_id: Id, body: RenameIn, repo: Repo, user: Planner) -> Version:
    """Only the name changes: the revision stays, so a validated draft stays validated and previews still hold."""
    name = body.name.strip()
    if not name:
        raise InvalidInput(T("the name is empty"), where="name")
    return repo.rename_version(version_id, name)


@router.delete("/versions/{version_id:int}", responses=NOT_AN_ID,
               summary="Delete a draft at the revision you saw (a published version: 409)")
def delete_version(version_id: Id, revision: Revision, repo: Repo, request: Request, user: Planner) -> dict[str, Any]:
    """Drafts are scratch work; published versions are the record and stay. The worker's caches forget the id (on
    SQLite the next draft may be given it)."""
    repo.delete_draft(version_id, revision)
    request.app.state.topology.forget(version_id)
    request.app.state.layers.forget(version_id)
    request.app.state.routers.forget(version_id)
    return {"deleted": version_id}


@router.post("/versions/{version_id}/validate", summary="Check a draft; with no error left it becomes validated")
def validate(version_id: Id, revision: Revision, repo: Repo, request: Request, user: Planner) -> JSONResponse:
    version, problems = _versions(request, repo).validate(version_id, revision)
    return JSONResponse({**summary(problems), "version": version.model_dump(mode="json")})


def _publish(request: Request, repo: Repository, user: User, body: PublishIn,
             publish: Callable[[Versions, date], Version]) -> dict[str, Any]:
    """Publish (or roll back), then re-route open cases if asked — all in the request's one transaction."""
    today = clock.today()
    if body.reroute_open_cases:
        require_reroute_day(body.effective_from, today)  # before the publish's topology check
    elif body.expected_cases is not None:
        raise InvalidInput(T("expected_cases goes with reroute_open_cases"), where="expected_cases")
    versions = _versions(request, repo)
    before = versions.in_force(today) if body.reroute_open_cases else None
    version = publish(versions, today)
    out = version.model_dump(mode="json")
    if body.reroute_open_cases:
        cache: RouterCache = request.app.state.routers
        out["reroute"] = versions.reroute_open_cases(before, version, lambda v: cache.router(repo, repo.version(v)),
                                                     user.username, clock.now(), body.expected_cases)
    return out


@router.post("/versions/{version_id}/publish",
             summary="Publish a checked draft from a date (today or later), at the revision you checked")
def publish(version_id: Id, body: PublishIn, revision: Revision, repo: Repo, request: Request,
            user: Planner) -> dict[str, Any]:
    """Publishing re-checks topology and refuses a draft changed since `revision` (the one you validated and
    previewed). With `reroute_open_cases` (from today only) the open cases the preview lists move too."""
    return _publish(request, repo, user, body, lambda v, today: v.publish(
        version_id, body.effective_from, today, expected_revision=revision))


@router.post("/versions/{version_id}/rollback", summary="Publish a published version's content again from a date")
def rollback(version_id: Id, body: PublishIn, repo: Repo, request: Request, user: Planner) -> dict[str, Any]:
    return _publish(request, repo, user, body, lambda v, today: v.rollback(version_id, body.effective_from, today))


@router.get("/versions/diff", summary="What changed between two versions (units, areas, parents, teams, rules)")
def diff(repo: Repo, request: Request, a: Annotated[Id, Query(alias="from")],
         b: Annotated[Id, Query(alias="to")]) -> dict[str, Any]:
    return _versions(request, repo).diff(a, b)


@router.get("/versions/{version_id}/impact", summary="What publishing this draft would change, before publishing")
def impact(version_id: Id, repo: Repo, request: Request, user: ImpactReader, against: Id | None = None,
           day: Day | None = None) -> JSONResponse:
    """Against `against`, by default the version in force on `day` — or, for a published version, the one it
    succeeded (what `POST /versions/{id}/reroute` compares)."""
    cache: RouterCache = request.app.state.routers
    when = day or clock.today()
    versions = _versions(request, repo)
    version = repo.version(version_id)
    previous = versions.predecessor(version) if version.status == "published" else None
    current = against if against is not None else previous.id if previous else repo.version_at(when).id
    assert current is not None
    result = versions.impact(version_id, current, lambda v: cache.router(repo, repo.version(v)), when)
    return JSONResponse(result)


@router.post("/versions/{version_id}/reroute",
             summary="Re-route open cases to the version in force today (one published for a later day, on its day)")
def reroute(version_id: Id, body: RerouteIn, repo: Repo, request: Request, user: Planner) -> dict[str, Any]:
    """The open cases `GET /versions/{id}/impact` lists (against the version this one succeeded) move to their
    new team, exactly as `reroute_open_cases` does on a publish from today."""
    cache: RouterCache = request.app.state.routers
    return _versions(request, repo).reroute_in_force(
        version_id, lambda v: cache.router(repo, repo.version(v)), user.username, clock.now(), body.expected_cases)


@router.put("/versions/{version_id}/units/{code}", summary="Create or replace a unit of a draft (GeoJSON Feature)",
            responses=CREATED)
def put_unit(version_id: Id, code: str, body: UnitFeature, revision: Revision, repo: Repo, user: Planner,
             crs: str = "wgs84") -> JSONResponse:
    try:
        old: Unit | None = repo.unit(version_id, code)
    except NotFound:
        old = None
    unit = unit_from_feature(code, body, crs, old)
    repo.add_units(version_id, [(f"unit {code}", unit)], replace=True, expected_revision=revision)
    status = 200 if old else 201
    return JSONResponse({**unit_feature(repo.unit(version_id, code), version_id),
                         "version": repo.version(version_id).model_dump(mode="json")}, status_code=status)


@router.delete("/versions/{version_id}/units/{code}", summary="Remove a unit from a draft")
def delete_unit(version_id: Id, code: str, revision: Revision, repo: Repo, user: Planner) -> dict[str, Any]:
    repo.remove_unit(version_id, code, expected_revision=revision)
    return repo.version(version_id).model_dump(mode="json")


class SplitIn(BaseModel):
    """Cut a unit along a line; the part holding `at` becomes the new unit."""

    line: dict[str, Any] = Field(description="GeoJSON LineString across the unit, in `crs`")
    at: tuple[float, float] = Field(description="lon, lat of a point inside the part that becomes the new unit")
    new_code: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    new_name: str = Field(min_length=1, max_length=200)
    crs: str = "wgs84"


class MergeIn(BaseModel):
    codes: list[str] = Field(min_length=2, max_length=100)
    into: str


@router.post("/versions/{version_id}/units/{code}/split", summary="Split a unit of a draft along a line")
def split_unit(version_id: Id, code: str, body: SplitIn, revision: Revision, repo: Repo, request: Request,
               user: Planner) -> dict[str, Any]:
    line = geometry_from_geojson(body.line, body.crs, where="line")
    point = shapely.Point(*body.at)
    if body.crs.lower() not in ("wgs84", "epsg:4326"):
        point = geometry_to_wgs84(point, body.crs, where="at")
    return _versions(request, repo).split(version_id, code, line, body.new_code, body.new_name, point, revision)


class AssignIn(BaseModel):
    parent_code: str = Field(min_length=1, max_length=64, description="the new parent (e.g. another township)")


@router.post("/versions/{version_id}/units/{code}/assign",
             summary="Move a unit to another parent in a draft; parents made of their children follow")
def assign_unit(version_id: Id, code: str, body: AssignIn, revision: Revision, repo: Repo,
                user: Planner) -> dict[str, Any]:
    """The redistricting move: a village to another township, whose outlines are redrawn as the union of
    their villages (refused, with what to do, when a parent is not made of its children)."""
    return reassign(repo, version_id, code, body.parent_code, revision)


class MoveCellsIn(BaseModel):
    cells: list[str] = Field(min_length=1, max_length=MAX_CELLS_PER_MOVE, description="H3 cell indexes")
    to: str = Field(min_length=1, max_length=64, description="the H3 unit (e.g. a grid) that takes them")


@router.post("/versions/{version_id}/cells/move",
             summary="Move H3 cells to another H3 unit of a draft, in one edit")
def move_cells_to(version_id: Id, body: MoveCellsIn, revision: Revision, repo: Repo,
                  user: Planner) -> dict[str, Any]:
    """The redistricting move for H3 units: the cells leave every unit of the target's layer that held them
    and join `to`, at one revision (the target's parent must hold their centres; a giver keeps one cell)."""
    return move_cells(repo, version_id, body.cells, body.to, revision)


@router.post("/versions/{version_id}/merge", summary="Merge units of a draft into one of them")
def merge_units(version_id: Id, body: MergeIn, revision: Revision, repo: Repo, request: Request,
                user: Planner) -> dict[str, Any]:
    return _versions(request, repo).merge(version_id, body.codes, body.into, revision)


@router.put("/versions/{version_id}/rules/{code}", summary="Create or replace a rule of a draft", responses=CREATED)
def put_rule(version_id: Id, code: str, body: Rule, revision: Revision, repo: Repo, user: Planner,
             response: Response) -> Rule:
    if body.code != code:
        raise InvalidInput(T("the body's code {code} differs from the path's {code2}",
                             code=body.code, code2=code), where="code")
    response.status_code = 201 if repo.put_rule(version_id, body, expected_revision=revision) else 200
    return body


@router.delete("/versions/{version_id}/rules/{code}", summary="Remove a rule from a draft")
def delete_rule(version_id: Id, code: str, revision: Revision, repo: Repo, user: Planner) -> dict[str, Any]:
    repo.remove_rule(version_id, code, expected_revision=revision)
    return repo.version(version_id).model_dump(mode="json")


@router.put("/versions/{version_id}/delegations", summary="Replace a draft's delegation list")
def put_delegations(version_id: Id, body: list[Delegation], revision: Revision, repo: Repo,
                    user: Planner) -> dict[str, Any]:
    count = repo.set_delegations(version_id, body, expected_revision=revision)
    return {"delegations": count, "version": repo.version(version_id).model_dump(mode="json")}


class GapFeature(BaseModel):
    """An allowed-gap area as a GeoJSON Feature: a (Multi)Polygon in `crs`, `name` and `note` in properties."""

    type: str = Field(pattern="^Feature$")
    geometry: dict[str, Any]
    properties: dict[str, Any] = Field(default_factory=dict)


def gap_feature(gap: AllowedGap, version_id: int) -> dict[str, Any]:
    """An allowed-gap area as a GeoJSON Feature."""
    return {"type": "Feature", "id": gap.code, "geometry": shapely.geometry.mapping(gap.geometry),
            "properties": {"code": gap.code, "name": gap.name, "note": gap.note, "version": version_id}}


def gap_from_feature(code: str, body: GapFeature, crs: str) -> AllowedGap:
    """The allowed gap a feature describes (422 naming what is wrong)."""
    props = dict(body.properties)
    if props.pop("code", code) != code:
        raise InvalidInput(T("the feature's code differs from the path's {code}", code=code), where="properties.code")
    unknown = sorted(set(props) - {"name", "note"})
    if unknown:
        raise InvalidInput(T("unknown properties {items}; an allowed gap has name and note",
                             items=', '.join(unknown)),
                           where="properties")
    geometry = geometry_from_geojson(body.geometry, crs)
    try:
        return AllowedGap.model_validate({"code": code, "name": props.get("name", code), "note": props.get("note", ""),
                                          "geometry": geometry})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "feature"
        raise InvalidInput(str(err["msg"]).removeprefix("Value error, "), where=where) from None


@router.get("/versions/{version_id}/allowed-gaps", summary="Allowed-gap areas of a version (lakes, rivers…)",
            response_class=JSONResponse, responses={200: {"content": {"application/geo+json": {}}}})
def allowed_gaps(version_id: Id, repo: Repo, user: GapReader) -> JSONResponse:
    features = [gap_feature(g, version_id) for g in repo.allowed_gaps(version_id)]
    return JSONResponse({"type": "FeatureCollection", "features": features}, media_type="application/geo+json")


@router.get("/versions/{version_id}/allowed-gaps/{code}", summary="One allowed-gap area",
            response_class=JSONResponse, responses={200: {"content": {"application/geo+json": {}}}})
def allowed_gap(version_id: Id, code: str, repo: Repo, user: GapReader) -> JSONResponse:
    gap = next((g for g in repo.allowed_gaps(version_id) if g.code == code), None)
    if gap is None:
        raise NotFound(T("no allowed gap {code} in version {version_id}", code=code, version_id=version_id))
    return JSONResponse(gap_feature(gap, version_id), media_type="application/geo+json")


@router.put("/versions/{version_id}/allowed-gaps/{code}",
            summary="Create or replace an allowed-gap area of a draft (GeoJSON Feature; not a topology gap)",
            responses=CREATED)
def put_allowed_gap(version_id: Id, code: str, body: GapFeature, revision: Revision, repo: Repo, user: Planner,
                    crs: str = "wgs84") -> JSONResponse:
    if not CODE.match(code):
        raise InvalidInput(T("a code is 1–64 letters, digits or _ . : -"), where="code")
    gap = gap_from_feature(code, body, crs)
    new = repo.put_allowed_gap(version_id, gap, expected_revision=revision)
    return JSONResponse({**gap_feature(gap, version_id), "version": repo.version(version_id).model_dump(mode="json")},
                        status_code=201 if new else 200)


@router.delete("/versions/{version_id}/allowed-gaps/{code}", summary="Remove an allowed-gap area from a draft")
def delete_allowed_gap(version_id: Id, code: str, revision: Revision, repo: Repo, user: Planner) -> dict[str, Any]:
    repo.remove_allowed_gap(version_id, code, expected_revision=revision)
    return repo.version(version_id).model_dump(mode="json")
