"""Assigning a village to another township in a draft: both townships' outlines follow (the union of
their villages, checked with shapely on the scenario's boxes), and every refusal leaves nothing changed."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import h3
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy.engine import Engine

from gis.crs import metres_per_degree
from tests.conftest import table_counts

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
V1, V2, V3, V4 = (shapely.box(115.0, 36.0, 115.1, 36.1), shapely.box(115.1, 36.0, 115.2, 36.1),
                  shapely.box(115.0, 36.1, 115.2, 36.2), shapely.box(115.2, 36.0, 115.4, 36.2))


def assign(client: TestClient, h: dict[str, str], version: int, code: str, parent: str, revision: int) -> Any:
    return client.post(f"/versions/{version}/units/{code}/assign", params={"revision": revision},
                       json={"parent_code": parent}, headers=h)


def test_a_village_moves_and_both_townships_follow(api: Api) -> None:
    client, h, _ = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "改划", "based_on": 2}, headers=plan).json()
    r = assign(client, plan, v["id"], "V2", "T2", v["revision"])
    assert r.status_code == 200, r.text
    assert r.json()["redrawn"] == ["T1", "T2"] and r.json()["version"]["revision"] == v["revision"] + 1
    units = {f["id"]: f for f in client.get("/units", params={"version": v["id"]}, headers=plan).json()["features"]}
    assert units["V2"]["properties"]["parent_code"] == "T2"
    t1, t2 = shape(units["T1"]["geometry"]), shape(units["T2"]["geometry"])
    # Independently: the union of each township's villages, from the scenario's own boxes.
    assert t1.symmetric_difference(shapely.union_all([V1, V3])).area < 1e-12
    assert t2.symmetric_difference(shapely.union_all([V2, V4])).area < 1e-12
    topology = client.get(f"/versions/{v['id']}/topology", headers=plan).json()
    assert topology["errors"] == 0 and not [f for f in topology["features"] if f["properties"]["check"] == "detached"]
    # The impact preview moves exactly V2's area from T1 to T2.
    impact = client.get(f"/versions/{v['id']}/impact", params={"against": 2}, headers=plan).json()
    gained, lost = impact["townships"]["T2"]["gained_m2"], impact["townships"]["T1"]["lost_m2"]
    assert gained == lost and abs(gained - 0.1 * 0.1 * 111_320 * 111_320 * 0.8085) / gained < 0.01  # ~cos 36.05°
    # Routing in the draft follows: a point in V2 is T2's now (its team TT2 holds street matters there).
    assert impact["units_moved"] and impact["units_moved"][0]["code"] == "V2"


def test_a_village_moved_to_a_township_it_does_not_touch_is_flagged(api: Api) -> None:
    client, h, _ = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "飞地", "based_on": 2}, headers=plan).json()
    assert assign(client, plan, v["id"], "V1", "T2", v["revision"]).status_code == 200
    topology = client.get(f"/versions/{v['id']}/topology", headers=plan).json()
    (detached,) = [f for f in topology["features"] if f["properties"]["check"] == "detached"]
    props = detached["properties"]
    assert props["codes"] == ["T2"] and props["severity"] == "warning" and props["parts"] == 2
    # Located at the piece cut off (V1), 0.1° of longitude from V4 at 36.1° N: shapely on the boxes themselves.
    assert shape(detached["geometry"]).symmetric_difference(V1).area < 1e-12
    kx, _ = metres_per_degree(36.1)
    assert abs(props["distance_m"] - V1.distance(V4) * kx) < 0.01 * kx * 0.1
    assert topology["errors"] == 0  # a warning: it may be a real exclave, publishing is not refused


def test_refusals_name_the_way_out_and_change_nothing(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "改划", "based_on": 2}, headers=plan).json()
    before = table_counts(engine)
    cases = [
        (assign(client, plan, v["id"], "V4", "T1", v["revision"]), 409, "last village of T2"),
        (assign(client, plan, v["id"], "V2", "V1", v["revision"]), 422, "a village's parent is a township"),
        (assign(client, plan, v["id"], "V2", "T9", v["revision"]), 404, "no unit T9"),
        (assign(client, plan, v["id"], "V2", "T1", v["revision"]), 422, "already belongs to T1"),
        (assign(client, plan, v["id"], "C", "T1", v["revision"]), 422, "no parent"),
        (assign(client, plan, v["id"], "V2", "T2", v["revision"] - 1 if v["revision"] else 99), 409, "changed since"),
        (assign(client, plan, 2, "V2", "T2", 0), 409, "is published"),
        (assign(client, h["boss"], v["id"], "V2", "T2", v["revision"]), 403, "allowed: planner"),
    ]
    for r, status, text in cases:
        assert r.status_code == status and text in r.json()["detail"], r.text
    assert table_counts(engine) == before
    # A township that is not the union of its villages cannot follow: redraw it first.
    smaller = {"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(115.0, 36.0, 115.1, 36.09)),
               "properties": {}}
    r = client.put(f"/versions/{v['id']}/units/V1", params={"revision": v["revision"]}, json=smaller, headers=plan)
    assert r.status_code == 200, r.text
    revision = r.json()["version"]["revision"]
    r = assign(client, plan, v["id"], "V2", "T2", revision)
    assert r.status_code == 422 and "T1's outline is not the union of its villages" in r.json()["detail"]
    units = {f["id"]: f for f in client.get("/units", params={"version": v["id"]}, headers=plan).json()["features"]}
    assert units["V2"]["properties"]["parent_code"] == "T1"


def grid(client: TestClient, h: dict[str, str], version: dict[str, Any], code: str, parent: str,
         cells: list[str]) -> dict[str, Any]:
    r = client.put(f"/versions/{version['id']}/units/{code}", params={"revision": version["revision"]}, headers=h,
                   json={"type": "Feature", "geometry": None,
                         "properties": {"name": code, "layer": "grid", "parent_code": parent, "cells": cells}})
    assert r.status_code == 201, r.text
    return dict(r.json()["version"])


def move(client: TestClient, h: dict[str, str], version: int, cells: list[str], to: str, revision: int) -> Any:
    return client.post(f"/versions/{version}/cells/move", params={"revision": revision},
                       json={"cells": cells, "to": to}, headers=h)


def held(client: TestClient, h: dict[str, str], version: int) -> dict[str, set[str]]:
    fc = client.get("/units", params={"version": version, "layer": "grid"}, headers=h).json()
    return {f["id"]: set(f["properties"]["cells"] or ()) for f in fc["features"]}


def test_h3_cells_move_between_grids_in_one_edit(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    a, b, d = (sorted(h3.grid_disk(h3.latlng_to_cell(lat, lon, 9), 1))
               for lat, lon in ((36.05, 115.11), (36.05, 115.12), (36.03, 115.11)))
    far = sorted(h3.grid_disk(h3.latlng_to_cell(36.05, 115.3, 9), 1))  # in 东村 (V4), the other township
    base = client.post("/versions", json={"name": "网格", "based_on": 2}, headers=plan).json()
    v = base
    for code, parent, cells in (("G-A", "V2", a), ("G-B", "V2", b), ("G-D", "V2", d), ("G-FAR", "V4", far)):
        v = grid(client, plan, v, code, parent, cells)
    draft = client.post("/versions", json={"name": "改划网格", "based_on": base["id"]}, headers=plan).json()
    moving = a[0]
    r = move(client, plan, draft["id"], [moving], "G-B", draft["revision"])
    assert r.status_code == 200, r.text
    assert (r.json()["from"], r.json()["version"]["revision"]) == ({"G-A": [moving]}, draft["revision"] + 1)
    got = held(client, plan, draft["id"])
    assert got["G-A"] == set(a) - {moving} and got["G-B"] == set(b) | {moving}
    # The cell is in one unit, never both or neither; the draft stays clean; the diff names both sides.
    assert sum(moving in cells for cells in got.values()) == 1
    assert set().union(*got.values()) == set(a) | set(b) | set(d) | set(far)
    assert client.get(f"/versions/{draft['id']}/topology", headers=plan).json()["errors"] == 0
    diff = client.get("/versions/diff", params={"from": base["id"], "to": draft["id"]}, headers=plan).json()
    changed = {c["code"]: c for c in diff["units"]["changed"]}
    assert (changed["G-A"]["cells_removed"], changed["G-B"]["cells_added"]) == ([moving], [moving])
    impact = client.get(f"/versions/{draft['id']}/impact", params={"against": base["id"]}, headers=plan).json()
    assert impact["cells_moved"] == 1
    # Against the version in force, which has no grids at all, no cell moved: they are all new.
    assert client.get(f"/versions/{draft['id']}/impact", headers=plan).json()["cells_moved"] == 0
    hexagon = shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(moving)])
    units = {f["id"]: shape(f["geometry"]) for f in client.get(
        "/units", params={"version": draft["id"], "layer": "grid"}, headers=plan).json()["features"]}
    assert units["G-B"].buffer(1e-9).covers(hexagon) and units["G-A"].intersection(hexagon).area < 1e-12

    # Refusals: each a clear 4xx, nothing written, the revision unchanged.
    revision = r.json()["version"]["revision"]
    before, cells_before = table_counts(engine), held(client, plan, draft["id"])
    bad = [
        (move(client, plan, draft["id"], [a[1]], "G-B", revision - 1), 409, "reload it"),
        (move(client, plan, draft["id"], [a[1]], "G-NONE", revision), 404, "no unit G-NONE"),
        (move(client, plan, draft["id"], [a[1]], "V2", revision), 422, "not a set of H3 cells"),
        (move(client, plan, draft["id"], ["not-a-cell"], "G-B", revision), 422, "not H3 cells"),
        (move(client, plan, draft["id"], [b[0]], "G-B", revision), 422, "already holds"),
        (move(client, plan, draft["id"], [h3.latlng_to_cell(36.09, 115.19, 9)], "G-B", revision), 422, "held by no"),
        (move(client, plan, draft["id"], sorted(got["G-D"]), "G-B", revision), 409, "merge G-D"),
        (move(client, plan, draft["id"], [a[1]], "G-FAR", revision), 422, "outside its parent 东村 (V4)"),
        (move(client, plan, draft["id"], [], "G-B", revision), 422, "cells"),
        (move(client, h["boss"], draft["id"], [a[1]], "G-B", revision), 403, "planner"),
    ]
    for resp, status, words in bad:
        assert (resp.status_code, words in resp.text) == (status, True), resp.text
    assert table_counts(engine) == before and held(client, plan, draft["id"]) == cells_before
    assert client.get(f"/versions/{draft['id']}", headers=plan).json()["revision"] == revision

    # A cell two grids hold (a collision the topology check reports) ends up held once, by the one it moves to.
    clash = sorted(got["G-B"] | {d[0]})
    r = client.put(f"/versions/{draft['id']}/units/G-B", params={"revision": revision}, headers=plan,
                   json={"type": "Feature", "geometry": None, "properties": {"cells": clash}})
    assert r.status_code == 200, r.text
    checks = client.get(f"/versions/{draft['id']}/topology", headers=plan).json()
    assert checks["errors"] >= 1
    r = move(client, plan, draft["id"], [d[0]], "G-A", r.json()["version"]["revision"])
    assert r.status_code == 200 and r.json()["from"] == {"G-B": [d[0]], "G-D": [d[0]]}, r.text
    got = held(client, plan, draft["id"])
    assert [code for code, cells in got.items() if d[0] in cells] == ["G-A"]
    assert client.get(f"/versions/{draft['id']}/topology", headers=plan).json()["errors"] == 0
    # Cells given to a grid new in the draft count as moved in the impact preview too.
    v = grid(client, plan, r.json()["version"], "G-NEW", "V2", [h3.latlng_to_cell(36.07, 115.11, 9)])
    assert move(client, plan, draft["id"], [a[1]], "G-NEW", v["revision"]).status_code == 200
    impact = client.get(f"/versions/{draft['id']}/impact", params={"against": base["id"]}, headers=plan).json()
    assert impact["cells_moved"] == 3  # a[0] to G-B, d[0] to G-A, a[1] to G-NEW


def test_grid_cells_left_outside_a_redrawn_village_are_located(api: Api) -> None:
    """Writing a village does not re-check its H3 grids; the topology check does, cell by cell."""
    client, h, _ = api
    plan = h["plan"]
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(36.05, 115.11, 9), 2))
    v = grid(client, plan, client.post("/versions", json={"name": "村界", "based_on": 2}, headers=plan).json(),
             "G-A", "V2", cells)
    smaller = shapely.box(115.11, 36.0, 115.2, 36.1)
    r = client.put(f"/versions/{v['id']}/units/V2", params={"revision": v["revision"]}, headers=plan,
                   json={"type": "Feature", "geometry": shapely.geometry.mapping(smaller), "properties": {}})
    assert r.status_code == 200, r.text
    problems = client.get(f"/versions/{v['id']}/topology", headers=plan).json()["features"]
    (found,) = [f for f in problems if f["properties"]["codes"] == ["G-A", "V2"]]
    # Independently: geopandas on the cells' centres.
    centres = gpd.GeoSeries(gpd.points_from_xy([h3.cell_to_latlng(c)[1] for c in cells],
                                               [h3.cell_to_latlng(c)[0] for c in cells]), crs=4326)
    want = sorted(c for c, inside in zip(cells, centres.within(smaller), strict=True) if not inside)
    assert 0 < len(want) < len(cells)
    props = found["properties"]
    assert (props["check"], props["severity"], sorted(props["cells"])) == ("outside_parent", "error", want)
    hexagons = shapely.union_all([shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in want])
    assert shape(found["geometry"]).symmetric_difference(hexagons).area < 1e-6 * hexagons.area
