"""The demo county, checked by methods independent of how gis.demo builds it (geopandas, shapely, h3)."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry.base import BaseGeometry

from api.app import create_app
from cli.demo import page_lines
from config import get_settings
from gis.crs import gcj02_to_wgs84
from gis.demo import DemoCounty, build_demo_county
from gis.model import Unit, cells_to_geometry
from gis.validate import check_references, check_teams, check_units
from tests.test_import import gridgov

CJK = re.compile(r"[\u3400-\u9fff]")

# Partition tolerances are in degrees² on purpose (exactness, not size), so geopandas' area warning is noise.
pytestmark = pytest.mark.filterwarnings("ignore:Geometry is in a geographic CRS")
UTM = "EPSG:32650"  # UTM zone 50N covers lon 114–120: true metres for areas and distances
TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def built() -> tuple[DemoCounty, float]:
    start = time.perf_counter()
    demo = build_demo_county()
    return demo, time.perf_counter() - start


@pytest.fixture(scope="module")
def demo(built: tuple[DemoCounty, float]) -> DemoCounty:
    return built[0]


def layer(demo: DemoCounty, name: str) -> list[Unit]:
    return [u for u in demo.units if u.layer == name]


def geom(unit: Unit) -> BaseGeometry:
    assert unit.geometry is not None, unit.code
    return unit.geometry


def frame(units: list[Unit]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [u.code for u in units], "parent": [u.parent_code for u in units]},
        geometry=[u.geometry for u in units], crs="EPSG:4326",
    )


def assert_partition(parent: shapely.Geometry, children: gpd.GeoDataFrame) -> None:
    """children tile parent exactly: areas add up, no overlaps, the union is the parent."""
    total = float(children.area.sum())
    assert abs(total - parent.area) / parent.area < 1e-9
    pairs = gpd.sjoin(children, children, predicate="intersects")
    pairs = pairs[pairs.index != pairs["index_right"]]
    left = children.geometry.loc[pairs.index].reset_index(drop=True)
    right = children.geometry.loc[pairs["index_right"]].reset_index(drop=True)
    overlaps = left.intersection(right).area
    assert overlaps.max() < 1e-12 if len(overlaps) else True
    union = children.union_all()  # GEOS unary union, not the coverage union the builder uses
    assert shapely.symmetric_difference(union, parent).area < 1e-10


# --- speed and shape of the whole ---------------------------------------------------------------


def test_builds_fast(built: tuple[DemoCounty, float]) -> None:
    assert built[1] < 10.0


def test_layer_counts(demo: DemoCounty) -> None:
    counts = Counter(u.layer for u in demo.units)
    assert counts["county"] == 1
    assert counts["township"] == 7
    assert 180 <= counts["village"] <= 220
    assert 20 <= counts["grid"] <= 100
    assert sorted(u.kind for u in layer(demo, "zone")) == sorted(
        ["urban_core", "dev_zone", "scenic_area", "relocated_village"])
    assert len({u.code for u in demo.units}) == len(demo.units)


def test_county_looks_like_a_plain_county(demo: DemoCounty) -> None:
    (county,) = layer(demo, "county")
    assert county.code == "139900000000" and re.fullmatch(r"[\u4e00-\u9fff]+县", county.name)
    assert county.geometry is not None and len(county.geometry.geoms) == 1
    assert shapely.get_num_coordinates(county.geometry) >= 800
    c = county.geometry.centroid
    assert abs(c.x - 115.2) < 0.1 and abs(c.y - 36.8) < 0.1
    minx, miny, maxx, maxy = gpd.GeoSeries([county.geometry], crs="EPSG:4326").to_crs(UTM).total_bounds
    assert 30_000 < maxx - minx < 50_000 and 25_000 < maxy - miny < 45_000


def test_township_names_codes_and_seat(demo: DemoCounty) -> None:
    townships = layer(demo, "township")
    for t in townships:
        assert re.fullmatch(r"139900\d{3}000", t.code)
        assert t.name[-1] in "镇乡" and t.parent_code == "139900000000"
    assert [t.attributes.get("seat") for t in townships].count(True) == 1


def test_village_codes_names_and_attributes(demo: DemoCounty) -> None:
    seat_town = next(t.code for t in layer(demo, "township") if t.attributes["seat"])
    for v in layer(demo, "village"):
        assert re.fullmatch(r"\d{12}", v.code) and v.code[:9] == str(v.parent_code)[:9]
        assert v.name.endswith("村委会") or v.name.endswith("社区居委会")
        assert v.attributes["ur_code"] in {"111", "112", "121", "122", "210", "220"}
        if v.attributes["ur_code"] == "111":
            assert v.parent_code == seat_town and v.name.endswith("社区居委会")
        lon, lat = v.attributes["seat"]
        assert v.geometry is not None and v.geometry.covers(shapely.Point(lon, lat))
    assert len({v.name for v in layer(demo, "village")}) == len(layer(demo, "village"))


# --- exact partitions ---------------------------------------------------------------------------


def test_villages_partition_each_township(demo: DemoCounty) -> None:
    villages = frame(layer(demo, "village"))
    for t in layer(demo, "township"):
        assert_partition(t.geometry, villages[villages["parent"] == t.code])


def test_no_village_overlaps_another_anywhere(demo: DemoCounty) -> None:
    villages = frame(layer(demo, "village"))
    hits = gpd.overlay(villages, villages, how="intersection", keep_geom_type=True)
    cross = hits[hits["code_1"] != hits["code_2"]]
    assert cross.area.sum() < 1e-12


def test_townships_partition_the_county(demo: DemoCounty) -> None:
    (county,) = layer(demo, "county")
    assert_partition(county.geometry, frame(layer(demo, "township")))


def test_every_village_covered_by_its_township_exactly(demo: DemoCounty) -> None:
    townships = {t.code: geom(t) for t in layer(demo, "township")}
    for v in layer(demo, "village"):
        assert townships[str(v.parent_code)].covers(geom(v)), v.code


def test_all_polygons_valid_and_single_part(demo: DemoCounty) -> None:
    for u in demo.units:
        if u.geometry is not None:
            assert u.geometry.is_valid
            if u.layer in ("county", "township", "village"):
                assert len(u.geometry.geoms) == 1, u.code


def test_boundaries_are_detailed_and_not_straight(demo: DemoCounty) -> None:
    villages = frame(layer(demo, "village"))
    vertices = shapely.get_num_coordinates(villages.geometry.values)
    assert vertices.mean() >= 50 and vertices.sum() >= 20_000
    metric = villages.to_crs(UTM)
    # Shared boundaries between neighbours wander: path length well above the chord between its ends.
    pairs = gpd.sjoin(metric, metric, predicate="touches")
    pairs = pairs[pairs.index < pairs["index_right"]].head(150)
    sinuosity = []
    for i, j in zip(pairs.index, pairs["index_right"], strict=True):
        shared = shapely.line_merge(metric.geometry[i].boundary.intersection(metric.geometry[j].boundary))
        for line in shapely.get_parts(shared):
            if line.geom_type == "LineString" and line.length > 500:
                a, b = np.array(line.coords[0]), np.array(line.coords[-1])
                sinuosity.append(line.length / max(float(np.linalg.norm(a - b)), 1.0))
    assert len(sinuosity) > 50
    assert np.median(sinuosity) > 1.1
    # No long straight runs: every edge segment is short, as in digitised boundaries.
    coords = shapely.get_coordinates(metric.boundary.values)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    assert np.percentile(seg, 99) < 150


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_is_byte_identical(demo: DemoCounty) -> None:
    again = build_demo_county()
    assert [u.code for u in again.units] == [u.code for u in demo.units]
    for a, b in zip(again.units, demo.units, strict=True):
        assert (a.geometry is None and b.geometry is None) or geom(a).wkb == geom(b).wkb
        assert a.model_dump(exclude={"geometry"}) == b.model_dump(exclude={"geometry"})
    for name in ("teams", "matters", "delegations", "rules", "incidents"):
        assert [x.model_dump() for x in getattr(again, name)] == [x.model_dump() for x in getattr(demo, name)]
    assert again.fallback_team_code == demo.fallback_team_code and again.seed == demo.seed


def test_other_seed_differs(demo: DemoCounty) -> None:
    other = build_demo_county(seed=8, n_villages=120, months=1)
    assert other.seed == 8
    assert geom(layer(other, "county")[0]).wkb != geom(layer(demo, "county")[0]).wkb
    assert [i.lon for i in other.incidents[:50]] != [i.lon for i in demo.incidents[:50]]


# --- catalogue, delegations, teams, rules ---------------------------------------------------------


def test_matter_catalogue(demo: DemoCounty) -> None:
    matters = demo.matters
    assert len(matters) >= 50 and len({m.code for m in matters}) == len(matters)
    domains = {m.domain for m in matters}
    assert len(domains) >= 8
    assert {"市场监管", "自然资源", "生态环境", "住房城乡建设", "城市管理", "农业农村", "水利", "应急管理",
            "交通运输", "文化旅游"} <= domains
    for m in matters:
        assert re.fullmatch(r"M-[A-Z]+-[A-Z0-9]+", m.code) and re.search(r"[\u4e00-\u9fff]", m.name)
        assert (m.procedure, m.time_unit) in {("simple", "working_hours"), ("ordinary", "working_days")}
    coal = next(m for m in matters if m.code == "M-ENV-COAL")
    assert coal.name == "露天晾晒煤泥" and coal.domain == "生态环境"


def test_delegations_are_a_proper_subset(demo: DemoCounty) -> None:
    codes = {m.code for m in demo.matters}
    townships = {t.code for t in layer(demo, "township")}
    by_township: dict[str, set[str]] = {}
    for d in demo.delegations:
        by_township.setdefault(d.township_code, set()).add(d.matter_code)
    assert set(by_township) == townships
    common = set.intersection(*by_township.values())
    assert common and common < codes
    assert 0.25 < len(common) / len(codes) < 0.6
    assert any(s > common for s in by_township.values())  # one township holds extras
    assert "M-ENV-COAL" in common


def test_teams(demo: DemoCounty) -> None:
    teams = {t.code: t for t in demo.teams}
    kinds = Counter(t.kind for t in demo.teams)
    assert kinds["county_bureau"] == 1 and kinds["township_team"] == 7 and kinds["department"] >= 3
    bureau = teams[demo.fallback_team_code]
    assert bureau.kind == "county_bureau" and bureau.name.endswith("综合行政执法局")
    squadrons = [t for t in demo.teams if t.kind == "squadron"]
    assert all(any(t.name.endswith(suffix) for t in squadrons) for suffix in ("城区中队", "开发区中队"))
    assert all(t.parent_code == bureau.code for t in squadrons)
    assert {t.unit_code for t in demo.teams if t.kind == "township_team"} == {
        t.code for t in layer(demo, "township")}
    villages = {v.code: v for v in layer(demo, "village")}
    workers = [t for t in demo.teams if t.kind == "grid_worker"]
    assert len(workers) == len(villages)
    for w in workers:
        assert teams[str(w.parent_code)].unit_code == villages[str(w.unit_code)].parent_code
    unit_codes = {u.code for u in demo.units}
    assert check_teams(demo.teams, set(), unit_codes) == []


def test_rule_references_resolve(demo: DemoCounty) -> None:
    problems = check_references(
        demo.rules, demo.delegations,
        unit_layers={u.code: u.layer for u in demo.units}, team_codes={t.code for t in demo.teams},
        matter_codes={m.code for m in demo.matters}, domains={m.domain for m in demo.matters})
    assert problems == []


def test_rules_express_the_arrangements(demo: DemoCounty) -> None:
    teams = {t.code: t for t in demo.teams}
    units = {u.code: u for u in demo.units}
    by_priority: dict[int, list] = {}
    for r in demo.rules:
        by_priority.setdefault(r.priority, []).append(r)
        assert re.search(r"[\u4e00-\u9fff]", r.legal_basis)
    (fallback,) = by_priority[10]
    assert fallback.scope.type == "everywhere" and fallback.matters.type == "not_delegated"
    assert fallback.team_code == demo.fallback_team_code
    assert {r.scope.unit_code for r in by_priority[20]} == {t.code for t in layer(demo, "township")}
    assert all(teams[r.team_code].unit_code == r.scope.unit_code for r in by_priority[20])
    (urban,) = by_priority[30]
    assert units[str(urban.scope.unit_code)].kind == "urban_core" and teams[urban.team_code].kind == "squadron"
    (dev,) = by_priority[40]
    assert units[str(dev.scope.unit_code)].kind == "dev_zone" and teams[dev.team_code].kind == "squadron"
    assert by_priority[50] and all(teams[r.team_code].kind == "department" and r.matters.type == "codes"
                                   for r in by_priority[50])
    assert any("《河北省乡镇和街道综合行政执法事项目录》" in r.legal_basis for r in demo.rules)
    cell_rules = [r for r in demo.rules if r.scope.type == "cells"]
    assert cell_rules and all(h3.is_valid_cell(c) for r in cell_rules for c in r.scope.cells or [])
    seat_town = next(t for t in layer(demo, "township") if t.attributes["seat"])
    market = cells_to_geometry(cell_rules[0].scope.cells or [])
    assert geom(seat_town).intersection(market).area > 0.9 * market.area


# --- zones and grids ------------------------------------------------------------------------------


def test_zones_lie_inside_the_county(demo: DemoCounty) -> None:
    (county,) = layer(demo, "county")
    for z in layer(demo, "zone"):
        assert z.geometry is not None and z.parent_code == county.code
        assert shapely.difference(z.geometry, county.geometry).area < 1e-12


def test_zone_sizes_and_placement(demo: DemoCounty) -> None:
    zones = {z.kind: z for z in layer(demo, "zone")}
    metric = gpd.GeoSeries([zones[k].geometry for k in sorted(zones)], index=sorted(zones),
                           crs="EPSG:4326").to_crs(UTM)
    km2 = metric.area / 1e6
    assert 8 <= km2["dev_zone"] <= 15
    assert 1 <= km2["scenic_area"] <= 6
    assert 0.3 <= km2["relocated_village"] <= 0.8
    assert metric["dev_zone"].distance(metric["urban_core"]) < 500
    assert metric["dev_zone"].intersection(metric["urban_core"]).area < 1e4


def test_urban_core_matches_urban_communities(demo: DemoCounty) -> None:
    core = next(z for z in layer(demo, "zone") if z.kind == "urban_core")
    urban = frame([v for v in layer(demo, "village") if v.attributes["ur_code"] == "111"])
    assert len(urban) >= 8
    assert shapely.symmetric_difference(urban.union_all(), core.geometry).area < 1e-10


def test_dev_zone_cuts_across_villages(demo: DemoCounty) -> None:
    dev = geom(next(z for z in layer(demo, "zone") if z.kind == "dev_zone"))
    villages = frame(layer(demo, "village"))
    share = villages.intersection(dev).area / dev.area
    assert (share > 0.05).sum() >= 3
    assert share.max() < 0.9  # no single village contains it


def test_grids_are_h3_cells_in_their_community(demo: DemoCounty) -> None:
    villages = {v.code: v for v in layer(demo, "village")}
    grids = layer(demo, "grid")
    seen: set[str] = set()
    majority = 0
    for g in grids:
        assert g.geometry is None and g.cells
        assert all(h3.get_resolution(c) == 9 for c in g.cells)
        assert not seen & set(g.cells)
        seen |= set(g.cells)
        parent = villages[str(g.parent_code)]
        assert parent.attributes["ur_code"] == "111"
        # Each cell is filed where its centre is (the loader's rule), and most grids lie mostly there too.
        assert all(geom(parent).covers(shapely.Point(lon, lat)) for lat, lon in map(h3.cell_to_latlng, g.cells))
        shape = cells_to_geometry(g.cells)
        majority += shape.intersection(geom(parent)).area > 0.5 * shape.area
    assert majority >= 0.85 * len(grids)


def test_units_pass_the_loader_checks(demo: DemoCounty) -> None:
    assert check_units([(u.code, u) for u in demo.units], {}) == []


# --- incidents ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def incidents(demo: DemoCounty) -> gpd.GeoDataFrame:
    rows = [i.model_dump() for i in demo.incidents]
    df = pd.DataFrame(rows)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")


def test_incidents_inside_the_county(demo: DemoCounty, incidents: gpd.GeoDataFrame) -> None:
    county = frame(layer(demo, "county"))
    inside = gpd.sjoin(incidents, county, predicate="within")
    assert len(inside) == len(incidents)


def test_incident_window_and_daily_rate(incidents: gpd.GeoDataFrame) -> None:
    times = incidents["reported_at"]
    assert times.min() >= datetime(2026, 7, 1) and times.max() < datetime(2026, 11, 1)
    assert all(t.tzinfo is None for t in times)
    per_day = times.dt.date.value_counts()
    assert len(per_day) == (TODAY - date(2026, 7, 1)).days
    assert 15 <= per_day.mean() <= 40
    weekday = per_day.groupby([d.weekday() for d in per_day.index]).mean()
    assert weekday[[0, 1, 2, 3, 4]].mean() > weekday[[5, 6]].mean()


def test_incident_fields(demo: DemoCounty, incidents: gpd.GeoDataFrame) -> None:
    assert incidents["external_id"].is_unique
    assert incidents["external_id"].str.fullmatch(r"demo-\d{6}").all()
    assert set(incidents["matter_code"]) <= {m.code for m in demo.matters}
    workers = {t.code: t for t in demo.teams if t.kind == "grid_worker"}
    assert set(incidents["reporter"]) <= set(workers)
    assert incidents["accuracy_m"].between(5, 50).all()
    assert (incidents["raw_crs"] == "gcj02").all()
    assert incidents["description"].str.contains(r"[\u4e00-\u9fff]").all()
    assert incidents["reported_at"].is_monotonic_increasing


def test_reporter_is_the_grid_worker_of_the_village_at_the_point(
        demo: DemoCounty, incidents: gpd.GeoDataFrame) -> None:
    villages = frame(layer(demo, "village"))
    hit = gpd.sjoin(incidents, villages, predicate="within")
    hit = hit[~hit.index.duplicated()]
    assert len(hit) == len(incidents)
    assert (hit["reporter"] == "GW-" + hit["code"]).all()


def test_raw_coordinates_are_gcj02_of_the_point(incidents: gpd.GeoDataFrame) -> None:
    lon, lat = gcj02_to_wgs84(incidents["raw_x"].to_numpy(), incidents["raw_y"].to_numpy())
    assert np.abs(lon - incidents["lon"]).max() < 1e-6 and np.abs(lat - incidents["lat"]).max() < 1e-6
    shift = gpd.GeoSeries(gpd.points_from_xy(incidents["raw_x"], incidents["raw_y"]), crs="EPSG:4326").to_crs(
        UTM).distance(incidents.to_crs(UTM).geometry.reset_index(drop=True))
    assert 100 < shift.median() < 1000  # GCJ-02 moves points a few hundred metres


def test_urban_core_is_the_densest(demo: DemoCounty, incidents: gpd.GeoDataFrame) -> None:
    core = next(z for z in layer(demo, "zone") if z.kind == "urban_core").geometry
    (county,) = layer(demo, "county")
    in_core = incidents.within(core).sum()
    area = gpd.GeoSeries([core, county.geometry], crs="EPSG:4326").to_crs(UTM).area
    density_core = in_core / area[0]
    density_rest = (len(incidents) - in_core) / (area[1] - area[0])
    assert density_core > 10 * density_rest
    urban_matters = incidents[incidents.within(core)]["matter_code"].str.startswith("M-URB").mean()
    rural_matters = incidents[~incidents.within(core)]["matter_code"].str.startswith("M-URB").mean()
    assert urban_matters > 2 * rural_matters


def test_coal_slurry_sites_recur(demo: DemoCounty, incidents: gpd.GeoDataFrame) -> None:
    coal = incidents[incidents["matter_code"] == "M-ENV-COAL"].to_crs(UTM).reset_index(drop=True)
    xy = np.column_stack([coal.geometry.x, coal.geometry.y])
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    # Greedy clustering: take the point with most neighbours within 150 m, remove them, repeat.
    free = np.ones(len(xy), dtype=bool)
    clusters = []
    while free.any():
        near = (dist < 150) & free[None] & free[:, None]
        counts = near.sum(axis=1)
        best = int(np.argmax(counts))
        if counts[best] < 5:
            break
        members = np.flatnonzero(near[best])
        clusters.append(members)
        free[members] = False
    assert len(clusters) >= 5
    villages = frame(layer(demo, "village"))
    for members in clusters[:5]:
        # A drying yard is tight: nearly all coal reports around it fall within the 150 m.
        centre = xy[members].mean(axis=0)
        around = np.linalg.norm(xy - centre, axis=1)
        assert (around < 150).sum() >= 0.8 * (around < 500).sum()
        days = coal["reported_at"].iloc[members].dt.date
        assert days.nunique() >= 5  # repeated over weeks, not one burst
        assert (days.max() - days.min()) > timedelta(days=14)
        site = gpd.GeoSeries(coal.geometry.iloc[members[:1]].to_crs("EPSG:4326").values, crs="EPSG:4326")
        host = gpd.sjoin(gpd.GeoDataFrame(geometry=site), villages, predicate="within")
        assert set(host["code"]) <= {v.code for v in layer(demo, "village") if v.attributes["ur_code"] == "220"}


def test_today_and_months_arguments() -> None:
    small = build_demo_county(seed=3, months=1, n_villages=60, today=date(2026, 3, 15))
    times = [i.reported_at for i in small.incidents]
    assert min(times) >= datetime(2026, 2, 15) and max(times) < datetime(2026, 3, 15)
    assert 40 <= len([u for u in small.units if u.layer == "village"]) <= 60


def test_gridgov_demo_loads_the_county_and_an_account_per_role(tmp_path: Path) -> None:
    """The README's first command, without serving: the demo can then be tried end to end by each role."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    out = gridgov(url, "demo", "--no-serve", "--months", "1")
    assert re.search(r"^demo county=1 .*village=200", out, re.M) and "gridgov-demo" in out
    client = TestClient(create_app(get_settings(database_url=url, media_dir=tmp_path / "media")))

    def sign_in(name: str) -> dict[str, str]:
        r = client.post("/auth/token", json={"username": name, "password": "gridgov-demo"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    worker, team, dispatcher = sign_in("worker"), sign_in("team"), sign_in("dispatcher")
    county = client.get("/units", params={"layer": "county"}, headers=dispatcher).json()["features"][0]
    lon, lat = shapely.geometry.shape(county["geometry"]).representative_point().coords[0]
    matter = next(m["code"] for m in client.get("/matters", headers=worker).json())
    r = client.post("/reports", headers=worker, json={"idempotency_key": "demo-report-1", "matter": matter,
                                                      "lon": lon, "lat": lat})
    assert r.status_code == 201, r.text
    assert client.get(f"/cases/{r.json()['id']}", headers=dispatcher).status_code == 200
    assert client.get("/cases", headers=team).status_code == 200
    assert client.get("/units").status_code == 401
    # The closing lines of `gridgov demo` (which then serves) name every page with its address, in Chinese
    # by default and in English on request; each address answers with its page.
    pages = client.get("/").json()["pages"]
    for lang, word in (("zh-CN", "调度台"), ("en", "dispatch console")):
        lines = [line.render(lang) for line in page_lines("http://127.0.0.1:8000")]
        text = "\n".join(lines)
        assert word in text, text
        assert [p for p in pages if f"http://127.0.0.1:8000{p}\n" not in text + "\n"] == [], text
        if lang == "zh-CN":
            assert all(CJK.search(line.split("http")[0]) for line in lines), lines
        else:
            assert not any(CJK.search(line) for line in lines), lines
    for path in pages:
        assert client.get(path, headers=dispatcher).status_code == 200, path
