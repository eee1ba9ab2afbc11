"""Request-scoped dependencies: each request owns one transaction, and holds a connection only while it runs.

Why the route class below exists (issue 15.1): FastAPI runs a sync endpoint, the validation of what it
returns and the exit of a `yield` dependency on three separate threadpool hops. A session left open until the
dependency's exit holds its pooled connection across the other hops; under a burst every threadpool thread
could be waiting for a connection while every connection's owner waited for a thread, until the pool's 30 s
timeout broke the deadlock with 500s. `GridGovRoute` commits (or rolls back) the request's session at the end
of the endpoint call, on the endpoint's own thread, which returns the connection to the pool before anything
else has to wait for a thread. It also checks the bearer token of a protected endpoint before its body is read
(a client without a token cannot make the server read and parse megabytes).

A token checked before is answered from the worker's `TokenCache` on the event loop, with no thread hop and no
database round trip, while no process on this host changed an account or a token (store/epochs.py: a sign-out
through one worker is seen by the next request on every other)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from datetime import date
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from cases import clock
from gis.errors import NotFound, Unauthorized
from gis.model import Version
from i18n import T, set_language
from store.db import transaction
from store.repo import Repository
from store.users import TokenCache, User, Users


def get_repo(request: Request) -> Iterator[Repository]:
    """A repository whose session commits when the request succeeds and rolls back when it fails.

    Always declare it with `Depends(get_repo, scope="function")` on a `GridGovRoute` (every router here uses
    it): the route commits at the end of the endpoint call, before the response is built; this exit only
    closes what is left (a commit after the response was sent once told a client 201 about a failed write)."""
    with transaction(request.app.state.sessions) as session:
        yield Repository(session)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(T("sign in first: send Authorization: Bearer <token> (POST /auth/token gives one)"),
                           code="not_signed_in")
    return token.strip()


def authenticate_request(request: Request) -> User:
    """The user behind `Authorization: Bearer <token>` (401 when missing, unknown, revoked or expired).

    It reads the token in a short transaction of its own and releases the connection at once: a request must
    never hold a connection while it waits for another (under load that starves the pool)."""
    token = _bearer(request)
    tokens: TokenCache = request.app.state.tokens
    epoch = tokens.epoch()  # before the read: a change committed meanwhile leaves this entry stale, not trusted
    with transaction(request.app.state.sessions) as session:
        user, expires = Users(session).check(token)
    tokens.put(token, epoch, user, expires)
    return user


async def authenticated(request: Request) -> User:
    """The token's user from the worker's cache (no I/O), else checked on a thread."""
    tokens: TokenCache = request.app.state.tokens
    cached = tokens.get(_bearer(request))
    return cached if cached is not None else await run_in_threadpool(authenticate_request, request)


async def current_user(request: Request) -> User:
    """The signed-in user: checked before the body was read (`api.deps.GridGovRoute`), or now. Async on
    purpose: the user's preferred language is set in the request's own context, so the endpoint, its
    errors and everything it renders speak it (unless the request asked with ?lang=)."""
    found = getattr(request.state, "user", None)
    user: User = found if isinstance(found, User) else await authenticated(request)
    request.state.user = user
    if user.language and not getattr(request.state, "language_asked", False):
        set_language(user.language)
        request.state.language = user.language
    return user


def _finishing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, committing the repositories it was given as it returns (rolling back if it raises)."""

    @functools.wraps(endpoint)
    def call(*args: Any, **kwargs: Any) -> Any:
        repos = [v for v in kwargs.values() if isinstance(v, Repository)]
        try:
            result = endpoint(*args, **kwargs)
        except BaseException:
            for repo in repos:
                repo.session.rollback()
            raise
        for repo in repos:
            repo.session.commit()  # releases the connection; objects stay loaded (expire_on_commit=False)
        return result

    return call


def _needs_user(dependant: Dependant) -> bool:
    return any(d.call is current_user or _needs_user(d) for d in dependant.dependencies)


class GridGovRoute(APIRoute):
    """A route whose sync endpoint releases its database connection before returning, and whose token is
    checked before its body is read."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _finishing(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None or not _needs_user(self.dependant):
            return handler

        async def authenticated_first(request: Request) -> Response:
            request.state.user = await authenticated(request)
            return await handler(request)

        return authenticated_first


class LeanRoute(GridGovRoute):
    """A hot-path route (`POST /route`) answered without FastAPI's general dependency solver (issue 17.5).

    For an async endpoint whose parameters are the request and dependencies, each of them an async function of
    the request alone (no parameters, sub-dependencies or `yield` of its own): they are awaited in FastAPI's
    order (the app's, the router's, the route's, then the endpoint's parameters), each at most once, and the
    endpoint gets their values. The answer and every refusal are the same as through the solver, which costs
    ~10 % of a small request in bookkeeping this shape never needs. Anything else, or an app overriding
    dependencies (tests), goes through the general handler."""

    lean_handlers = 0  # handlers built on the lean path (a test checks a FastAPI upgrade keeps it)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        general = super().get_route_handler()
        effective = _effective_route(self)
        steps = _request_only(effective.dependant) if effective is not None else None
        if effective is None or steps is None or not inspect.iscoroutinefunction(effective.dependant.call):
            return general
        call = effective.dependant.call
        request_name = effective.dependant.request_param_name
        overrides = effective.dependency_overrides_provider
        LeanRoute.lean_handlers += 1

        async def lean(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await general(request)
            values: dict[str, Any] = {}
            done: dict[Callable[..., Any], Any] = {}
            for name, dependency, cached in steps:
                if cached and dependency in done:
                    value = done[dependency]
                else:
                    value = done[dependency] = await dependency(request)
                if name is not None:
                    values[name] = value
            if request_name is not None:
                values[request_name] = request
            response = await call(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{call.__name__} must return a Response on a LeanRoute")
            return response

        return lean


def _effective_route(route: APIRoute) -> Any:
    """The route as FastAPI runs it: when included in a router, the include's view of it (its dependencies with
    the including routers' in front), which FastAPI passes in a private context variable while it builds the
    handler; None when that variable is gone (a FastAPI upgrade: the general handler is used)."""
    try:
        from fastapi.routing import _effective_route_context_var
    except ImportError:
        return None
    context = _effective_route_context_var.get()
    if context is None:
        return route
    return context if getattr(context, "original_route", None) is route else None


def _request_only(dependant: Dependant | None) -> list[tuple[str | None, Callable[..., Any], bool]] | None:
    """(parameter name, call, use_cache) of every dependency, in the solver's order, when each is an async
    function of the request alone and the endpoint takes nothing else; None otherwise."""
    if dependant is None or _own_params(dependant):
        return None
    steps: list[tuple[str | None, Callable[..., Any], bool]] = []
    for sub in dependant.dependencies:
        if (sub.call is None or sub.dependencies or _own_params(sub) or sub.request_param_name is None
                or not inspect.iscoroutinefunction(sub.call)):
            return None
        steps.append((sub.name, sub.call, sub.use_cache))
    return steps


def _own_params(d: Dependant) -> bool:
    """Whether a dependant reads anything but the request (parameters, body, response, background tasks…)."""
    return bool(d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
                or d.websocket_param_name or d.http_connection_param_name or d.response_param_name
                or d.background_tasks_param_name or d.security_scopes_param_name)


def resolve_version(repo: Repository, version: int | None, at: date | None = None) -> Version:
    """An explicit version, else the one in force on `at` (today), else the newest one."""
    if version is not None:
        return repo.version(version)
    try:
        return repo.version_at(at or clock.today())
    except NotFound:
        if at is not None:
            raise
        versions = repo.versions()
        if not versions:
            raise NotFound(T("no boundary version yet; import data or run `gridgov demo`")) from None
        return versions[-1]
