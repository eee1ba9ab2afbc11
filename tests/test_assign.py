"""Assigning a village to another township in a draft: both townships' outlines follow (the union of
their villages, checked with shapely on the scenario's boxes), and every refusal leaves nothing changed."""

from __future__ import annotations

from typing import Any

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
