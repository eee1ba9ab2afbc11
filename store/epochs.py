"""Change counters every process on this host shares, so workers can trust their caches without asking the database.

A worker keeps what a token check and the router lookup found (api/deps.py, store/routers.py) and reuses it while
the matching counter here is unchanged, instead of a database round trip per request. The counters are 16 random
bytes each in a small memory-mapped file in the data directory: a worker of `gridgov serve --workers N` (or a
CLI command with the same data directory) that commits a change to accounts or tokens, or to what routing reads
(versions, units, rules, delegations, teams, matters), or to what the hotspot maps count (a report, or a report's
place, time, category or owner: api/hotspot_cache.py), writes new bytes after the commit, and every other process
mapping the file sees them on its next read (the page cache is shared; a read costs a slice of memory).

Why "immediate" holds on this host: the writer changes the counter after its commit and before its answer goes
out; a reader notes the counter *before* it reads the database and files what it read under that note. A request
that starts after the answer therefore sees the new counter, finds no entry under it and reads the database. A
reader that raced the commit filed its (old) answer under the old counter, which no longer matches.

What it does not see: processes on other hosts sharing only the database, and changes made by hand in SQL. For
those every entry is trusted for at most `GRIDGOV_RECHECK_SECONDS` (default 2 s) and then checked again; 0 turns
the caches off. Without a writable data directory the caches are off too (a warning says so)."""

from __future__ import annotations

import logging
import mmap
import os
import secrets
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

log = logging.getLogger("gridgov")
SLOTS = ("auth", "routing", "reports")
WIDTH = 16
FILE_NAME = ".gridgov-epochs"
ROUTING_TABLES = frozenset({"boundary_version", "unit", "allowed_gap", "team", "matter", "delegation", "rule"})
AUTH_TABLES = frozenset({"app_user", "api_token"})  # inserts change nothing cached: a new token is looked up anyway
REPORT_TABLES = frozenset({"incident", "case_record"})
# What a hotspot answer reads of a case (store/reports.py, the scope filter of store/cases.py): a change of its state,
# deadline or note leaves every hotspot map as it was, so it does not throw them away.
REPORT_COLUMNS = frozenset({"lon", "lat", "reported_at", "matter_code", "county_code", "team_code", "co_owners",
                            "reporter"})
_open: weakref.WeakSet[SharedEpochs] = weakref.WeakSet()  # every counter file this process has mapped
_PENDING = "gridgov.epochs"


class SharedEpochs:
    """The counters in one data directory (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < WIDTH * len(SLOTS):
                os.ftruncate(fd, WIDTH * len(SLOTS))  # zeros; two processes doing this at once is harmless
            self._map = mmap.mmap(fd, WIDTH * len(SLOTS))
        finally:
            os.close(fd)  # the mapping keeps the file
        _open.add(self)

    @classmethod
    def in_dir(cls, data_dir: Path) -> SharedEpochs | None:
        """The counters of this data directory, or None (with a warning) when it cannot hold them."""
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            return cls(data_dir / FILE_NAME)
        except OSError as exc:
            log.warning("no shared change counters in %s (%s): token checks and router lookups ask the database "
                        "on every request", data_dir, exc)
            return None

    def read(self, slot: str) -> bytes:
        """The counter now: compare it with the one an entry was filed under."""
        i = SLOTS.index(slot) * WIDTH
        return self._map[i:i + WIDTH]

    def bump(self, slot: str) -> None:
        """Something this counter guards changed (call after the commit). A torn read of concurrent bumps gives
        bytes that differ from the old ones too, which is all a reader needs."""
        i = SLOTS.index(slot) * WIDTH
        self._map[i:i + WIDTH] = secrets.token_bytes(WIDTH)


def bump_all(slots: set[str]) -> None:
    """Bump these counters in every file this process has mapped (one in production; several apps in tests)."""
    for epochs in list(_open):
        for slot in slots:
            epochs.bump(slot)


def _mark(session: Session, slot: str) -> None:
    session.info.setdefault(_PENDING, set()).add(slot)


@sa.event.listens_for(Session, "after_flush")
def _flushed(session: Session, context: UOWTransaction) -> None:
    for obj in session.deleted:
        _classify(session, getattr(obj, "__tablename__", None), insert=False)
    for obj in session.dirty:
        table = getattr(obj, "__tablename__", None)
        if table == "case_record":  # a case changes at every step; only some changes move a hotspot map
            if _changed(obj, REPORT_COLUMNS):
                _mark(session, "reports")
            continue
        _classify(session, table, insert=False)
    for obj in session.new:
        _classify(session, getattr(obj, "__tablename__", None), insert=True)


@sa.event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table: Any = getattr(state.statement, "table", None)
        _classify(state.session, getattr(table, "name", None), insert=state.is_insert)


def _classify(session: Session, table: str | None, *, insert: bool) -> None:
    if table is None:  # a write we cannot name: assume the worst
        for slot in SLOTS:
            _mark(session, slot)
    elif table in REPORT_TABLES:
        _mark(session, "reports")
    elif table in ROUTING_TABLES:
        _mark(session, "routing")
    elif table in AUTH_TABLES and not insert:
        _mark(session, "auth")


def _changed(obj: Any, columns: frozenset[str]) -> bool:
    """Whether a flushed object changed any of these attributes (its history still holds the change here)."""
    attrs = sa.inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in columns if name in attrs)


@sa.event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    slots = session.info.pop(_PENDING, None)
    if slots:
        bump_all(slots)
