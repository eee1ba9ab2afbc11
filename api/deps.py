"""Request-scoped dependencies: each request owns one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from fastapi import Request

from gis.errors import NotFound
from gis.model import Version
from store.db import transaction
from store.repo import Repository


def get_repo(request: Request) -> Iterator[Repository]:
    """A repository whose session commits when the request succeeds and rolls back when it fails.

    Always declare it with `Depends(get_repo, scope="function")`: the commit must happen before the
    response is sent. With FastAPI's default ("request") scope it ran after the response, so a client
    could be told 201 about a write that then failed to commit, and a token just issued was unknown
    to the next request for a moment (tests/test_auth_race.py)."""
    with transaction(request.app.state.sessions) as session:
        yield Repository(session)


def resolve_version(repo: Repository, version: int | None, at: date | None = None) -> Version:
    """An explicit version, else the one in force on `at` (today), else the newest one."""
    if version is not None:
        return repo.version(version)
    try:
        return repo.version_at(at or date.today())
    except NotFound:
        if at is not None:
            raise
        versions = repo.versions()
        if not versions:
            raise NotFound("no boundary version yet; import data or run `gridgov demo`") from None
        return versions[-1]
