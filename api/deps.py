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
