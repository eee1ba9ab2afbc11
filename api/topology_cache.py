"""Topology answers cached per (version, revision): the check takes about a second on a county.

A published version never changes and every edit of a draft bumps its revision (`Repository.editable`), so
an answer stays right for as long as its key does. Concurrent first requests for one key wait for a single
computation instead of each running it; the newest `size` answers are kept, per worker. An answer may be the
problems themselves (their messages kept as `Text`) as well as a rendering of them in one language.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TopologyCache:
    """Answers by key, computed once per key (least recently used dropped beyond `size`)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def answer(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached answer for `key`, computing it now if missing."""
        with self._guard:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._answers:
                    return self._answers[key]
            body = compute()
            with self._guard:
                self._answers[key] = body
                while len(self._answers) > self.size:
                    old, _ = self._answers.popitem(last=False)
                    self._locks.pop(old, None)
                self._locks.pop(key, None)
            return body

    def forget(self, version_id: int) -> None:
        """Drop every answer about a version (a deleted draft: SQLite may give its id to the next one)."""
        with self._guard:
            for key in [k for k in self._answers if isinstance(k, tuple) and k and k[0] == version_id]:
                del self._answers[key]
