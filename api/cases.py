"""Reports and cases: `POST /reports` (idempotent intake), `GET /cases`, `GET /cases/{id}`, its history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from api.auth import CurrentUser, require
from api.deps import get_repo
from store.cases import Cases, Report, case_view
from store.db import transaction
from store.repo import Repository
from store.routers import RouterCache
from store.users import User

router = APIRouter(tags=["cases"])
Repo = Annotated[Repository, Depends(get_repo)]
Reporter = Annotated[User, Depends(require("grid_worker", "team_member", "dispatcher"))]


class ReportIn(BaseModel):
    """A report from a phone: a point in its own CRS, a category, a note, and a key that makes retries safe."""

    idempotency_key: str = Field(min_length=8, max_length=100, description="client-generated, e.g. a UUID")
    matter: str = Field(min_length=1, max_length=64, description="the category: a matter code (GET /matters)")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    crs: Literal["wgs84", "cgcs2000", "gcj02", "bd09"] = "wgs84"
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    description: str = Field(default="", max_length=4000)
    reported_at: datetime | None = Field(default=None, description="when the worker saw it (default: now)")


def _report(body: ReportIn) -> Report:
    return Report(matter=body.matter, x=body.lon, y=body.lat, crs=body.crs, accuracy_m=body.accuracy_m,
                  description=body.description, idempotency_key=body.idempotency_key,
                  reported_at=body.reported_at)


@router.post("/reports", summary="Report an incident (a retry with the same key never makes a second case)",
             status_code=201, response_model=None)
def post_report(body: ReportIn, user: Reporter, request: Request) -> JSONResponse:
    """Routed on arrival; disputes, gaps and near-boundary points go to the triage queue."""
    cache: RouterCache = request.app.state.routers
    report = _report(body)
    for attempt in (1, 2):
        try:
            with transaction(request.app.state.sessions) as session:
                repo = Repository(session)
                day = (report.reported_at or datetime.now()).date()
                result = Cases(session).intake(user, report, cache.router_at(repo, day), datetime.now())
                view = {**case_view(result.case), "replayed": result.replayed,
                        "routing": result.case.routing}
            return JSONResponse(view, status_code=200 if result.replayed else 201)
        except IntegrityError:
            # Two retries raced on one idempotency key: the loser's transaction is gone; read the winner's.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.get("/cases", summary="Cases in your scope (a team sees its own; a grid worker their reports)")
def list_cases(user: CurrentUser, repo: Repo, status: str | None = None, triage: bool | None = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> list[dict[str, Any]]:
    return [case_view(r) for r in Cases(repo.session).in_scope(user, status=status, triage=triage, limit=limit)]


@router.get("/cases/{case_id}", summary="One case with its routing explanation")
def get_case(case_id: int, user: CurrentUser, repo: Repo) -> dict[str, Any]:
    row = Cases(repo.session).get(user, case_id)
    return {**case_view(row), "routing": row.routing}


@router.get("/cases/{case_id}/history", summary="The case's append-only event log")
def case_history(case_id: int, user: CurrentUser, repo: Repo) -> list[dict[str, Any]]:
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "from": e.from_status,
             "to": e.to_status, "lon": e.lon, "lat": e.lat, "reason": e.reason, "detail": e.detail}
            for e in Cases(repo.session).history(user, case_id)]
