"""An independent reading of the routing semantics, to check the compiled router against.

Built only from what DESIGN.md §3 and the docstrings of `gis.routing` promise, with different tools and
no code shared with `gis.routing` (only the `gis.model` classes):
- polygon units: a geopandas spatial join with the `covers` predicate (for a point, covers ≡ inside or on
  an edge or vertex; `within` would drop points on shared edges);
- units and rules defined by H3 cells: `h3.latlng_to_cell` at each resolution the set uses;
- the tie-break: administrative layers top-down (county → township → village → grid), preferring the
  covering units whose parent is the unit chosen one layer up, then the smallest code; the smallest code
  per zone kind; H3 cell sets as they are;
- the rule table read plainly: in force when effective_from ≤ day < effective_to, scope, matter filter,
  highest priority wins, several teams at the top is a dispute, nothing is a gap; both go to the fallback.

Points are reduced to their distinct covering sets, so the rule table is read once per set, not per point.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import h3
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from gis.model import Delegation, Matter, Rule, Team, Unit

ADMIN_ORDER = ("county", "township", "village", "grid")
CELLS = "cells:"  # token of a cell-scoped rule's area in a covering set: "cells:<rule code>"


@dataclass(frozen=True)
class Places:
    """Points reduced to distinct covering sets: point i is covered by exactly `combos[combo[i]]`."""

    combo: npt.NDArray[np.int64]
    combos: list[tuple[str, ...]]  # sorted unit codes and "cells:<rule>" tokens

    def covering(self, i: int) -> tuple[str, ...]:
        return self.combos[int(self.combo[i])]


class Reference:
    """The documented semantics, evaluated the slow, obvious way."""

    def __init__(self, units: list[Unit], rules: list[Rule], delegations: list[Delegation],
                 matters: list[Matter], teams: list[Team], fallback_team: str | None = None) -> None:
        self.units = {u.code: u for u in units}
        self.rules = list(rules)
        self.matters = {m.code: m for m in matters}
        self.delegated = {(d.township_code, d.matter_code) for d in delegations if d.situation != "deferred"}
        # The documented fallback: the county's own bureau (a county_bureau based in it), else the configured
        # team, else the first county bureau by code.
        self.fallback = fallback_team or sorted(t.code for t in teams if t.kind == "county_bureau")[0]
        self.county_bureau = {}
        for t in sorted(teams, key=lambda t: t.code, reverse=True):
            if t.kind == "county_bureau" and t.unit_code and self.units.get(t.unit_code) is not None \
                    and self.units[t.unit_code].layer == "county":
                self.county_bureau[t.unit_code] = t.code
        polygons = [u for u in units if u.geometry is not None]
        self.frame = gpd.GeoDataFrame({"token": [u.code for u in polygons]},
                                      geometry=[u.geometry for u in polygons], crs="EPSG:4326")
        # resolution → cell → tokens of the unit / rule areas holding that cell
        self.cell_tokens: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for u in units:
            for c in u.cells or []:
                self.cell_tokens[h3.get_resolution(c)][c].add(u.code)
        for r in rules:
            if r.scope.type == "cells":
                for c in r.scope.cells or []:
                    self.cell_tokens[h3.get_resolution(c)][c].add(CELLS + r.code)
        self._decisions: dict[tuple[tuple[str, ...], str, date], tuple[str, str]] = {}

    # -- where is a point ----------------------------------------------------------------------------
    def places(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> Places:
        """Every unit / cell area covering each point (joined the other way round: the polygons are
        prepared once and probe a tree of points, much faster than testing each point against raw polygons)."""
        n = len(lon)
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        joined = self.frame.sjoin(points, how="inner", predicate="covers")
        pt = [joined["index_right"].to_numpy(dtype=np.int64)]
        tok = [joined["token"].to_numpy(dtype=object)]
        for res, members in self.cell_tokens.items():
            hit_p, hit_t = [], []
            for i, (la, lo) in enumerate(zip(lat.tolist(), lon.tolist(), strict=True)):
                for t in members.get(h3.latlng_to_cell(la, lo, res), ()):
                    hit_p.append(i)
                    hit_t.append(t)
            pt.append(np.array(hit_p, dtype=np.int64))
            tok.append(np.array(hit_t, dtype=object))
        p = np.concatenate(pt)
        t = np.concatenate(tok)
        vocab = np.array(sorted(set(t.tolist())), dtype=object)
        tid = np.searchsorted(vocab, t) if len(t) else np.zeros(0, dtype=np.int64)
        per_point: list[set[int]] = [set() for _ in range(n)]
        for i, k in zip(p.tolist(), tid.tolist(), strict=True):
            per_point[i].add(k)
        index: dict[tuple[str, ...], int] = {}
        combo = np.empty(n, dtype=np.int64)
        for i, ks in enumerate(per_point):
            key = tuple(str(vocab[k]) for k in sorted(ks))
            combo[i] = index.setdefault(key, len(index))
        return Places(combo, list(index))

    # -- which units the decision uses ---------------------------------------------------------------
    def select(self, covering: tuple[str, ...]) -> tuple[str, ...]:
        """The tie-break on shared edges and vertices (see the module docstring)."""
        chosen: list[str] = []
        parent: str | None = None
        for layer in ADMIN_ORDER:
            cands = [c for c in covering if c in self.units and self.units[c].layer == layer]
            if not cands:
                continue
            children = [c for c in cands if self.units[c].parent_code == parent]
            pick = min(children or cands)
            chosen.append(pick)
            parent = pick
        zones: dict[str, list[str]] = defaultdict(list)
        for c in covering:
            if c in self.units and self.units[c].layer == "zone":
                zones[self.units[c].kind].append(c)
        chosen += [min(codes) for codes in zones.values()]
        chosen += [c for c in covering if c.startswith(CELLS)]
        return tuple(sorted(chosen))

    # -- the rule table ------------------------------------------------------------------------------
    @staticmethod
    def in_force(rule: Rule, day: date) -> bool:
        starts_ok = rule.effective_from is None or rule.effective_from <= day
        ends_ok = rule.effective_to is None or day < rule.effective_to
        return starts_ok and ends_ok

    def scope_covers(self, rule: Rule, selected: tuple[str, ...]) -> bool:
        scope = rule.scope
        units = [self.units[c] for c in selected if c in self.units]
        if scope.type == "unit":
            return scope.unit_code in selected
        if scope.type == "layer":
            return any(u.layer == scope.layer for u in units)
        if scope.type == "cells":
            return CELLS + rule.code in selected
        return any(u.layer == "county" for u in units)  # everywhere: anywhere inside a county

    def matter_covers(self, rule: Rule, matter: Matter, township: str | None) -> bool:
        f = rule.matters
        if f.type == "all":
            return True
        if f.type == "domain":
            return matter.domain == f.domain
        if f.type == "codes":
            return matter.code in (f.codes or [])
        holds = township is not None and (township, matter.code) in self.delegated
        return holds if f.type == "delegated" else not holds

    def matching(self, covering: tuple[str, ...], matter_code: str, day: date) -> list[Rule]:
        """Every rule that applies here, on that day, to that matter."""
        selected = self.select(covering)
        township = next((c for c in selected if c in self.units and self.units[c].layer == "township"), None)
        matter = self.matters[matter_code]
        return [r for r in self.rules if self.in_force(r, day) and self.scope_covers(r, selected)
                and self.matter_covers(r, matter, township)]

    def decide(self, covering: tuple[str, ...], matter_code: str, day: date) -> tuple[str, str]:
        """(team, status) for a covering set."""
        key = (covering, matter_code, day)
        if key not in self._decisions:
            matched = self.matching(covering, matter_code, day)
            county = next((c for c in self.select(covering) if c in self.units and self.units[c].layer == "county"),
                          None)
            fallback = self.county_bureau.get(county, self.fallback) if county else self.fallback
            if not matched:
                self._decisions[key] = (fallback, "gap")
            else:
                top = max(r.priority for r in matched)
                teams = {r.team_code for r in matched if r.priority == top}
                self._decisions[key] = (teams.pop(), "ok") if len(teams) == 1 else (fallback, "dispute")
        return self._decisions[key]

    def route(self, places: Places, matter_code: str, day: date) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
        """Team codes and statuses for every point of `places`."""
        answers = [self.decide(c, matter_code, day) for c in places.combos]
        teams = np.array([a[0] for a in answers] or [""], dtype=object)
        status = np.array([a[1] for a in answers] or [""], dtype=object)
        return teams[places.combo], status[places.combo]

    # -- distance to the nearest boundary ------------------------------------------------------------
    def region_shapes(self) -> list[BaseGeometry]:
        """Every area a decision can depend on: polygon units, H3 units and cell-scoped rules' cells."""
        shapes: list[BaseGeometry] = list(self.frame.geometry)
        cell_sets = [u.cells for u in self.units.values() if u.cells]
        cell_sets += [r.scope.cells for r in self.rules if r.scope.type == "cells" and r.scope.cells]
        for cells in cell_sets:
            shapes.append(shapely.geometry.shape(h3.cells_to_h3shape(cells).__geo_interface__))
        return shapes

    def distances_m(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Metres to the nearest boundary of any region, measured in the local UTM zone."""
        zone = int(math.floor((float(np.mean(lon)) + 180) / 6)) + 1
        utm = f"EPSG:{32600 + zone if float(np.mean(lat)) >= 0 else 32700 + zone}"
        # Edges are straight in lon/lat: densify them before projecting, or the projected chords cut corners.
        edges = shapely.segmentize(np.array([s.boundary for s in self.region_shapes()], dtype=object), 2e-4)
        lines = gpd.GeoSeries(edges, crs="EPSG:4326").to_crs(utm)
        pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(utm)
        out = np.full(len(lon), np.inf)
        for i, p in enumerate(pts):
            out[i] = float(lines.distance(p).min())
        return out
