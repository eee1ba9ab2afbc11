"""The compiled router of one boundary version: a lookup grid, signatures and decision tables.

A *signature* is the tuple of regions the tie-break selects for a place. The grid maps most points to
their signature in O(1); points in boundary cells are evaluated exactly (the crossing index, then shapely).
Per period of constant rules and per matter, a table maps signatures to outcomes, filled when first needed.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import shapely

from gis.crs import metres_per_degree
from gis.errors import InvalidInput
from gis.model import Delegation, Matter, Rule, Team, Unit, Version
from gis.routing.crossing import UNDECIDED, CrossingIndex
from gis.routing.decision import Decision, RuleRef, UnitRef, VersionRef
from gis.routing.distance import BoundaryDistance, SegmentScan
from gis.routing.explain import reason as explain_reason
from gis.routing.grid import BOUNDARY, EPS, H3_PAD_SHARE, LookupGrid, build_grid, dense_window
from gis.routing.regions import Region, Regions, build_regions
from gis.routing.rules import OK, STATUS_NAMES, Outcome, RuleBook, rule_in_force
from i18n import T, Text, current_language
from i18n.units import listing, term

Floats = npt.NDArray[np.float64]
FINE_SHARE = 4  # the dense window's cells are this many times smaller than the main grid's
Place = tuple[str | None, str | None, tuple[str, ...]]  # county, township, in-scope rule codes
EXPLAINED_SIZE = 4096  # kept explanations per router (`Router.explain_json`), a few KiB each
SCAN_CALLS = 512  # single-point boundary distances answered by a scan before the index is built (see below)


@dataclass(frozen=True)
class RoutingData:
    """Everything one version's router needs, read from the store."""

    version: Version
    units: list[Unit]
    rules: list[Rule]
    delegations: list[Delegation]
    matters: list[Matter]
    teams: list[Team]
    fallback_team: str | None = None  # default: the county bureau


def county_fallbacks(teams: list[Team], units: list[Unit]) -> dict[str, str]:
    """County code → its bureau (the first, by code, `county_bureau` team based in that county)."""
    counties = {u.code for u in units if u.layer == "county"}
    out: dict[str, str] = {}
    for t in sorted(teams, key=lambda t: t.code):
        if t.kind == "county_bureau" and t.unit_code in counties:
            out.setdefault(t.unit_code, t.code)
    return out


def default_fallback(teams: list[Team], configured: str | None) -> str:
    """The configured fallback team, else the (first) county bureau."""
    codes = {t.code for t in teams}
    if configured:
        if configured not in codes:
            raise InvalidInput(T("fallback team {configured} is not a known team", configured=configured),
                               where="GRIDGOV_FALLBACK_TEAM")
        return configured
    bureaus = sorted(t.code for t in teams if t.kind == "county_bureau")
    if not bureaus:
        raise InvalidInput(T("no county bureau team to take gaps and disputes; set GRIDGOV_FALLBACK_TEAM"))
    return bureaus[0]


class Router:
    """Routes points for one version. Thread-safe: tables grow under a lock, lookups never block."""

    def __init__(self, data: RoutingData, *, cell_m: float = 12.0) -> None:
        self.version = data.version
        self.fallback_team = default_fallback(data.teams, data.fallback_team)
        self.team_names = {t.code: t.name for t in data.teams}
        self.team_codes = sorted(self.team_names)
        self._team_index = {c: i for i, c in enumerate(self.team_codes)}
        self.matter_codes = sorted(m.code for m in data.matters)
        self._matter_index = {c: i for i, c in enumerate(self.matter_codes)}
        self.book = RuleBook(data.rules, data.delegations, data.matters, self.fallback_team,
                             county_fallbacks(data.teams, data.units))
        self.unit_names = {u.code: u.name for u in data.units}
        self.regions = Regions(build_regions(data.units, data.rules))
        self._lock = threading.Lock()
        self._sigs: list[tuple[int, ...]] = [()]  # signature 0: no region at all (outside everything)
        self._sig_ids: dict[tuple[int, ...], int] = {(): 0}
        # Covering-set hash pairs seen so far → signature id (sorted by the first hash; `_signatures_of`).
        self._set_cache: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]] = (
            np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64))
        self._periods = self.book.change_days()
        self._columns: dict[tuple[int, int], npt.NDArray[np.int32]] = {}
        self._memo: dict[tuple[int, int], dict[Place, int]] = {}
        self._place_keys: dict[int, list[Place]] = {}
        self._outcomes: list[Outcome] = []
        self._outcome_ids: dict[tuple[str, int, tuple[str, ...]], int] = {}
        self._outcome_team = np.zeros(0, dtype=np.int32)
        self._outcome_status = np.zeros(0, dtype=np.int8)
        n_regions = len(self.regions.regions)
        keys = np.random.default_rng(20261122).integers(0, 2**63, size=(2, n_regions), dtype=np.int64)
        self._hash1, self._hash2 = keys.view(np.uint64)
        if n_regions and int(self.regions.group.max()) >= 64:
            raise InvalidInput(T("more than 64 layer/zone-kind/rule-cell groups; split the rule cell sets"))
        self._group_bit = np.left_shift(np.uint64(1), self.regions.group.astype(np.uint64))
        shapes = [r.shape for r in self.regions.regions]
        pads = [EPS if r.cells_by_res is None else H3_PAD_SHARE * _edge_deg(min(r.cells_by_res))
                for r in self.regions.regions]
        self.grid: LookupGrid | None = (
            build_grid(shapes, self._exact_signatures, pads=pads, cell_m=cell_m) if shapes else None)
        # Where boundaries are dense (urban grids), a finer grid over just that window (grid.py).
        window = dense_window(self.grid) if self.grid is not None else None
        self.fine: LookupGrid | None = None
        if window is not None:
            assert self.grid is not None
            fine_m = cell_m / FINE_SHARE
            self.fine = build_grid(shapes, self._exact_signatures, pads=pads, cell_m=fine_m, max_cells=16_000_000,
                                   extent=window)
        # Points still in boundary cells: candidate edges per bucket of main-grid cells (crossing.py).
        self.crossing: CrossingIndex | None = None
        if self.grid is not None:
            self.crossing = CrossingIndex(
                self.grid, [(r.id, r.shape) for r in self.regions.polygons],
                [(r.shape, pad) for r, pad in zip(self.regions.regions, pads, strict=True)
                 if r.cells_by_res is not None],
                self.regions.covering, self)
        self._build_distance_index(shapes)
        self._explained: dict[tuple[tuple[int, ...], str, date, str], tuple[dict[str, Any], bool, Version]] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (Dask ships one compiled router to each worker): everything but the lock."""
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- signatures -------------------------------------------------------------------------------
    def _intern(self, selected: tuple[int, ...]) -> int:
        sid = self._sig_ids.get(selected)
        if sid is None:
            with self._lock:
                sid = self._sig_ids.get(selected)
                if sid is None:
                    sid = len(self._sigs)
                    self._sigs.append(selected)
                    self._sig_ids[selected] = sid
        return sid

    def _exact_signatures(self, lon: Floats, lat: Floats) -> npt.NDArray[np.int64]:
        """Exact signature ids, vectorised.

        Each point's covering set is summarised by two independent 64-bit XOR hashes (one reduceat over the
        pairs, which `covering` returns sorted by point). Distinct sets are interned once, from a
        representative point, and remembered by their hash pair; a point whose second hash disagrees with its
        representative's (a first-hash collision) is done one by one, so the result never depends on luck.
        Points covered twice in one tie-break group (on a shared edge or vertex) go through the tie-break.
        """
        p, r = self.regions.covering(lon, lat)
        return self._signatures_of(len(lon), p, r)

    def _signatures_of(self, n: int, p: npt.NDArray[np.int64], r: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Signature ids of n points from their covering (point, region) pairs, sorted by point then region."""
        out = np.zeros(n, dtype=np.int64)
        if p.size == 0:
            return out
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        pts = p[starts]
        h1 = np.bitwise_xor.reduceat(self._hash1[r], starts)
        h2 = np.bitwise_xor.reduceat(self._hash2[r], starts)
        groups = np.bitwise_or.reduceat(self._group_bit[r], starts)
        counts = np.diff(np.r_[starts, p.size])
        slow = np.bitwise_count(groups) < counts  # two regions of one group: the tie-break decides
        uniq, first, inverse = np.unique(h1, return_index=True, return_inverse=True)
        rep_h2 = h2[first]
        # Sets seen before (same pair of hashes) keep their signature; the others are interned once each.
        ids = self._known_signatures(uniq, rep_h2)
        new = np.flatnonzero(ids < 0)
        for k in new.tolist():
            f = int(first[k])
            chosen = r[starts[f]:starts[f] + counts[f]].tolist()
            ids[k] = self._intern(self.regions.select(chosen) if slow[f] else tuple(chosen))
        if new.size:
            self._remember_sets(uniq[new], rep_h2[new], ids[new])
        sig = ids[inverse]
        for j in np.flatnonzero(h2 != rep_h2[inverse]).tolist():  # a first-hash collision: one by one
            sig[j] = self._intern(self.regions.select(r[starts[j]:starts[j] + counts[j]].tolist()))
        out[pts] = sig
        return out

    def _known_signatures(self, h1: npt.NDArray[np.uint64], h2: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Signature ids of covering sets seen before, by their hash pair; −1 for the others."""
        keys, seconds, known = self._set_cache
        if not len(keys):
            return np.full(len(h1), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(keys, h1), len(keys) - 1)
        return np.where((keys[at] == h1) & (seconds[at] == h2), known[at], -1)

    def _remember_sets(self, h1: npt.NDArray[np.uint64], h2: npt.NDArray[np.uint64],
                       ids: npt.NDArray[np.int64]) -> None:
        """Add covering-set hashes and their signature ids to the cache (sorted by first hash)."""
        with self._lock:
            keys, seconds, known = self._set_cache
            keys, seconds, known = np.r_[keys, h1], np.r_[seconds, h2], np.r_[known, ids]
            order = np.lexsort((seconds, keys))
            self._set_cache = (keys[order], seconds[order], known[order])

    def _exact_one(self, lon: float, lat: float) -> int:
        """Exact signature id of one point, without the batch machinery (for the scalar path's p99)."""
        return self._intern(self.regions.select(self.regions.covering_one(lon, lat)))

    def signatures(self, lon: Floats, lat: Floats) -> npt.NDArray[np.int64]:
        """Signature ids for points: grid lookup, exact evaluation in boundary cells."""
        if self.grid is None:
            return np.zeros(lon.shape, dtype=np.int64)
        sig = self.grid.lookup(lon, lat, outside=0)
        todo = np.flatnonzero(sig == BOUNDARY)
        if todo.size and self.fine is not None:
            sig[todo] = self.fine.lookup(lon[todo], lat[todo], outside=BOUNDARY)
            todo = todo[sig[todo] == BOUNDARY]
        if todo.size and self.crossing is not None:
            sig[todo] = self.crossing.signatures(lon[todo], lat[todo], self)
            todo = todo[sig[todo] == UNDECIDED]
        if todo.size:
            sig[todo] = self._exact_signatures(lon[todo], lat[todo])
        return sig

    # -- decision tables --------------------------------------------------------------------------
    def _period(self, day: date) -> int:
        return bisect.bisect_right(self._periods, day)

    def _outcome_id(self, outcome: Outcome) -> int:
        key = (outcome.team, outcome.status, tuple(r.code for r in outcome.winners))
        oid = self._outcome_ids.get(key)
        if oid is None:
            oid = len(self._outcomes)
            self._outcomes.append(outcome)
            self._outcome_ids[key] = oid
            self._outcome_team = np.append(self._outcome_team, self._team_index[outcome.team]).astype(np.int32)
            self._outcome_status = np.append(self._outcome_status, outcome.status).astype(np.int8)
        return oid

    def _column(self, day: date, m: int) -> npt.NDArray[np.int32]:
        """Outcome ids by signature for one matter in the rule period of `day`, complete to now.

        Filled per matter on first use, so a catalogue of thousands of matters costs only what is routed.
        Signatures with the same township and the same in-scope rules share one reading of the rule table.
        """
        key = (self._period(day), m)
        column = self._columns.get(key)
        if column is not None and len(column) >= len(self._sigs):
            return column
        with self._lock:
            column = self._columns.get(key)
            done = 0 if column is None else len(column)
            sigs = list(self._sigs)
            if column is not None and done >= len(sigs):
                return column
            places = self._places(key[0], day, sigs)
            memo = self._memo.setdefault(key, {})
            matter = self.matter_codes[m]
            rows = np.empty(len(sigs) - done, dtype=np.int32)
            for k in range(done, len(sigs)):
                place = places[k]
                if place not in memo:
                    selected = [self.regions.regions[i] for i in sigs[k]]
                    memo[place] = self._outcome_id(self.book.decide(selected, matter, day))
                rows[k - done] = memo[place]
            column = rows if column is None else np.concatenate([column, rows])
            self._columns[key] = column
            return column

    def _places(self, period: int, day: date, sigs: list[tuple[int, ...]]) -> list[Place]:
        """(county, township, rules whose scope covers it) per signature: all the rule table needs of a place
        (the county picks the fallback team)."""
        places = self._place_keys.setdefault(period, [])
        in_force = [r for r in self.book.rules if rule_in_force(r, day)]
        for sig in sigs[len(places):]:
            selected = [self.regions.regions[i] for i in sig]
            scoped = tuple(r.code for r in in_force if self.book.scope_matches(r, selected))
            places.append((next((r.code for r in selected if r.layer == "county"), None),
                           next((r.code for r in selected if r.layer == "township"), None), scoped))
        return places

    def matter_index(self, matter: str) -> int:
        """Column of a matter; unknown codes are a NotFound with a hint."""
        idx = self._matter_index.get(matter)
        if idx is None:
            raise InvalidInput(T("unknown matter code {matter}; GET /matters lists the {n} codes",
                                 matter=repr(matter), n=len(self.matter_codes)),
                               where="matter")
        return idx

    # -- routing ----------------------------------------------------------------------------------
    def route_indices(self, lon: Floats, lat: Floats, matter: str, day: date) -> tuple[
            npt.NDArray[np.int32], npt.NDArray[np.int8]]:
        """Team indices (into `team_codes`) and status codes for many points: the fast path."""
        m = self.matter_index(matter)
        sig = self.signatures(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        outcome = self._column(day, m)[sig]
        return self._outcome_team[outcome], self._outcome_status[outcome]

    def route_many(self, lon: Floats, lat: Floats, matter: str, day: date) -> tuple[list[str], list[str]]:
        """Team codes and statuses ('ok', 'dispute', 'gap') for many points."""
        teams, status = self.route_indices(lon, lat, matter, day)
        codes = self.team_codes
        return [codes[t] for t in teams.tolist()], [STATUS_NAMES[s] for s in status.tolist()]

    def route_outcomes(self, lon: Floats, lat: Floats, matter: str, day: date) -> npt.NDArray[np.int32]:
        """Outcome ids for many points (labels from `outcome_labels`): the columnar batch path."""
        m = self.matter_index(matter)
        sig = self.signatures(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return self._column(day, m)[sig]

    def outcome_labels(self) -> tuple[list[str], list[str], list[str]]:
        """Team code, status name and winning rule ('' unless ok) of every outcome id so far."""
        with self._lock:
            outcomes = list(self._outcomes)
        return ([o.team for o in outcomes], [STATUS_NAMES[o.status] for o in outcomes],
                [o.winners[0].code if o.status == OK else "" for o in outcomes])

    def near_boundary(self, dist: Floats, accuracy_m: Floats | None) -> npt.NDArray[np.bool_]:
        """On a boundary (within 1 mm), or closer to one than the reported GPS accuracy."""
        near = dist < 1e-3
        if accuracy_m is not None:
            near |= dist < np.nan_to_num(np.asarray(accuracy_m, dtype=np.float64), nan=0.0)
        return np.asarray(near, dtype=np.bool_)

    def route_table(self, lon: Floats, lat: Floats, matter: str, day: date,
                    accuracy_m: Floats | None = None) -> dict[str, list[Any]]:
        """Columns for many points: team, status, winning rule, distance to boundary, near-boundary flag."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        outcome = self.route_outcomes(lon, lat, matter, day).tolist()
        dist = self.distances_to_boundary_m(lon, lat)
        teams, statuses, rules = self.outcome_labels()
        return {
            "team": [teams[o] for o in outcome],
            "status": [statuses[o] for o in outcome],
            "rule": [rules[o] for o in outcome],
            "distance_m": np.round(dist, 3).tolist(),
            "near_boundary": self.near_boundary(dist, accuracy_m).tolist(),
        }

    def owner(self, lon: float, lat: float, matter: str, day: date) -> str:
        """The responsible team for one point: the scalar fast path (no numpy on the grid hit)."""
        m = self.matter_index(matter)
        sid = self.grid.lookup_one(lon, lat, 0) if self.grid is not None else 0
        if sid == BOUNDARY and self.fine is not None:
            sid = self.fine.lookup_one(lon, lat, BOUNDARY)
        if sid == BOUNDARY:
            sid = self._exact_one(lon, lat)
        column = self._columns.get((self._period(day), m))
        if column is None or sid >= len(column):
            column = self._column(day, m)
        return self._outcomes[int(column[sid])].team

    # -- explanation ------------------------------------------------------------------------------
    def _build_distance_index(self, shapes: list[shapely.Geometry]) -> None:
        """Every distinct boundary segment in a local metre frame; the exact distance index over them is built
        on first use (`gis/routing/distance.py`), so routers that only route never pay for it."""
        bounds = np.array([s.bounds for s in shapes]) if shapes else np.array([[0.0, 0.0, 0.0, 0.0]])
        self._lon0 = float((bounds[:, 0].min() + bounds[:, 2].max()) / 2)
        self._lat0 = float((bounds[:, 1].min() + bounds[:, 3].max()) / 2)
        self._kx, self._ky = metres_per_degree(self._lat0)
        self._segments: Floats | None = None
        self._distance: BoundaryDistance | None = None
        self._scan: SegmentScan | None = None
        self._scans = 0
        self._index_started = False
        if not shapes:
            return
        rings = shapely.get_parts(shapely.boundary(np.array(shapes, dtype=object)))
        coords, index = shapely.get_coordinates(rings, return_index=True)
        same = index[1:] == index[:-1]
        seg = np.hstack([coords[:-1][same], coords[1:][same]])
        # Shared edges appear once per unit that has them: keep each segment once, whatever its direction.
        flip = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
        seg[flip] = seg[flip][:, [2, 3, 0, 1]]
        seg = np.unique(seg, axis=0)
        seg[:, [0, 2]] = (seg[:, [0, 2]] - self._lon0) * self._kx
        seg[:, [1, 3]] = (seg[:, [1, 3]] - self._lat0) * self._ky
        self._segments = seg

    @property
    def boundary_distance(self) -> BoundaryDistance | None:
        """The exact distance index (built once, on first use); None when the version has no shapes."""
        if self._distance is None and self._segments is not None:
            with self._lock:
                if self._distance is None:
                    self._distance = BoundaryDistance(self._segments)
        return self._distance

    def to_local_m(self, lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
        """Points in the local metre frame the boundary distances are measured in."""
        return (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky

    def distances_to_boundary_m(self, lon: Floats, lat: Floats) -> Floats:
        """Metres from each point to the nearest boundary of any region (local plane, < 0.5 % off the true
        distance; equal to shapely's distance in that plane to within rounding)."""
        index = self.boundary_distance
        if index is None or not len(lon):
            return np.full(len(lon), np.inf)
        x, y = self.to_local_m(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return index.distances(x, y)

    def distance_to_boundary_m(self, lon: float, lat: float) -> float:
        """Metres from one point to the nearest boundary of any region. The first `SCAN_CALLS` single points are
        answered by a scan of every segment (a fraction of a millisecond) rather than by building the index (two
        and a half seconds for the demo county): the first report or explanation after a start or a publication
        does not wait for it. After that the index is built on a thread of its own, and the scan answers until it
        is ready; the two give the same number (gis/routing/distance.py, SegmentScan)."""
        if self._segments is None:
            return math.inf
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky
        index = self._distance
        if index is not None:
            return index.distance_one(x, y)
        if self._scan is None:
            self._scan = SegmentScan(self._segments)
        self._scans += 1
        if self._scans >= SCAN_CALLS and not self._index_started:  # `==` could be passed by two threads at once
            self._index_started = True
            threading.Thread(target=lambda: self.boundary_distance, name="boundary-distance-index",
                             daemon=True).start()
        return self._scan.distance_one(x, y)

    def explain(self, lon: float, lat: float, matter: str, day: date, accuracy_m: float | None = None) -> Decision:
        """The full decision for one point: owner, rules, units, version, boundary distance, flags."""
        self.matter_index(matter)
        covering = self.regions.covering_lists(np.array([lon]), np.array([lat]))[0]
        return self._decision(covering, lon, lat, matter, day, accuracy_m)

    def explain_json(self, lon: float, lat: float, matter: str, day: date,
                     accuracy_m: float | None = None) -> dict[str, Any]:
        """`explain(...).model_dump(mode="json")`, for the HTTP path: what every point with the same covering
        regions shares (outcome, reason, rules, units, version, in the current language) is built once per
        (covering regions, matter, day, language) and kept; per point only the place, distance and flags.

        The answer shares its nested lists and dicts with the kept entry and with other answers: read it, or
        copy before changing anything in it."""
        self.matter_index(matter)
        covering = self.regions.covering_one(lon, lat)
        key = (tuple(covering), matter, day, current_language())
        kept = self._explained.get(key)
        if kept is None or kept[2] is not self.version:  # a new label (RouterCache refreshes the dates) too
            shared = self._decision(covering, lon, lat, matter, day, None).model_dump(mode="json")
            kept = (shared, len(self.regions.select(covering)) < len(covering), self.version)
            if len(self._explained) >= EXPLAINED_SIZE:
                self._explained.clear()  # a new day or a burst of rare places; rebuilt as asked
            self._explained[key] = kept
        shared, tie_broken, _ = kept
        dist = self.distance_to_boundary_m(lon, lat)
        on_boundary = tie_broken or dist < 1e-3
        out = dict(shared)  # the keys keep Decision's order; the point's own values replace the kept one's
        out["lon"] = float(lon)
        out["lat"] = float(lat)
        out["distance_to_boundary_m"] = round(dist, 3) if math.isfinite(dist) else -1.0
        out["on_boundary"] = on_boundary
        out["accuracy_m"] = None if accuracy_m is None else float(accuracy_m)
        out["near_boundary"] = on_boundary or (accuracy_m is not None and dist < accuracy_m)
        return out

    def _decision(self, covering: list[int], lon: float, lat: float, matter: str, day: date,
                  accuracy_m: float | None) -> Decision:
        """`explain` for a point whose covering regions are known."""
        selected_ids = self.regions.select(covering)
        selected = [self.regions.regions[i] for i in selected_ids]
        outcome = self.book.decide(selected, matter, day)
        dist = self.distance_to_boundary_m(lon, lat)
        on_boundary = len(selected_ids) < len(covering) or dist < 1e-3  # a tie-break chose, or on an edge
        near = on_boundary or (accuracy_m is not None and dist < accuracy_m)
        winner = outcome.winners[0] if outcome.status == OK else None
        v = self.version
        return Decision(
            lon=lon, lat=lat, matter=matter, day=day, team=outcome.team,
            team_name=self.team_names.get(outcome.team, outcome.team), co_owners=list(outcome.co_owners),
            status=STATUS_NAMES[outcome.status], reason=self._reason(outcome, selected, matter),
            fallback_used=outcome.status != OK,
            candidates=sorted({r.team_code for r in outcome.winners}) if outcome.status != OK else [],
            winning_rule=_rule_ref(winner, self.unit_names) if winner else None,
            matched_rules=[_rule_ref(r, self.unit_names) for r in outcome.matched],
            units=[self._unit_ref(self.regions.regions[i], i in selected_ids) for i in covering],
            version=VersionRef(id=v.id or 0, name=v.name, effective_from=v.effective_from,
                               effective_to=v.effective_to),
            distance_to_boundary_m=round(dist, 3) if math.isfinite(dist) else -1.0,
            on_boundary=on_boundary, accuracy_m=accuracy_m, near_boundary=near,
        )

    def _unit_ref(self, region: Region, selected: bool) -> UnitRef:
        name = self.unit_names.get(region.code, region.code)
        return UnitRef(code=region.code, name=name, layer=region.layer, kind=region.kind, selected=selected)

    def _reason(self, outcome: Outcome, selected: list[Region], matter: str) -> str:
        """The decision as a sentence with names, in the current language (gis/routing/explain.py)."""
        return explain_reason(outcome, selected, self.book.matters[matter], self.team_names,
                              self.unit_names).render()


def _edge_deg(res: int) -> float:
    """Average H3 edge length at a resolution, in degrees of latitude."""
    return float(h3.average_hexagon_edge_length(res, unit="m")) / 111_000.0


def _scope_text(rule: Rule, unit_names: dict[str, str]) -> Text:
    """Where a rule applies, for a person: a unit by its name (code second), a layer by its word."""
    s = rule.scope
    if s.type == "unit":
        name = unit_names.get(s.unit_code or "")
        return T("{name} ({code})", name=name, code=s.unit_code) if name else T("{code}", code=s.unit_code)
    if s.type == "layer":
        return T("every {layer}", layer=term("layer", s.layer))
    if s.type == "cells":
        return T("{n} H3 cells", n=len(s.cells or []))
    return T("everywhere in the county")


def _matters_text(rule: Rule) -> Text:
    f = rule.matters
    if f.type == "domain":
        return T("of domain {domain}", domain=f.domain)
    if f.type == "codes":
        return listing(f.codes or [])
    return {"all": T("all"), "delegated": T("delegated to the township"),
            "not_delegated": T("not delegated to the township")}[f.type]


def _rule_ref(rule: Rule, unit_names: dict[str, str]) -> RuleRef:
    """A matching rule; its scope and matters in the current language (the codes stay in `code` and `team`)."""
    return RuleRef(code=rule.code, priority=rule.priority, team=rule.team_code, co_owners=rule.co_owner_codes,
                   scope=_scope_text(rule, unit_names).render(), matters=_matters_text(rule).render(),
                   legal_basis=rule.legal_basis)
