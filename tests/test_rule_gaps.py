"""Checks a new user needs: zones without a parent stay inside the county, and rule gaps are located errors.

Rule gaps are checked against the router itself (points routed one matter at a time: a `gap` status exactly
where a reported gap lists that matter) and against areas computed by hand / on the ellipsoid (pyproj).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import h3
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from cases import clock
from gis.crs import to_wgs84
from gis.derive import derive_townships
from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit, Version, cells_to_geometry
from gis.routing import Router, RoutingData
from gis.rule_gaps import rule_gaps
from gis.topology import TopologyProblem, check_topology
from gis.validate import check_units
from tests import routing_scenario as sc
from tests.independent import Reference
from tests.test_import import CODES, COUNTY_CGCS
from tests.test_redraw import Api, feature

GEOD = Geod(ellps="WGS84")
TODAY = date(2026, 11, 29)
T5 = shapely.box(115.3, 36.0, 115.4, 36.2)  # the east half of 东乡 T2, split off as a new township


def split_units() -> list[Unit]:
    """The scenario with 东乡 T2 split at 115.3°E: T5 is new, its village V5 with it."""
    out = []
    for u in sc.units():
        if u.code in ("T2", "V4"):
            u = u.model_copy(update={"geometry": shapely.MultiPolygon([shapely.box(115.2, 36.0, 115.3, 36.2)])})
        out.append(u)
    out += [Unit(code="T5", name="东乡新区", layer="township", parent_code="C", geometry=T5),
            Unit(code="V5", name="东村新区", layer="village", parent_code="T5", geometry=T5)]
    return out


def geodesic_m2(g: BaseGeometry) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def m2_per_deg2_at(lat: float) -> float:
    """Square metres in a square degree at this latitude, from pyproj's geodesic lengths of 0.001°."""
    dx = GEOD.inv(0.0, lat, 0.001, lat)[2]
    dy = GEOD.inv(0.0, lat - 0.0005, 0.0, lat + 0.0005)[2]
    return float(dx * dy) * 1e6


def gaps_by_matter(problems: list[TopologyProblem], day: date) -> dict[str, BaseGeometry]:
    """The reported gap area of each matter on `day`."""
    parts: dict[str, list[BaseGeometry]] = {}
    for p in problems:
        if p.check == "rule_gap" and day.isoformat() in p.extra["days"]:
            for m in p.extra["matters"]:
                parts.setdefault(m, []).append(p.geometry)
    return {m: shapely.union_all(g) for m, g in parts.items()}


def assert_routing_agrees(units: list[Unit], rules: list[Rule], delegations: list[Delegation],
                          matters: list[Matter], teams: list[Team], problems: list[TopologyProblem], day: date,
                          county: BaseGeometry, n: int = 20_000) -> int:
    """Routing every matter at random points inside the county — by the compiled router and by the independent
    reading of the rules (tests/independent.py: geopandas, its own rule reader) — gives `gap` exactly inside the
    reported gaps of that matter (points within 1 cm of an edge left out: which side they fall on is the
    tie-break's business)."""
    router = Router(RoutingData(Version(id=9, name="t", status="draft"), units, rules, delegations, matters, teams))
    reference = Reference(units, rules, delegations, matters, teams)
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = county.bounds
    x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
    inside = shapely.contains_xy(county, x, y)
    x, y = x[inside], y[inside]
    edges = shapely.union_all([shapely.boundary(u.shape()) for u in units if u.shape() is not None]
                              + [shapely.boundary(p.geometry) for p in problems])
    far = shapely.distance(edges, shapely.points(x, y)) > 1e-7
    x, y = x[far], y[far]
    places = reference.places(x, y)
    reported = gaps_by_matter(problems, day)
    seen = 0
    for m in matters:
        _, status = router.route_many(x, y, m.code, day)
        routed_gap = np.array(status) == "gap"
        _, ref_status = reference.route(places, m.code, day)
        assert (routed_gap == (ref_status == "gap")).all(), m.code
        area = reported.get(m.code)
        in_reported = shapely.contains_xy(area, x, y) if area is not None else np.zeros(len(x), dtype=bool)
        assert (routed_gap == in_reported).all(), (m.code, int((routed_gap != in_reported).sum()))
        seen += int(routed_gap.sum())
    return seen


def brute_force_gaps(units: list[Unit], rules: list[Rule], delegations: list[Delegation], matters: list[Matter],
                     teams: list[Team], day: date) -> dict[str, BaseGeometry]:
    """Each matter's gap area by plain shapely overlays, one matter and one township at a time, with the
    independent reference's reading of dates and matter filters: the township's area less every matching rule's
    scope area."""
    ref = Reference(units, rules, delegations, matters, teams)
    shapes = {u.code: u.shape() for u in units if u.shape() is not None}
    county = shapely.union_all([shapes[u.code] for u in units if u.layer == "county"])
    towns = [u.code for u in units if u.layer == "township" and u.code in shapes]
    places = [(t, shapes[t].intersection(county)) for t in towns]
    places.append((None, county.difference(shapely.union_all([shapes[t] for t in towns]))))

    def scope(rule: Rule) -> BaseGeometry:
        s = rule.scope
        if s.type == "everywhere":
            return county
        if s.type == "unit":
            return shapes.get(s.unit_code or "", shapely.Polygon())
        if s.type == "layer":
            return shapely.union_all([shapes[u.code] for u in units if u.layer == s.layer and u.code in shapes])
        return cells_to_geometry(s.cells or [])

    out: dict[str, BaseGeometry] = {}
    for m in matters:
        holes = []
        for town, area in places:
            covered = [scope(r) for r in rules if ref.in_force(r, day) and ref.matter_covers(r, m, town)]
            holes.append(area.difference(shapely.union_all(covered)) if covered else area)
        # Parts of 1 m² or less are overlay dust, as the check's tolerance says (planar area, scaled by pyproj's
        # lengths of a degree here: a zero-area sliver along a lon/lat line has a geodesic area, not a planar one).
        parts = [p for p in shapely.get_parts(shapely.union_all(holes))
                 if p.geom_type == "Polygon" and p.area * m2_per_deg2_at(p.centroid.y) > 1.0]
        if parts:
            out[m.code] = shapely.union_all(parts)
    return out


def test_a_split_leaving_its_new_part_without_a_team_is_a_located_error() -> None:
    units = split_units()
    delegations = [*sc.DELEGATIONS, Delegation(township_code="T5", matter_code="M-STREET")]  # copied on a split
    problems = rule_gaps(units, sc.rules(), delegations, sc.MATTERS, [TODAY])
    assert [(p.check, p.severity, p.codes, p.extra["matters"]) for p in problems] == [
        ("rule_gap", "error", ("T5",), ["M-STREET"])]
    gap = problems[0]
    assert gap.geometry.symmetric_difference(T5).area < 1e-12
    assert gap.area_m2 == pytest.approx(geodesic_m2(T5), rel=2e-3)  # local plane vs the ellipsoid
    assert "东乡新区" in gap.message and "fallback team" in gap.message
    assert gap.feature()["properties"]["n_matters"] == 1
    assert assert_routing_agrees(units, sc.rules(), delegations, sc.MATTERS, sc.TEAMS, problems, TODAY, sc.C) > 0
    # The rule for the new township closes it; an allowed gap (a lake) is left out.
    r5 = Rule(code="R-T5", priority=20, scope=RuleScope(type="unit", unit_code="T5"),
              matters=MatterFilter(type="delegated"), team_code="TT2")
    assert rule_gaps(units, [*sc.rules(), r5], delegations, sc.MATTERS, [TODAY]) == []
    lake = shapely.box(115.3, 36.0, 115.35, 36.2)
    left = rule_gaps(units, sc.rules(), delegations, sc.MATTERS, [TODAY], allowed_gaps=(lake,))
    assert len(left) == 1 and left[0].geometry.symmetric_difference(shapely.box(115.35, 36.0, 115.4, 36.2)).area < 1e-12


def test_the_scenario_and_a_version_without_rules() -> None:
    assert rule_gaps(sc.units(), sc.rules(), sc.DELEGATIONS, sc.MATTERS, [date(2026, 3, 1), TODAY]) == []
    (only,) = rule_gaps(sc.units(), [], [], sc.MATTERS, [TODAY])
    assert only.severity == "warning" and only.codes == ("C",) and "no rules yet" in only.message
    assert rule_gaps(sc.units(), sc.rules(), sc.DELEGATIONS, [], [TODAY]) == []


@pytest.fixture(scope="module")
def qiu() -> dict[str, Any]:
    """Qiu County (its CGCS2000 outline) with township cells derived from the real seats, a zone, H3 cells and a
    rule table with holes that change on a date."""
    import geopandas as gpd
    import pandas as pd

    county = gpd.read_file(COUNTY_CGCS).geometry.iloc[0]
    tree = pd.read_csv(CODES, dtype=str)
    towns = tree[tree.level == "town"]
    lon, lat = to_wgs84(towns.longitude.astype(float).to_numpy(), towns.latitude.astype(float).to_numpy(), "gcj02")
    seats = {c: (float(x), float(y)) for c, x, y in zip(towns.code, lon, lat, strict=True)}
    cells = derive_townships(county, seats).polygons
    codes = sorted(cells)
    units = [Unit(code="130430000000", name="邱县", layer="county", geometry=county)]
    units += [Unit(code=c, name=c, layer="township", parent_code="130430000000", geometry=cells[c]) for c in codes]
    # A park across the line between the last two townships, with no parent_code (checked against the county).
    a, b = (cells[c].representative_point() for c in codes[-2:])
    park = shapely.LineString([a, b]).buffer(0.02).intersection(county)
    units.append(Unit(code="Z-PARK", name="园区", layer="zone", kind="dev_zone", geometry=park))
    market = sorted(h3.grid_disk(h3.latlng_to_cell(a.y, a.x, 8), 2))
    later = TODAY + timedelta(days=60)
    matters = [Matter(code="M-A", name="a", domain="D1"), Matter(code="M-B", name="b", domain="D1"),
               Matter(code="M-C", name="c", domain="D2"), Matter(code="M-D", name="d", domain="D3")]
    delegations = [Delegation(township_code=c, matter_code="M-A") for c in codes]
    delegations += [Delegation(township_code=c, matter_code="M-C") for c in codes[:3]]
    teams = [Team(code="BUREAU", name="局", kind="county_bureau"), Team(code="PARK", name="园区中队", kind="squadron"),
             Team(code="DEPT", name="部门", kind="department"), Team(code="MKT", name="市场", kind="department")]
    teams += [Team(code=f"TT-{c}", name=c, kind="township_team", unit_code=c) for c in codes]
    rules = [Rule(code=f"R-{c}", priority=20, scope=RuleScope(type="unit", unit_code=c),
                  matters=MatterFilter(type="delegated"), team_code=f"TT-{c}") for c in codes[:5]]
    rules += [
        Rule(code="R-PARK", priority=40, scope=RuleScope(type="unit", unit_code="Z-PARK"),
             matters=MatterFilter(type="domain", domain="D1"), team_code="PARK"),
        Rule(code="R-MKT", priority=35, scope=RuleScope(type="cells", cells=market),
             matters=MatterFilter(type="codes", codes=["M-A"]), team_code="MKT"),
        Rule(code="R-DEPT", priority=50, scope=RuleScope(type="everywhere"),
             matters=MatterFilter(type="codes", codes=["M-D"]), team_code="DEPT"),
        Rule(code="R-BUREAU", priority=10, scope=RuleScope(type="layer", layer="township"),
             matters=MatterFilter(type="not_delegated"), team_code="BUREAU", effective_from=later),
    ]
    return {"units": units, "rules": rules, "delegations": delegations, "matters": matters, "teams": teams,
            "county": county, "days": [TODAY, later], "park": park}


def test_rule_gaps_on_the_real_county_agree_with_routing(qiu: dict[str, Any]) -> None:
    args = (qiu["units"], qiu["rules"], qiu["delegations"], qiu["matters"])
    problems = rule_gaps(*args, qiu["days"])
    assert problems and all(p.severity == "error" for p in problems)
    for day in qiu["days"]:
        gaps = assert_routing_agrees(*args, qiu["teams"], problems, day, qiu["county"])
        assert gaps > 0, day
        expected = brute_force_gaps(*args, qiu["teams"], day)
        got = gaps_by_matter(problems, day)
        assert set(got) == set(expected), day
        for m, area in expected.items():
            assert got[m].symmetric_difference(area).area < 1e-9 * qiu["county"].area, (m, day)
    now, later = (gaps_by_matter(problems, d) for d in qiu["days"])
    # By hand: before the bureau's rule starts, M-B (domain D1, delegated nowhere) has a rule only in the park;
    # after it, the bureau takes it everywhere. M-D has the department's county-wide rule on both days.
    county = qiu["county"]
    assert now["M-B"].symmetric_difference(county.difference(qiu["park"])).area < 1e-9 * county.area
    assert "M-B" not in later and "M-D" not in now and "M-D" not in later
    # M-A is delegated everywhere but two townships have no team rule: their land less the park and the market.
    assert set(later) == {"M-A"}


def test_rule_gaps_are_cheap_beside_the_topology_check(qiu: dict[str, Any]) -> None:
    args = (qiu["units"], qiu["rules"], qiu["delegations"], qiu["matters"])
    start = time.perf_counter()
    check_topology(qiu["units"])
    topology_s = time.perf_counter() - start
    start = time.perf_counter()
    rule_gaps(*args, qiu["days"])
    gaps_s = time.perf_counter() - start
    assert gaps_s < max(2 * topology_s, 0.5), (gaps_s, topology_s)


def test_a_zone_without_parent_is_checked_against_the_county() -> None:
    units = sc.units()
    county = sc.C
    # A development zone drawn 26 % outside the county, with no parent_code (the case that passed before).
    zone = shapely.box(115.3, 36.1, 115.435, 36.15)
    outside = zone.difference(county).area / zone.area
    assert outside == pytest.approx(0.26, abs=0.01)
    park = Unit(code="Z-PARK", name="园区", layer="zone", kind="dev_zone", geometry=zone)
    problems = check_units([("unit Z-PARK", park)], {u.code: u for u in units})
    assert len(problems) == 1 and "lies outside the county 演示县 (C)" in problems[0].message  # names, codes second
    found = [p for p in check_topology([*units, park]) if p.check == "outside_parent"]
    assert [(p.severity, p.codes) for p in found] == [("error", ("Z-PARK", "C"))]
    assert found[0].geometry.symmetric_difference(zone.difference(county)).area < 1e-12
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(36.1, 115.41, 8), 1))  # H3 cells beyond the east edge
    hexes = Unit(code="Z-HEX", name="园区", layer="zone", kind="dev_zone", cells=cells)
    found_hex = check_units([("unit Z-HEX", hexes)], {u.code: u for u in units})
    assert "outside the county 演示县 (C)" in found_hex[0].message
    assert [p.codes for p in check_topology([*units, hexes]) if p.check == "outside_parent"] == [("Z-HEX", "C")]
    inside = park.model_copy(update={"geometry": shapely.MultiPolygon([shapely.box(115.3, 36.1, 115.35, 36.15)])})
    assert check_units([("unit Z-PARK", inside)], {u.code: u for u in units}) == []


def test_put_validate_and_publish_refuse_what_they_passed(api: Api) -> None:
    client, h, _ = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "园区", "based_on": 2}, headers=plan).json()
    zone = shapely.box(115.3, 36.1, 115.435, 36.15)  # 26 % beyond the county's east edge
    body = {**feature(zone), "properties": {"name": "园区", "layer": "zone", "kind": "dev_zone"}}
    r = client.put(f"/versions/{v['id']}/units/Z-PARK", params={"revision": v["revision"]}, json=body, headers=plan)
    assert r.status_code == 422 and "outside the county 演示县 (C)" in r.json()["detail"], r.text
    # The split that left its new part without a team: validate now reports the rule gap, located.
    cut = shapely.geometry.mapping(shapely.LineString([(115.3, 35.9), (115.3, 36.3)]))

    def split(code: str, new_code: str, revision: int) -> Any:
        r = client.post(f"/versions/{v['id']}/units/{code}/split", params={"revision": revision},
                        json={"line": cut, "at": [115.35, 36.1], "new_code": new_code, "new_name": new_code},
                        headers=plan)
        assert r.status_code == 200, r.text
        return r.json()["version"]["revision"]

    revision = split("T2", "T5", split("V4", "V5", v["revision"]))
    r = client.post(f"/versions/{v['id']}/validate", params={"revision": revision}, headers=plan).json()
    assert r["errors"] == 1 and r["version"]["status"] == "draft"
    (gap,) = [f for f in r["features"] if f["properties"]["check"] == "rule_gap"]
    assert gap["properties"]["codes"] == ["T5"] and gap["properties"]["matters"] == ["M-STREET"]
    assert shapely.geometry.shape(gap["geometry"]).symmetric_difference(T5).area < 1e-12
    r = client.post(f"/versions/{v['id']}/publish", params={"revision": r["version"]["revision"]},
                    json={"effective_from": (clock.today() + timedelta(days=1)).isoformat()}, headers=plan)
    assert r.status_code == 409 and "rule in force" in r.json()["detail"]


def test_each_county_of_a_shared_deployment_is_checked_on_its_own() -> None:
    c2 = shapely.box(115.4, 36.0, 115.6, 36.2)  # a neighbour sharing the east edge, no townships drawn yet
    units = [*sc.units(), Unit(code="C2", name="邻县", layer="county", geometry=c2)]
    assert rule_gaps(units, sc.rules(), sc.DELEGATIONS, sc.MATTERS, [TODAY]) == []  # `everywhere`: both counties
    own = [r.model_copy(update={"scope": RuleScope(type="unit", unit_code="C")}) if r.code == "R-BUREAU" else r
           for r in sc.rules()]
    problems = rule_gaps(units, own, sc.DELEGATIONS, sc.MATTERS, [TODAY])
    assert [(p.codes, p.extra["n_matters"]) for p in problems] == [(("C2",), 4)]
    assert problems[0].geometry.symmetric_difference(c2).area < 1e-12 and "邻县" in problems[0].message
