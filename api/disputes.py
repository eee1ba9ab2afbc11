"""Disputes settled by spatial query: who owns a point or an area (a contested yard) as of any date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import CurrentUser, current_user
from api.deps import GridGovRoute, get_repo
from api.geojson import geometry_from_geojson
from api.inputs import Day, Id, JsonCount, JsonId
from cases import clock
from gis.errors import InvalidInput
from gis.model import check_lonlat_bounds
from gis.routing.area import area_shares
from i18n import T
from store.disputes import Disputes, dispute_view
from store.repo import Repository
from store.routers import RouterCache

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


class DisputeIn(AreaQuery):
    """A dispute a team files: a point or an area, the matter, the date, and what is disputed."""

    reason: str = Field(min_length=1, max_length=4000)


class EvidenceIn(BaseModel):
    revision: JsonCount
    text: str = Field(min_length=1, max_length=4000)
    photos: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list, max_length=9)


class DismissIn(BaseModel):
    revision: JsonCount
    reason: str = Field(min_length=1, max_length=4000)


class RulingIn(BaseModel):
    """The arbiter's decision; with `as_rule` it becomes an override rule in a draft version."""

    revision: JsonCount
    team: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=4000)
    legal_basis: str = Field(min_length=1, max_length=1000)
    as_rule: bool = False
    unit: str | None = Field(default=None, description="the rule's scope: this unit (else the disputed place)")
    all_matters: bool = False
    priority: int | None = Field(default=None, ge=0, le=10_000)
    effective_from: Day | None = None
    effective_to: Day | None = None
    draft_version: JsonId | None = Field(default=None, description="add the rule to this draft (default: a new one)")


@router.get("/disputes", summary="Dispute records you may see (a team: those it is party to)")
def list_disputes(user: CurrentUser, repo: Repo, status: str | None = None) -> JSONResponse:
    return JSONResponse([dispute_view(r) for r in Disputes(repo.session).listing(user, status)])


@router.post("/disputes", summary="File a dispute over a point or an area", status_code=201)
def file_dispute(body: DisputeIn, user: CurrentUser, repo: Repo, request: Request) -> JSONResponse:
    where = _geometry(body.geometry, body.crs)
    if where.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InvalidInput(T("a dispute is about a Point or a (Multi)Polygon"), where="geometry")
    day = body.at or clock.today()
    repo.matter(body.matter)
    cache: RouterCache = request.app.state.routers
    row = Disputes(repo.session).file(user, where, body.matter, day, body.reason, cache.router_at(repo, day),
                                      clock.now())
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
    cache: RouterCache = request.app.state.routers
    row = Disputes(repo.session).get(user, dispute_id)
    router_now = cache.router(repo, repo.version(row.version_id))
    done = Disputes(repo.session).rule(user, dispute_id, body.revision, body.model_dump(), repo, router_now,
                                       clock.now())
    return JSONResponse(dispute_view(done))


@router.post("/disputes/{dispute_id:int}/dismiss", summary="Dismiss a dispute with a reason")
def dismiss_dispute(dispute_id: Id, body: DismissIn, user: CurrentUser, repo: Repo) -> JSONResponse:
    return JSONResponse(dispute_view(Disputes(repo.session).dismiss(user, dispute_id, body.revision, body.reason,
                                                                    clock.now())))
