"""Several counties in one deployment (issue 16.4): each county's gaps and disputes go to its own bureau, a
city-level team takes what lies outside every county, and an account limited to one county sees and acts on
that county's cases only. Two adjacent counties share an exact border (x = 115.2)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit, Version, in_county
from gis.routing import Router, RoutingData
from store.db import session_factory, transaction
from store.repo import Repository
from store.users import Users
from tests.independent import Reference
from tests.test_import import gridgov, gridgov_fails

A, B = shapely.box(115.0, 36.0, 115.2, 36.2), shapely.box(115.2, 36.0, 115.4, 36.2)
UNITS = [
    Unit(code="CA", name="甲县", layer="county", geometry=A),
    Unit(code="CB", name="乙县", layer="county", geometry=B),
    Unit(code="TA", name="甲镇", layer="township", parent_code="CA", geometry=A),
    Unit(code="TB", name="乙镇", layer="township", parent_code="CB", geometry=B),
    Unit(code="VB", name="乙村", layer="village", parent_code="TB", geometry=shapely.box(115.3, 36.0, 115.4, 36.1)),
    Unit(code="ZB", name="乙开发区", layer="zone", kind="dev_zone", geometry=shapely.box(115.35, 36.15, 115.4, 36.2)),
]
TEAMS = [
    Team(code="CITY", name="市综合行政执法支队", kind="department"),
    Team(code="BUREAU-A", name="甲县综合行政执法局", kind="county_bureau", unit_code="CA"),
    Team(code="BUREAU-B", name="乙县综合行政执法局", kind="county_bureau", unit_code="CB"),
    Team(code="TTA", name="甲镇综合执法队", kind="township_team", parent_code="BUREAU-A", unit_code="TA"),
    Team(code="TTB", name="乙镇综合执法队", kind="township_team", parent_code="BUREAU-B", unit_code="TB"),
]
MATTERS = [Matter(code="M-STREET", name="占道经营", domain="城市管理"),
           Matter(code="M-NONE", name="无人规定的事项", domain="其他")]  # no rule names it: a gap everywhere
STREET = MatterFilter(type="codes", codes=["M-STREET"])
RULES = [
    Rule(code="R-TA", priority=20, scope=RuleScope(type="unit", unit_code="TA"), matters=STREET, team_code="TTA"),
    Rule(code="R-TB", priority=20, scope=RuleScope(type="unit", unit_code="TB"), matters=STREET, team_code="TTB"),
    # In 乙村 both township teams claim the street matter at the same priority: a dispute inside county B.
    Rule(code="R-VB-CLAIM", priority=20, scope=RuleScope(type="unit", unit_code="VB"), matters=STREET,
         team_code="TTA"),
]
DAY = date(2026, 6, 1)


def test_gaps_and_disputes_go_to_the_bureau_of_the_county_holding_the_point() -> None:
    data = RoutingData(version=Version(id=1, name="v"), units=UNITS, rules=RULES, delegations=[], matters=MATTERS,
                       teams=TEAMS, fallback_team="CITY")
    router = Router(data)
    for lon, lat, matter, team, status in [
        (115.1, 36.1, "M-NONE", "BUREAU-A", "gap"), (115.3, 36.1, "M-NONE", "BUREAU-B", "gap"),
        (115.5, 36.1, "M-NONE", "CITY", "gap"), (115.5, 36.1, "M-STREET", "CITY", "gap"),
        (115.35, 36.05, "M-STREET", "BUREAU-B", "dispute"), (115.1, 36.1, "M-STREET", "TTA", "ok"),
        (115.25, 36.15, "M-STREET", "TTB", "ok"),
    ]:
        d = router.explain(lon, lat, matter, DAY)
        assert (d.team, d.status) == (team, status), (lon, lat, matter, d.reason)
    # Against the independent reading of the rules on random points over both counties and around them,
    # the shared border included (x = 115.2 exactly).
    rng = np.random.default_rng(16)
    lon = np.r_[rng.uniform(114.95, 115.45, 4000), np.full(200, 115.2)]
    lat = np.r_[rng.uniform(35.95, 36.25, 4000), rng.uniform(36.0, 36.2, 200)]
    reference = Reference(UNITS, RULES, [], MATTERS, TEAMS, fallback_team="CITY")
    places = reference.places(lon, lat)
    for matter in ("M-STREET", "M-NONE"):
        teams, statuses = router.route_many(lon, lat, matter, DAY)
        want_teams, want_status = reference.route(places, matter, DAY)
        assert list(teams) == list(want_teams) and list(statuses) == list(want_status)
    assert {"BUREAU-A", "BUREAU-B", "CITY"} <= set(router.route_many(lon, lat, "M-NONE", DAY)[0])


def test_units_of_a_county_follow_parents_and_parentless_zones_by_place() -> None:
    assert in_county(UNITS, "CB") == {"CB", "TB", "VB", "ZB"}
    assert in_county(UNITS, "CA") == {"CA", "TA"}
    assert in_county(UNITS, "TA") == set()  # not a county


@pytest.fixture
def two_counties(engine: Engine) -> Engine:
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        v = repo.create_version("两县")
        assert v.id is not None
        repo.add_units(v.id, UNITS)
        repo.add_teams(TEAMS)
        repo.add_matters(MATTERS)
        repo.add_rules_and_delegations(v.id, RULES, [Delegation(township_code="TA", matter_code="M-STREET")])
        repo.publish(v.id, date(2025, 1, 1))
        users = Users(session)
        users.add("city", "correct horse battery", "dispatcher")
        users.add("disp-a", "correct horse battery", "dispatcher", county_code="CA")
        users.add("audit-b", "correct horse battery", "auditor", county_code="CB")
        users.add("worker", "correct horse battery", "grid_worker", team_code="TTA")
    return engine


def _client(engine: Engine, database_url: str, tmp_path: Path) -> tuple[TestClient, dict[str, dict[str, str]]]:
    client = TestClient(create_app(get_settings(database_url=database_url, media_dir=tmp_path / "media",
                                                fallback_team="CITY")))
    headers = {}
    for name in ("city", "disp-a", "audit-b", "worker"):
        token = client.post("/auth/token", json={"username": name, "password": "correct horse battery"})
        headers[name] = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return client, headers


def test_a_county_scoped_account_sees_and_acts_on_its_county_only(two_counties: Engine, database_url: str,
                                                                    tmp_path: Path) -> None:
    client, h = _client(two_counties, database_url, tmp_path)

    def report(lon: float, lat: float, matter: str) -> dict[str, object]:
        r = client.post("/reports", headers=h["worker"], json={
            "idempotency_key": str(uuid.uuid4()), "matter": matter, "lon": lon, "lat": lat,
            "reported_at": "2026-06-01T09:00:00"})
        assert r.status_code == 201, r.text
        return dict(r.json())

    gap_a, gap_b = report(115.1, 36.1, "M-NONE"), report(115.3, 36.15, "M-NONE")
    street_b = report(115.25, 36.15, "M-STREET")
    assert (gap_a["team"], gap_a["county"], gap_a["triage"]) == ("BUREAU-A", "CA", "gap")
    assert (gap_b["team"], gap_b["county"], gap_b["triage"]) == ("BUREAU-B", "CB", "gap")
    assert (street_b["team"], street_b["county"]) == ("TTB", "CB")

    def ids(path: str, who: str) -> set[int]:
        r = client.get(path, headers=h[who])
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()}

    assert ids("/cases", "city") == {gap_a["id"], gap_b["id"], street_b["id"]}
    assert ids("/cases", "disp-a") == {gap_a["id"]}
    assert ids("/cases", "audit-b") == {gap_b["id"], street_b["id"]}
    assert ids("/cases?county=CB", "city") == {gap_b["id"], street_b["id"]}
    assert ids("/cases?county=CB", "disp-a") == set()  # a filter never widens the account's scope
    # Another county's case is not there for a county dispatcher: read, history and actions are all a 404
    # (the same answer as a missing id, issue 15.7), and nothing changes.
    for path in (f"/cases/{gap_b['id']}", f"/cases/{gap_b['id']}/history"):
        assert client.get(path, headers=h["disp-a"]).status_code == 404
    act = client.post(f"/cases/{gap_b['id']}/actions", headers=h["disp-a"],
                      json={"revision": gap_b["revision"], "action": "register"})
    assert act.status_code == 404, act.text
    assert client.get(f"/cases/{gap_b['id']}", headers=h["city"]).json()["status"] == "reported"
    ok = client.post(f"/cases/{gap_a['id']}/actions", headers=h["disp-a"],
                     json={"revision": gap_a["revision"], "action": "register"})
    assert ok.status_code == 200, ok.text
    # Statistics, the wall and the OGC cases layer follow the same scope and filter.
    stats = client.get("/stats?from=2026-05-01&to=2026-07-01", headers=h["disp-a"]).json()
    assert (stats["county"], stats["total"]["cases"], set(stats["by_team"])) == ("CA", 1, {"BUREAU-A"})
    city_b = client.get("/stats?from=2026-05-01&to=2026-07-01&county=CB", headers=h["city"]).json()
    assert (city_b["total"]["cases"], set(city_b["by_team"])) == (2, {"BUREAU-B", "TTB"})
    wall = client.get("/wall/cases", headers=h["disp-a"]).json()
    assert {row[0] for row in wall["cases"]} == {gap_a["id"]}
    wall_b = client.get("/wall/cases?county=CB", headers=h["city"]).json()
    assert {row[0] for row in wall_b["cases"]} == {gap_b["id"], street_b["id"]}
    ogc = client.get("/ogc/collections/cases/items", headers=h["audit-b"]).json()
    assert {f["id"] for f in ogc["features"]} == {gap_b["id"], street_b["id"]}
    townships = client.get("/ogc/collections/township/items?county=CB", headers=h["city"]).json()
    assert [f["id"] for f in townships["features"]] == ["TB"]


def test_cli_limits_an_account_to_a_known_county(two_counties: Engine, database_url: str) -> None:
    out = gridgov(database_url, "user", "add", "disp-b", "--role", "dispatcher", "--county", "CB", "--password",
                  "correct horse battery")
    assert "created user=disp-b role=dispatcher team= county=CB" in out
    err = gridgov_fails(database_url, "user", "add", "disp-x", "--role", "dispatcher", "--county", "CX",
                        "--password", "correct horse battery")
    assert "unknown county code CX" in err


def test_migration_gives_existing_cases_their_county(two_counties: Engine, database_url: str, tmp_path: Path) -> None:
    """0009 fills `county_code` of cases stored before it from their township's parent in their version."""
    import sqlalchemy as sa

    from store.db import downgrade, upgrade

    client, h = _client(two_counties, database_url, tmp_path)
    case = client.post("/reports", headers=h["worker"], json={
        "idempotency_key": str(uuid.uuid4()), "matter": "M-STREET", "lon": 115.25, "lat": 36.15,
        "reported_at": "2026-06-01T09:00:00"}).json()
    client.close()
    two_counties.dispose()
    downgrade(two_counties, "0008")
    upgrade(two_counties)
    with two_counties.connect() as conn:
        county = conn.execute(sa.text("SELECT county_code FROM case_record WHERE id = :i"), {"i": case["id"]})
        assert county.scalar_one() == "CB"


def test_the_demo_builds_a_neighbouring_county_sharing_its_border_exactly() -> None:
    from gis.demo import build_demo_county
    from gis.demo_catalogue import COUNTY_CODE
    from gis.demo_neighbour import NEIGHBOUR_BUREAU, NEIGHBOUR_CODE, build_neighbour, scope_to_county
    from gis.topology import check_topology

    demo = build_demo_county(seed=7, months=1)
    nb = build_neighbour(demo.units)
    first = next(u.geometry for u in demo.units if u.code == COUNTY_CODE)
    second = next(u.geometry for u in nb.units if u.code == NEIGHBOUR_CODE)
    assert first is not None and second is not None
    m2 = 111_000.0 ** 2 * np.cos(np.radians(first.centroid.y))  # square degrees to m², roughly, at this latitude
    assert first.intersection(second).area * m2 < 1.0  # no overlap
    border = first.boundary.intersection(second.boundary)
    assert border.length * 111_000 > 20_000  # tens of kilometres of shared border, vertex for vertex
    townships = [u for u in nb.units if u.layer == "township"]
    assert len(townships) == 3 and abs(shapely.union_all([t.geometry for t in townships]).area - second.area) * m2 < 1
    units = demo.units + nb.units
    problems = [p for p in check_topology(units) if p.severity == "error"]
    assert problems == [], [p.message for p in problems]
    rules = scope_to_county(demo.rules, COUNTY_CODE) + nb.rules
    both = Router(RoutingData(version=Version(id=1, name="两县"), units=units, rules=rules,
                              delegations=demo.delegations + nb.delegations, matters=demo.matters,
                              teams=demo.teams + nb.teams))
    alone = Router(RoutingData(version=Version(id=1, name="演示县"), units=demo.units, rules=demo.rules,
                               delegations=demo.delegations, matters=demo.matters, teams=demo.teams))
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = second.union(first).bounds
    lon, lat = rng.uniform(x0, x1, 6000), rng.uniform(y0, y1, 6000)
    in_first = shapely.covers(first, shapely.points(lon, lat))
    in_second = shapely.covers(second, shapely.points(lon, lat)) & ~in_first
    reference = Reference(units, rules, demo.delegations + nb.delegations, demo.matters, demo.teams + nb.teams)
    places = reference.places(lon, lat)
    neighbour_teams = {t.code for t in nb.teams}
    for matter in [m.code for m in demo.matters][::9]:
        teams, statuses = both.route_many(lon, lat, matter, DAY)
        teams, statuses = np.array(teams), np.array(statuses)
        want = reference.route(places, matter, DAY)
        assert list(teams) == list(want[0]) and list(statuses) == list(want[1])
        # The first county routes as it did alone (its county-wide rules now name its unit: the same places) ...
        assert list(teams[in_first]) == list(np.array(alone.route_many(lon, lat, matter, DAY)[0])[in_first])
        # ... and the neighbour's points go to the neighbour's own teams, none of the first county's.
        assert in_second.sum() > 500 and set(teams[in_second]) <= neighbour_teams
        assert not set(teams[in_first]) & neighbour_teams
    owners = {t for m in demo.matters for t in np.array(both.route_many(lon, lat, m.code, DAY)[0])[in_second]}
    assert NEIGHBOUR_BUREAU in owners and len(owners) == 4  # the bureau and the three township teams
