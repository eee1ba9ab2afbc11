"""A planar lookup grid over lon/lat: each cell holds the signature of the regions covering all of it,
or BOUNDARY where some region boundary touches the cell (those points go to the exact evaluation).

Why it is exact: a cell is marked BOUNDARY when any boundary piece's bounding box (padded by `EPS`, or
by `H3_PAD_SHARE` of the edge for H3 cell sets, whose true edges are arcs) reaches it. Boundaries are cut
into pieces shorter than half a cell and every cell of each padded box is marked; the index of a point is
a monotone function of its coordinates, so every point of a piece falls in one of the cells marked for it.
An unmarked cell therefore lies inside one face of the
arrangement of all regions, and the exact answer at its centre is the answer for every point in it.
Unmarked cells are grouped into 4-connected components (scipy.ndimage.label), each evaluated once.

Dense boundaries (urban grids of ~100 m) leave most cells marked. `dense_window` finds the box where marked
cells are dense and the router builds a second, finer grid over just that box (`build_grid(extent=...)`),
asked only for points whose coarse cell is BOUNDARY. Its cells are marked by the same rule (a piece outside
the box is clamped onto the box's border cells: more marking, never less), so the argument above holds for
it unchanged, and a point still marked there goes to the exact evaluation: first the crossing index
(`crossing.py`, candidate edges per bucket of this grid's cells, answered in numpy where it can prove the
answer), then shapely for the points it leaves (on an edge or a vertex, or any doubt).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from gis.crs import metres_per_degree

Floats = npt.NDArray[np.float64]

BOUNDARY = -1  # cells hold the dtype's maximum for "boundary"; lookups return -1 for it
EPS = 1e-7  # degrees (~1 cm): covers float noise on polygon edges
# H3 edges are great-circle arcs, drawn here as straight chords; the gap grows with the square of the edge
# (measured: 27 mm at res 7, 190 mm at res 6). Padding a cell-set's edges by 1 % of the edge length is
# far above that at every resolution used for jurisdictions, so its boundary cells stay marked.
H3_PAD_SHARE = 0.01


@dataclass
class LookupGrid:
    """The grid's geometry and cells (signature ids, or BOUNDARY)."""

    x0: float
    y0: float
    dx: float
    dy: float
    cells: npt.NDArray[np.unsignedinteger[Any]]  # shape (ny, nx); dtype max means BOUNDARY

    def __post_init__(self) -> None:
        self._boundary_value = int(np.iinfo(self.cells.dtype).max)
        self._ny, self._nx = self.cells.shape

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.cells.shape
        return ny, nx

    def lookup(self, lon: Floats, lat: Floats, outside: int) -> npt.NDArray[np.int64]:
        """Cell values for points (BOUNDARY where exact evaluation is needed); `outside` beyond the grid."""
        fx = np.floor((lon - self.x0) / self.dx)
        fy = np.floor((lat - self.y0) / self.dy)
        inside = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)  # NaN compares False: outside
        if inside.all():
            flat = fy.astype(np.intp) * self._nx + fx.astype(np.intp)
            out = self.cells.ravel().take(flat).astype(np.int64)
        else:
            out = np.full(lon.shape, outside, dtype=np.int64)
            out[inside] = self.cells[fy[inside].astype(np.intp), fx[inside].astype(np.intp)]
        out[out == self._boundary_value] = BOUNDARY
        return out

    def lookup_one(self, lon: float, lat: float, outside: int) -> int:
        """The cell value for one point (the scalar fast path)."""
        fx = math.floor((lon - self.x0) / self.dx)
        fy = math.floor((lat - self.y0) / self.dy)
        if 0 <= fx < self._nx and 0 <= fy < self._ny:
            value = int(self.cells.item(fy, fx))
            return BOUNDARY if value == self._boundary_value else value
        return outside

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes)


def build_grid(
    shapes: list[shapely.Geometry],
    signature_at: Callable[[Floats, Floats], npt.NDArray[np.int64]],
    *,
    pads: list[float] | None = None,
    cell_m: float = 12.0,
    max_cells: int = 8_000_000,
    extent: tuple[float, float, float, float] | None = None,
) -> LookupGrid:
    """Compile the grid over the shapes' extent (or `extent`); `signature_at` gives exact signature ids.

    `pads` (degrees, one per shape, default EPS) widen the band of boundary cells around a shape's edges.
    """
    if extent is None:
        bounds = np.array([s.bounds for s in shapes])
        minx, miny = bounds[:, 0].min(), bounds[:, 1].min()
        maxx, maxy = bounds[:, 2].max(), bounds[:, 3].max()
    else:
        minx, miny, maxx, maxy = extent
    kx, ky = metres_per_degree((miny + maxy) / 2)
    width_m, height_m = (maxx - minx) * kx, (maxy - miny) * ky
    cell_m = max(cell_m, math.sqrt(width_m * height_m / max_cells))
    dx, dy = cell_m / kx, cell_m / ky
    x0, y0 = minx - dx, miny - dy  # one cell of margin all round
    nx = int(math.ceil((maxx - x0) / dx)) + 2
    ny = int(math.ceil((maxy - y0) / dy)) + 2
    from scipy import ndimage  # here, not at import: `gridgov route` starts faster when a router is cached

    marked = np.zeros((ny, nx), dtype=bool)
    _mark_boundaries(marked, shapes, np.array(pads if pads is not None else [EPS] * len(shapes)), x0, y0, dx, dy)
    np.logical_not(marked, out=marked)
    labels, n = ndimage.label(marked)  # 4-connectivity by default
    del marked
    # One representative cell per component: the first cell of the label inside its bounding box.
    rx, ry = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for k, (sy, sx) in enumerate(ndimage.find_objects(labels)):
        j = int(np.argmax(labels[sy, sx] == k + 1))
        wy, wx = divmod(j, sx.stop - sx.start)
        ry[k], rx[k] = sy.start + wy, sx.start + wx
    sig = signature_at(x0 + (rx + 0.5) * dx, y0 + (ry + 0.5) * dy)
    dtype = np.uint16 if int(sig.max(initial=0)) < np.iinfo(np.uint16).max else np.uint32
    table = np.empty(n + 1, dtype=dtype)
    table[0] = np.iinfo(dtype).max
    table[1:] = sig
    cells = table[labels]
    del labels
    return LookupGrid(x0, y0, dx, dy, cells)


def dense_window(grid: LookupGrid, block: int = 32, share: float = 0.3,
                 min_blocks: int = 16) -> tuple[float, float, float, float] | None:
    """The bounding box of the blocks (`block`² cells) more than `share` marked, if there are enough of them."""
    ny, nx = grid.shape
    by, bx = ny // block, nx // block
    if not by or not bx:
        return None
    marked = grid.cells[:by * block, :bx * block] == np.iinfo(grid.cells.dtype).max
    dense = marked.reshape(by, block, bx, block).mean(axis=(1, 3)) > share
    if int(dense.sum()) < min_blocks:
        return None
    ys, xs = np.nonzero(dense)
    return (grid.x0 + xs.min() * block * grid.dx, grid.y0 + ys.min() * block * grid.dy,
            grid.x0 + (xs.max() + 1) * block * grid.dx, grid.y0 + (ys.max() + 1) * block * grid.dy)


def _mark_boundaries(marked: npt.NDArray[np.bool_], shapes: list[shapely.Geometry], pads: Floats,
                     x0: float, y0: float, dx: float, dy: float) -> None:
    ny, nx = marked.shape
    # One line per ring: consecutive vertices across two rings would make a false piece.
    lines, owner = shapely.get_parts(shapely.boundary(np.array(shapes, dtype=object)), return_index=True)
    lines = shapely.segmentize(lines, min(dx, dy) / 2.5)
    line_pads = np.maximum(pads[owner], EPS)
    sizes = shapely.get_num_coordinates(lines)
    # In batches of lines sharing one pad, so the temporary arrays stay small (the build's memory budget).
    for pad in np.unique(line_pads).tolist():
        picked = np.flatnonzero(line_pads == pad)
        bounds = np.r_[0, np.cumsum(sizes[picked])]
        start = 0
        while start < len(picked):
            stop = int(np.searchsorted(bounds, bounds[start] + 400_000, side="right")) - 1
            stop = max(stop, start + 1)
            _mark_pieces(marked, lines[picked[start:stop]], pad, x0, y0, dx, dy, nx, ny)
            start = stop


def _mark_pieces(marked: npt.NDArray[np.bool_], lines: npt.NDArray[Any], pad: float,
                 x0: float, y0: float, dx: float, dy: float, nx: int, ny: int) -> None:
    coords, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]  # consecutive vertices of one line form a piece
    a, b = coords[:-1][same], coords[1:][same]
    del coords, index
    ix0 = np.clip(np.floor((np.minimum(a[:, 0], b[:, 0]) - pad - x0) / dx).astype(np.intp), 0, nx - 1)
    ix1 = np.clip(np.floor((np.maximum(a[:, 0], b[:, 0]) + pad - x0) / dx).astype(np.intp), 0, nx - 1)
    iy0 = np.clip(np.floor((np.minimum(a[:, 1], b[:, 1]) - pad - y0) / dy).astype(np.intp), 0, ny - 1)
    iy1 = np.clip(np.floor((np.maximum(a[:, 1], b[:, 1]) + pad - y0) / dy).astype(np.intp), 0, ny - 1)
    # Mark every cell of each piece's padded box (2×2 for plain edges; wider where a pad is wide).
    for ox in range(int((ix1 - ix0).max(initial=0)) + 1):
        for oy in range(int((iy1 - iy0).max(initial=0)) + 1):
            marked[np.minimum(iy0 + oy, iy1), np.minimum(ix0 + ox, ix1)] = True
