"""Exact distance from many points to the nearest boundary segment, vectorised (a candidate quadtree).

The boundary is a set of straight segments in the router's local metre frame. A regular grid of root
cells covers their extent; a cell holding more than `LEAF_MAX` candidate segments is split into four,
down to `MAX_DEPTH` levels, so dense boundaries get small cells and open country big ones. Each leaf
lists the segments that can be nearest to some point of it; a query finds its leaf (a few array steps)
and takes the minimum of the point-to-segment distances over that short list, in chunks of numpy arrays.

Why it is exact. Write d(p, s) for the distance from p to segment s and d(p) = min over all s. A leaf
must list, for every point p of its cell C, a segment s* with d(p, s*) = d(p). Cells start with a
superset of that and two tests drop segments that can never be the unique nearest anywhere in C:
* Annulus. With c the centre and h the half-diagonal of C, L(s) = d(c, s) − h ≤ d(p, s) for p in C
  (triangle inequality), and M(s) = max over C's four corners of d(q, s) is the maximum of d(·, s)
  over C (d(·, s) is convex, and a convex function on a box is largest at a corner); so U = min M(s)
  over the cell's list bounds d(p) on all of C, and s* has L(s*) ≤ d(p) ≤ U: keep only L(s) ≤ U.
* Witness. Let x0 be any boundary point (we try the nearest boundary points of c and of each corner).
  φ(p) = |p − x0|² − d(p, s)² = max over x in s of (2p·(x − x0) + |x0|² − |x|²) is a maximum of affine
  functions of p, so convex, so largest over C at a corner. If every corner q has d(q, s) > |q − x0|,
  then d(p, s) > |p − x0| ≥ d(p) for every p in C: s is never nearest there and is dropped. (This is
  what keeps far cells short: the annulus alone lists every segment of a long, gently curved edge.)
Both tests keep s* of every p in C, whatever else is in the list. The root cells' first superset is
every segment whose envelope meets the square of half-side D + 2h around c, with D = d(c) exactly from
the STRtree (U ≤ D + h, so L(s*) ≤ U gives d(c, s*) ≤ D + 2h). A child cell is inside its parent, so its
points' nearest segments are in the parent's list and the same tests keep them. The minimum over a
leaf's list is therefore d(p), computed with GEOS's own point-to-segment formula (projection parameter
clamped to [0, 1]): equal to shapely's distance to rounding (nanometres at county scale). Both tests
add `SLACK_M` (1 mm) on the keeping side, so rounding can only keep more segments, never drop the
nearest. Points outside the root grid (far outside the county) go to the STRtree's exact nearest query.

Cost: near a boundary the cells split until a leaf holds at most `LEAF_MAX` segments, so dense
boundaries get small cells and open country large ones; a query walks a few levels and evaluates only
its leaf's list. The index is built on first use (a router that only routes never pays for it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.strtree import STRtree

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

LEAF_MAX = 8  # candidate segments a leaf may hold before it is split
MAX_DEPTH = 6  # a root cell is split at most this many times (leaf side = root side / 64)
ROOT_CELLS = 48  # root cells along the longer side of the extent with its margin
MARGIN_SHARE = 0.25
SLACK_M = 1e-3
CHUNK = 16_384  # points per numpy pass: the temporaries (~5 pairs a point) stay within a core's L2 cache


def segment_arrays(seg: Floats) -> tuple[Floats, ...]:
    """(ax, ay, bx, by, dx, dy, 1/length²) of segments (n, 4): what the distance formula reads, computed once."""
    ax, ay, bx, by = (np.ascontiguousarray(seg[:, k], dtype=np.float64) for k in range(4))
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    inv_l2 = np.divide(1.0, l2, out=np.zeros_like(l2), where=l2 > 0)  # a point-segment: t = 0
    return ax, ay, bx, by, dx, dy, inv_l2


def squared(px: Any, py: Any, ax: Floats, ay: Floats, dx: Floats, dy: Floats, inv_l2: Floats) -> Floats:
    """Squared distance from points to segments (pairwise, or one point to many), GEOS's clamped projection."""
    ex, ey = px - ax, py - ay
    t = np.clip((ex * dx + ey * dy) * inv_l2, 0.0, 1.0)
    ex -= t * dx
    ey -= t * dy
    return np.asarray(ex * ex + ey * ey, dtype=np.float64)


class SegmentScan:
    """The distance from one point to the nearest of the segments by looking at every one of them: nothing to
    build (the index below takes seconds for a county's 10^4–10^5 segments), ~0.3 ms a point for 36,000. The
    same formula on the same arrays as the index's, so where the index answers from a leaf it gives the same
    number to the last bit (the index's leaf holds the nearest segment; the scan's minimum is over all of them);
    far outside the county, where the index asks GEOS, the two agree to rounding."""

    def __init__(self, segments: Floats) -> None:
        self.ax, self.ay, _, _, self.dx, self.dy, self.inv_l2 = segment_arrays(segments)

    def distance_one(self, x: float, y: float) -> float:
        if not (math.isfinite(x) and math.isfinite(y)):
            return math.inf
        return math.sqrt(float(squared(x, y, self.ax, self.ay, self.dx, self.dy, self.inv_l2).min()))


class BoundaryDistance:
    """Distances (metres) from points in a local metre frame to the nearest of fixed segments."""

    def __init__(self, segments: Floats) -> None:
        """`segments`: shape (n, 4), rows (ax, ay, bx, by) in metres; n ≥ 1."""
        seg = np.ascontiguousarray(segments, dtype=np.float64)
        self.ax, self.ay, self.bx, self.by, self.dx, self.dy, self.inv_l2 = segment_arrays(seg)
        self.tree = STRtree(shapely.linestrings(seg.reshape(-1, 2, 2)))
        minx, miny = float(min(self.ax.min(), self.bx.min())), float(min(self.ay.min(), self.by.min()))
        maxx, maxy = float(max(self.ax.max(), self.bx.max())), float(max(self.ay.max(), self.by.max()))
        # A margin of a quarter of the extent all round: points just outside the county stay on the fast path.
        margin = MARGIN_SHARE * max(maxx - minx, maxy - miny, 1.0)
        minx, miny, maxx, maxy = minx - margin, miny - margin, maxx + margin, maxy + margin
        self.root_m = max(maxx - minx, maxy - miny) / ROOT_CELLS
        self.x0, self.y0 = minx, miny
        self.nx = int(math.ceil((maxx - self.x0) / self.root_m)) + 1
        self.ny = int(math.ceil((maxy - self.y0) / self.root_m)) + 1
        self._build()

    # -- build --------------------------------------------------------------------------------------
    def _build(self) -> None:
        r = self.root_m
        iy, ix = np.divmod(np.arange(self.nx * self.ny, dtype=np.int64), self.nx)
        ox, oy = self.x0 + ix * r, self.y0 + iy * r  # cell origins (lower-left corners)
        half_diag = r * math.sqrt(0.5)
        _, nearest = self.tree.query_nearest(shapely.points(ox + r / 2, oy + r / 2), return_distance=True,
                                             all_matches=False)
        # Envelopes reaching the square around the disc of radius D + 2h: a superset of the disc's segments.
        reach = nearest + 2 * half_diag + SLACK_M
        node_p, seg_s = self.tree.query(shapely.box(ox + r / 2 - reach, oy + r / 2 - reach,
                                                    ox + r / 2 + reach, oy + r / 2 + reach))
        # Nodes level by level: origin, side, first child (-1 for a leaf) and the leaf's candidate list.
        node_x, node_y, node_side, child = [ox], [oy], [np.full(len(ox), r)], [np.full(len(ox), -1, np.int64)]
        lists: list[tuple[Ints, Ints]] = []  # (node id, segment) pairs of leaves
        level_x, level_y, side, first_id = ox, oy, r, 0
        pairs_n, pairs_s = node_p.astype(np.int64), seg_s.astype(np.int64)
        for depth in range(MAX_DEPTH + 1):
            pairs_n, pairs_s = self._filter(level_x, level_y, side, pairs_n, pairs_s)
            counts = np.bincount(pairs_n, minlength=len(level_x))
            split = counts > LEAF_MAX if depth < MAX_DEPTH else np.zeros(len(level_x), dtype=bool)
            keep = ~split[pairs_n]
            lists.append((pairs_n[keep] + first_id, pairs_s[keep]))
            parents = np.flatnonzero(split)
            if not parents.size:
                break
            next_first = first_id + len(level_x)
            child[-1][parents] = next_first + 4 * np.arange(len(parents))
            # Children of parent k are 4k..4k+3 in the next level, quadrant q = 2 * qy + qx.
            rank = np.full(len(level_x), -1, dtype=np.int64)
            rank[parents] = np.arange(len(parents))
            half = side / 2
            q = np.arange(4)
            level_x = (level_x[parents][:, None] + (q % 2) * half).ravel()
            level_y = (level_y[parents][:, None] + (q // 2) * half).ravel()
            moved = split[pairs_n]
            pn, ps = rank[pairs_n[moved]], pairs_s[moved]
            pairs_n = (4 * pn[:, None] + q).ravel()
            pairs_s = np.repeat(ps, 4)
            node_x.append(level_x)
            node_y.append(level_y)
            node_side.append(np.full(len(level_x), half))
            child.append(np.full(len(level_x), -1, np.int64))
            first_id, side = next_first, half
        self.node_x = np.concatenate(node_x)
        self.node_y = np.concatenate(node_y)
        self.node_half = np.concatenate(node_side) / 2
        self.child = np.concatenate(child)
        leaf_n = np.concatenate([n for n, _ in lists])
        leaf_s = np.concatenate([s for _, s in lists])
        order = np.argsort(leaf_n, kind="stable")
        self.cand = leaf_s[order].astype(np.int32)
        counts = np.bincount(leaf_n, minlength=len(self.child))
        self.cand_start = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        self.cand_count = counts.astype(np.int64)
        self.max_candidates = int(counts.max(initial=0))

    def _filter(self, ox: Floats, oy: Floats, side: float, pn: Ints, ps: Ints) -> tuple[Ints, Ints]:
        """Keep the (node, segment) pairs that pass both tests of the module docstring."""
        if not pn.size:
            return pn, ps
        n_nodes = len(ox)
        corners = [(qx, qy) for qx in (0.0, side) for qy in (0.0, side)]
        corner_sq = [self._sq_t(ox[pn] + qx, oy[pn] + qy, ps) for qx, qy in corners]
        worst = np.maximum.reduce([sq for sq, _ in corner_sq])
        upper = np.full(n_nodes, np.inf)
        np.minimum.at(upper, pn, worst)
        centre_sq, centre_t = self._sq_t(ox[pn] + side / 2, oy[pn] + side / 2, ps)
        keep = np.sqrt(centre_sq) - side * math.sqrt(0.5) <= np.sqrt(upper[pn]) + SLACK_M
        pn, ps, centre_sq, centre_t = pn[keep], ps[keep], centre_sq[keep], centre_t[keep]
        corner_sq = [(sq[keep], t[keep]) for sq, t in corner_sq]
        # Witnesses: the nearest boundary points of the centre and of each corner (one per node each).
        for k in range(5):
            sq, t = (centre_sq, centre_t) if k == 0 else corner_sq[k - 1]
            wx, wy = self._witness(n_nodes, pn, ps, sq, t)
            farther = np.ones(len(pn), dtype=bool)
            wx, wy = wx[pn] - ox[pn], wy[pn] - oy[pn]  # relative to the node's origin
            for (qx, qy), (q_sq, _) in zip(corners, corner_sq, strict=True):
                ex, ey = qx - wx, qy - wy
                farther &= q_sq > ex * ex + ey * ey + SLACK_M * SLACK_M
            keep = ~farther
            pn, ps, centre_sq, centre_t = pn[keep], ps[keep], centre_sq[keep], centre_t[keep]
            corner_sq = [(sq[keep], t[keep]) for sq, t in corner_sq]
        return pn, ps

    def _witness(self, n_nodes: int, pn: Ints, ps: Ints, sq: Floats, t: Floats) -> tuple[Floats, Floats]:
        """Per node, the point of its candidate segments nearest to a probe (distances `sq`, parameters `t`).

        Any boundary point is a valid witness; the nearest one prunes the most."""
        least = np.full(n_nodes, np.inf)
        np.minimum.at(least, pn, sq)
        hit = np.flatnonzero(sq == least[pn])  # ties: the last assignment wins, any of them will do
        s = ps[hit]
        wx, wy = np.zeros(n_nodes), np.zeros(n_nodes)
        wx[pn[hit]] = self.ax[s] + t[hit] * self.dx[s]
        wy[pn[hit]] = self.ay[s] + t[hit] * self.dy[s]
        return wx, wy

    def _sq_t(self, px: Floats, py: Floats, s: npt.NDArray[Any]) -> tuple[Floats, Floats]:
        """Squared distances from points to segments s (pairwise), and the clamped projection parameters."""
        ax, ay, dx, dy = self.ax[s], self.ay[s], self.dx[s], self.dy[s]
        ex, ey = px - ax, py - ay
        t = np.clip((ex * dx + ey * dy) * self.inv_l2[s], 0.0, 1.0)
        ex -= t * dx
        ey -= t * dy
        return np.asarray(ex * ex + ey * ey, dtype=np.float64), t

    def _sq(self, px: Floats, py: Floats, s: npt.NDArray[Any]) -> Floats:
        """Squared distance from points to segments s (pairwise), GEOS's clamped projection."""
        return squared(px, py, self.ax[s], self.ay[s], self.dx[s], self.dy[s], self.inv_l2[s])

    # -- queries ------------------------------------------------------------------------------------
    def distances(self, x: Floats, y: Floats) -> Floats:
        """Metres from each point (local frame) to the nearest segment; inf for NaN coordinates."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        out = np.empty(len(x))
        for start in range(0, len(x), CHUNK):
            out[start:start + CHUNK] = self._chunk(x[start:start + CHUNK], y[start:start + CHUNK])
        return out

    def _chunk(self, x: Floats, y: Floats) -> Floats:
        out = np.full(len(x), np.inf)
        fx = np.floor((x - self.x0) / self.root_m)
        fy = np.floor((y - self.y0) / self.root_m)
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)  # NaN compares False
        far = np.flatnonzero(~inside & np.isfinite(x) & np.isfinite(y))
        if far.size:
            (idx, _), dist = self.tree.query_nearest(shapely.points(x[far], y[far]), return_distance=True,
                                                     all_matches=False)
            out[far[idx]] = dist
        pts = np.flatnonzero(inside)
        if not pts.size:
            return out
        px, py = x[pts], y[pts]
        node = fy[pts].astype(np.int64) * self.nx + fx[pts].astype(np.int64)
        deeper = np.flatnonzero(self.child[node] >= 0)
        while deeper.size:
            n = node[deeper]
            half = self.node_half[n]
            qx = px[deeper] >= self.node_x[n] + half
            qy = py[deeper] >= self.node_y[n] + half
            node[deeper] = self.child[n] + qx + 2 * qy
            deeper = deeper[self.child[node[deeper]] >= 0]
        counts = self.cand_count[node]
        starts = self.cand_start[node]
        total = int(counts.sum())
        first = np.cumsum(counts) - counts  # where each point's run starts in the pair arrays
        within = np.arange(total) - np.repeat(first, counts)
        seg = self.cand[np.repeat(starts, counts) + within]
        sq = self._sq(np.repeat(px, counts), np.repeat(py, counts), seg)
        out[pts] = np.sqrt(np.minimum.reduceat(sq, first))
        return out

    def distance_one(self, x: float, y: float) -> float:
        """The same distance for one point, without numpy arrays (the scalar path's latency)."""
        fx = math.floor((x - self.x0) / self.root_m) if math.isfinite(x) else -1
        fy = math.floor((y - self.y0) / self.root_m) if math.isfinite(y) else -1
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return float(self.distances(np.array([x]), np.array([y]))[0])
        node = fy * self.nx + fx
        child = self.child
        while (c := int(child[node])) >= 0:
            half = float(self.node_half[node])
            node = c + (x >= float(self.node_x[node]) + half) + 2 * (y >= float(self.node_y[node]) + half)
        start = int(self.cand_start[node])
        best = math.inf
        for s in self.cand[start:start + int(self.cand_count[node])].tolist():
            ax, ay, dx, dy = float(self.ax[s]), float(self.ay[s]), float(self.dx[s]), float(self.dy[s])
            ex, ey = x - ax, y - ay
            t = min(max((ex * dx + ey * dy) * float(self.inv_l2[s]), 0.0), 1.0)
            ex -= t * dx
            ey -= t * dy
            best = min(best, ex * ex + ey * ey)
        return math.sqrt(best)

    @property
    def nbytes(self) -> int:
        arrays = (self.ax, self.ay, self.bx, self.by, self.dx, self.dy, self.inv_l2, self.node_x, self.node_y,
                  self.node_half, self.child, self.cand, self.cand_start, self.cand_count)
        return int(sum(a.nbytes for a in arrays))
