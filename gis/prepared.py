"""Point queries on GEOS prepared geometries, one thread at a time.

A prepared polygon builds its point-in-area index lazily, on the first query, and GEOS does not guard that (or
the rest of its prepared state) against two threads: libgeos/geos#825 is open, and route-file's first threaded
pipeline crashed about one run in four (`tcache_thread_shutdown(): unaligned tcache chunk detected`) when two
threads routed through one router. Several threads do share prepared shapes here: the HTTP server's threadpool
(reports, batches) shares each version's router, and a Dask worker's threads share a router or an outline.

Every query on a shared prepared shape goes through `intersects_xy` below, which holds one process-wide lock
while GEOS works. The lock is taken only on the exact path (points the compiled grid and the crossing index
leave undecided), so it costs a lock round per call, not per point.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

_LOCK = threading.Lock()


def intersects_xy(shapes: Any, x: Any, y: Any) -> npt.NDArray[np.bool_]:
    """`shapely.intersects_xy` (for a point: covers, edges and vertices count) under the process-wide lock."""
    with _LOCK:
        return np.asarray(shapely.intersects_xy(shapes, x, y), dtype=bool)
