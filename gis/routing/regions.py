"""Regions: every area a routing decision can depend on (units, and the H3 cells of cell-scoped rules).

`Regions.covering` is the exact, slow-but-sure evaluation: shapely `intersects_xy` on prepared polygons
(for a point, intersects ≡ covers: a point on an edge or vertex is inside; through `gis.prepared`, which lets
one thread at a time query them, as GEOS's prepared state is not thread-safe) and `h3.latlng_to_cell` for
cell sets. The compiled grid in `grid.py` only answers where this evaluation would give the same answer
for a whole lookup cell; everywhere else it asks this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import h3
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from gis.model import Rule, Unit, cells_to_geometry
from gis.prepared import intersects_xy

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Region:
    """One area: a unit (polygon or H3 cells) or the cell set of a cell-scoped rule."""

    id: int
    code: str  # unit code, or "rule:<code>" for a rule's cell set
    layer: str  # unit layer, or "rule"
    kind: str
    parent_code: str | None
    shape: BaseGeometry  # polygon area (for cell sets: the union of the hexagons, for the lookup grid)
    cells_by_res: dict[int, frozenset[str]] | None  # set when the region is defined by H3 cells

    @property
    def is_unit(self) -> bool:
        return self.layer != "rule"


def _cells_by_res(cells: list[str]) -> dict[int, frozenset[str]]:
    by_res: dict[int, set[str]] = defaultdict(set)
    for c in cells:
        by_res[h3.get_resolution(c)].add(c)
    return {r: frozenset(s) for r, s in by_res.items()}


def build_regions(units: list[Unit], rules: list[Rule]) -> list[Region]:
    """Regions for every unit with a shape and every rule scoped to H3 cells."""
    regions: list[Region] = []
    for u in sorted(units, key=lambda u: u.code):
        if u.geometry is not None:
            regions.append(Region(len(regions), u.code, u.layer, u.kind, u.parent_code, u.geometry, None))
        elif u.cells is not None:
            regions.append(Region(len(regions), u.code, u.layer, u.kind, u.parent_code,
                                  cells_to_geometry(u.cells), _cells_by_res(u.cells)))
    for r in sorted(rules, key=lambda r: r.code):
        if r.scope.type == "cells" and r.scope.cells:
            regions.append(Region(len(regions), f"rule:{r.code}", "rule", "cells", None,
                                  cells_to_geometry(r.scope.cells), _cells_by_res(r.scope.cells)))
    return regions


class Regions:
    """Exact point-in-region evaluation over a fixed list of regions."""

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions
        self.polygons = [r for r in regions if r.cells_by_res is None]
        self.cellsets = [r for r in regions if r.cells_by_res is not None]
        for r in self.polygons:
            shapely.prepare(r.shape)
        self._poly_shapes = np.array([r.shape for r in self.polygons], dtype=object)
        self._poly_ids = np.array([r.id for r in self.polygons], dtype=np.int64)
        self._tree = STRtree(self._poly_shapes)
        # Tie-break groups: one per administrative layer, one per zone kind, one per rule cell set.
        keys = [(r.layer, r.code if r.layer == "rule" else r.kind if r.layer == "zone" else "") for r in regions]
        key_ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        self.group = np.array([key_ids[k] for k in keys], dtype=np.int64)
        self.bounds = np.array([r.shape.bounds for r in regions]) if regions else np.zeros((0, 4))
        # cell -> region ids, per resolution, for the cell-defined regions
        self.cell_lookup: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for r in self.cellsets:
            assert r.cells_by_res is not None
            for res, cells in r.cells_by_res.items():
                for c in cells:
                    self.cell_lookup[res][c].append(r.id)
        self.cell_lookup = {res: dict(cells) for res, cells in self.cell_lookup.items()}  # plain: picklable
        # The cell sets' common bounding box (min x, min y, max x, max y): no H3 lookup outside it.
        cb = self.bounds[[r.id for r in self.cellsets]]
        self._cell_box: tuple[float, float, float, float] | None = (
            (float(cb[:, 0].min()), float(cb[:, 1].min()), float(cb[:, 2].max()), float(cb[:, 3].max()))
            if self.cellsets else None)

    def __setstate__(self, state: dict[str, object]) -> None:
        """Unpickled (a Dask worker's copy): shapes come back unprepared, so prepare them again."""
        self.__dict__.update(state)
        for r in self.polygons:
            shapely.prepare(r.shape)

    def covering(self, lon: Floats, lat: Floats) -> tuple[Ints, Ints]:
        """(point index, region id) pairs for every region covering each point, sorted by point."""
        point_idx: list[Ints] = []
        region_idx: list[Ints] = []
        if self.polygons:
            # Bounding-box candidates from the tree, then one vectorised exact test on prepared shapes.
            cand_p, cand_t = self._tree.query(shapely.points(lon, lat))
            hit = intersects_xy(self._poly_shapes[cand_t], lon[cand_p], lat[cand_p])
            point_idx.append(cand_p[hit].astype(np.int64))
            region_idx.append(self._poly_ids[cand_t[hit]])
        if self.cellsets:
            box = self._cell_box
            assert box is not None
            near = np.flatnonzero((lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3]))
            pts: list[int] = []
            regs: list[int] = []
            for i in near.tolist():
                for res, lookup in self.cell_lookup.items():
                    for rid in lookup.get(h3.latlng_to_cell(float(lat[i]), float(lon[i]), res), ()):
                        pts.append(i)
                        regs.append(rid)
            point_idx.append(np.array(pts, dtype=np.int64))
            region_idx.append(np.array(regs, dtype=np.int64))
        if not point_idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pts_all, regs_all = np.concatenate(point_idx), np.concatenate(region_idx)
        order = np.lexsort((regs_all, pts_all))
        return pts_all[order], regs_all[order]

    def covering_one(self, lon: float, lat: float) -> list[int]:
        """Region ids covering one point, in id order: the scalar twin of `covering`, the same tests in the same
        order (the cell sets' bounding box first), so the two agree on every point."""
        hits: list[int] = []
        if self.polygons:
            cand = self._tree.query(shapely.Point(lon, lat))
            if cand.size:
                hit = intersects_xy(self._poly_shapes[cand], lon, lat)
                hits.extend(self._poly_ids[cand[hit]].tolist())
        box = self._cell_box
        if box is not None and box[0] <= lon <= box[2] and box[1] <= lat <= box[3]:
            for res, lookup in self.cell_lookup.items():
                hits.extend(lookup.get(h3.latlng_to_cell(lat, lon, res), ()))
        return sorted(hits)

    def covering_lists(self, lon: Floats, lat: Floats) -> list[list[int]]:
        """Region ids covering each point, as one list per point."""
        p, r = self.covering(lon, lat)
        out: list[list[int]] = [[] for _ in range(len(lon))]
        if p.size:
            splits = np.flatnonzero(np.diff(p)) + 1
            for chunk_p, chunk_r in zip(np.split(p, splits), np.split(r, splits), strict=True):
                out[int(chunk_p[0])] = chunk_r.tolist()
        return out

    def select(self, covering: list[int]) -> tuple[int, ...]:
        """The documented tie-break: which covering regions the decision uses.

        Administrative layers go top-down (county → township → village → grid): among the units of a
        layer that cover the point, those whose parent is the unit chosen one layer up are preferred,
        then the smallest code wins. So a point on a shared edge or vertex gets exactly one unit per
        layer, consistent with its parents. Zones: the smallest code per zone kind. Rule cell sets are
        exact (H3 cells never overlap) and kept as they are.
        """
        if len(covering) <= 1:
            return tuple(covering)
        regions = self.regions
        by_key: dict[tuple[str, str], list[Region]] = defaultdict(list)
        for rid in covering:
            reg = regions[rid]
            by_key[(reg.layer, reg.kind if reg.layer in ("zone", "rule") else "")].append(reg)
        chosen: list[int] = []
        parent: str | None = None
        for layer in ("county", "township", "village", "grid"):
            cands = by_key.pop((layer, ""), [])
            if not cands:
                continue
            preferred = [c for c in cands if c.parent_code == parent] or cands
            pick = min(preferred, key=lambda c: c.code)
            chosen.append(pick.id)
            parent = pick.code
        for (layer, _kind), cands in by_key.items():
            if layer == "rule":
                chosen.extend(c.id for c in cands)
            else:
                chosen.append(min(cands, key=lambda c: c.code).id)
        return tuple(sorted(chosen))
