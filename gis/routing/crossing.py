"""Exact point-in-polygon for points in boundary cells, vectorised: candidate edges per bucket of lookup cells.

The lookup grid (`grid.py`) answers every point of a cell no boundary touches; a point in a BOUNDARY cell
went to shapely (`Regions.covering`). Where urban grids of ~100 m make boundaries dense, that was most of
the routing time. This index answers nearly all of those points in numpy instead.

The grid's cells are grouped into square buckets of `bucket`² cells. Each bucket holding a BOUNDARY cell
keeps the polygon ring segments that may meet it (a segment shared by several regions once, with the list
of regions it bounds), a reference point R inside it, and R's covering set and signature, computed when the
router is built (R's set by `Regions.covering`, i.e. shapely). A point P of the bucket then has

    covering(P) = covering(R) Δ { regions whose boundary the segment P–R crosses an odd number of times }.

Why it is exact. The listed segments are a superset of those meeting the closed bucket: every segment is
cut into pieces shorter than half a bucket and each piece's box, padded by `EPS` (~1 cm, millions of times
the rounding of the cell arithmetic), lists it in every bucket it reaches, as `grid.py` marks cells. The
segment P–R lies in the closed bucket (both ends do, and a bucket is convex), so every segment meeting it is
listed. For each listed segment AB whose box meets the box of P–R (disjoint boxes cannot meet: exact float
comparisons), the orientations of (P, R, A), (P, R, B) and (A, B, P) are computed in floating point with
Shewchuk's error bound for orient2d (`_orient` returns a sign only when rounding provably cannot flip it,
else 0); (A, B, R) is checked the same way when the index is built, for every listed segment, and a bucket
where no candidate reference passes is left to the exact evaluation. If any orientation is 0 — P on an edge
or a vertex, a vertex on P–R, P–R along an edge, or a rounding doubt — the point is left to the exact
evaluation (shapely), so points on edges and vertices get exactly today's tie-break. Otherwise P–R meets no
vertex and runs along no edge: it meets each segment at most once, transversally, inside it, and it does iff
the signs of (P, R, A) and (P, R, B) differ and those of (A, B, P) and (A, B, R) differ. Each such crossing
flips the even-odd (crossing-number) membership of each region the segment bounds, and nothing else
changes it along P–R. That membership is what GEOS computes for a point off the boundary (ray crossing with
robust orientation); neither P nor R is on a boundary, so covers ≡ interior ≡ that membership at both ends,
and the equation holds. Regions defined by H3 cells (membership by `h3.latlng_to_cell`: arcs, not the
chords of their shapes) are not evaluated here: a bucket any of their edges reaches (padded as the grid pads
them) is left to the exact evaluation, and in every other bucket their membership is the same for P as for R.

The set is then identified as the router identifies every covering set, by two 64-bit XOR hashes over its
regions (a crossing toggles a region in the set, and XOR toggles its hash): R's hashes XOR those of the
regions of each crossed segment. A pair of hashes seen before gives its signature (the router's cache); a
new one is built explicitly (R's set Δ the regions crossed an odd number of times) and goes through the
router's tie-break (`Regions.select`) and interning, as any point does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import shapely

from gis.routing.grid import EPS, LookupGrid

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Hashes = npt.NDArray[np.uint64]

UNDECIDED = -1
_EPSILON = 2.0 ** -53
CCW_ERR = (3.0 + 16.0 * _EPSILON) * _EPSILON  # Shewchuk's ccwerrboundA: |det| above it × the sum → sign right
_TINY = 1e-280  # below this the products might have underflowed: never trust such a sign
# Reference points tried in turn, as fractions of the bucket: the centre first, then points unlikely to sit on
# a line through a lattice of round coordinates.
_REFERENCES = ((0.5, 0.5), (0.5 + 1 / 7, 0.5 + 2 / 11), (0.5 - 3 / 13, 0.5 + 1 / 17), (0.5 + 2 / 19, 0.5 - 5 / 23))
CHUNK = 65_536  # points per numpy pass
MAX_INDEX = 16_000_000  # buckets in the dense bucket → compact index array; beyond, a sorted search


class Signatures(Protocol):
    """What the index needs of the router: the exact covering, its hashes and its signatures."""

    _hash1: Hashes
    _hash2: Hashes

    def _signatures_of(self, n: int, p: Ints, r: Ints) -> Ints: ...

    def _known_signatures(self, h1: Hashes, h2: Hashes) -> Ints: ...


def _orient(ax: Floats, ay: Floats, bx: Floats, by: Floats, cx: Floats, cy: Floats) -> npt.NDArray[np.int8]:
    """Sign of the orientation of (a, b, c) where floating point proves it (+1 left turn, −1 right), else 0."""
    left = (ax - cx) * (by - cy)
    right = (ay - cy) * (bx - cx)
    det = left - right
    total = np.abs(left) + np.abs(right)
    sure = (np.abs(det) > CCW_ERR * total) & (total > _TINY)
    return np.where(sure, np.sign(det), 0).astype(np.int8)


def _csr_rows(starts: Ints, counts: Ints) -> tuple[Ints, Ints]:
    """For runs (start, count): every row of every run, and which run it belongs to."""
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    which = np.repeat(np.arange(len(counts)), counts)
    return np.repeat(starts, counts) + np.arange(total) - first[which], which


class CrossingIndex:
    """Candidate polygon segments per bucket of a lookup grid's BOUNDARY cells, and a reference point each."""

    def __init__(self, grid: LookupGrid, polygons: list[tuple[int, shapely.Geometry]],
                 cellsets: list[tuple[shapely.Geometry, float]],
                 covering: Callable[[Floats, Floats], tuple[Ints, Ints]], router: Signatures,
                 *, bucket: int = 4) -> None:
        """`polygons`: (region id, shape) of the regions evaluated here; `cellsets`: (shape, pad in degrees) of
        the H3-defined regions, whose buckets are left to the exact evaluation; `covering`: the exact one."""
        self.x0, self.y0, self.dx, self.dy = grid.x0, grid.y0, grid.dx, grid.dy
        self.bucket = bucket
        ny, nx = grid.shape
        self.nbx, self.nby = -(-nx // bucket), -(-ny // bucket)
        # Buckets holding a BOUNDARY cell (only points of those cells come here), by flat id, sorted.
        marked = np.zeros((self.nby * bucket, self.nbx * bucket), dtype=bool)
        marked[:ny, :nx] = grid.cells == np.iinfo(grid.cells.dtype).max
        rows = marked.reshape(self.nby, bucket, self.nbx * bucket).any(axis=1)
        self.ids = np.flatnonzero(rows.reshape(self.nby, self.nbx, bucket).any(axis=2))
        del marked
        self.index: npt.NDArray[np.int32] | None = None
        if self.nbx * self.nby <= MAX_INDEX:
            self.index = np.full(self.nbx * self.nby, -1, dtype=np.int32)
            self.index[self.ids] = np.arange(len(self.ids), dtype=np.int32)
        self._segments(polygons, router)
        k = len(self.ids)
        pair_b, pair_s = self._pairs(self.ax, self.ay, self.bx, self.by, np.full(len(self.ax), EPS))
        counts = np.bincount(pair_b, minlength=k)
        self.cand_start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        self.cand_count = counts.astype(np.int64)
        self.cand = pair_s.astype(np.int32)
        self.max_candidates = int(counts.max(initial=0))
        exact = np.zeros(k, dtype=bool)  # buckets an H3-defined region's edge reaches
        if cellsets:
            shapes = np.array([s for s, _ in cellsets], dtype=object)
            lines, owner = shapely.get_parts(shapely.boundary(shapes), return_index=True)
            coords, index = shapely.get_coordinates(lines, return_index=True)
            same = index[1:] == index[:-1]
            a, b = coords[:-1][same], coords[1:][same]
            pads = np.array([p for _, p in cellsets])[owner[index[:-1][same]]]
            hit, _ = self._pairs(a[:, 0], a[:, 1], b[:, 0], b[:, 1], np.maximum(pads, EPS))
            exact[hit] = True
        self._references(exact)
        self._reference_sets(covering, router)

    # -- build --------------------------------------------------------------------------------------
    def _segments(self, polygons: list[tuple[int, shapely.Geometry]], router: Signatures) -> None:
        """Every distinct ring segment (either direction) of the polygon regions, and the regions it bounds."""
        if polygons:
            shapes = np.array([s for _, s in polygons], dtype=object)
            lines, owner = shapely.get_parts(shapely.boundary(shapes), return_index=True)
            coords, index = shapely.get_coordinates(lines, return_index=True)
            same = index[1:] == index[:-1]
            seg = np.hstack([coords[:-1][same], coords[1:][same]])
            region = np.array([rid for rid, _ in polygons], dtype=np.int64)[owner[index[:-1][same]]]
        else:
            seg, region = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        real = (seg[:, 0] != seg[:, 2]) | (seg[:, 1] != seg[:, 3])  # a repeated vertex is no edge
        seg, region = seg[real], region[real]
        flip = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
        seg[flip] = seg[flip][:, [2, 3, 0, 1]]
        order = np.lexsort((seg[:, 3], seg[:, 2], seg[:, 1], seg[:, 0]))
        seg, region = seg[order], region[order]
        first = np.r_[True, (seg[1:] != seg[:-1]).any(axis=1)] if len(seg) else np.zeros(0, dtype=bool)
        group = np.cumsum(first) - 1  # distinct segment of each (segment, region) row, rows in segment order
        uniq = seg[first]
        self.ax, self.ay, self.bx, self.by = (uniq[:, j].copy() for j in range(4))  # ax ≤ bx
        self.y_lo, self.y_hi = np.minimum(self.ay, self.by), np.maximum(self.ay, self.by)
        # XOR of the hashes of the regions a segment bounds (twice in one region cancels, as parity does).
        starts = np.flatnonzero(first)
        self.seg_h1 = np.bitwise_xor.reduceat(router._hash1[region], starts) if len(starts) else np.zeros(0, np.uint64)
        self.seg_h2 = np.bitwise_xor.reduceat(router._hash2[region], starts) if len(starts) else np.zeros(0, np.uint64)
        self.owner = region
        counts = np.bincount(group, minlength=len(uniq))
        self.owner_start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        self.owner_count = counts.astype(np.int64)

    def _pairs(self, ax: Floats, ay: Floats, bx: Floats, by: Floats, pad: Floats) -> tuple[Ints, Ints]:
        """(compact bucket, segment) for every listed bucket each segment's padded pieces reach, each pair once,
        sorted by bucket."""
        bw, bh = self.bucket * self.dx, self.bucket * self.dy
        step = min(bw, bh) / 2.5
        n = np.maximum(np.ceil(np.maximum(np.abs(bx - ax), np.abs(by - ay)) / step), 1).astype(np.int64)
        seg = np.repeat(np.arange(len(ax), dtype=np.int64), n)
        t0 = (np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)) / n[seg]
        t1 = t0 + 1.0 / n[seg]
        b, p = self.bucket, pad[seg]
        sx, sy, ex, ey = ax[seg], ay[seg], bx[seg] - ax[seg], by[seg] - ay[seg]
        x_a, x_b = sx + t0 * ex, sx + t1 * ex
        ix0 = np.clip(np.floor((np.minimum(x_a, x_b) - p - self.x0) / self.dx) // b, 0, self.nbx - 1)
        ix1 = np.clip(np.floor((np.maximum(x_a, x_b) + p - self.x0) / self.dx) // b, 0, self.nbx - 1)
        y_a, y_b = sy + t0 * ey, sy + t1 * ey
        iy0 = np.clip(np.floor((np.minimum(y_a, y_b) - p - self.y0) / self.dy) // b, 0, self.nby - 1)
        iy1 = np.clip(np.floor((np.maximum(y_a, y_b) + p - self.y0) / self.dy) // b, 0, self.nby - 1)
        del x_a, x_b, y_a, y_b, sx, sy, ex, ey, t0, t1, p
        ix0, ix1, iy0, iy1 = (v.astype(np.int64) for v in (ix0, ix1, iy0, iy1))
        keys = []
        span = len(ax) or 1
        for ox in range(int((ix1 - ix0).max(initial=0)) + 1):
            for oy in range(int((iy1 - iy0).max(initial=0)) + 1):
                reach = (ix0 + ox <= ix1) & (iy0 + oy <= iy1)  # only the buckets a piece's box reaches
                flat = (iy0[reach] + oy) * self.nbx + ix0[reach] + ox
                key = flat * span + seg[reach]
                if key.size:  # consecutive pieces mostly reach one bucket: drop the repeats early
                    keys.append(key[np.r_[True, key[1:] != key[:-1]]])
        key = np.unique(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
        flat, segment = np.divmod(key, span)
        at = np.searchsorted(self.ids, flat)
        found = at < len(self.ids)
        found[found] = self.ids[at[found]] == flat[found]
        return at[found], segment[found]

    def _references(self, exact: npt.NDArray[np.bool_]) -> None:
        """A reference point per bucket that no listed segment's line passes through (else the bucket is exact)."""
        k = len(self.ids)
        by, bx = np.divmod(self.ids, self.nbx)
        bw, bh = self.bucket * self.dx, self.bucket * self.dy
        self.ref_x, self.ref_y = np.zeros(k), np.zeros(k)
        self.ref_sign = np.zeros(len(self.cand), dtype=np.int8)  # orientation (A, B, R) per listed segment
        todo = np.flatnonzero(~exact)
        for fx, fy in _REFERENCES:
            self.ref_x[todo] = self.x0 + (bx[todo] + fx) * bw
            self.ref_y[todo] = self.y0 + (by[todo] + fy) * bh
            rows, which = _csr_rows(self.cand_start[todo], self.cand_count[todo])
            e, o = self.cand[rows], todo[which]
            sign = _orient(self.ax[e], self.ay[e], self.bx[e], self.by[e], self.ref_x[o], self.ref_y[o])
            self.ref_sign[rows] = sign
            bad = np.zeros(k, dtype=bool)
            bad[o[sign == 0]] = True
            todo = todo[bad[todo]]
            if not todo.size:
                break
        self.ref_ok = ~exact
        self.ref_ok[todo] = False

    def _reference_sets(self, covering: Callable[[Floats, Floats], tuple[Ints, Ints]], router: Signatures) -> None:
        """The covering set (CSR), its hashes and its signature for every reference point (exact evaluation)."""
        k = len(self.ids)
        ok = np.flatnonzero(self.ref_ok)
        p, r = covering(self.ref_x[ok], self.ref_y[ok])
        counts = np.zeros(k, dtype=np.int64)
        counts[ok] = np.bincount(p, minlength=len(ok))
        self.set_start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        self.set_count = counts
        self.set_regions = r.astype(np.int32)  # sorted by point, and `ok` ascends: the CSR order holds
        self.ref_h1 = np.zeros(k, dtype=np.uint64)
        self.ref_h2 = np.zeros(k, dtype=np.uint64)
        np.bitwise_xor.at(self.ref_h1, ok[p], router._hash1[r])
        np.bitwise_xor.at(self.ref_h2, ok[p], router._hash2[r])
        self.ref_sig = np.full(k, UNDECIDED, dtype=np.int64)
        self.ref_sig[ok] = router._signatures_of(len(ok), p, r)

    # -- queries ------------------------------------------------------------------------------------
    def signatures(self, lon: Floats, lat: Floats, router: Signatures) -> Ints:
        """Signature ids of points in the grid's BOUNDARY cells; `UNDECIDED` (−1) where the exact evaluation
        must answer (see the module docstring)."""
        out = np.empty(len(lon), dtype=np.int64)
        for start in range(0, len(lon), CHUNK):
            out[start:start + CHUNK] = self._chunk(lon[start:start + CHUNK], lat[start:start + CHUNK], router)
        return out

    def _bucket_of(self, lon: Floats, lat: Floats) -> Ints:
        """Compact bucket of each point (−1 when it has none), by the grid's own cell arithmetic."""
        fx = np.floor((lon - self.x0) / self.dx)
        fy = np.floor((lat - self.y0) / self.dy)
        inside = (fx >= 0) & (fx < self.nbx * self.bucket) & (fy >= 0) & (fy < self.nby * self.bucket)
        flat = np.where(inside, (fy // self.bucket) * self.nbx + fx // self.bucket, 0).astype(np.int64)
        if self.index is not None:
            return np.where(inside, self.index[flat], -1).astype(np.int64)
        if not len(self.ids):
            return np.full(len(lon), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, flat), len(self.ids) - 1)
        return np.where(inside & (self.ids[at] == flat), at, -1)

    def _chunk(self, lon: Floats, lat: Floats, router: Signatures) -> Ints:
        out = np.full(len(lon), UNDECIDED, dtype=np.int64)
        k = self._bucket_of(lon, lat)
        usable = k >= 0
        usable[usable] = self.ref_ok[k[usable]]
        pts = np.flatnonzero(usable)
        if not pts.size:
            return out
        kb = k[pts]
        row, which = _csr_rows(self.cand_start[kb], self.cand_count[kb])
        e = self.cand[row]
        px, py = lon[pts], lat[pts]
        rx, ry = self.ref_x[kb], self.ref_y[kb]
        qx, qy, sx, sy = px[which], py[which], rx[which], ry[which]
        # Boxes first (ax ≤ bx): a segment whose box misses the box of P–R cannot meet it.
        meet = np.flatnonzero((self.bx[e] >= np.minimum(qx, sx)) & (self.ax[e] <= np.maximum(qx, sx))
                              & (self.y_hi[e] >= np.minimum(qy, sy)) & (self.y_lo[e] <= np.maximum(qy, sy)))
        e, row, which, qx, qy, sx, sy = e[meet], row[meet], which[meet], qx[meet], qy[meet], sx[meet], sy[meet]
        ax, ay, bx, by = self.ax[e], self.ay[e], self.bx[e], self.by[e]
        s1 = _orient(qx, qy, sx, sy, ax, ay)
        s2 = _orient(qx, qy, sx, sy, bx, by)
        s3 = _orient(ax, ay, bx, by, qx, qy)
        doubt = (s1 == 0) | (s2 == 0) | (s3 == 0)
        decided = np.ones(len(pts), dtype=bool)
        decided[which[doubt]] = False
        crossed = np.flatnonzero((s1 != s2) & (s3 != self.ref_sign[row]) & ~doubt)
        cw, ce = which[crossed], e[crossed]  # sorted by point
        h1, h2 = self.ref_h1[kb], self.ref_h2[kb]
        moved = np.zeros(len(pts), dtype=bool)
        if crossed.size:
            starts = np.flatnonzero(np.r_[True, cw[1:] != cw[:-1]])
            at = cw[starts]
            h1[at] ^= np.bitwise_xor.reduceat(self.seg_h1[ce], starts)
            h2[at] ^= np.bitwise_xor.reduceat(self.seg_h2[ce], starts)
            moved[at] = True
        same = decided & ~moved
        out[pts[same]] = self.ref_sig[kb[same]]
        change = np.flatnonzero(decided & moved)
        if change.size:
            sig = router._known_signatures(h1[change], h2[change])
            new = np.flatnonzero(sig < 0)
            if new.size:
                sig[new] = self._new_sets(change[new], kb[change[new]], cw, ce, router)
            out[pts[change]] = sig
        return out

    def _new_sets(self, points: Ints, kb: Ints, cw: Ints, ce: npt.NDArray[np.integer[Any]],
                  router: Signatures) -> Ints:
        """Signatures of points whose covering set was not seen before: R's set Δ the regions crossed oddly."""
        n_regions = len(router._hash1)
        local = np.full(int(points.max()) + 1, -1, dtype=np.int64)
        local[points] = np.arange(len(points))
        keep = cw <= points.max()
        keep[keep] = local[cw[keep]] >= 0
        cw, ce = local[cw[keep]], ce[keep]
        rows, which = _csr_rows(self.owner_start[ce], self.owner_count[ce])
        flips = cw[which] * n_regions + self.owner[rows]
        rows, which = _csr_rows(self.set_start[kb], self.set_count[kb])
        base = which * n_regions + self.set_regions[rows]
        # In R's set (once) or not, toggled once per crossing: in P's set iff the total count is odd.
        key, n = np.unique(np.concatenate([base, flips]), return_counts=True)
        key = key[n % 2 == 1]
        p, r = np.divmod(key, n_regions)
        return router._signatures_of(len(points), p, r)

    @property
    def nbytes(self) -> int:
        arrays: list[npt.NDArray[Any]] = [
            self.ids, self.ax, self.ay, self.bx, self.by, self.y_lo, self.y_hi, self.seg_h1, self.seg_h2, self.owner,
            self.owner_start, self.owner_count, self.cand_start, self.cand_count, self.cand, self.ref_x, self.ref_y,
            self.ref_sign, self.ref_ok, self.set_start, self.set_count, self.set_regions, self.ref_h1, self.ref_h2,
            self.ref_sig]
        if self.index is not None:
            arrays.append(self.index)
        return int(sum(a.nbytes for a in arrays))
