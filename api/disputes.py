"""Disputes settled by spatial query: who owns a point or an area (a contested yard) as of any date."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import CurrentUser, current_user
from api.deps import GridGovRoute, get_repo
from api.geojson import geometry_from_geojson
from api.inputs import Day, Id, JsonCount, JsonId, Text
from api.routing import containing_units
from cases import clock
from gis.errors import InvalidInput, NotFound
from gis.model import check_lonlat_bounds
from gis.routing.area import area_shares
from i18n import T, current_language
from store.cases import Cases
from store.disputes import Disputes, dispute_view
from store.repo import Repository
from store.routers import RouterCache
from store.schema import CaseRow, DisputeRow
from store.users import User
from web.sheet import sheet_pdf

router = APIRouter(route_class=GridGovRoute, tags=["disputes"], dependencies=[Depends(current_user)])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]


class AreaQuery(BaseModel):
    """A polygon (GeoJSON geometry in `crs`), a matter and the date the question is about."""

    geometry: dict[str, Any]
    crs: str = "wgs84"
    matter: str = Field(min_length=1, max_length=64)
    at: Day | None = Field(default=None, description="as of this date (default today)")


def _geometry(geometry: dict[str, Any], crs: str) -> Any:
    out = geometry_from_geojson(geometry, crs)
    check_lonlat_bounds(out, where="geometry")
    return out


@router.post("/disputes/area", summary="Who owns an area as of a date: its share in each unit and team")
def area_owner(body: AreaQuery, repo: Repo, request: Request) -> JSONResponse:
    """The answer uses the version in force on the date; the point question is `POST /route` with `at`."""
    area = _geometry(body.geometry, body.crs)
    if area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(T("the area must be a Polygon or MultiPolygon"), where="geometry")
    day = body.at or clock.today()
    cache: RouterCache = request.app.state.routers
    return JSONResponse(area_shares(cache.router_at(repo, day), area, body.matter, day))


@router.get("/disputes/sheet", summary="A point lookup's result sheet (查询结果单): as JSON, or as a PDF to file",
            response_model=None, responses={200: {"content": {"application/pdf": {}}}})
def result_sheet(repo: Repo, request: Request, user: CurrentUser,
                 lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
                 lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
                 at: Day | None = None,
                 matter: Annotated[str | None, Query(min_length=1, max_length=64,
                                                     description="one matter (default: every matter, grouped)")] = None,
                 format: Literal["json", "pdf"] = "json") -> Response:
    """Place, date, the boundaries in force, the containing units, who is responsible (for one matter, or for every
    matter grouped by team, rule and finding) and the basis, who asked and when. WGS84 coordinates."""
    day = at or clock.today()
    cache: RouterCache = request.app.state.routers
    r = cache.router_at(repo, day)  # 404 naming the first version for a day before it
    matters = [repo.matter(matter)] if matter else repo.matters()
    if not matters:
        raise NotFound("the matter catalogue is empty: import it first (`gridgov catalogue import`)", where="matter")
    teams = {t.code: t.name for t in repo.teams()}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    first = None
    for m in matters:
        d = r.explain(lon, lat, m.code, day, None)
        first = first or d
        rule = d.winning_rule
        key = (d.team, tuple(d.co_owners), d.status, rule.code if rule else None, tuple(d.candidates))
        group = groups.setdefault(key, {
            "team": d.team, "team_name": d.team_name, "status": d.status, "reason": d.reason,
            "co_owners": [{"code": c, "name": teams.get(c, c)} for c in d.co_owners],
            "candidates": [{"code": c, "name": teams.get(c, c)} for c in d.candidates],
            "rule": {"code": rule.code, "priority": rule.priority, "legal_basis": rule.legal_basis} if rule else None,
            "matters": []})
        group["matters"].append({"code": m.code, "name": m.name, "domain": m.domain})
    assert first is not None
    sheet = {
        "place": {"lon": lon, "lat": lat, **containing_units(r, lon, lat)},
        "day": day.isoformat(), "version": first.version.model_dump(mode="json"),
        "matter": matter, "matter_name": matters[0].name if matter else None,
        "groups": sorted(groups.values(), key=lambda g: (-len(g["matters"]), g["team"])),
        "asked_by": {"username": user.username, "display_name": user.display_name, "role": user.role},
        "asked_at": clock.now().isoformat(),
    }
    if format == "pdf":
        name = f"gridgov-sheet-{day.isoformat()}-{lat:.5f}-{lon:.5f}.pdf"
        return Response(sheet_pdf(sheet, current_language()), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
    return JSONResponse(sheet)


class DisputeIn(AreaQuery):
    """A dispute a team files: a point or an area, the matter, the date, and what is disputed."""

    reason: Text = Field(max_length=4000)
    case: JsonId | None = Field(default=None, description="the case it is about (its log records the dispute)")


class EvidenceIn(BaseModel):
    revision: JsonCount
    text: Text = Field(max_length=4000)
    photos: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list, max_length=9)


class DismissIn(BaseModel):
    revision: JsonCount
    reason: Text = Field(max_length=4000)


class RulingIn(BaseModel):
    """The arbiter's decision; with `as_rule` it becomes an override rule in a draft version."""

    revision: JsonCount
    team: str = Field(min_length=1, max_length=64)
    reason: Text = Field(max_length=4000)
    case_revision: JsonCount | None = Field(
        default=None, description="the revision of the dispute's case you read: needed when the case is already "
                                  "with a team and the ruling names another, which transfers the case to it (409 if "
                                  "the case changed since)")
    legal_basis: Text = Field(max_length=1000)
    as_rule: bool = False
    unit: str | None = Field(default=None, description="the rule's scope: this unit (else the disputed place)")
    all_matters: bool = False
    priority: int | None = Field(default=None, ge=0, le=10_000)
    effective_from: Day | None = None
    effective_to: Day | None = None
    draft_version: JsonId | None = Field(default=None, description="add the rule to this draft (default: a new one)")


@router.get("/disputes", summary="Dispute records you may see (a team: those it is party to)")
def list_disputes(user: CurrentUser, repo: Repo, status: str | None = None,
                  case: Annotated[Id | None, Query(description="only the records over this case")] = None
                  ) -> JSONResponse:
    return JSONResponse([dispute_view(r) for r in Disputes(repo.session).listing(user, status, case)])


@router.post("/disputes", summary="File a dispute over a point or an area", status_code=201)
def file_dispute(body: DisputeIn, user: CurrentUser, repo: Repo, request: Request) -> JSONResponse:
    where = _geometry(body.geometry, body.crs)
    if where.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InvalidInput(T("a dispute is about a Point or a (Multi)Polygon"), where="geometry")
    day = body.at or clock.today()
    repo.matter(body.matter)
    case = Cases(repo.session).get(user, body.case) if body.case is not None else None  # 404 outside your scope
    cache: RouterCache = request.app.state.routers
    now = clock.now()
    row = Disputes(repo.session).file(user, where, body.matter, day, body.reason, cache.router_at(repo, day), now,
                                      case_id=case.id if case is not None else None)
    if case is not None:  # the case's log says a dispute was raised over it, and which record; it joins the queue
        Cases(repo.session).dispute_raised(case, row.id, user.username, now)
    return JSONResponse(dispute_view(row), status_code=201)


# `:int` in the paths: /disputes/area (POST only) must not be read as a dispute id, so GET on it is a 405.
@router.get("/disputes/{dispute_id:int}", summary="One dispute record")
def get_dispute(dispute_id: Id, user: CurrentUser, repo: Repo) -> JSONResponse:
    return JSONResponse(dispute_view(Disputes(repo.session).get(user, dispute_id)))


@router.post("/disputes/{dispute_id:int}/evidence", summary="Add evidence (a party's team or the command centre)")
def add_evidence(dispute_id: Id, body: EvidenceIn, user: CurrentUser, repo: Repo) -> JSONResponse:
    row = Disputes(repo.session).add_evidence(user, dispute_id, body.revision, body.text, body.photos,
                                              clock.now())
    return JSONResponse(dispute_view(row))


@router.post("/disputes/{dispute_id:int}/ruling",
             summary="Rule on a dispute; optionally as an override rule in a draft")
def rule_dispute(dispute_id: Id, body: RulingIn, user: CurrentUser, repo: Repo, request: Request) -> JSONResponse:
    """The record is closed as `ruled`. A case it was raised over that is already with another team (dispatched,
    arrived, handled) is transferred to the ruled team in the same transaction, as the `transfer` action does: the
    ruling's reason, the deadline kept, the routing explanation renewed; send `case_revision` (a stale one is a 409
    on `case_revision` and nothing of the ruling is written). A case not yet dispatched keeps its proposal and leaves
    the dispute queue, to be dispatched to the ruled team (the console does it)."""
    cache: RouterCache = request.app.state.routers
    row = Disputes(repo.session).get(user, dispute_id)
    router_now = cache.router(repo, repo.version(row.version_id))
    now = clock.now()
    done = Disputes(repo.session).rule(user, dispute_id, body.revision, body.model_dump(), repo, router_now, now)
    case = _case_of(done, user, repo)
    if case is not None:  # the case's log says who ruled, for which team and on what basis; it leaves the queue
        cases = Cases(repo.session, request.app.state.calendar)
        cases.dispute_settled(case, done, user.username, now, body.reason.strip(), body.team)
        # Already with another team: transferred to the ruled one in this transaction (all or nothing).
        cases.transfer_on_ruling(user, case, body.case_revision, done, now, lambda day: cache.router_at(repo, day))
    return JSONResponse(dispute_view(done))


@router.post("/disputes/{dispute_id:int}/dismiss",
             summary="Dismiss a dispute as unfounded, with a reason: the case keeps its routing")
def dismiss_dispute(dispute_id: Id, body: DismissIn, user: CurrentUser, repo: Repo) -> JSONResponse:
    """The record is closed as `dismissed` with the reason; a case it was raised over keeps its routing (its
    proposed team) and its log gets a `dispute_dismissed` event naming that team. The case leaves the dispute queue
    and, not yet dispatched, waits to be registered and dispatched (the console does both in one step)."""
    now = clock.now()
    done = Disputes(repo.session).dismiss(user, dispute_id, body.revision, body.reason, now)
    case = _case_of(done, user, repo)
    if case is not None:
        Cases(repo.session).dispute_settled(case, done, user.username, now, body.reason.strip(), case.team_code)
    return JSONResponse(dispute_view(done))


def _case_of(row: DisputeRow, user: User, repo: Repository) -> CaseRow | None:
    """The case a dispute was raised over (404 outside the user's scope: the request's transaction then writes
    nothing of the ruling or dismissal either)."""
    return Cases(repo.session).get(user, row.case_id) if row.case_id is not None else None
