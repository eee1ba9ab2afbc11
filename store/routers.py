"""Compiled routers per boundary version, read from the store and swapped in whole.

A router is built off to the side and only then put in the cache (one dict assignment), so no request
ever sees a half-built index. Published versions never change; a draft's router is keyed by its revision,
and the catalogue (teams, matters) by a fingerprint, so an edit means a fresh build.

`router_at` (what `POST /route` and `POST /reports` ask) remembers the router of the version in force per day and
reuses it without a query while no process on this host changed what routing reads (`SharedEpochs` "routing",
store/epochs.py), for at most `recheck_s`: a publish through one worker is seen by the next request on every other.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from gis.model import Version
from gis.routing import Router, RoutingData
from store.db import transaction
from store.epochs import SharedEpochs
from store.repo import Repository
from store.schema import MatterRow, TeamRow, VersionRow

CacheKey = tuple[int, int, tuple[int, int, int, int]]


class RouterCache:
    """Routers by version; each built once, under a per-version lock, while other versions keep serving."""

    def __init__(self, fallback_team: str | None = None, cell_m: float = 12.0, *, epochs: SharedEpochs | None = None,
                 recheck_s: float = 0.0) -> None:
        self.fallback_team = fallback_team
        self.cell_m = cell_m
        self.epochs = epochs if recheck_s > 0 else None
        self.recheck_s = recheck_s
        self._at: dict[date, tuple[bytes, float, Router]] = {}  # day → (counter, when checked, router)
        self._routers: dict[int, tuple[CacheKey, Router]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def _key(self, repo: Repository, version: Version) -> CacheKey:
        """(version, its revision, a fingerprint of the catalogue) in one round trip."""
        def scalar(q: sa.Select[Any]) -> sa.ScalarSelect[Any]:
            return q.scalar_subquery()

        row = repo.session.execute(sa.select(
            scalar(sa.select(VersionRow.revision).where(VersionRow.id == version.id)),
            scalar(sa.select(sa.func.count()).select_from(TeamRow)),
            scalar(sa.select(sa.func.max(TeamRow.id))),
            scalar(sa.select(sa.func.count()).select_from(MatterRow)),
            scalar(sa.select(sa.func.max(MatterRow.id))),
        )).one()
        revision, *catalogue = (int(v or 0) for v in row)
        return (version.id or 0, revision, (catalogue[0], catalogue[1], catalogue[2], catalogue[3]))

    def router(self, repo: Repository, version: Version) -> Router:
        """The router for a version, built now if missing or stale."""
        assert version.id is not None
        key = self._key(repo, version)
        cached = self._routers.get(version.id)
        if cached is not None and cached[0] == key:
            return _current(cached[1], version)
        with self._guard:
            lock = self._locks.setdefault(version.id, threading.Lock())
        with lock:
            cached = self._routers.get(version.id)
            if cached is not None and cached[0] == key:
                return _current(cached[1], version)
            router = Router(load_routing_data(repo, version, self.fallback_team), cell_m=self.cell_m)
            self._routers[version.id] = (key, router)  # the swap: one assignment
            return router

    def forget(self, version_id: int) -> None:
        """Drop a version's router (a deleted draft: SQLite may give its id to the next one)."""
        self._routers.pop(version_id, None)
        self._at.clear()

    def warm(self, repo: Repository, today: date) -> list[int]:
        """Build the routers of the version in force today and of every later published one."""
        built = []
        for v in repo.versions():
            if v.status == "published" and (v.effective_to is None or v.effective_to > today):
                self.router(repo, v)
                built.append(v.id or 0)
        return built

    def remembered(self, day: date) -> Router | None:
        """The router in force on `day` if memory holds it (no I/O), else None."""
        if self.epochs is None:
            return None
        found = self._at.get(day)
        if found is not None and found[0] == self.epochs.read("routing") and \
                time.monotonic() - found[1] <= self.recheck_s:
            return found[2]
        return None

    def router_in_force(self, sessions: sessionmaker[Session], day: date) -> Router:
        """`router_at` for a caller without a session: one is opened only when memory cannot answer."""
        found = self.remembered(day)
        if found is not None:
            return found
        with transaction(sessions) as session:
            return self.router_at(Repository(session), day)

    def router_at(self, repo: Repository, day: date) -> Router:
        """The router of the version in force on `day` (without a query while the shared counter holds)."""
        found = self.remembered(day)
        if found is not None or self.epochs is None:
            return found or self.router(repo, repo.version_at(day))
        now = self.epochs.read("routing")
        router = self.router(repo, repo.version_at(day))  # read after `now`: a change meanwhile bumps past it
        if len(self._at) > 400:  # a year of days asked at random: start again rather than grow
            self._at.clear()
        self._at[day] = (now, time.monotonic(), router)
        return router


def _current(router: Router, version: Version) -> Router:
    """The cached router with the version's dates as stored now: publishing a successor ends a version
    (`effective_to`) without changing its content or revision, so only the label needs refreshing."""
    if router.version != version:
        router.version = version  # one assignment; readers see the old or the new label, both whole
    return router


def load_routing_data(repo: Repository, version: Version, fallback_team: str | None = None) -> RoutingData:
    """Everything a router needs for one version."""
    assert version.id is not None
    return RoutingData(
        version=version, units=repo.units(version.id), rules=repo.rules(version.id),
        delegations=repo.delegations(version.id), matters=repo.matters(), teams=repo.teams(),
        fallback_team=fallback_team,
    )
