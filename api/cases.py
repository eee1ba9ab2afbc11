"""Reports and cases: intake, photos, the lifecycle (`POST /cases/{id}/actions`), scoped reads and history."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from api.auth import CurrentUser, require
from api.deps import GridGovRoute, get_repo
from api.fastjson import FastJSONResponse
from api.inputs import Id, Instant, JsonCount
from api.openapi import REPLAYED
from cases import clock
from cases.first_violation import parse_party
from gis.errors import Conflict, Forbidden, NotFound, PayloadTooLarge
from i18n import T, render
from i18n.terms import label
from i18n.units import listing
from store.cases import Cases, Intake, Report, case_view, event_view
from store.db import transaction
from store.first_violation import earlier_view, party_salt, proposal_for, team_outcomes
from store.photos import PhotoStore
from store.repo import Repository
from store.routers import RouterCache
from store.schema import CaseRow
from store.stats import statistics
from store.users import User

router = APIRouter(route_class=GridGovRoute, tags=["cases"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
Reporter = Annotated[User, Depends(require("grid_worker", "team_member", "dispatcher"))]
SHA256 = r"^[0-9a-f]{64}$"


class ReportIn(BaseModel):
    """A report from a phone: a point in its own CRS, a category, a note, and a key that makes retries safe."""

    idempotency_key: str = Field(min_length=8, max_length=100, description="client-generated, e.g. a UUID")
    matter: str = Field(min_length=1, max_length=64, description="the category: a matter code (GET /matters)")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    crs: Literal["wgs84", "cgcs2000", "gcj02", "bd09"] = "wgs84"
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    description: str = Field(default="", max_length=4000)
    reported_at: Instant | None = Field(default=None, description="when the worker saw it (default: now)")
    photos: list[Annotated[str, Field(pattern=SHA256)]] = Field(
        default_factory=list, max_length=9, description="SHA-256 of photos uploaded first with POST /photos")


def local(dt: datetime | None) -> datetime | None:
    """The instant a client sent, in the county's zone; without an offset it is the county's wall-clock time."""
    return clock.to_local(dt) if dt is not None else None


def zone_assumed(fields: list[str]) -> dict[str, Any]:
    """What an answer says when times came without a UTC offset: which, and the zone they were read in."""
    if not fields:
        return {}
    return {"time_zone_assumed": {"fields": fields, "time_zone": clock.zone_name(),
                                  "message": render(listing([clock.assumed_note(f) for f in fields], clauses=True))}}


def store_report(request: Request, user: User, report: Report) -> Intake:
    """Store a report in its own transaction; a race between retries of one key yields the winner's case."""
    cache: RouterCache = request.app.state.routers
    for attempt in (1, 2):
        try:
            with transaction(request.app.state.sessions) as session:
                repo = Repository(session)
                now = clock.now()
                day = clock.to_local(report.reported_at or now).date()
                return Cases(session, request.app.state.calendar).intake(user, report, cache.router_at(repo, day),
                                                                         now)
        except IntegrityError:
            # Two retries raced on one idempotency key: the loser's transaction is gone; read the winner's.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.post("/reports", summary="Report an incident (a retry with the same key never makes a second case)",
             status_code=201, response_model=None, responses=REPLAYED)
def post_report(body: ReportIn, user: Reporter, request: Request) -> JSONResponse:
    """Routed on arrival; disputes, gaps and near-boundary points go to the triage queue, the rest are
    registered and dispatched to the responsible team at once."""
    report = Report(matter=body.matter, x=body.lon, y=body.lat, crs=body.crs, accuracy_m=body.accuracy_m,
                    description=body.description, idempotency_key=body.idempotency_key,
                    reported_at=local(body.reported_at), photos=tuple(body.photos))
    result = store_report(request, user, report)
    view = {**case_view(result.case), "replayed": result.replayed, "routing": result.case.routing,
            **zone_assumed(["reported_at"] if body.reported_at is not None and body.reported_at.tzinfo is None
                           else [])}
    return FastJSONResponse(view, status_code=200 if result.replayed else 201)


class ActionsIn(BaseModel):
    """Steps on a case read at `revision`; applied all together or not at all."""

    revision: JsonCount = Field(description="the case's revision you read (409 if it changed since)")
    idempotency_key: str | None = Field(
        default=None, min_length=8, max_length=100,
        description="client-generated (e.g. a UUID): a retry with the same key and steps is answered, not applied "
                    "again")
    actions: list[dict[str, Any]] = Field(
        min_length=1, max_length=20,
        description='e.g. [{"action": "arrive", "lon": 115.1, "lat": 36.1, "crs": "gcj02"}]; each may carry '
                    '"at" (when it happened, for phones that were offline), the actor\'s lon/lat/crs and a note')

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        """Accept one step inline: {"revision": 3, "action": "arrive", ...}."""
        if isinstance(data, dict) and "actions" not in data and "action" in data:
            step = {k: v for k, v in data.items() if k not in ("revision", "idempotency_key")}
            return {"revision": data.get("revision"), "idempotency_key": data.get("idempotency_key"),
                    "actions": [step]}
        return data


@router.post("/cases/{case_id}/actions", summary="Move a case through its lifecycle (dispatch, arrive, …)",
             response_model=None)
def case_actions(case_id: Id, body: ActionsIn, user: CurrentUser, request: Request) -> JSONResponse:
    """Role and scope are checked per step; an illegal transition is a 409 naming the allowed actions. With an
    `idempotency_key`, a retry of steps already applied (a phone's outbox) answers the case again, `replayed`."""
    cache: RouterCache = request.app.state.routers
    key = body.idempotency_key
    digest = hashlib.sha256(json.dumps({"case": case_id, "revision": body.revision, "actions": body.actions},
                                       sort_keys=True, default=str).encode()).hexdigest()
    try:
        with transaction(request.app.state.sessions) as session:
            repo = Repository(session)
            now = clock.now()
            cases = Cases(session, request.app.state.calendar)
            earlier = cases.replayed(user, case_id, key, digest) if key else None
            if earlier is not None:
                return JSONResponse({**case_view(earlier, now), "routing": earlier.routing, "replayed": True,
                                     "events": []})
            row, count = cases.act(user, case_id, body.revision, body.actions, now,
                                   lambda day: cache.router_at(repo, day))
            if key:
                cases.remember(user, row, key, digest, count)
            view = {**case_view(row, now), "routing": row.routing, "replayed": False,
                    **zone_assumed(cases.assumed_zone)}
            events = Cases(session).latest_events(case_id, count)
            return JSONResponse({**view, "events": [event_view(e) for e in events]})
    except (Conflict, IntegrityError):
        if not key:
            raise
        # A retry raced the first send of these steps: the winner's answer, if it was these steps.
        with transaction(request.app.state.sessions) as session:
            earlier = Cases(session).replayed(user, case_id, key, digest)
            if earlier is None:
                raise
            return JSONResponse({**case_view(earlier), "routing": earlier.routing, "replayed": True, "events": []})


class ProposalIn(BaseModel):
    """The party (当事人) whose first violation is asked about; the number is checked, hashed and forgotten."""

    party: dict[str, Any] = Field(description='{"kind": "person" | "organisation", "id_number": "18-digit ID or '
                                              '统一社会信用代码", "name": "…"}')
    procedure: Literal["simple", "ordinary"] | None = Field(default=None, description="default: the case's")
    at: Instant | None = Field(default=None, description="when the case is handled (default: now)")


@router.post("/cases/{case_id}/first-violation", summary="The matter's first-violation list, the party's earlier "
             "cases of it within the look-back window, and the outcome the list proposes", response_model=None)
def first_violation(case_id: Id, body: ProposalIn, user: CurrentUser, repo: Repo) -> JSONResponse:
    """Writes nothing: handling the case (`handle` with `party` and `outcome`) records the party and outcome."""
    row = Cases(repo.session).get(user, case_id)
    party = parse_party(body.party)
    at = local(body.at) or clock.now()
    proposal, earlier = proposal_for(repo.session, row, party, at, body.procedure)
    return JSONResponse({
        "case": row.id, "matter": row.matter_code, "list": proposal.list_class, "window_months": proposal.months,
        "as_of": clock.iso(at),
        # The salted hash (the salt stays on the server): the officer's phone keys its offline copy of the
        # team's outcomes by it (GET /first-violation/team).
        "party": {"kind": party.kind, "id_type": party.id_type, "masked_id": party.masked(),
                  "name": party.masked_name(), "party_hash": party.digest(party_salt(repo.session))},
        "earlier": [earlier_view(e) for e in earlier], "proposal": proposal.as_json(),
        "labels": {"list": label("first_violation", proposal.list_class),
                   "outcome": label("outcome", proposal.outcome)}})


@router.get("/first-violation/team", summary="For an officer's phone to keep offline: the first-violation lists "
            "of the team's open cases' matters and the parties recorded on the team's cases within their windows",
            response_model=None)
def team_first_violations(user: CurrentUser, repo: Repo) -> JSONResponse:
    """Read by the officer page while online. Offline it answers a party looked up before from this copy and says
    as of when; the proposal it makes then is provisional: the server checks again when the step is sent."""
    if user.role != "team_member" or not user.team_code:
        raise Forbidden(T("only an enforcement team's officers keep their team's first-violation records"))
    now = clock.now()
    matters, outcomes = team_outcomes(repo.session, user.team_code, now)
    return JSONResponse({"team": user.team_code, "as_of": clock.iso(now), "matters": matters,
                         "outcomes": outcomes})


@router.get("/cases", summary="Cases in your scope (a team sees its own; a grid worker their reports)",
            response_model=None)
def list_cases(user: CurrentUser, repo: Repo, request: Request, status: str | None = None,
               triage: bool | None = None, team: str | None = None, township: str | None = None,
               county: Annotated[str | None, Query(description="only this county's cases")] = None,
               since: Instant | None = None, until: Instant | None = None,
               dispute: Annotated[Literal["open", "ruled", "dismissed"] | None, Query(
                   description="only cases whose dispute record has this status")] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> JSONResponse:
    now = clock.now()
    rows = Cases(repo.session).in_scope(user, status=status.split(",") if status else None, triage=triage,
                                        team=team, township=township, county=county, dispute=dispute,
                                        since=local(since),
                                        until=local(until),
                                        limit=limit)
    return JSONResponse([case_view(r, now) for r in rows])


@router.get("/cases/{case_id}", summary="One case with its routing explanation", response_model=None)
def get_case(case_id: Id, user: CurrentUser, repo: Repo) -> JSONResponse:
    row = Cases(repo.session).get(user, case_id)
    return JSONResponse({**case_view(row), "routing": row.routing})


@router.get("/cases/{case_id}/history", summary="The case's append-only event log: who, when, where, what, why",
            response_model=None)
def case_history(case_id: Id, user: CurrentUser, repo: Repo) -> JSONResponse:
    return JSONResponse([event_view(e) for e in Cases(repo.session).history(user, case_id)])


@router.post("/photos", summary="Upload one photo (raw JPEG/PNG/WebP body); reference it in a report by its SHA-256",
             status_code=201, response_model=None, responses=REPLAYED)
async def upload_photo(request: Request, user: Reporter) -> JSONResponse:
    store: PhotoStore = request.app.state.photos
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > store.max_bytes:
            raise PayloadTooLarge(T("photo is over the limit of {max_bytes} bytes; send a smaller or more "
                                    "compressed image", max_bytes=store.max_bytes), where="body")
        chunks.append(chunk)
    data = b"".join(chunks)

    def save() -> tuple[dict[str, Any], bool]:
        with transaction(request.app.state.sessions) as session:
            row, created = store.save(session, data, request.headers.get("content-type"), user.username,
                                      clock.now())
            return {"sha256": row.sha256, "content_type": row.content_type, "size": row.size,
                    "url": f"/photos/{row.sha256}"}, not created

    body, existed = await run_in_threadpool(save)
    return JSONResponse(body, status_code=200 if existed else 201)


@router.get("/photos/{sha256}", summary="A photo, to its uploader and to whoever may see a case that shows it",
            response_model=None, responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
def get_photo(sha256: Annotated[str, Field(pattern=SHA256)], user: CurrentUser, repo: Repo,
              request: Request) -> Response:
    store: PhotoStore = request.app.state.photos
    if user.role == "planner":  # by role, before any lookup: planners upload none and see no cases
        raise Forbidden(T("a planner does not see case photos"))
    row, data = store.read(repo.session, sha256)
    if row.uploaded_by != user.username:
        cases = Cases(repo.session)
        holders = repo.session.scalars(
            sa.select(CaseRow).where(sa.cast(CaseRow.photos, sa.String).contains(sha256)))
        if not any(cases.visible(user, c) for c in holders):
            # The words of a missing photo: hashes cannot be probed.
            raise NotFound(T("no photo {sha256}", sha256=sha256))
    return Response(data, media_type=row.content_type, headers={"ETag": f'"{sha256}"',
                                                                 "Cache-Control": "private, max-age=31536000"})


@router.get("/stats", summary="Operational statistics for a period, per team and township")
def stats(user: CurrentUser, repo: Repo,
          since: Annotated[Instant | None, Query(alias="from", description="start (default: 30 days ago)")] = None,
          until: Annotated[Instant | None, Query(alias="to", description="end, exclusive (default: now)")] = None,
          county: Annotated[str | None, Query(description="only this county's cases")] = None,
          ) -> dict[str, Any]:
    """Cases reported in [from, to): by state, on-time closure rate, mean hours to close, procedures,
    escalations. A team member sees their own team's figures."""
    end = local(until) or clock.now()
    start = local(since) or end - timedelta(days=30)
    return statistics(repo.session, user, start, end, county)
