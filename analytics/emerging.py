"""Emerging hot spots: a space-time cube of report counts (H3 cell × time step), Gi* per bin with space-time
neighbours, a Mann–Kendall trend per cell, and the categories of ArcGIS Pro's Emerging Hot Spot Analysis.

The cube. The window [from, to) of local dates is cut into whole steps of Δ days (7 for weeks, 1 for days)
counted back from its end, so the final step is always complete (a partial final step would look like a
fall); the days before the first whole step are left out (`whole_steps`). Step t covers
[start + t·Δ, start + (t+1)·Δ); a report counts in the cell holding it at the step holding its local date.
Every cell of the study area (analytics.hotspots.study_area) has a row, zeros included.

One counting function. `count_bins` turns located, dated reports into sparse counts per (H3 cell, step);
`sum_bins` adds the counts of several batches (exact: integers), and `bins_to_cube` lays them out over the
study area. The database path (store.reports.cube_of) counts all its reports in one call; `gridgov
hotspot-cube` (etl/hotspot_cube.py) counts each partition of a dataset, on Dask workers or in process, and
sums: the same function, so the same cube.

Gi* per bin. A bin (i, t) neighbours the bins (j, s) with j within k grid steps of i (i included) and
t − τ ≤ s ≤ t (`time_k` = τ earlier steps, the bin's own step included; ArcGIS's "neighbourhood time
step", which also looks back only). The statistic is the Gi* of analytics.hotspots with binary weights over
all n = cells × steps bins of the cube: x̄ and S are the whole cube's. tests/test_emerging.py proves it
equal to esda's G_Local(star=True, transform="B") on the flattened cube with these neighbours.

Significance of a bin: two-sided p at `confidence` (default 90 %), Benjamini–Hochberg over all bins of the
cube when `fdr` (the default). H_t / C_t: the bin is a significant hot / cold spot.

Trend: the Mann–Kendall test (pymannkendall.original_test, α = `trend_alpha`, default 0.05) of the cell's
series of z-scores over the steps: increasing, decreasing or no trend. Fewer than three steps, or a flat
series: no trend. It is computed for every cell with at least one significant bin; a cell with none has
pattern none whatever its trend, and reports "no trend".

Categories, decided in this order for a cell with n steps, "most" meaning at least 90 % of the steps
(⌈0.9 n⌉ of them), the final step t = n − 1:

- new: hot at the final step and never before it.
- intensifying: hot at the final step, hot in most steps, z trend increasing.
- persistent: hot at the final step, hot in most steps, no z trend.
- diminishing: hot at the final step, hot in most steps, z trend decreasing.
- consecutive: hot at the final step, not hot in most steps, and the hot steps form one unbroken run of
  at least two steps ending at the final step.
- oscillating: hot at the final step, not hot in most steps, and cold at some earlier step.
- sporadic: hot at the final step, not hot in most steps, never cold, hot steps not one run.
- historical: not hot at the final step, hot in most steps.
- The same eight with cold for hot (and decreasing for increasing: an intensifying cold spot grows
  colder), as new_cold, consecutive_cold, …
- none: no pattern above (including a cell never significant).

The final step decides first: a cell hot (cold) at the final step gets one of the first seven hot (cold)
patterns, whatever came before — so a cell hot in most steps but cold now is a new (or, cold before too, an
oscillating) cold spot, not a historical hot spot. Only a cell significant neither way at the final step can
be historical (hot before cold; a cell cannot be hot and cold in most steps).

Codes: "new_hot", "consecutive_hot", "intensifying_hot", "persistent_hot", "diminishing_hot", "sporadic_hot",
"oscillating_hot", "historical_hot", the eight "…_cold", and "none".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import h3
import numpy as np
import numpy.typing as npt
import pymannkendall as mk
from scipy import sparse
from shapely.geometry.base import BaseGeometry

from analytics.hotspots import Floats, _z, bh_reject, point_cell_ids, ring_weights, study_area, two_sided_p

KINDS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical")
PATTERNS = tuple(f"{k}_{s}" for s in ("hot", "cold") for k in KINDS) + ("none",)
TRENDS = ("increasing", "decreasing", "no trend")
Bools = npt.NDArray[np.bool_]


def whole_steps(start: date, end: date, step_days: int) -> tuple[date, int]:
    """(first step's start, number of whole steps) of [start, end), counted back from `end`."""
    n = max(0, (end - start).days // step_days)
    return end - timedelta(days=n * step_days), n


def step_index(days: Sequence[date], start: date, step_days: int) -> npt.NDArray[np.int64]:
    """The time step of each local date: ⌊(day − start) / step_days⌋."""
    return np.array([(d - start).days // step_days for d in days], dtype=np.int64)


def cube(cells: Sequence[str], point_cells: Sequence[str], steps: npt.NDArray[np.int64], n_steps: int) -> Floats:
    """Counts per (cell, step); points outside the cells or the steps are left out."""
    index = {c: i for i, c in enumerate(cells)}
    out = np.zeros((len(cells), n_steps))
    rows = np.array([index.get(c, -1) for c in point_cells], dtype=np.int64)
    ok = (rows >= 0) & (steps >= 0) & (steps < n_steps)
    np.add.at(out, (rows[ok], steps[ok]), 1.0)
    return out


EPOCH = date(1970, 1, 1)


def epoch_days(days: Iterable[date]) -> npt.NDArray[np.int64]:
    """Local dates as days since 1970-01-01 (what Parquet's date32 holds)."""
    return np.array([(d - EPOCH).days for d in days], dtype=np.int64)


@dataclass(frozen=True)
class Bins:
    """Sparse counts of a cube: (H3 cell as integer, step, reports), one entry per non-empty bin, sorted."""

    cells: npt.NDArray[np.uint64]
    steps: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def _collapse(cells: npt.NDArray[np.uint64], steps: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> Bins:
    if not len(cells):
        return Bins(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    uniq, inv = np.unique(cells, return_inverse=True)
    width = int(steps.max()) + 1
    if len(uniq) * width <= 4 * len(cells) + 1024:  # dense enough: one pass of bincount (exact below 2^53)
        flat = np.bincount(inv * width + steps, weights=counts, minlength=len(uniq) * width)
        nz = np.flatnonzero(flat)
        return Bins(uniq[nz // width], nz % width, flat[nz].astype(np.int64))
    order = np.lexsort((steps, cells))
    c, s, n = cells[order], steps[order], counts[order]
    head = np.ones(len(c), dtype=bool)
    head[1:] = (c[1:] != c[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(head)
    return Bins(c[starts], s[starts], np.add.reduceat(n, starts))


def count_bins(lon: Floats, lat: Floats, days: npt.NDArray[np.int64], start: date, step_days: int, n_steps: int,
               res: int) -> Bins:
    """Reports per (cell at `res`, step) of located reports on local dates `days` (days since 1970-01-01); step
    t covers [start + t·Δ, start + (t+1)·Δ); reports outside the steps are left out."""
    steps = (np.asarray(days, dtype=np.int64) - (start - EPOCH).days) // step_days
    ok = (steps >= 0) & (steps < n_steps)
    cells = point_cell_ids(np.asarray(lon)[ok], np.asarray(lat)[ok], res)
    return _collapse(cells, steps[ok], np.ones(len(cells), dtype=np.int64))


def sum_bins(parts: Iterable[Bins]) -> Bins:
    """The counts of several batches added bin by bin."""
    items = list(parts)
    if not items:
        return _collapse(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return _collapse(np.concatenate([b.cells for b in items]), np.concatenate([b.steps for b in items]),
                     np.concatenate([b.counts for b in items]))


def bins_to_cube(bins: Bins, outlines: Sequence[BaseGeometry], res: int, k: int, n_steps: int) -> tuple[
        list[str], Floats]:
    """(study-area cells, counts cells × steps): every cell of the outlines plus every reported cell."""
    names = [h3.int_to_str(int(c)) for c in bins.cells]
    totals: dict[str, int] = {}
    for name, n in zip(names, bins.counts.tolist(), strict=True):
        totals[name] = totals.get(name, 0) + n
    cells = study_area(totals, outlines, res, k)
    index = {c: i for i, c in enumerate(cells)}
    out = np.zeros((len(cells), n_steps))
    rows = np.array([index[c] for c in names], dtype=np.int64)
    out[rows, bins.steps] = bins.counts  # one entry per bin: no repeats
    return cells, out


def space_time_z(counts: Floats, spatial: sparse.csr_matrix, time_k: int = 1) -> Floats:
    """Gi* z-score of every bin of a (cells × steps) cube with k-ring × (τ earlier steps) neighbours."""
    x = np.asarray(counts, dtype=np.float64)
    n_cells, n_steps = x.shape
    n = n_cells * n_steps
    if n < 2:
        return np.zeros_like(x)
    mean = float(x.mean())
    s = float(np.sqrt(max((x * x).mean() - mean * mean, 0.0)))
    space = np.asarray(spatial @ x)  # spatial sums per step
    acc = np.cumsum(np.pad(space, ((0, 0), (1, 0))), axis=1)  # acc[:, t + 1] = Σ_{s ≤ t}
    t = np.arange(n_steps)
    lo = np.maximum(t - time_k, 0)
    local = acc[:, t + 1] - acc[:, lo]
    ring = np.asarray(spatial.sum(axis=1)).ravel()
    w = ring[:, None] * (t - lo + 1)[None, :]
    return _z(local.ravel(), w.ravel().astype(np.float64), mean, s, n).reshape(n_cells, n_steps)


def significant(z: Floats, confidence: float = 0.90, fdr: bool = True) -> tuple[Bools, Bools]:
    """(hot, cold) per bin at `confidence`, with Benjamini–Hochberg over all bins when `fdr`."""
    p = two_sided_p(z.ravel())
    alpha = 1.0 - confidence
    sig = (bh_reject(p, alpha) if fdr else p <= alpha).reshape(z.shape)
    return sig & (z > 0), sig & (z < 0)


def trend(series: Floats, alpha: float = 0.05) -> tuple[str, float, float]:
    """(Mann–Kendall trend, its p-value, Sen's slope) of a series; fewer than three values: no trend."""
    values = np.asarray(series, dtype=np.float64)
    if len(values) < 3 or np.ptp(values) == 0:
        return "no trend", 1.0, 0.0
    r = mk.original_test(values, alpha=alpha)
    return str(r.trend), float(r.p), float(r.slope)


def _one_run_to_end(flags: Bools) -> bool:
    """The True steps form a single unbroken run that ends at the final step."""
    idx = np.flatnonzero(flags)
    return len(idx) > 0 and idx[-1] == len(flags) - 1 and idx[-1] - idx[0] + 1 == len(idx)


def _final(this: Bools, other: Bools, z_trend: str, up: str) -> str:
    """The pattern kind of a cell whose final step is significant on this side (hot: this=H, other=C, up=
    "increasing")."""
    most = this.sum() >= math.ceil(0.9 * len(this))
    if not this[:-1].any():
        return "new"
    if most:
        if z_trend == up:
            return "intensifying"
        if z_trend == "no trend":
            return "persistent"
        return "diminishing"
    if this.sum() >= 2 and _one_run_to_end(this):
        return "consecutive"
    if other[:-1].any():
        return "oscillating"
    return "sporadic"


def classify(hot: Bools, cold: Bools, z_trend: str) -> str:
    """The pattern code of one cell from its hot and cold steps and its z-score trend (see the docstring)."""
    if hot[-1]:
        return _final(hot, cold, z_trend, "increasing") + "_hot"
    if cold[-1]:
        return _final(cold, hot, z_trend, "decreasing") + "_cold"
    most = math.ceil(0.9 * len(hot))
    if hot.sum() >= most:
        return "historical_hot"
    if cold.sum() >= most:
        return "historical_cold"
    return "none"


@dataclass(frozen=True)
class Emerging:
    """The cube's analysis: per cell its pattern, z trend, counts per step and significant steps."""

    cells: list[str]
    counts: Floats  # cells × steps
    z: Floats  # cells × steps
    hot: Bools
    cold: Bools
    patterns: list[str]
    trends: list[tuple[str, float, float]]  # (trend, p, Sen's slope) of the z-scores


def emerging(cells: Sequence[str], counts: Floats, k: int = 1, time_k: int = 1, confidence: float = 0.90,
             fdr: bool = True, trend_alpha: float = 0.05) -> Emerging:
    """Space-time Gi*, significance, Mann–Kendall and the pattern of every cell of a cube."""
    x = np.asarray(counts, dtype=np.float64)
    z, hot, cold = _significance(cells, x, k, time_k, confidence, fdr)
    patterns: list[str] = []
    trends: list[tuple[str, float, float]] = []
    for i in range(len(cells)):
        pattern, tr = _pattern(z[i], hot[i], cold[i], trend_alpha)
        patterns.append(pattern)
        trends.append(tr)
    return Emerging(list(cells), x, z, hot, cold, patterns, trends)


def patterns_of(cells: Sequence[str], counts: Floats, wanted: Iterable[str], k: int = 1, time_k: int = 1,
                confidence: float = 0.90, fdr: bool = True, trend_alpha: float = 0.05) -> dict[str, str]:
    """The pattern of each cell of `wanted` that is in the cube, as `emerging` gives it: the z-scores and their
    significance are the whole cube's (the false-discovery rate counts every bin), but the Mann–Kendall test —
    the dear part, ~1 ms a cell — runs only for the cells asked for (e.g. the few holding a recurring site)."""
    z, hot, cold = _significance(cells, np.asarray(counts, dtype=np.float64), k, time_k, confidence, fdr)
    at = {c: i for i, c in enumerate(cells)}
    return {c: _pattern(z[at[c]], hot[at[c]], cold[at[c]], trend_alpha)[0] for c in set(wanted) if c in at}


def _significance(cells: Sequence[str], x: Floats, k: int, time_k: int, confidence: float, fdr: bool
                  ) -> tuple[Floats, Bools, Bools]:
    """(z, hot, cold) of every bin of the cube."""
    if k < 1 or time_k < 0:
        raise ValueError("k must be at least 1 and time_k at least 0")
    z = space_time_z(x, ring_weights(cells, k), time_k)
    return (z, *significant(z, confidence, fdr))


def _pattern(z: Floats, hot: Bools, cold: Bools, trend_alpha: float) -> tuple[str, tuple[str, float, float]]:
    """One cell's pattern and z-score trend (no trend test where no step is significant: the pattern is none)."""
    if hot.any() or cold.any():
        tr = trend(z, trend_alpha)
        return classify(hot, cold, tr[0]), tr
    return "none", ("no trend", 1.0, 0.0)
