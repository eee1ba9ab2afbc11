"""A deterministic demo county on the north China plain: boundaries, zones, grids, teams, matters,
delegations, routing rules and months of simulated incident reports.

`build_demo_county` is a pure function of its arguments: every random draw comes from numpy Generators
seeded from `seed` (one stream per stage, so changing the incident simulation never moves a boundary).
Geometry is generated in a local metre frame and converted to WGS84 lon/lat *before* any topology, so
each shared boundary is one piece of linework and the partitions are exact in lon/lat.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import shapely
from shapely import affinity
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from gis import demo_catalogue as cat
from gis.crs import wgs84_to_gcj02
from gis.demo_catalogue import grid_worker_code
from gis.model import Delegation, Incident, Matter, Rule, Team, Unit

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

LON0, LAT0 = 115.2, 36.8  # centre of the demo county (Hebei, north China plain)
# Metres per degree at LAT0 on the WGS84 ellipsoid; an affine frame, so straight lines stay straight.
_A, _E2 = 6_378_137.0, 0.0066943799901413165
_W = 1 - _E2 * math.sin(math.radians(LAT0)) ** 2
KX = math.radians(_A / math.sqrt(_W) * math.cos(math.radians(LAT0)))
KY = math.radians(_A * (1 - _E2) / _W**1.5)
DEFAULT_TODAY = date(2026, 11, 1)  # fixed, so the default build never depends on the clock
H3_GRID_RES = 9
GRID_CELLS = 8  # res-9 cells per urban grid: ~0.8 km², a few dozen grids over the town
URBAN_RADIUS_M = 1800.0  # built-up county seat of ~20-25 km², typical for a plain county
# Stage numbers of the random streams.
_OUTLINE, _SEEDS, _TOWNSHIPS, _NAMES, _ZONES, _TEAMS, _INCIDENTS, _COAL, _URBAN_GRID = range(9)
URBAN_GRID_M = 100.0  # the national standard's unit grid: about 10,000 m², ~100 m across


@dataclass(frozen=True)
class DemoCounty:
    """Everything a demo needs, as validated domain objects."""

    units: list[Unit]
    teams: list[Team]
    matters: list[Matter]
    delegations: list[Delegation]
    rules: list[Rule]
    incidents: list[Incident]
    fallback_team_code: str
    seed: int


@dataclass
class _Village:
    """A village while the county is assembled."""

    xy: Floats  # seed point in the metre frame
    geom: BaseGeometry  # lon/lat
    urban: bool  # one of the county seat's urban communities
    township: int = -1
    ur_code: str = "220"
    code: str = ""
    name: str = ""
    short: str = ""  # name as said aloud, e.g. 张庄村
    seat: tuple[float, float] = (0.0, 0.0)
    neighbours: dict[int, float] = field(default_factory=dict)  # village index → shared boundary (deg)


def _rng(seed: int, stage: int) -> np.random.Generator:
    """An independent random stream for one generation stage."""
    return np.random.default_rng([seed, stage])


def to_lonlat(xy: Floats) -> Floats:
    """Metre-frame coordinates (n, 2) → lon/lat (n, 2)."""
    return np.column_stack((LON0 + xy[:, 0] / KX, LAT0 + xy[:, 1] / KY))


def to_metres(lonlat: Floats) -> Floats:
    """Lon/lat (n, 2) → metre-frame coordinates (n, 2)."""
    return np.column_stack(((lonlat[:, 0] - LON0) * KX, (lonlat[:, 1] - LAT0) * KY))


def _geom_lonlat(geom: BaseGeometry) -> BaseGeometry:
    """A metre-frame geometry in lon/lat."""
    return shapely.transform(geom, to_lonlat)


def area_km2(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry in km² (local frame: fine at county scale)."""
    return float(geom.area * KX * KY / 1e6)


# --- boundaries ----------------------------------------------------------------------------------


def displace_edges(starts: Floats, ends: Floats, seed: int, amp: float, step: float) -> list[Floats]:
    """Fractal midpoint displacement of straight edges, each seeded from its own endpoints.

    The same edge always gets the same wiggle whichever neighbour asks, and in whatever order
    the edges come; `amp` is the offset as a share of the segment length, `step` the target
    final segment length in metres.
    """
    swap = (starts[:, 0] > ends[:, 0]) | ((starts[:, 0] == ends[:, 0]) & (starts[:, 1] > ends[:, 1]))
    a = np.where(swap[:, None], ends, starts)
    b = np.where(swap[:, None], starts, ends)
    length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    depth = np.clip(np.ceil(np.log2(np.maximum(length, 1.0) / step)), 1, 9).astype(np.int64)
    # Endpoints to decimetres (offset to stay positive) seed each edge's stream.
    keys = np.round((np.hstack([a, b]) + 1e7) * 10).astype(np.int64)
    out: list[Floats] = [np.empty((0, 2))] * len(a)
    for d in np.unique(depth).tolist():
        idx = np.flatnonzero(depth == d)
        noise = np.stack([np.random.default_rng([seed, *keys[i].tolist()]).standard_normal(2**d - 1)
                          for i in idx])
        pts = np.stack([a[idx], b[idx]], axis=1)
        used = 0
        for _ in range(d):
            seg = pts[:, 1:] - pts[:, :-1]
            m = seg.shape[1]
            normal = np.stack([-seg[..., 1], seg[..., 0]], axis=-1)
            mid = (pts[:, 1:] + pts[:, :-1]) / 2 + normal * (noise[:, used:used + m] * amp)[..., None]
            used += m
            finer = np.empty((len(idx), 2 * m + 1, 2))
            finer[:, 0::2], finer[:, 1::2] = pts, mid
            pts = finer
        for k, i in enumerate(idx.tolist()):
            out[i] = pts[k][::-1] if swap[i] else pts[k]
    return out


def _outline(seed: int) -> Polygon:
    """The county outline in metres: a lobed ~40 × 35 km shape with a fractal edge."""
    rng = _rng(seed, _OUTLINE)
    n = 30
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-0.06, 0.06, n)
    k = np.arange(2, 8)
    amps = rng.uniform(0.05, 0.13, k.size) / np.sqrt(k - 1)
    phases = rng.uniform(0, 2 * np.pi, k.size)
    r = 1 + (amps[:, None] * np.cos(k[:, None] * theta + phases[:, None])).sum(axis=0)
    coarse = np.column_stack((20_000 * r * np.cos(theta), 17_500 * r * np.sin(theta)))
    amp = 0.2
    # A strong wiggle can make the ring cross itself; soften until it does not (deterministic).
    for _ in range(12):
        parts = displace_edges(coarse, np.roll(coarse, -1, axis=0), seed * 7919 + 1, amp, 30.0)
        ring = Polygon(np.vstack([p[:-1] for p in parts]))
        if ring.is_valid:
            return ring
        amp *= 0.8
    raise RuntimeError("could not build a simple county outline")  # pragma: no cover


def _village_seeds(seed: int, outline: Polygon, n: int) -> tuple[Floats, int]:
    """Village seats: a dense cluster of urban communities around the county seat, blue noise elsewhere."""
    rng = _rng(seed, _SEEDS)
    inner = outline.buffer(-500)
    c = np.array(inner.centroid.coords[0])
    seat = c + rng.uniform(-3000, 3000, 2)
    n_urban = min(max(6, round(0.09 * n)), len(cat.COMMUNITY_NAMES))  # one name each
    pts = [seat]
    # Best-candidate sampling: of a few random candidates keep the one farthest from those placed.
    while len(pts) < n_urban:
        angle, radius = rng.uniform(0, 2 * np.pi, 16), URBAN_RADIUS_M * np.sqrt(rng.uniform(0, 1, 16))
        cand = seat + np.column_stack((radius * np.cos(angle), radius * np.sin(angle)))
        dist = np.linalg.norm(cand[:, None] - np.array(pts)[None], axis=-1).min(axis=1)
        pts.append(cand[np.argmax(dist)])
    # Rural seats keep clear of the town so the urban communities stay small (~1 km²) and compact.
    urban_radius = URBAN_RADIUS_M + 600
    minx, miny, maxx, maxy = inner.bounds
    while len(pts) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), (24, 2))
        cand = cand[shapely.contains_xy(inner, cand[:, 0], cand[:, 1])]
        cand = cand[np.linalg.norm(cand - seat, axis=1) > urban_radius]
        if len(cand):
            dist = np.linalg.norm(cand[:, None] - np.array(pts)[None], axis=-1).min(axis=1)
            pts.append(cand[np.argmax(dist)])
    return np.array(pts), n_urban


def _faces(seed: int, seeds: Floats, outline: Polygon) -> tuple[Any, Ints]:
    """Noded, displaced Voronoi linework polygonized into faces (lon/lat) inside the outline."""
    points = shapely.multipoints(seeds)
    env = outline.envelope.buffer(5000)
    edges = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=env, only_edges=True))
    edges = edges[shapely.intersects(edges, outline.buffer(500))]
    ends = shapely.get_coordinates(edges).reshape(-1, 2, 2)
    lines = displace_edges(ends[:, 0], ends[:, 1], seed * 7919 + 2, 0.13, 40.0)
    index = np.repeat(np.arange(len(lines)), [len(p) for p in lines])
    linework = shapely.linestrings(to_lonlat(np.vstack(lines)), indices=index)
    outline_ll = _geom_lonlat(outline)
    # union_all nodes every crossing once, so neighbouring faces share identical vertices.
    noded = shapely.union_all(np.append(linework, outline_ll.exterior))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.contains(outline_ll, shapely.point_on_surface(faces))]
    cells = _geom_lonlat(shapely.voronoi_polygons(points, extend_to=env))
    return faces, _overlap_owner(faces, shapely.get_parts(cells), to_lonlat(seeds))


def _overlap_owner(faces: Any, cells: Any, seeds_ll: Floats) -> Ints:
    """For each face, the seed whose undisplaced Voronoi cell overlaps it most."""
    # GEOS does not promise cells in seed order: match each seed to the cell containing it.
    seed_i, cell_i = shapely.STRtree(cells).query(shapely.points(seeds_ll), predicate="within")
    cell_of_seed = np.empty(len(seeds_ll), dtype=np.int64)
    cell_of_seed[seed_i] = cell_i
    return largest_overlap(faces, cells[cell_of_seed])


def largest_overlap(pieces: Any, targets: Any) -> Ints:
    """For each piece, the index of the target it overlaps most (-1 if none; ties to the lower index)."""
    piece_i, target_j = shapely.STRtree(targets).query(pieces, predicate="intersects")
    overlap = shapely.area(shapely.intersection(pieces[piece_i], targets[target_j]))
    order = np.lexsort((target_j, -overlap, piece_i))
    first = np.unique(piece_i[order], return_index=True)[1]
    owner = np.full(len(pieces), -1, dtype=np.int64)
    owner[piece_i[order][first]] = target_j[order][first]
    return owner


def _face_adjacency(faces: Any) -> list[tuple[int, int, float]]:
    """Pairs of faces sharing a boundary stretch (not just a point), with its length in degrees."""
    i, j = shapely.STRtree(faces).query(faces, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    bounds = shapely.boundary(faces)
    length = shapely.length(shapely.intersection(bounds[i], bounds[j]))
    return [(int(a), int(b), float(w)) for a, b, w in zip(i, j, length, strict=True) if w > 0]


def _components(members: list[int], links: dict[int, list[int]]) -> list[list[int]]:
    """Connected components of `members` using only links between members."""
    inside, seen, comps = set(members), set(), []
    for start in members:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            comp.append(node)
            for nxt in links.get(node, []):
                if nxt in inside and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        comps.append(sorted(comp))
    return comps


def _merge_fragments(owner: Ints, areas: Floats, adjacency: list[tuple[int, int, float]]) -> Ints:
    """Give each detached fragment of a village to the neighbour it shares most boundary with."""
    owner = owner.copy()
    links: dict[int, list[int]] = {}
    for a, b, _ in adjacency:
        links.setdefault(a, []).append(b)
        links.setdefault(b, []).append(a)
    for _ in range(10):
        changed = False
        for v in np.unique(owner).tolist():
            comps = _components(np.flatnonzero(owner == v).tolist(), links)
            if len(comps) < 2:
                continue
            keep = max(comps, key=lambda c: (areas[c].sum(), -c[0]))
            for comp in comps:
                if comp is keep:
                    continue
                members = set(comp)
                shared: dict[int, float] = {}  # neighbour village → shared boundary length
                for a, b, w in adjacency:
                    if (a in members) != (b in members):
                        other = int(owner[b] if a in members else owner[a])
                        if other != v:
                            shared[other] = shared.get(other, 0.0) + w
                if shared:
                    owner[comp] = max(shared, key=lambda o: (shared[o], -o))
                    changed = True
        if not changed:
            break
    return owner


def _villages(seed: int, seeds: Floats, n_urban: int, outline: Polygon) -> list[_Village]:
    """The village partition: faces grouped by owner, fragments merged, neighbours measured."""
    faces, owner = _faces(seed, seeds, outline)
    adjacency = _face_adjacency(faces)
    owner = _merge_fragments(owner, shapely.area(faces), adjacency)
    kept = [v for v in range(len(seeds)) if (owner == v).any()]  # a seed can lose every face
    renum = {v: k for k, v in enumerate(kept)}
    villages = [_Village(xy=seeds[v], geom=shapely.coverage_union_all(faces[owner == v]), urban=v < n_urban)
                for v in kept]
    for a, b, w in adjacency:
        va, vb = renum[int(owner[a])], renum[int(owner[b])]
        if va != vb:
            villages[va].neighbours[vb] = villages[va].neighbours.get(vb, 0.0) + w
            villages[vb].neighbours[va] = villages[vb].neighbours.get(va, 0.0) + w
    return villages


# --- townships and names -------------------------------------------------------------------------


def _grow_townships(seed: int, villages: list[_Village], centre: Floats) -> None:
    """Assign villages to the seat town (index 0) and the ring townships by growing over adjacency.

    Sources: every urban community for the seat town, and the village nearest each of a few evenly
    spaced points on a ring for the others. Growth is a multi-source Dijkstra with a per-village friction,
    so townships are contiguous and their borders wander like real ones.
    """
    rng = _rng(seed, _TOWNSHIPS)
    xy = np.array([v.xy for v in villages])
    ring = float(np.sqrt(np.median(np.sum((xy - centre) ** 2, axis=1)))) * 1.15
    start = rng.uniform(0, 2 * np.pi)
    # The town starts behind by its own radius, or its head start would swallow the ring townships.
    sources = [(URBAN_RADIUS_M, v, 0) for v, village in enumerate(villages) if village.urban]
    taken = {v for _, v, _ in sources}
    n_ring = cat.N_TOWNS + cat.N_XIANG
    for t in range(1, n_ring + 1):
        angle = start + (t - 1) * 2 * np.pi / n_ring + rng.uniform(-0.25, 0.25)
        target = centre + ring * np.array([np.cos(angle), np.sin(angle)])
        order = np.argsort(np.linalg.norm(xy - target, axis=1), kind="stable")
        pick = next(int(v) for v in order if int(v) not in taken)
        taken.add(pick)
        sources.append((0.0, pick, t))
    friction = rng.uniform(0.6, 1.4, len(villages))
    heap = list(sources)
    heapq.heapify(heap)
    while heap:
        dist, v, t = heapq.heappop(heap)
        if villages[v].township >= 0:
            continue
        villages[v].township = t
        for w in sorted(villages[v].neighbours):
            if villages[w].township < 0:
                step = float(np.linalg.norm(xy[w] - xy[v])) * (friction[v] + friction[w]) / 2
                heapq.heappush(heap, (dist + step, w, t))


def _village_name(rng: np.random.Generator, used: set[str]) -> str:
    """A fresh north-China village base name such as 前刘庄 or 王官营."""
    while True:
        name = (str(rng.choice(cat.NAME_PREFIXES)) + str(rng.choice(cat.SURNAMES))
                + str(rng.choice(cat.NAME_SUFFIXES)))
        if name not in used:
            used.add(name)
            return name


def _township_table(rng: np.random.Generator) -> list[tuple[str, str]]:
    """(code, name) of the 7 townships: the seat town, four 镇 and two 乡, in code order."""
    towns = rng.choice(cat.TOWN_NAMES, cat.N_TOWNS, replace=False).tolist()
    xiang = rng.choice(cat.XIANG_NAMES, cat.N_XIANG, replace=False).tolist()
    prefix = cat.COUNTY_CODE[:6]
    # GB/T 10114 style: 1xx for 镇, 2xx for 乡; the seat town first.
    table = [(f"{prefix}100000", cat.SEAT_TOWN)]
    table += [(f"{prefix}{101 + i}000", str(n)) for i, n in enumerate(towns)]
    table += [(f"{prefix}{200 + i}000", str(n)) for i, n in enumerate(xiang)]
    return table


def _classify_and_name(seed: int, villages: list[_Village]) -> list[tuple[str, str]]:
    """Urban–rural codes, 12-digit codes, names and seat points of the villages; the township table."""
    rng = _rng(seed, _NAMES)
    table = _township_table(rng)
    order = rng.permutation(len(table) - 1) + 1  # which ring township gets which name
    remap = {0: 0, **{int(t): k + 1 for k, t in enumerate(order)}}
    for v in villages:
        v.township = remap[v.township]
    for v in villages:
        if v.urban:
            v.ur_code = "111"
        elif v.township == 0 and any(villages[w].urban for w in v.neighbours):
            v.ur_code = "112"  # urban–rural fringe around the county seat
    for t in range(1, len(table)):
        members = [i for i, v in enumerate(villages) if v.township == t]
        xy = np.array([villages[i].xy for i in members])
        centre = members[int(np.argmin(np.linalg.norm(xy - xy.mean(axis=0), axis=1)))]
        is_town = table[t][1].endswith("镇")
        villages[centre].ur_code = "121" if is_town else "210"
        if is_town:
            fringe = sorted(((w, s) for w, s in villages[centre].neighbours.items()
                             if villages[w].township == t), key=lambda p: (-p[1], p[0]))[:2]
            for w, _ in fringe:
                villages[w].ur_code = "122"
    used: set[str] = set()
    communities = iter(rng.permutation(cat.COMMUNITY_NAMES).tolist())
    for t, (tcode, tname) in enumerate(table):
        members = sorted((i for i, v in enumerate(villages) if v.township == t),
                         key=lambda i: (villages[i].ur_code not in ("111", "121"),
                                        -villages[i].xy[1], villages[i].xy[0]))
        n_comm = 0
        for k, i in enumerate(members):
            v = villages[i]
            if v.ur_code in ("111", "121"):
                n_comm += 1
                v.code = f"{tcode[:9]}{n_comm:03d}"  # 0xx: 居委会
                base = next(communities) if v.ur_code == "111" else tname[:-1]
                v.short, v.name = f"{base}社区", f"{base}社区居委会"
            else:
                v.code = f"{tcode[:9]}{200 + k - n_comm:03d}"  # 2xx: 村委会
                base = _village_name(rng, used)
                v.short = base if base.endswith("村") else f"{base}村"
                v.name = f"{v.short}委会"
            v.seat = _seat_point(v)
    return table


def _seat_point(v: _Village) -> tuple[float, float]:
    """The village seat in lon/lat (6 decimals), moved inside if the wiggle put it over the border."""
    seat = to_lonlat(v.xy[None])[0]
    for lon, lat in (seat, v.geom.point_on_surface().coords[0]):
        point = (round(float(lon), 6), round(float(lat), 6))
        if v.geom.covers(shapely.Point(point)):
            return point
    return point  # pragma: no cover  (a point on surface rounded out of a 10 cm sliver)


# --- units ---------------------------------------------------------------------------------------


def _admin_units(villages: list[_Village], table: list[tuple[str, str]]) -> list[Unit]:
    """County, townships and villages; each parent is the exact union of its children's faces."""
    township_geoms = [shapely.coverage_union_all([v.geom for v in villages if v.township == t])
                      for t in range(len(table))]
    county = shapely.coverage_union_all(township_geoms)
    units = [Unit(code=cat.COUNTY_CODE, name=cat.COUNTY_NAME, layer="county", geometry=county,
                  attributes={"seat_township": table[0][0]})]
    for t, (code, name) in enumerate(table):
        units.append(Unit(code=code, name=name, layer="township", parent_code=cat.COUNTY_CODE,
                          geometry=township_geoms[t], attributes={"seat": t == 0}))
    for v in sorted(villages, key=lambda v: v.code):
        units.append(Unit(code=v.code, name=v.name, layer="village", parent_code=table[v.township][0],
                          geometry=v.geom, attributes={"ur_code": v.ur_code, "seat": list(v.seat)}))
    return units


def _blob(rng: np.random.Generator, centre: Floats, area_m2: float, n: int = 72) -> Polygon:
    """A star-shaped irregular polygon (metres) of about the given area."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(2, 6)
    wave = (rng.uniform(0.04, 0.12, k.size)[:, None]
            * np.cos(k[:, None] * theta + rng.uniform(0, 2 * np.pi, k.size)[:, None])).sum(axis=0)
    r = math.sqrt(area_m2 / math.pi) * (1 + wave)
    return Polygon(centre + np.column_stack((r * np.cos(theta), r * np.sin(theta))))


def _dev_zone(rng: np.random.Generator, core: BaseGeometry, county: BaseGeometry, villages: Any) -> BaseGeometry:
    """An L-shaped planned park just outside the urban core, cutting across village boundaries."""
    core_m = shapely.transform(core, to_metres)
    centre = np.array(core_m.centroid.coords[0])
    for _ in range(20):
        area = rng.uniform(10e6, 13e6)
        aspect = rng.uniform(1.3, 1.8)
        w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)
        notch = shapely.box(w * 0.2, h * 0.15, w / 2, h / 2)  # parks follow roads: straight sides, a notch
        shape = shapely.box(-w / 2, -h / 2, w / 2, h / 2).difference(notch)
        angle = rng.uniform(0, 2 * np.pi)
        shape = affinity.rotate(shape, rng.uniform(-20, 20) + math.degrees(angle), origin=(0, 0))
        direction = np.array([math.cos(angle), math.sin(angle)])
        # Slide away from the town centre until it no longer overlaps the core: it then borders the town.
        for d in np.arange(0, 12_000, 50):
            cand = affinity.translate(shape, *(centre + d * direction))
            if not cand.intersects(core_m):
                break
        zone = shapely.intersection(_geom_lonlat(cand), county)
        if zone.geom_type != "Polygon" or not 8 <= area_km2(zone) <= 15:
            continue
        # A park planned over farmland ignores village lines: insist it takes real land from several.
        shares = shapely.area(shapely.intersection(villages, zone)) / zone.area
        if (shares > 0.05).sum() >= 3:
            return zone
    raise RuntimeError("could not place the development zone")  # pragma: no cover


def _zones(seed: int, villages: list[_Village], county: BaseGeometry) -> tuple[list[Unit], dict[str, int]]:
    """The four special zones, and the villages picked to host the scenic and relocation areas."""
    rng = _rng(seed, _ZONES)
    core = shapely.coverage_union_all([v.geom for v in villages if v.ur_code == "111"])
    dev = _dev_zone(rng, core, county, np.array([v.geom for v in villages]))
    seat_xy = np.mean([v.xy for v in villages if v.ur_code == "111"], axis=0)
    rural = [i for i, v in enumerate(villages)
             if v.ur_code == "220" and v.township != 0 and not v.geom.intersects(dev)]
    # Both areas stay off the county line so clipping to the county never shrinks them.
    edge = shapely.transform(county.boundary, to_metres)
    inland = [i for i in rural if edge.distance(shapely.Point(villages[i].xy)) > 3000]
    far = sorted(inland, key=lambda i: (-float(np.linalg.norm(villages[i].xy - seat_xy)), i))
    scenic_v = far[int(rng.integers(0, 10))]  # well out in the countryside
    others = [i for i in inland if i != scenic_v]
    reloc_v = others[int(rng.integers(0, len(others)))]
    offset = rng.normal(0, 500, 2)
    scenic = _geom_lonlat(_blob(rng, villages[scenic_v].xy + offset, rng.uniform(2.5e6, 4e6)))
    reloc = _geom_lonlat(_blob(rng, villages[reloc_v].xy + rng.normal(0, 300, 2), 0.5e6, n=36))
    parent = cat.COUNTY_CODE
    units = [
        Unit(code=cat.URBAN_ZONE, name=f"{cat.COUNTY_NAME}城区", layer="zone", kind="urban_core",
             parent_code=parent, geometry=core),
        Unit(code=cat.DEV_ZONE, name=f"{cat.COUNTY_NAME}经济开发区", layer="zone", kind="dev_zone",
             parent_code=parent, geometry=dev),
        Unit(code=cat.SCENIC_ZONE, name="千亩梨园风景名胜区", layer="zone", kind="scenic_area", parent_code=parent,
             geometry=shapely.intersection(scenic, county)),
        Unit(code=cat.RELOCATED_ZONE, name=f"{villages[reloc_v].short[:-1]}移民搬迁安置区", layer="zone",
             kind="relocated_village", parent_code=parent, geometry=shapely.intersection(reloc, county)),
    ]
    return units, {"scenic": scenic_v, "relocated": reloc_v}


def _grids(villages: list[_Village], core: BaseGeometry) -> list[Unit]:
    """H3 grid units (resolution 9) in the urban core, ~GRID_CELLS cells each, parented by their community."""
    cells = sorted(h3.geo_to_cells(core.__geo_interface__, H3_GRID_RES))
    centres = np.array([h3.cell_to_latlng(c)[::-1] for c in cells])
    urban = [v for v in villages if v.ur_code == "111"]
    # By centre, the rule GridGov uses for H3 units (hexagons cannot follow a polygon edge); geo_to_cells
    # returns exactly the cells whose centre lies in the core, so every cell finds its community.
    geoms = [v.geom for v in urban]
    home = np.array([next(k for k, g in enumerate(geoms) if g.covers(shapely.Point(x, y))) for x, y in centres])
    units: list[Unit] = []
    for k, v in enumerate(urban):
        members = np.flatnonzero(home == k)
        if len(members) == 0:
            continue
        xy = to_metres(centres[members])
        n_grids = max(1, round(len(members) / GRID_CELLS))
        # Farthest-point seeds then nearest-seed assignment: compact grids.
        picks = [int(np.argmin(np.linalg.norm(xy - to_metres(np.array([v.seat]))[0], axis=1)))]
        while len(picks) < n_grids:
            picks.append(int(np.argmax(np.linalg.norm(xy[:, None] - xy[picks][None], axis=-1).min(axis=1))))
        label = np.argmin(np.linalg.norm(xy[:, None] - xy[picks][None], axis=-1), axis=1)
        for g in range(n_grids):
            units.append(Unit(code=f"{v.code}{g + 1:03d}", name=f"{v.short}第{g + 1}网格", layer="grid",
                              parent_code=v.code, cells=[cells[int(i)] for i in members[label == g]]))
    return units


def _urban_grid(seed: int, n_units: int, villages: list[_Village], county: BaseGeometry) -> list[Unit]:
    """About `n_units` polygon grid units of ~100 m (a jittered lattice: neighbours share edges exactly), a
    square around the county seat clipped to the county, each parented by the village holding its centre."""
    rng = _rng(seed, _URBAN_GRID)
    side = int(math.ceil(math.sqrt(n_units)))
    centre = np.mean([v.xy for v in villages if v.urban], axis=0)
    ticks = (np.arange(side + 1) - side / 2) * URBAN_GRID_M
    gx, gy = np.meshgrid(centre[0] + ticks, centre[1] + ticks)
    xy = np.stack([gx, gy], axis=-1) + rng.uniform(-0.2, 0.2, (side + 1, side + 1, 2)) * URBAN_GRID_M
    ll = to_lonlat(xy.reshape(-1, 2)).reshape(side + 1, side + 1, 2)
    rings = np.stack([ll[:-1, :-1], ll[:-1, 1:], ll[1:, 1:], ll[1:, :-1], ll[:-1, :-1]], axis=2).reshape(-1, 5, 2)
    quads = shapely.polygons(rings)
    inside = shapely.within(quads, county)
    quads[~inside] = shapely.intersection(quads[~inside], county)
    keep = np.flatnonzero(~shapely.is_empty(quads) & (shapely.area(quads) > 0)
                          & np.isin(shapely.get_type_id(quads), [3, 6]))[:n_units]
    quads = quads[keep]
    tree = shapely.STRtree([v.geom for v in villages])
    pts, hits = tree.query(shapely.point_on_surface(quads), predicate="intersects")
    home = np.full(len(quads), -1)
    home[pts[::-1]] = hits[::-1]  # the first (smallest index) village holding the point wins
    units: list[Unit] = []
    count: dict[int, int] = {}
    for q, h in zip(quads.tolist(), home.tolist(), strict=True):
        if h < 0:
            continue
        v = villages[h]
        count[h] = count.get(h, 0) + 1
        units.append(Unit(code=f"{v.code}U{count[h]:04d}", name=f"{v.short}第{count[h]}单元网格", layer="grid",
                          parent_code=v.code, geometry=q))
    return units


def _market_cells(villages: list[_Village], dev: BaseGeometry) -> list[str]:
    """H3 cells (res 10) of the seat town's open-air market, held in a fringe village outside the core."""
    centre = np.mean([v.xy for v in villages if v.urban], axis=0)
    town = [v for v in villages if v.township == 0 and not v.urban and not v.geom.intersects(dev)]
    fringe = [v for v in town if v.ur_code == "112"] or town
    host = min(fringe, key=lambda v: (float(np.linalg.norm(v.xy - centre)), v.code))
    cell = h3.latlng_to_cell(host.seat[1], host.seat[0], 10)
    return sorted(h3.grid_disk(cell, 1))


# --- incidents -----------------------------------------------------------------------------------

# Mean reports per weekday (Mon..Sun): grid workers patrol on working days, residents call at weekends.
DAILY_MEAN = (27.0, 26.0, 26.0, 25.0, 24.0, 18.0, 15.0)
HOLIDAY_FACTOR = 0.7
AREA_SHARES = (0.45, 0.45, 0.07, 0.03)  # urban core, countryside, development zone, scenic area
AREA_KINDS = ("urban", "rural", "dev", "scenic")
COAL_SPREAD_M = 30.0  # one drying yard: reports scatter by GPS error and yard size
COAL_MAX_OFFSET_M = 80.0


def months_before(today: date, months: int) -> date:
    """The same day of the month `months` earlier (clamped to the 28th)."""
    total = today.year * 12 + today.month - 1 - months
    return date(total // 12, total % 12 + 1, min(today.day, 28))


def _scatter(rng: np.random.Generator, anchor: Floats, sigma: Floats, county: BaseGeometry,
             max_offset: float = math.inf) -> Floats:
    """Lon/lat points (7 decimals) scattered around metre-frame anchors, redrawn until inside the county."""
    def draw(k: int, s: Floats) -> Floats:
        off = s[:, None] * rng.standard_normal((k, 2))
        norm = np.maximum(np.hypot(off[:, 0], off[:, 1]), 1e-9)
        return off * np.minimum(1.0, max_offset / norm)[:, None]

    pts = anchor + draw(len(anchor), sigma)
    for _ in range(6):
        ll = np.round(to_lonlat(pts), 7)
        bad = ~shapely.contains_xy(county, ll[:, 0], ll[:, 1])
        if not bad.any():
            return ll
        pts[bad] = anchor[bad] + draw(int(bad.sum()), sigma[bad])
    ll = np.round(to_lonlat(pts), 7)
    bad = ~shapely.contains_xy(county, ll[:, 0], ll[:, 1])
    ll[bad] = np.round(to_lonlat(anchor[bad]), 7)  # anchors are village seats, inside by construction
    return ll


def _uniform_in(rng: np.random.Generator, geom: BaseGeometry, n: int) -> Floats:
    """n metre-frame points uniformly inside a lon/lat polygon."""
    minx, miny, maxx, maxy = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), (2 * n + 16, 2))
        out = np.vstack([out, cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]])
    return to_metres(out[:n])


def _anchors(rng: np.random.Generator, kind: Ints, villages: list[_Village],
             zones: dict[str, BaseGeometry]) -> tuple[Floats, Floats]:
    """Where each report clusters (metre frame) and how far it strays, by area kind."""
    n = len(kind)
    anchor, sigma = np.zeros((n, 2)), np.zeros(n)
    urban = np.array([v.xy for v in villages if v.ur_code == "111"])
    rural = np.array([v.xy for v in villages if v.ur_code != "111"])
    hotspots = _uniform_in(rng, zones["urban_core"], 6)  # market, high street, station, schools...
    idx = np.flatnonzero(kind == 0)
    near_hot = rng.uniform(size=len(idx)) < 0.6
    anchor[idx] = np.where(near_hot[:, None], hotspots[rng.integers(0, 6, len(idx))],
                           urban[rng.integers(0, len(urban), len(idx))])
    sigma[idx] = np.where(near_hot, 200.0, 300.0)
    idx = np.flatnonzero(kind == 1)
    anchor[idx] = rural[rng.integers(0, len(rural), len(idx))]
    sigma[idx] = np.where(rng.uniform(size=len(idx)) < 0.8, 250.0, 700.0)  # the village, or its fields
    for k, zone in ((2, "dev_zone"), (3, "scenic_area")):
        idx = np.flatnonzero(kind == k)
        anchor[idx] = _uniform_in(rng, zones[zone], len(idx))
    return anchor, sigma


def _matter_choice(rng: np.random.Generator, kind: Ints, month: Ints) -> Ints:
    """Catalogue index of each report, from the area kind's mix and the month's season."""
    weights = np.array([[m.urban, m.rural, m.dev, m.scenic] for m in cat.MATTERS]).T
    out = np.zeros(len(kind), dtype=np.int64)
    for k in range(len(AREA_KINDS)):
        for mo in range(1, 13):
            idx = np.flatnonzero((kind == k) & (month == mo))
            if len(idx):
                season = np.array([cat.SEASONAL.get(m.code, {}).get(mo, 1.0) for m in cat.MATTERS])
                p = weights[k] * season
                out[idx] = rng.choice(len(cat.MATTERS), size=len(idx), p=p / p.sum())
    return out


def _coal_sites(rng: np.random.Generator, villages: list[_Village], exclude: set[int]) -> list[tuple[int, Floats]]:
    """5–8 illegal coal-slurry drying yards (village index, metre point) on rural village outskirts."""
    candidates = [i for i in rng.permutation(len(villages)).tolist()
                  if villages[i].ur_code == "220" and villages[i].township != 0 and i not in exclude]
    sites: list[tuple[int, Floats]] = []
    n_sites = int(rng.integers(5, 9))
    for i in candidates:
        v = villages[i]
        if any(np.linalg.norm(v.xy - xy) < 3000 for _, xy in sites):
            continue  # keep yards in different villages well apart, like the real scattered ones
        site = v.xy
        for _ in range(20):
            angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(300, 700)
            cand = v.xy + dist * np.array([math.cos(angle), math.sin(angle)])
            if v.geom.buffer(-0.002).covers(shapely.Point(to_lonlat(cand[None])[0])):
                site = cand
                break
        sites.append((i, site))
        if len(sites) == n_sites:
            break
    return sites


def _coal_reports(rng: np.random.Generator, n_days: int, n_sites: int) -> tuple[Ints, Ints]:
    """(day, site) of each repeat report: every 2–5 days, with pauses after a crackdown."""
    days: list[int] = []
    site_of: list[int] = []
    for s in range(n_sites):
        t = int(rng.integers(0, 5))
        while t < n_days:
            days.append(t)
            site_of.append(s)
            t += int(rng.integers(2, 6))
            if rng.uniform() < 0.12:
                t += int(rng.integers(6, 14))
    return np.array(days, dtype=np.int64), np.array(site_of, dtype=np.int64)


def _report_seconds(rng: np.random.Generator, n: int, morning: bool = False) -> Ints:
    """Seconds after midnight: mostly patrol hours, some any time of day."""
    if morning:  # drying yards are spotted on the early patrol before the slurry is raked
        hours = rng.normal(8.5, 1.2, n)
    else:
        peak = np.where(rng.uniform(size=n) < 0.5, rng.normal(10.0, 1.8, n), rng.normal(15.5, 2.0, n))
        hours = np.where(rng.uniform(size=n) < 0.85, peak, rng.uniform(0, 24, n))
    return np.clip(hours * 3600, 0, 86_399).astype(np.int64)


def _incidents(seed: int, months: int, today: date, villages: list[_Village],
               zones: dict[str, BaseGeometry], county: BaseGeometry, exclude: set[int]) -> list[Incident]:
    """Simulated reports over [today - months, today): daily Poisson counts, clustered places, coal yards."""
    rng = _rng(seed, _INCIDENTS)
    start = months_before(today, months)
    n_days = (today - start).days
    dates = [start + timedelta(days=d) for d in range(n_days)]
    lam = np.array([DAILY_MEAN[d.weekday()] * (HOLIDAY_FACTOR if (d.month, d.day) in cat.HOLIDAYS else 1.0)
                    for d in dates])
    day = np.repeat(np.arange(n_days), rng.poisson(lam))
    kind = rng.choice(len(AREA_KINDS), size=len(day), p=AREA_SHARES)
    anchor, sigma = _anchors(rng, kind, villages, zones)
    lonlat = _scatter(rng, anchor, sigma, county)
    month = np.array([dates[d].month for d in day], dtype=np.int64)
    matter = _matter_choice(rng, kind, month)
    seconds = _report_seconds(rng, len(day))
    site = np.full(len(day), -1)

    crng = _rng(seed, _COAL)
    sites = _coal_sites(crng, villages, exclude)
    c_day, c_site = _coal_reports(crng, n_days, len(sites))
    c_anchor = np.array([sites[s][1] for s in c_site]).reshape(-1, 2)
    c_lonlat = _scatter(crng, c_anchor, np.full(len(c_day), COAL_SPREAD_M), county, COAL_MAX_OFFSET_M)
    coal = next(i for i, m in enumerate(cat.MATTERS) if m.code == "M-ENV-COAL")

    day = np.concatenate([day, c_day])
    kind = np.concatenate([kind, np.ones(len(c_day), dtype=np.int64)])
    lonlat = np.vstack([lonlat, c_lonlat])
    matter = np.concatenate([matter, np.full(len(c_day), coal)])
    seconds = np.concatenate([seconds, _report_seconds(crng, len(c_day), morning=True)])
    site = np.concatenate([site, c_site])
    return _incident_objects(rng, start, day, seconds, kind, lonlat, matter, site, villages)


def _incident_objects(rng: np.random.Generator, start: date, day: Ints, seconds: Ints, kind: Ints,
                      lonlat: Floats, matter: Ints, site: Ints, villages: list[_Village]) -> list[Incident]:
    """Incident models in time order, with reporter, description, accuracy and GCJ-02 raw coordinates."""
    order = np.lexsort((lonlat[:, 1], lonlat[:, 0], seconds, day))
    tree = shapely.STRtree([v.geom for v in villages])
    pt_i, v_i = tree.query(shapely.points(lonlat), predicate="intersects")
    home = np.full(len(lonlat), -1)
    home[pt_i[::-1]] = v_i[::-1]  # first village wins for a point exactly on a shared edge
    gx, gy = wgs84_to_gcj02(lonlat[:, 0], lonlat[:, 1])
    accuracy = np.clip(rng.lognormal(np.log(np.where(kind == 0, 18.0, 12.0)), 0.5), 5, 50).round(1)
    base = datetime(start.year, start.month, start.day)
    spots = {0: cat.URBAN_SPOTS, 1: cat.RURAL_SPOTS, 2: cat.DEV_SPOTS, 3: cat.SCENIC_SPOTS}
    places = {2: "经济开发区", 3: "千亩梨园景区"}
    out: list[Incident] = []
    for n, i in enumerate(order.tolist(), start=1):
        v = villages[int(home[i])]
        spec = cat.MATTERS[int(matter[i])]
        k = int(kind[i])
        place = places.get(k, v.short) + str(rng.choice(spots[k]))
        if site[i] >= 0:
            text = f"{rng.choice(cat.REPORT_OPENERS)}{v.short}村外有人{spec.name}，{rng.choice(cat.COAL_NOTES)}"
        else:
            text = f"{rng.choice(cat.REPORT_OPENERS)}{place}{spec.name}，{rng.choice(cat.REPORT_CLOSINGS)}"
        attributes: dict[str, Any] = {"area": AREA_KINDS[k]}
        if site[i] >= 0:
            attributes["coal_site"] = int(site[i]) + 1  # ground truth for hotspot tests
        out.append(Incident(
            reported_at=base + timedelta(days=int(day[i]), seconds=int(seconds[i])),
            lon=float(lonlat[i, 0]), lat=float(lonlat[i, 1]), matter_code=spec.code, description=text,
            reporter=grid_worker_code(v.code), accuracy_m=float(accuracy[i]),
            raw_x=round(float(gx[i]), 7), raw_y=round(float(gy[i]), 7), raw_crs="gcj02",
            external_id=f"demo-{n:06d}", attributes=attributes))
    return out


# --- entry point ---------------------------------------------------------------------------------


def build_demo_county(seed: int = 7, months: int = 4, n_villages: int = 200,
                      today: date | None = None, urban_grid_units: int = 0) -> DemoCounty:
    """Build the whole demo county from a seed: same seed, same county, byte for byte.

    `urban_grid_units` > 0: a dense urban grid of that many ~100 m polygon grid units around the county seat
    replaces the H3 grids (the density of a real city district, for benchmarks of dense boundaries)."""
    if n_villages < 40:
        raise ValueError("n_villages must be at least 40 (7 townships need several villages each)")
    if months < 1:
        raise ValueError("months must be at least 1")
    today = today or DEFAULT_TODAY
    outline = _outline(seed)
    seeds, n_urban = _village_seeds(seed, outline, n_villages)
    villages = _villages(seed, seeds, n_urban, outline)
    _grow_townships(seed, villages, np.array(outline.centroid.coords[0]))
    table = _classify_and_name(seed, villages)
    units = _admin_units(villages, table)
    county = units[0].geometry
    assert county is not None
    zone_units, picks = _zones(seed, villages, county)
    zones = {z.kind: z.geometry for z in zone_units if z.geometry is not None}
    grids = (_urban_grid(seed, urban_grid_units, villages, county) if urban_grid_units > 0
             else _grids(villages, zones["urban_core"]))
    units += zone_units + grids
    townships = [u for u in units if u.layer == "township"]
    scenic_township = table[villages[picks["scenic"]].township][0]
    # Coal yards sit in ordinary villages: not under the park, the scenic area or the resettlement site.
    no_coal = set(picks.values()) | {i for i, v in enumerate(villages) if v.geom.intersects(zones["dev_zone"])}
    incidents = _incidents(seed, months, today, villages, zones, county, no_coal)
    return DemoCounty(
        units=units, teams=cat.build_teams(_rng(seed, _TEAMS), units), matters=cat.build_matters(),
        delegations=cat.build_delegations(townships, scenic_township),
        rules=cat.build_rules(townships, _market_cells(villages, zones["dev_zone"])), incidents=incidents,
        fallback_team_code=cat.BUREAU_CODE, seed=seed)
