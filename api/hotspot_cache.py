"""Hotspot answers kept per worker until a report they counted changes: a page opened again pays nothing.

GET /hotspots over a whole county is the map pages' dearest answer (Gi* over every cell of the county; or 10^4
cells with their outlines), and the same few questions come again and again (every wall and big screen that
opens, each refresh). An answer is a function of the report points in its window (incidents, and the located
cases in the asker's scope: place, time, category) and of the county outline in force on the window's last day.

Why a kept answer is still right. It is filed with
- the shared change counters "reports" and "routing" (store/epochs.py), read before the computation: a commit on
  this host that adds a report or changes one's place, time, category or owner, or changes the boundaries, bumps
  them (immediately, in every worker);
- a fingerprint read from the database in one round trip before the computation: rows and highest id of the
  incidents, the cases and the boundary versions — what new reports and versions from another host change.
A request with the same parameters gets it again while both match and, for a window given as `days` up to now
(which slides with the clock), no report lies where the new window and the old one differ (counted in the same
round trip): then the points, and so the answer, are the same, and only the window the answer states is the new
one. What neither sees — an existing report moved by hand in SQL or by another host — counts once the answer is
`max_age_s` old (GRIDGOV_HOTSPOT_CACHE_SECONDS; 0 turns the cache off, as it is without a data directory).

Concurrent first requests for one question wait for one computation instead of each running it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from analytics.hotspots import Floats
from api.fastjson import dumps
from store.epochs import SharedEpochs
from store.reports import Box, reports_stamp
from store.users import User

STAMP_FIELDS = 6  # rows and highest id of incident, case_record, boundary_version (store.reports.reports_stamp)


def scope_key(user: User) -> tuple[str | None, ...]:
    """What the case scope of store/cases.py depends on: users with equal keys count the same cases."""
    return (user.county_code, user.role, user.team_code if user.role == "team_member" else None,
            user.username if user.role == "grid_worker" else None)


@dataclass(frozen=True)
class Cells:
    """The hexagons of an answer ready to send: each cell's JSON object, its centre, and the list encoded once."""

    items: list[dict[str, Any]]
    lon: Floats
    lat: Floats
    encoded: bytes

    @classmethod
    def of(cls, items: list[dict[str, Any]], lon: Floats, lat: Floats) -> Cells:
        return cls(items, lon, lat, dumps(items))

    def within(self, box: Box | None) -> list[dict[str, Any]]:
        """The cells whose centre lies inside `box` (all without one)."""
        if box is None:
            return self.items
        inside = (self.lon >= box[0]) & (self.lon <= box[2]) & (self.lat >= box[1]) & (self.lat <= box[3])
        return [self.items[i] for i in np.flatnonzero(inside).tolist()]

    def body(self, head: dict[str, Any], box: Box | None, top: Callable[[list[dict[str, Any]]], Any]) -> bytes:
        """The answer's JSON: `head`'s fields, `max` (from `top` over the cells sent) and the cells in `box`; the
        whole list goes out as encoded once."""
        chosen = self.within(box)
        if chosen is not self.items:
            return dumps({**head, "max": top(chosen), "cells": chosen})
        start = dumps({**head, "max": top(chosen)})
        return start[:-1] + (b',"cells":' if len(start) > 2 else b'"cells":') + self.encoded + b"}"


@dataclass
class _Entry:
    counters: tuple[bytes, bytes]
    stamp: tuple[int, ...]
    start: datetime
    end: datetime
    made: float
    value: Any


def slivers(old: tuple[datetime, datetime], new: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]]:
    """Where two windows [start, end) differ, as at most two ranges that cover it (all of both when they do not
    overlap): no report there means both windows hold the same reports."""
    (s1, e1), (s2, e2) = old, new
    return [r for r in ((min(s1, s2), max(s1, s2)), (min(e1, e2), max(e1, e2))) if r[0] < r[1]]


class HotspotCache:
    """Answers by question (see the module docstring); the newest `size` are kept."""

    def __init__(self, epochs: SharedEpochs | None, max_age_s: float, size: int = 32) -> None:
        self.epochs = epochs if max_age_s > 0 else None
        self.max_age_s = max_age_s
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.computed = 0  # how many answers were computed rather than reused (for tests and benches)

    def answer(self, session: Session, key: Hashable, window: tuple[datetime, datetime], compute: Callable[[], Any],
               *, sliding: bool, matters: list[str] | None, case_scope: Any) -> Any:
        """The answer to `key` over `window` — kept, or computed now by `compute()` and kept. `sliding`: the window
        is "the last so many days", so an answer for a slightly earlier window may do (module docstring);
        `matters` and `case_scope` select the reports as the computation does."""
        if self.epochs is None:
            self.computed += 1
            return compute()
        counters = (self.epochs.read("reports"), self.epochs.read("routing"))  # before any read: see epochs.py
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and entry.counters == counters and time.monotonic() - entry.made <= self.max_age_s:
                ranges = slivers((entry.start, entry.end), window) if sliding else []
                stamp = reports_stamp(session, ranges, matters=matters, case_scope=case_scope)
                if stamp[:STAMP_FIELDS] == entry.stamp and not any(stamp[STAMP_FIELDS:]):
                    with self._guard:
                        self._entries.move_to_end(key)
                    return entry.value
            else:
                stamp = reports_stamp(session, [], matters=matters, case_scope=case_scope)
            made = time.monotonic()
            value = compute()
            self.computed += 1
            with self._guard:
                self._entries[key] = _Entry(counters, stamp[:STAMP_FIELDS], window[0], window[1], made, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    old, _ = self._entries.popitem(last=False)
                    if old != key:
                        self._locks.pop(old, None)
            return value
