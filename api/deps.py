"""Request-scoped dependencies: each request owns one transaction."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request

from store.db import transaction
from store.repo import Repository


def get_repo(request: Request) -> Iterator[Repository]:
    """A repository whose session commits when the request succeeds and rolls back when it fails."""
    with transaction(request.app.state.sessions) as session:
        yield Repository(session)
