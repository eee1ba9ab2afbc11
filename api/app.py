"""The FastAPI application factory: thin adapters over `gis/` and `store/`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints
from starlette.middleware.gzip import GZipMiddleware

from analytics.indicators import load_scoring
from api import (
    auth,
    cases,
    catalogue,
    disputes,
    hotspots,
    indicators,
    ogc,
    open311,
    routing,
    screen,
    tiles,
    versions,
    wall,
)
from api.deps import GridGovRoute, get_repo, resolve_version
from api.errors import install_body_limit, install_error_handlers, install_language
from api.fastjson import dumps
from api.geojson import feature_collection, unit_feature
from api.headers import install_nosniff
from api.hotspot_cache import HotspotCache
from api.inputs import Day, Id, JsonId, Text, refuse_control_characters
from api.openapi import CREATED, install_openapi
from api.openapi import docs as openapi_docs
from api.topology_cache import TopologyCache
from cases import clock
from config import Settings, get_settings
from gis.errors import InvalidInput
from gis.model import Delegation, Matter, Rule, Team, Version
from i18n import T
from store.cases import escalate_overdue
from store.db import make_engine, session_factory, transaction, upgrade
from store.epochs import SharedEpochs
from store.incidents import incidents_in_scope
from store.photos import PhotoStore
from store.repo import Repository
from store.routers import RouterCache
from store.users import TokenCache, User
from web.pages import install_pages

Repo = Annotated[Repository, Depends(get_repo, scope="function")]
log = logging.getLogger("gridgov")
SIGNED_IN = [Depends(auth.current_user)]  # reads of boundaries, rules and teams: any signed-in user
Planner = Annotated[User, Depends(auth.require("planner"))]


class DraftIn(BaseModel):
    """A new draft version."""

    name: Text = Field(max_length=200)  # stripped; empty or only spaces is a 422 naming `name`
    note: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(default="", max_length=2000)
    based_on: JsonId | None = Field(default=None, description="copy units, rules and delegations of this version")


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build the app over the configured database (migrating it first unless told not to)."""
    settings = settings or get_settings()
    clock.configure(settings.timezone)  # one clock: the county's zone for days, deadlines and "today"
    engine = make_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout)
    if migrate:
        upgrade(engine)
    app = FastAPI(
        lifespan=_lifespan,
        title="GridGov",
        version="0.1.0",
        description="County grid governance: which team is responsible for every incident point, and why.",
        dependencies=[Depends(refuse_control_characters)],
        docs_url=None,  # /docs below: Swagger UI over the document in the page's language (api/openapi.py)
    )
    app.router.route_class = GridGovRoute  # the app's own routes release their connection like the routers'
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    # Token checks and the version in force, kept per worker while no process on this host changed them
    # (store/epochs.py): no database round trip per request for either.
    epochs = SharedEpochs.in_dir(settings.data_dir)
    app.state.tokens = TokenCache(epochs, settings.recheck_seconds)
    app.state.routers = RouterCache(settings.fallback_team, epochs=epochs, recheck_s=settings.recheck_seconds)
    app.state.calendar = settings.work_calendar()
    app.state.scoring = load_scoring(settings.indicators_config)  # a broken weights file stops start-up, named
    app.state.photos = PhotoStore(settings.resolved_media_dir(), int(settings.max_photo_mib * 2**20))
    app.state.topology = TopologyCache()  # topology answers per (version, revision)
    # Unit layers as the JSON bytes sent, by the same key: every page opens with the county and its townships
    # (a published version's units never change; a draft's edit bumps its revision). The routing counter is in
    # the key too, so a commit on this host that touches units is seen at once whatever it did to the revision.
    app.state.layers = TopologyCache()
    app.state.epochs = epochs
    app.state.hotspots = HotspotCache(epochs, settings.hotspot_cache_seconds)  # until a report they count changes
    install_error_handlers(app)
    install_openapi(app)
    app.add_route("/docs", openapi_docs, include_in_schema=False)
    install_body_limit(app, settings.max_upload_mib * 2**20)
    install_nosniff(app)
    # Layers and feeds are megabytes of JSON that gzip to a fifth. Level 1: ~6 ms of server CPU per MiB against
    # ~16 at level 5, for answers ~20 % larger (the big screen's first requests: 37 against 110 ms of gzip, while
    # the page waits for them). Photos and other compressed types pass through as they are.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    install_language(app, settings.language)  # outermost: every answer, refusals included, in one language
    # The hot paths first (POST /route, POST /reports): matched before the ~100 other routes are tried. Neither
    # router's paths overlap another's, so the order changes nothing else.
    app.include_router(routing.router)
    app.include_router(cases.router)
    app.include_router(versions.router)  # before `/versions/{id}`, so `/versions/diff` is not read as an id
    _routes(app)
    app.include_router(auth.router)
    app.include_router(open311.router)
    app.include_router(ogc.router)
    app.include_router(tiles.router)
    app.include_router(disputes.router)
    app.include_router(wall.router)
    app.include_router(hotspots.router)
    app.include_router(screen.router)
    app.include_router(catalogue.router)
    app.include_router(indicators.router)
    install_pages(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Compile the routers of current and future versions in the background as the server starts, and
    run the escalation scheduler while it serves."""

    def warm() -> None:
        with transaction(app.state.sessions) as session:
            app.state.routers.warm(Repository(session), clock.today())

    threading.Thread(target=warm, name="warm-routers", daemon=True).start()
    period = app.state.settings.tick_seconds
    task = asyncio.create_task(_scheduler(app, period)) if period > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _scheduler(app: FastAPI, period: float) -> None:
    """Escalate overdue cases every `period` seconds (each worker runs one; revisions keep them apart)."""
    while True:
        await asyncio.sleep(period)
        try:
            done = await asyncio.to_thread(escalate_overdue, app.state.sessions, app.state.calendar, clock.now(),
                                           app.state.settings.language)  # the log's notes in the county's language
            if done:
                log.info("escalated %d overdue case(s)", len(done))
        except Exception:  # a failed tick must not stop the next one
            log.exception("escalation tick failed")


def _routes(app: FastAPI) -> None:
    @app.get("/", summary="What this server offers")
    def landing() -> dict[str, Any]:
        return {"name": "GridGov", "docs": "/docs", "openapi": "/openapi.json",
                "links": ["/versions", "/units", "/teams", "/matters", "/rules", "/delegations", "/incidents",
                          "/route", "/jurisdictions/at", "/reports", "/cases", "/stats", "/photos",
                          "/open311/v2/discovery.json", "/ogc", "/wall/cases", "/hotspots", "/screen/summary",
                          "/indicators", "/indicators/delegation-review", "/publication/annual"],
                "pages": ["/wall", "/screen", "/console", "/officer", "/phone", "/planner", "/dispute", "/indicators"]}

    @app.get("/health", summary="Liveness: the process answers (no database, no thread: never waits on a pool)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the database answers; rows per table")
    def ready(repo: Repo) -> dict[str, Any]:
        return {"status": "ok", "counts": repo.counts()}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/versions", dependencies=SIGNED_IN, summary="Boundary versions (generations) with their effective dates")
    def versions(repo: Repo) -> list[Version]:
        return repo.versions()

    @app.get("/versions/{version_id}", dependencies=SIGNED_IN, summary="One boundary version")
    def version(version_id: Id, repo: Repo) -> Version:
        return repo.version(version_id)

    @app.get("/units", dependencies=SIGNED_IN, summary="Units of a version as GeoJSON (RFC 7946)",
             response_model=dict[str, Any])
    def units(
        request: Request,
        repo: Repo,
        version: Id | None = None,
        layer: Annotated[str | None, Query(pattern="^(county|township|village|grid|zone)$")] = None,
        at: Annotated[Day | None, Query(description="the version in force on this date (default: today)")] = None,
    ) -> Response:
        v = resolve_version(repo, version, at)
        vid = v.id
        assert vid is not None
        epochs = request.app.state.epochs
        key = (vid, v.status, v.revision, layer, epochs.read("routing") if epochs is not None else None)
        body = request.app.state.layers.answer(
            key, lambda: dumps(feature_collection([unit_feature(u, vid) for u in repo.units(vid, layer)])))
        return Response(body, media_type="application/json")

    @app.get("/units/{code}", dependencies=SIGNED_IN, summary="One unit as a GeoJSON feature")
    def unit(code: str, repo: Repo, version: Id | None = None, at: Day | None = None) -> dict[str, Any]:
        v = resolve_version(repo, version, at)
        assert v.id is not None
        return unit_feature(repo.unit(v.id, code), v.id)

    @app.post("/versions", summary="Start a draft version (planners), optionally as a copy of another",
              status_code=201)
    def create_version(body: DraftIn, repo: Repo, user: Planner) -> Version:
        if body.based_on is not None:
            repo.version(body.based_on)  # 404 names a missing one
        return repo.create_version(body.name, note=body.note or f"drafted by {user.username}",
                                   based_on=body.based_on)

    @app.put("/matters/{code}", summary="Create or change a matter (planners): procedure, time limit, duplicate "
             "window (attributes.duplicate_m / duplicate_h; 0 turns linking off)", responses=CREATED)
    def put_matter(code: str, body: Matter, repo: Repo, user: Planner, response: Response) -> Matter:
        if body.code != code:
            raise InvalidInput(T("the body's code {code} differs from the path's {code2}",
                                 code=body.code, code2=code), where="code")
        for key in ("duplicate_m", "duplicate_h"):
            value = body.attributes.get(key)
            if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool)
                                          and math.isfinite(value) and value >= 0):
                raise InvalidInput(T("{key} must be a number ≥ 0, got {value}", key=key, value=repr(value)),
                                   where=f"attributes.{key}")
        response.status_code = 201 if repo.put_matter(body) else 200
        return body

    @app.get("/teams", dependencies=SIGNED_IN, summary="Enforcement teams, squadrons, departments and grid workers")
    def teams(repo: Repo) -> list[Team]:
        return repo.teams()

    @app.get("/matters", dependencies=SIGNED_IN, summary="The matter catalogue with procedures and time limits")
    def matters(repo: Repo) -> list[Matter]:
        return repo.matters()

    @app.get("/rules", dependencies=SIGNED_IN, summary="Routing rules of a version, highest priority first")
    def rules(repo: Repo, version: Id | None = None) -> list[Rule]:
        v = resolve_version(repo, version)
        assert v.id is not None
        return repo.rules(v.id)

    @app.get("/delegations", dependencies=SIGNED_IN, summary="Which township holds which matter")
    def delegations(repo: Repo, version: Id | None = None) -> list[Delegation]:
        v = resolve_version(repo, version)
        assert v.id is not None
        return repo.delegations(v.id)

    @app.get("/incidents", summary="Reported incidents in your scope as GeoJSON points, newest `limit`")
    def incidents(repo: Repo, user: auth.CurrentUser, request: Request,
                  limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict[str, Any]:
        """Scoped like cases (`store/incidents.py`): dispatchers and auditors all, a team member what the routing
        gives their team, a grid worker their own reports; planners none (403)."""
        cache: RouterCache = request.app.state.routers  # never the closure's `app`: tests/test_burst.py
        rows = incidents_in_scope(repo, user, lambda v: cache.router(repo, v), limit)
        return feature_collection([
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
             "properties": i.model_dump(mode="json", exclude={"lon", "lat"})} for i in rows])
