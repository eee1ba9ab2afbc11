"""The compiled router answers exactly what an independent reading of the rule semantics answers.

`tests/independent.py` evaluates each point with geopandas `covers` joins, `h3.latlng_to_cell` and a plain
loop over the rule table (no code shared with `gis.routing`). Here both answer for the demo county, the
demo county with extra village/grid/layer/cell rules, and the real Qiu County (邱县, 130430): 10^5 random
points each, and ≥ 10^4 points on unit vertices, exactly on unit edges (representable points of the
segments), within rounding of the edges, and on H3 cell vertices and edges (where the tie-break decides).
Every point must get the same team and status.

The last two groups show defects of `gis.routing` (left failing on purpose, see their docstrings):
the boundary distance is more than 0.5 % off north of ~47°N, and cell sets the model accepts (several
resolutions, or a cell listed twice) make `Router(...)` raise an h3 error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import h3
import numpy as np
import numpy.typing as npt
import pytest
import shapely
from shapely.geometry.base import BaseGeometry

from etl.codetree import read_code_tree
from etl.vector import VectorOptions, read_vector
from gis.demo import DemoCounty, build_demo_county
from gis.derive import derive_townships, derive_villages
from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit, Version, cells_to_geometry
from gis.routing import Router, RoutingData
from tests.conftest import QIU
from tests.independent import CELLS, Places, Reference

Floats = npt.NDArray[np.float64]

DAY = date(2026, 3, 1)  # the demo rules are in force from 2025-01-01
N_RANDOM = 100_000
DEMO_MATTERS = (
    "M-URB-001",  # 占道经营: delegated to every township
    "M-URB-004",  # 户外广告牌: not delegated → county bureau (or a squadron / zone rule)
    "M-ENV-005",  # 未批先建: kept by the environment department by explicit codes
    "M-ENV-COAL",  # 露天晾晒煤泥: delegated
    "M-CUL-006",  # 景区揽客: delegated only to the township holding the scenic area
    "M-TRF-001",  # 违法停放: kept by the traffic police
)


# --- the setups --------------------------------------------------------------------------------------


@dataclass
class Setup:
    """One rule table over one set of units: the compiled router and the independent reading."""

    router: Router
    ref: Reference
    units: list[Unit]
    rules: list[Rule]
    teams: list[Team]


def make_setup(units: list[Unit], rules: list[Rule], delegations: list[Delegation], matters: list[Matter],
               teams: list[Team]) -> Setup:
    data = RoutingData(version=Version(id=1, name="exactness"), units=units, rules=rules, delegations=delegations,
                       matters=matters, teams=teams)  # fallback: the documented default, the county bureau
    return Setup(Router(data), Reference(units, rules, delegations, matters, teams), units, rules, teams)


@pytest.fixture(scope="module")
def demo() -> DemoCounty:
    return build_demo_county()


@pytest.fixture(scope="module")
def demo_setup(demo: DemoCounty) -> Setup:
    return make_setup(demo.units, demo.rules, demo.delegations, demo.matters, demo.teams)


def augmented(demo: DemoCounty) -> tuple[list[Unit], list[Rule], list[Team]]:
    """Extra units and rules that make every tie-break matter: per-village and per-grid owners, layer
    scopes, overlapping grids and same-kind zones given by H3 cells, cell sets of several resolutions (one
    reaching outside the county), two same-priority conflicts and rules that change mid-year."""
    units = {u.code: u for u in demo.units}
    villages = [u for u in demo.units if u.layer == "village"]
    grids = [u for u in demo.units if u.layer == "grid"]
    extra = overlapping_units(demo)
    grids += [u for u in extra if u.layer == "grid"]
    teams = list(demo.teams)
    teams += [Team(code=f"T-GRID-{g.code}", name=f"{g.name}网格员", kind="grid_worker", unit_code=g.code)
              for g in grids]
    teams.append(Team(code="T-SQ-GRID", name="网格化巡查中队", kind="squadron", parent_code="T-BUREAU"))
    rules = list(demo.rules)
    start = date(2025, 1, 1)  # with the demo's own rules: before that day nothing applies
    # Street drying (M-URB-009) goes to the village's grid worker, or the grid's own worker in the town
    # (villages of the seat town and its neighbour only: each per-unit rule makes the router's tables wider).
    seat_town = "139900100000"
    towns = {u.code: u.geometry for u in demo.units if u.layer == "township"}
    claimed, claimant = next(
        (v.code, t) for v in sorted(villages, key=lambda v: v.code) if v.parent_code == seat_town
        for t in sorted(towns) if t != seat_town and v.geometry is not None
        and shapely.length(shapely.intersection(v.geometry.boundary, towns[t].boundary)) > 0)
    rules += [Rule(code=f"R-GW-{v.code}", priority=60, scope=RuleScope(type="unit", unit_code=v.code),
                   matters=MatterFilter(type="codes", codes=["M-URB-009"]), team_code=f"GW-{v.code}",
                   effective_from=start)
              for v in villages if v.parent_code in (seat_town, claimant)]
    rules += [Rule(code=f"R-GRID-{g.code}", priority=70, scope=RuleScope(type="unit", unit_code=g.code),
                   matters=MatterFilter(type="codes", codes=["M-URB-009"]), team_code=f"T-GRID-{g.code}",
                   effective_from=start)
              for g in grids]
    rules += [
        Rule(code="R-GRID-LAYER", priority=65, scope=RuleScope(type="layer", layer="grid"),
             matters=MatterFilter(type="domain", domain="城市管理"), team_code="T-SQ-GRID", effective_from=start),
        Rule(code="R-ZONE-ENV", priority=45, scope=RuleScope(type="layer", layer="zone"),
             matters=MatterFilter(type="domain", domain="生态环境"), team_code="T-DEPT-ENV", effective_from=start),
        # The park's squadron and a department both claim natural-resource matters in the park: a dispute.
        Rule(code="R-DEV-NR", priority=40, scope=RuleScope(type="unit", unit_code="Z-DEV"),
             matters=MatterFilter(type="domain", domain="自然资源"), team_code="T-DEPT-MKT", effective_from=start),
    ]
    # A seat-town village on the border of another township, claimed by that township's team: a dispute.
    rules.append(Rule(code="R-CLAIM", priority=20, scope=RuleScope(type="unit", unit_code=claimed),
                      matters=MatterFilter(type="delegated"), team_code=f"T-TWP-{claimant}", effective_from=start))
    # The resettlement area changes hands on 2026-05-01 (effective_to is exclusive, effective_from inclusive).
    reloc = units["Z-RELOC"]
    host = f"T-TWP-{_township_of(demo, reloc)}"
    rules += [
        Rule(code="R-RELOC-OLD", priority=55, scope=RuleScope(type="unit", unit_code="Z-RELOC"),
             team_code=host, effective_from=date(2025, 1, 1), effective_to=date(2026, 5, 1)),
        Rule(code="R-RELOC-NEW", priority=55, scope=RuleScope(type="unit", unit_code="Z-RELOC"),
             team_code="T-SQ-DEV", effective_from=date(2026, 5, 1)),
    ]
    # H3 patrol cells (res 10) around a village seat, and a res-8 block for another village.
    seat = villages[len(villages) // 2].attributes["seat"]
    c10 = sorted(h3.grid_disk(h3.latlng_to_cell(seat[1], seat[0], 10), 2))
    rules.append(Rule(code="R-PATROL", priority=85, scope=RuleScope(type="cells", cells=c10),
                      matters=MatterFilter(type="domain", domain="农业农村"), team_code="T-SQ-GRID",
                      effective_from=start))
    seat = villages[len(villages) // 3].attributes["seat"]
    c8 = sorted(h3.grid_disk(h3.latlng_to_cell(seat[1], seat[0], 8), 1))
    rules.append(Rule(code="R-BLOCK", priority=80, scope=RuleScope(type="cells", cells=c8),
                      matters=MatterFilter(type="domain", domain="自然资源"), team_code="T-SQ-DEV",
                      effective_from=start))
    # A same-kind zone given by H3 cells, overlapping the scenic area (there the smaller code is used).
    rules.append(Rule(code="R-SCENIC-B", priority=52, scope=RuleScope(type="unit", unit_code="Z-SCENIC-B"),
                      team_code="T-SQ-URBAN", effective_from=start))
    # Low-priority cells across the county line: outside the county they still apply (no gap there).
    corner = shapely.get_coordinates(units["139900000000"].geometry)[0]
    border = sorted(h3.grid_disk(h3.latlng_to_cell(corner[1], corner[0], 9), 3))
    rules.append(Rule(code="R-BORDER", priority=5, scope=RuleScope(type="cells", cells=border),
                      team_code="T-SQ-DEV", effective_from=start))
    return demo.units + extra, rules, teams


def overlapping_units(demo: DemoCounty) -> list[Unit]:
    """A res-10 grid over a res-9 grid's cells, parented by the neighbouring village its cells reach into
    (and with a smaller code: only the parent preference keeps the res-9 grid inside its own village),
    and a second scenic area made of H3 cells across the first one's edge."""
    villages = {u.code: u for u in demo.units if u.layer == "village"}
    grid, other = next(
        (g, v) for g in demo.units if g.layer == "grid" and g.cells
        for v in sorted(villages) if v != g.parent_code
        and shapely.area(shapely.intersection(cells_to_geometry(g.cells), villages[v].geometry)) > 0)
    children = sorted(c for cell in grid.cells or [] for c in h3.cell_to_children(cell, 10))
    scenic = next(u for u in demo.units if u.code == "Z-SCENIC")
    edge = shapely.get_coordinates(scenic.geometry)[0]
    return [
        Unit(code="100-GRID-X", name="叠加网格", layer="grid", parent_code=other, cells=children),
        Unit(code="Z-SCENIC-B", name="梨园东扩区", layer="zone", kind="scenic_area",
             cells=sorted(h3.grid_disk(h3.latlng_to_cell(edge[1], edge[0], 9), 4))),
    ]


def _township_of(demo: DemoCounty, zone: Unit) -> str:
    """The township holding most of a zone."""
    assert zone.geometry is not None
    towns = [u for u in demo.units if u.layer == "township" and u.geometry is not None]
    return max(towns, key=lambda t: shapely.area(shapely.intersection(t.geometry, zone.geometry))).code


@pytest.fixture(scope="module")
def augmented_setup(demo: DemoCounty) -> Setup:
    units, rules, teams = augmented(demo)
    return make_setup(units, rules, demo.delegations, demo.matters, teams)


# --- Qiu County (real boundaries and codes, our own rule table) ------------------------------------------

QIU_SEAT_TOWN = "130430100000"  # 新马头镇
QIU_MATTERS = [
    Matter(code="Q-URB-01", name="占道经营", domain="城市管理", procedure="simple"),
    Matter(code="Q-URB-02", name="擅自设置户外广告", domain="城市管理"),
    Matter(code="Q-ENV-01", name="露天焚烧秸秆", domain="生态环境", procedure="simple"),
    Matter(code="Q-ENV-02", name="超标排放水污染物", domain="生态环境"),
    Matter(code="Q-ENV-COAL", name="露天晾晒煤泥", domain="生态环境", procedure="simple"),
    Matter(code="Q-NR-01", name="非法占用耕地建房", domain="自然资源"),
    Matter(code="Q-NR-02", name="非法采矿", domain="自然资源"),
    Matter(code="Q-MKT-01", name="无证无照经营", domain="市场监管"),
]
QIU_DELEGATED = ("Q-URB-01", "Q-ENV-01", "Q-ENV-COAL", "Q-NR-01", "Q-MKT-01")
QIU_DEV_FROM = date(2026, 7, 1)  # the park squadron starts mid-year


def qiu_county() -> tuple[list[Unit], list[Rule], list[Delegation], list[Team]]:
    """Qiu County from the shared data: code tree, county polygon, derived townships and located villages."""
    tree = {u.code: u for _, u in read_code_tree(QIU / "admin_units_130430_gcj02.csv", "gcj02")}
    read = read_vector(QIU / "county_130430_gcj02.geojson",
                       VectorOptions(crs="gcj02", layer="county", code="130430000000"), tree)
    county = read.units[0][1]
    assert county.geometry is not None
    towns = sorted((u for u in tree.values() if u.layer == "township"), key=lambda u: u.code)
    derived = derive_townships(county.geometry, {t.code: tuple(t.attributes["seat"]) for t in towns}).polygons
    units = [county] + [t.model_copy(update={"geometry": derived[t.code], "derived": True}) for t in towns]
    for t in towns:  # only a few villages have seats: bounded village areas around them
        located = {v.code: tuple(v.attributes["seat"]) for v in tree.values()
                   if v.layer == "village" and v.parent_code == t.code and "seat" in v.attributes}
        count = sum(1 for v in tree.values() if v.layer == "village" and v.parent_code == t.code)
        polys = derive_villages(derived[t.code], located, count).polygons if located else {}
        units += [tree[c].model_copy(update={"geometry": g, "derived": True}) for c, g in sorted(polys.items())]
    seat = tree[QIU_SEAT_TOWN].attributes["seat"]
    dev = shapely.intersection(shapely.box(seat[0] + 0.043, seat[1] - 0.006, seat[0] + 0.069, seat[1] + 0.012),
                               county.geometry)
    units.append(Unit(code="Z-DEV", name="邱县经济开发区", layer="zone", kind="dev_zone",
                      parent_code=county.code, geometry=dev))
    # The urban area: res-8 cells whose centre is within 2 km of the seat town's seat.
    centre = h3.latlng_to_cell(seat[1], seat[0], 8)
    urban = sorted(c for c in h3.grid_disk(centre, 6)
                   if h3.great_circle_distance(h3.cell_to_latlng(c), (seat[1], seat[0]), unit="m") <= 2000)
    teams = [
        Team(code="T-BUREAU", name="邱县综合行政执法局", kind="county_bureau", unit_code=county.code),
        Team(code="T-SQ-URBAN", name="城区中队", kind="squadron", parent_code="T-BUREAU"),
        Team(code="T-SQ-DEV", name="开发区中队", kind="squadron", parent_code="T-BUREAU", unit_code="Z-DEV"),
        Team(code="T-DEPT-ENV", name="邯郸市生态环境局邱县分局", kind="department"),
        Team(code="T-DEPT-NR", name="邱县自然资源和规划局", kind="department"),
    ]
    teams += [Team(code=f"T-TWP-{t.code}", name=f"{t.name}综合行政执法队", kind="township_team",
                   parent_code="T-BUREAU", unit_code=t.code) for t in towns]
    rules = [Rule(code="R-COUNTY", priority=10, scope=RuleScope(type="everywhere"),
                  matters=MatterFilter(type="not_delegated"), team_code="T-BUREAU", effective_from=date(2025, 1, 1))]
    rules += [Rule(code=f"R-TWP-{t.code}", priority=20, scope=RuleScope(type="unit", unit_code=t.code),
                   matters=MatterFilter(type="delegated"), team_code=f"T-TWP-{t.code}",
                   effective_from=date(2025, 1, 1)) for t in towns]
    village_codes = sorted(u.code for u in units if u.layer == "village" and u.parent_code == QIU_SEAT_TOWN)
    rules += [
        Rule(code="R-URBAN-H3", priority=30, scope=RuleScope(type="cells", cells=urban), team_code="T-SQ-URBAN",
             effective_from=date(2025, 1, 1)),
        Rule(code="R-DEV", priority=40, scope=RuleScope(type="unit", unit_code="Z-DEV"), team_code="T-SQ-DEV",
             effective_from=QIU_DEV_FROM),
        Rule(code="R-DEV-NR", priority=40, scope=RuleScope(type="unit", unit_code="Z-DEV"),
             matters=MatterFilter(type="domain", domain="自然资源"), team_code="T-DEPT-NR",
             effective_from=QIU_DEV_FROM),  # same priority, another team: disputes over land in the park
        Rule(code="R-ENV", priority=50, scope=RuleScope(type="everywhere"),
             matters=MatterFilter(type="codes", codes=["Q-ENV-02", "Q-ENV-COAL"]), team_code="T-DEPT-ENV",
             effective_to=date(2026, 7, 1)),  # coal slurry went to the township teams from July
        Rule(code="R-ENV-2", priority=50, scope=RuleScope(type="everywhere"),
             matters=MatterFilter(type="codes", codes=["Q-ENV-02"]), team_code="T-DEPT-ENV",
             effective_from=date(2026, 7, 1)),
        # 南辛店乡 claims a located village of the seat town: a dispute for delegated matters there.
        Rule(code="R-CLAIM", priority=20, scope=RuleScope(type="unit", unit_code=village_codes[-1]),
             matters=MatterFilter(type="delegated"), team_code="T-TWP-130430201000"),
    ]
    delegations = [Delegation(township_code=t.code, matter_code=m) for t in towns for m in QIU_DELEGATED
                   if not (m == "Q-NR-01" and t.code == QIU_SEAT_TOWN)]  # the seat town lost farmland matters
    return units, rules, delegations, teams


@pytest.fixture(scope="module")
def qiu_setup() -> Setup:
    units, rules, delegations, teams = qiu_county()
    return make_setup(units, rules, delegations, QIU_MATTERS, teams)


# --- points ----------------------------------------------------------------------------------------


@dataclass
class Sample:
    """Points and the reference's covering sets for them."""

    lon: Floats
    lat: Floats
    places: Places


def sample(setup: Setup, lon: Floats, lat: Floats) -> Sample:
    return Sample(lon, lat, setup.ref.places(lon, lat))


def random_points(units: list[Unit], n: int, seed: int) -> tuple[Floats, Floats]:
    """Uniform points in the county's bounding box grown by 5 % each side (some fall outside: gaps)."""
    county = next(u.geometry for u in units if u.layer == "county")
    assert county is not None
    minx, miny, maxx, maxy = county.bounds
    mx, my = 0.05 * (maxx - minx), 0.05 * (maxy - miny)
    rng = np.random.default_rng(seed)
    return rng.uniform(minx - mx, maxx + mx, n), rng.uniform(miny - my, maxy + my, n)


def edge_points(shapes: Iterable[BaseGeometry], n_vertices: int, n_between: int,
                seed: int) -> tuple[Floats, Floats]:
    """Boundary vertices (shared by neighbours: they meet there) and points interpolated on boundary segments."""
    rng = np.random.default_rng(seed)
    rings = shapely.get_parts(shapely.boundary(np.array(list(shapes), dtype=object)))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    vertices = np.unique(coords, axis=0)
    vertices = vertices[rng.permutation(len(vertices))[:n_vertices]]
    same = index[1:] == index[:-1]
    segs = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
    pick = rng.integers(0, len(segs), n_between)
    between = shapely.get_coordinates(shapely.line_interpolate_point(segs[pick], rng.uniform(0, 1, n_between),
                                                                     normalized=True))
    out = np.vstack([vertices, between])
    return out[:, 0].copy(), out[:, 1].copy()


def exact_edge_points(shapes: Iterable[BaseGeometry], n: int, seed: int,
                      shared: bool = False) -> tuple[Floats, Floats]:
    """Points exactly on boundary segments, not just within rounding of them.

    Coordinates of one binade are integer multiples of one power of two, so a segment A→B with integer
    steps (Dx, Dy) passes exactly through the representable points A + k·(Dx, Dy)/gcd(Dx, Dy). On a shared
    edge both neighbours cover such a point, as they do a shared vertex: the tie-break decides.
    `shared`: only on segments that two or more shapes have (whichever way round).
    """
    rng = np.random.default_rng(seed)
    rings = shapely.get_parts(shapely.boundary(np.array(list(shapes), dtype=object)))
    coords, index = shapely.get_coordinates(rings, return_index=True)
    quantum = [float(np.spacing(np.abs(coords[:, k]).max())) for k in (0, 1)]
    ints = coords / quantum
    same = index[1:] == index[:-1]
    exact = (ints == np.round(ints)).all(axis=1)  # both ends in the binade of the largest coordinate
    keep = same & exact[:-1] & exact[1:]
    if shared:
        seg = np.hstack([coords[:-1], coords[1:]])
        flip = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
        seg[flip] = seg[flip][:, [2, 3, 0, 1]]
        _, inverse, counts = np.unique(seg, axis=0, return_inverse=True, return_counts=True)
        keep &= counts[inverse.ravel()] >= 2
    a = np.round(ints[:-1][keep]).astype(np.int64)
    d = np.round(ints[1:][keep]).astype(np.int64) - a
    g = np.gcd(np.abs(d[:, 0]), np.abs(d[:, 1]))
    a, d, g = a[g >= 2], d[g >= 2], g[g >= 2]
    pick = rng.integers(0, len(g), n)
    k = (rng.uniform(0, 1, n) * (g[pick] - 1)).astype(np.int64) + 1  # 1 ≤ k < g
    pts = a[pick] + (d[pick] // g[pick][:, None]) * k[:, None]
    lon, lat = pts[:, 0] * quantum[0], pts[:, 1] * quantum[1]
    return lon, lat


def h3_points(cell_sets: Iterable[list[str]], n_between: int, seed: int) -> tuple[Floats, Floats]:
    """Every H3 cell vertex of the sets (three cells meet there) and points on the cells' edges."""
    rng = np.random.default_rng(seed)
    cells = sorted({c for cells in cell_sets for c in cells})
    rings = [np.array(h3.cell_to_boundary(c))[:, ::-1] for c in cells]  # (lng, lat)
    vertices = np.unique(np.vstack(rings), axis=0)
    starts = np.vstack(rings)
    ends = np.vstack([np.roll(r, -1, axis=0) for r in rings])
    pick = rng.integers(0, len(starts), n_between)
    t = rng.uniform(0, 1, n_between)[:, None]
    between = starts[pick] + t * (ends[pick] - starts[pick])
    out = np.vstack([vertices, between])
    return out[:, 0].copy(), out[:, 1].copy()


def boundary_sample(setup: Setup, n_vertices: int, n_between: int, n_h3: int, seed: int) -> Sample:
    """Unit vertices, points exactly on unit edges, points interpolated on them, H3 vertices and edges."""
    polygons = [u.geometry for u in setup.units if u.geometry is not None and u.layer != "county"]
    lon1, lat1 = edge_points(polygons, n_vertices, n_between, seed)
    lon2, lat2 = exact_edge_points(polygons, n_between // 2, seed + 1)
    lon4, lat4 = exact_edge_points(polygons, n_between // 2, seed + 3, shared=True)
    cell_sets = [u.cells for u in setup.units if u.cells]
    cell_sets += [r.scope.cells for r in setup.rules if r.scope.type == "cells" and r.scope.cells]
    lon3, lat3 = h3_points(cell_sets, n_h3, seed + 2)
    return sample(setup, np.concatenate([lon1, lon2, lon4, lon3]), np.concatenate([lat1, lat2, lat4, lat3]))


@pytest.fixture(scope="module")
def demo_random(demo_setup: Setup) -> Sample:
    return sample(demo_setup, *random_points(demo_setup.units, N_RANDOM, seed=11))


@pytest.fixture(scope="module")
def demo_edges(demo_setup: Setup) -> Sample:
    return boundary_sample(demo_setup, n_vertices=9000, n_between=6000, n_h3=2000, seed=12)


# --- comparison ------------------------------------------------------------------------------------


def mismatches(setup: Setup, s: Sample, matter: str, day: date) -> tuple[list[str], npt.NDArray[np.str_]]:
    """Points where the router and the independent reading differ (with a reproduction each)."""
    teams, statuses = setup.router.route_many(s.lon, s.lat, matter, day)
    ref_team, ref_status = setup.ref.route(s.places, matter, day)
    got_team = np.array(teams, dtype=object)
    got_status = np.array(statuses, dtype=object)
    bad = np.flatnonzero((got_team != ref_team) | (got_status != ref_status))
    out = []
    for i in bad[:5].tolist():
        covering = s.places.covering(i)
        out.append(f"route_many([{float(s.lon[i])!r}], [{float(s.lat[i])!r}], {matter!r}, {day!r}) gave "
                   f"({got_team[i]}, {got_status[i]}), independent ({ref_team[i]}, {ref_status[i]}); "
                   f"covering {covering}, selected {setup.ref.select(covering)}")
    if len(bad) > 5:
        out.append(f"... {len(bad)} mismatches of {len(s.lon)} points")
    return out, got_status


def multi_cover(setup: Setup, s: Sample) -> int:
    """How many points two units of one administrative layer (or one zone kind) cover: tie-break cases."""
    n = 0
    units = setup.ref.units
    for k, covering in enumerate(s.places.combos):
        keys = [(units[c].layer, units[c].kind) for c in covering if c in units]
        if len(keys) != len(set(keys)):
            n += int((s.places.combo == k).sum())
    return n


# --- 1. random points ------------------------------------------------------------------------------


@pytest.mark.parametrize("matter", DEMO_MATTERS)
def test_demo_random_points_match_independent_reading(demo_setup: Setup, demo_random: Sample, matter: str) -> None:
    bad, statuses = mismatches(demo_setup, demo_random, matter, DAY)
    assert not bad, "\n".join(bad)
    # The sample really spans inside and outside the county.
    assert 0.05 * N_RANDOM < int((statuses == "gap").sum()) < 0.5 * N_RANDOM


def test_demo_random_points_scalar_owner_agrees(demo_setup: Setup, demo_random: Sample) -> None:
    ref_team, _ = demo_setup.ref.route(demo_random.places, "M-URB-001", DAY)
    for i in range(0, N_RANDOM, 50):  # 2,000 points through the scalar fast path
        assert demo_setup.router.owner(float(demo_random.lon[i]), float(demo_random.lat[i]), "M-URB-001",
                                       DAY) == ref_team[i], (demo_random.lon[i], demo_random.lat[i])


# --- 2. points exactly on edges and vertices -------------------------------------------------------


@pytest.mark.parametrize("matter", DEMO_MATTERS)
def test_demo_edge_and_vertex_points_match_independent_reading(demo_setup: Setup, demo_edges: Sample,
                                                               matter: str) -> None:
    assert len(demo_edges.lon) >= 10_000
    bad, statuses = mismatches(demo_setup, demo_edges, matter, DAY)
    assert not bad, "\n".join(bad)
    # Inside the county every matter has a rule (the bureau or a township): a point on an edge is never a gap.
    in_county = np.array([any(demo_setup.ref.units[c].layer == "county" for c in demo_edges.places.covering(i)
                              if c in demo_setup.ref.units) for i in range(len(demo_edges.lon))])
    assert in_county.sum() > 0.9 * len(demo_edges.lon)
    assert not (statuses[in_county] == "gap").any()


def test_demo_edge_sample_exercises_the_tie_break(demo_setup: Setup, demo_edges: Sample) -> None:
    # Thousands of points lie on an edge shared by two units of one layer (polygons: both cover the point).
    assert multi_cover(demo_setup, demo_edges) > 5_000


# --- the demo with rules on every layer ------------------------------------------------------------


AUGMENTED_MATTERS = ("M-URB-009", "M-URB-001", "M-NR-001", "M-NR-004", "M-ENV-001", "M-AGR-003", "M-CUL-006")


@pytest.fixture(scope="module")
def augmented_samples(augmented_setup: Setup) -> list[Sample]:
    return [sample(augmented_setup, *random_points(augmented_setup.units, N_RANDOM, seed=21)),
            boundary_sample(augmented_setup, n_vertices=9000, n_between=6000, n_h3=2000, seed=22)]


@pytest.mark.parametrize("matter", AUGMENTED_MATTERS)
def test_demo_with_village_grid_layer_and_cell_rules_matches(augmented_setup: Setup,
                                                             augmented_samples: list[Sample], matter: str) -> None:
    for day in (DAY, date(2026, 6, 1)):
        for s in augmented_samples:
            bad, _ = mismatches(augmented_setup, s, matter, day)
            assert not bad, "\n".join(bad)


def test_augmented_rules_produce_every_status(augmented_setup: Setup, augmented_samples: list[Sample]) -> None:
    seen: set[tuple[str, str]] = set()
    for matter in ("M-URB-009", "M-NR-001", "M-URB-001"):
        teams, statuses = augmented_setup.router.route_many(augmented_samples[0].lon, augmented_samples[0].lat,
                                                            matter, DAY)
        seen |= {(matter, s) for s in statuses}
        if matter == "M-URB-009":  # grid workers of villages and of H3 grids both own points
            assert any(t.startswith("GW-") for t in teams) and any(t.startswith("T-GRID-") for t in teams)
    assert {("M-NR-001", "dispute"), ("M-URB-001", "dispute"), ("M-URB-009", "gap"), ("M-URB-009", "ok")} <= seen
    # The overlapping units are really exercised (both samples together).
    owners: dict[str, set[str]] = {}
    for s in augmented_samples:
        teams, statuses = augmented_setup.router.route_many(s.lon, s.lat, "M-URB-004", DAY)
        t = np.array(teams, dtype=object)
        both = np.array([{"Z-SCENIC", "Z-SCENIC-B"} <= set(c) for c in s.places.combos])[s.places.combo]
        only_b = np.array(["Z-SCENIC-B" in c and "Z-SCENIC" not in c for c in s.places.combos])[s.places.combo]
        outside = np.array([not any(x == "139900000000" for x in c) for c in s.places.combos])[s.places.combo]
        owners.setdefault("both", set()).update(t[both])
        owners.setdefault("only_b", set()).update(t[only_b])
        owners.setdefault("outside_ok", set()).update(t[outside & (np.array(statuses) == "ok")])
        teams, _ = augmented_setup.router.route_many(s.lon, s.lat, "M-URB-009", DAY)
        owners.setdefault("street", set()).update(teams)
    assert owners["only_b"] == {"T-SQ-URBAN"} and "T-SQ-URBAN" not in owners["both"] and owners["both"]
    assert owners["outside_ok"] == {"T-SQ-DEV"}  # the border cells, beyond the county line
    assert "T-GRID-100-GRID-X" in owners["street"]


# --- 3. Qiu County ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qiu_samples(qiu_setup: Setup) -> list[Sample]:
    return [sample(qiu_setup, *random_points(qiu_setup.units, N_RANDOM, seed=31)),
            boundary_sample(qiu_setup, n_vertices=4000, n_between=8000, n_h3=1500, seed=32)]


@pytest.mark.parametrize("day", [DAY, date(2026, 9, 1)])
def test_qiu_county_matches_independent_reading(qiu_setup: Setup, qiu_samples: list[Sample], day: date) -> None:
    random, edges = qiu_samples
    assert len(random.lon) == N_RANDOM and len(edges.lon) >= 10_000
    seen: set[str] = set()
    in_county = [np.array(["130430000000" in c for c in s.places.combos])[s.places.combo] for s in qiu_samples]
    for matter in QIU_MATTERS:
        for s, inside in zip(qiu_samples, in_county, strict=True):
            bad, statuses = mismatches(qiu_setup, s, matter.code, day)
            assert not bad, "\n".join(bad)
            seen |= set(statuses.tolist())
            assert not (statuses[inside] == "gap").any()  # the bureau or a township team always has it
    assert seen == ({"ok", "gap", "dispute"})


def test_qiu_edges_exercise_the_tie_break(qiu_setup: Setup, qiu_samples: list[Sample]) -> None:
    assert multi_cover(qiu_setup, qiu_samples[1]) > 2_000
    # The derived townships meet along Voronoi edges: a point on one is owned by exactly one township team.
    _, edges = qiu_samples
    teams, statuses = qiu_setup.router.route_many(edges.lon, edges.lat, "Q-URB-01", DAY)
    assert sum(t.startswith("T-TWP-") for t in teams) > 5_000


# --- 4. as of a date -------------------------------------------------------------------------------


def test_owner_changes_on_the_effective_dates(augmented_setup: Setup, demo: DemoCounty) -> None:
    zone = next(u for u in demo.units if u.code == "Z-RELOC")
    assert zone.geometry is not None
    minx, miny, maxx, maxy = zone.geometry.bounds
    rng = np.random.default_rng(41)
    lon_e, lat_e = edge_points([zone.geometry], 500, 1500, seed=42)
    s = sample(augmented_setup, np.concatenate([rng.uniform(minx, maxx, 5000), lon_e]),
               np.concatenate([rng.uniform(miny, maxy, 5000), lat_e]))
    inside = np.array(["Z-RELOC" in s.places.covering(i) for i in range(len(s.lon))])
    assert inside.sum() > 2000
    router = augmented_setup.router
    owners: dict[date, npt.NDArray[np.str_]] = {}
    # Out of order, and back again, so the per-period tables are built and reused in any order.
    for day in (date(2026, 6, 1), date(2026, 4, 30), date(2026, 5, 1), date(2024, 12, 31), date(2026, 4, 30)):
        bad, _ = mismatches(augmented_setup, s, "M-URB-001", day)
        assert not bad, "\n".join(bad)
        owners[day] = np.array(router.route_many(s.lon, s.lat, "M-URB-001", day)[0], dtype=object)
    host = f"T-TWP-{_township_of(demo, zone)}"
    assert (owners[date(2026, 4, 30)][inside] == host).all()  # the last day of R-RELOC-OLD
    assert (owners[date(2026, 5, 1)][inside] == "T-SQ-DEV").all()  # effective_to is exclusive
    assert (owners[date(2026, 6, 1)][inside] == "T-SQ-DEV").all()
    # Before the rules took effect nothing covers anything: every point is a gap for the fallback.
    _, statuses = router.route_many(s.lon, s.lat, "M-URB-001", date(2024, 12, 31))
    assert set(statuses) == {"gap"} and set(owners[date(2024, 12, 31)]) == {"T-BUREAU"}
    i = int(np.flatnonzero(inside)[0])
    before = router.explain(float(s.lon[i]), float(s.lat[i]), "M-URB-001", date(2026, 4, 30))
    after = router.explain(float(s.lon[i]), float(s.lat[i]), "M-URB-001", date(2026, 5, 1))
    assert before.winning_rule is not None and before.winning_rule.code == "R-RELOC-OLD"
    assert after.winning_rule is not None and after.winning_rule.code == "R-RELOC-NEW"


def test_qiu_park_squadron_starts_mid_year(qiu_setup: Setup) -> None:
    park = next(u.geometry for u in qiu_setup.units if u.code == "Z-DEV")
    assert park is not None
    minx, miny, maxx, maxy = park.bounds
    rng = np.random.default_rng(43)
    lon_e, lat_e = edge_points([park], 300, 1000, seed=44)
    s = sample(qiu_setup, np.concatenate([rng.uniform(minx, maxx, 3000), lon_e]),
               np.concatenate([rng.uniform(miny, maxy, 3000), lat_e]))
    in_park = np.array(["Z-DEV" in s.places.covering(i) for i in range(len(s.lon))])
    assert in_park.sum() > 2000
    s = Sample(s.lon[in_park], s.lat[in_park], qiu_setup.ref.places(s.lon[in_park], s.lat[in_park]))
    lon, lat = s.lon, s.lat
    # The park straddles the seat town and 香城固镇: the township line crosses it.
    assert len({c for k in s.places.combos for c in k if c.startswith("1304301")}) >= 2
    for matter, before, after in (("Q-URB-02", "T-BUREAU", "T-SQ-DEV"), ("Q-NR-02", "T-BUREAU", "T-BUREAU")):
        for day in (date(2026, 6, 30), QIU_DEV_FROM):
            bad, _ = mismatches(qiu_setup, s, matter, day)
            assert not bad, "\n".join(bad)
        old, _ = qiu_setup.router.route_many(lon, lat, matter, date(2026, 6, 30))
        new, statuses = qiu_setup.router.route_many(lon, lat, matter, QIU_DEV_FROM)
        assert set(old) == {before} and set(new) == {after}
    assert set(statuses) == {"dispute"}  # natural resources: the park squadron and the department both claim it


# --- 5. explanations -------------------------------------------------------------------------------


def explain_points(setup: Setup, seed: int) -> tuple[Floats, Floats]:
    """A few dozen points of each kind: random, on unit vertices/edges, on H3 vertices, and outside."""
    rng = np.random.default_rng(seed)
    lon_r, lat_r = random_points(setup.units, 60, seed)
    edges = boundary_sample(setup, n_vertices=40, n_between=20, n_h3=10, seed=seed + 1)
    keep = rng.permutation(len(edges.lon))[:60]
    return np.concatenate([lon_r, edges.lon[keep]]), np.concatenate([lat_r, edges.lat[keep]])


@pytest.mark.parametrize("which", ["demo", "qiu"])
def test_explanations_agree_with_independent_checks(which: str, demo_setup: Setup, qiu_setup: Setup) -> None:
    setup = demo_setup if which == "demo" else qiu_setup
    matters = ["M-URB-001", "M-ENV-005"] if which == "demo" else ["Q-URB-01", "Q-NR-01"]
    lon, lat = explain_points(setup, seed=51)
    places = setup.ref.places(lon, lat)
    dist = setup.ref.distances_m(lon, lat)
    router = setup.router
    for i in range(len(lon)):
        x, y = float(lon[i]), float(lat[i])
        covering = places.covering(i)
        selected = setup.ref.select(covering)
        # Accuracy alternately well above and well below the independent distance.
        accuracy = dist[i] * (2.0 if i % 2 else 0.5) + (0.05 if i % 2 else 0.0)
        for matter in matters:
            d = router.explain(x, y, matter, DAY, accuracy_m=accuracy)
            where = f"explain({x!r}, {y!r}, {matter!r}, {DAY!r}, accuracy_m={accuracy!r})"
            assert d.team == router.owner(x, y, matter, DAY), where
            assert (d.team, d.status) == setup.ref.decide(covering, matter, DAY), where
            units = {u.code for u in d.units if u.layer != "rule"}
            cells = {u.code.removeprefix("rule:") for u in d.units if u.layer == "rule"}
            assert units == {c for c in covering if not c.startswith(CELLS)}, where
            assert cells == {c.removeprefix(CELLS) for c in covering if c.startswith(CELLS)}, where
            chosen = {u.code for u in d.units if u.selected and u.layer != "rule"}
            assert chosen == {c for c in selected if not c.startswith(CELLS)}, where
            assert abs(d.distance_to_boundary_m - dist[i]) <= 0.005 * dist[i] + 0.01, (where, dist[i])
            if accuracy > dist[i] * 1.005 + 0.01:
                assert d.near_boundary, where
            elif accuracy < dist[i] * 0.995 - 0.01 and not d.on_boundary:
                assert not d.near_boundary, where
            # A point exactly on a vertex or shared edge is on the boundary, and flagged, whatever the accuracy.
            if dist[i] == 0.0:
                assert d.on_boundary and d.near_boundary, where


# --- documented accuracy of the boundary distance, wherever a Chinese county lies --------------------


@pytest.mark.parametrize("lat0", [18.3, 30.0, 36.8, 45.0, 52.9])  # 三亚 … 邱县 … 漠河
def test_distance_to_boundary_within_half_a_percent_at_any_latitude(lat0: float) -> None:
    """`distances_to_boundary_m` promises < 0.5 % error; check it against UTM across China's latitudes.

    The router's local frame uses 110,574 m per degree of latitude (the equator's value) everywhere; the
    real value grows to ~111,250 m at 53°N (漠河), so north–south distances come out ~0.6 % short there."""
    lon0 = 122.5 if lat0 > 40 else 110.0
    county = shapely.box(lon0 - 0.2, lat0 - 0.1, lon0 + 0.2, lat0 + 0.1)
    units = [Unit(code="C", name="县", layer="county", geometry=county)]
    teams = [Team(code="B", name="县综合行政执法局", kind="county_bureau")]
    matters = [Matter(code="M", name="事项", domain="城市管理")]
    rules = [Rule(code="R", priority=10, scope=RuleScope(type="everywhere"), team_code="B")]
    setup = make_setup(units, rules, [], matters, teams)
    # North–south, east–west and diagonal distances to the county line, from 1 to 9 km.
    lon = np.array([lon0, lon0, lon0 + 0.15, lon0 - 0.1, lon0 + 0.17])
    lat = np.array([lat0 + 0.09, lat0 + 0.05, lat0, lat0 - 0.02, lat0 + 0.08])
    ref = setup.ref.distances_m(lon, lat)
    got = np.array([setup.router.explain(float(x), float(y), "M", DAY).distance_to_boundary_m
                    for x, y in zip(lon, lat, strict=True)])
    error = np.abs(got - ref) / ref
    assert (error <= 0.005).all(), f"relative errors {np.round(error * 100, 3).tolist()} % at {lat0}°N"
    assert math.isfinite(float(got.sum()))


# --- cell sets the model accepts: several resolutions, or a cell listed twice ------------------------

_C9 = h3.latlng_to_cell(36.1, 115.1, 9)
_RING2 = sorted(set(h3.grid_disk(_C9, 2)) - set(h3.grid_disk(_C9, 1)))
CELL_SETS = {
    # A res-9 block whose edge a planner extended with finer res-10 cells (the children of a ring-2 cell).
    "mixed-resolution": sorted({*h3.grid_disk(_C9, 1), *h3.cell_to_children(_RING2[0], 10)}),
    # The same market cell pasted twice into a rule's list (RuleScope does not refuse duplicates).
    "duplicate-cell": [*sorted(h3.grid_disk(_C9, 1)), _C9],
}


@pytest.mark.parametrize(("name", "holder"), [("mixed-resolution", "rule"), ("mixed-resolution", "unit"),
                                              ("duplicate-cell", "rule")])  # Unit refuses duplicates itself
def test_cell_sets_the_model_accepts_are_routed_like_the_reference(name: str, holder: str) -> None:
    """`Unit.cells` / `RuleScope.cells` accept several resolutions (and RuleScope a repeated cell), and
    `regions.py` keeps a lookup per resolution, but `build_regions` unions the cells with
    `h3.cells_to_h3shape`, which refuses both: the whole version cannot be compiled."""
    cells = CELL_SETS[name]
    county = Unit(code="C", name="县", layer="county", geometry=shapely.box(115.0, 36.0, 115.2, 36.2))
    units = [county]
    teams = [Team(code="B", name="县综合行政执法局", kind="county_bureau"),
             Team(code="S", name="集市中队", kind="squadron")]
    matters = [Matter(code="M", name="占道经营", domain="城市管理")]
    rules = [Rule(code="R-ALL", priority=10, scope=RuleScope(type="everywhere"), team_code="B")]
    if holder == "unit":
        units.append(Unit(code="G1", name="集市网格", layer="grid", parent_code="C", cells=cells))
        rules.append(Rule(code="R-G1", priority=20, scope=RuleScope(type="unit", unit_code="G1"), team_code="S"))
    else:
        rules.append(Rule(code="R-MARKET", priority=20, scope=RuleScope(type="cells", cells=cells), team_code="S"))
    # Model-valid input: the router must build and agree with the reference (it raises h3's
    # H3ResMismatchError / H3DuplicateInputError from cells_to_geometry in build_regions instead).
    setup = make_setup(units, rules, [], matters, teams)
    lon, lat = h3_points([list(set(cells))], 3000, seed=61)
    rng = np.random.default_rng(62)
    lon = np.concatenate([lon, rng.uniform(115.08, 115.12, 5000)])
    lat = np.concatenate([lat, rng.uniform(36.08, 36.12, 5000)])
    bad, _ = mismatches(setup, sample(setup, lon, lat), "M", DAY)
    assert not bad, "\n".join(bad)
