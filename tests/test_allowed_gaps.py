"""Allowed-gap areas (a lake) stored per version, edited over the API, used by topology, validate and publish;
the located gaps are checked against an independent geopandas overlay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import geopandas as gpd
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases import clock
from gis.crs import metres_per_degree
from store.db import downgrade, schema_revision, upgrade
from tests import routing_scenario as sc
from tests.conftest import table_counts
from tests.test_import import gridgov, gridgov_fails

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
LAKE = shapely.box(115.12, 36.03, 115.14, 36.05)  # inside 南关村 V2, away from the zones
KX, KY = metres_per_degree(36.04)


def feature(geometry: Any, **props: Any) -> dict[str, Any]:
    geo = geometry if isinstance(geometry, dict) else shapely.geometry.mapping(geometry)
    return {"type": "Feature", "geometry": geo, "properties": props}


def gaps_by_geopandas(client: TestClient, h: dict[str, str], version: int, allowed: list[Any]) -> Any:
    """T1 minus its villages minus the allowed areas, from the API's own GeoJSON, by geopandas overlay."""
    units = gpd.GeoDataFrame.from_features(
        client.get("/units", params={"version": version}, headers=h).json()["features"], crs=4326)
    township = units[units["code"] == "T1"][["geometry"]]
    villages = units[units["parent_code"] == "T1"][["geometry"]]
    hole = gpd.overlay(township, villages, how="difference")
    if allowed:
        hole = gpd.overlay(hole, gpd.GeoDataFrame(geometry=allowed, crs=4326), how="difference")
    return hole.union_all()


def gap_errors(client: TestClient, h: dict[str, str], version: int) -> list[dict[str, Any]]:
    report = client.get(f"/versions/{version}/topology", headers=h).json()
    return [f for f in report["features"] if f["properties"]["severity"] == "error"]


def test_a_lake_is_a_gap_until_an_allowed_gap_covers_it(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "南关水库", "based_on": 2}, headers=plan).json()
    r = client.put(f"/versions/{draft['id']}/units/V2", params={"revision": draft["revision"]},
                   json=feature(sc.V2.difference(LAKE)), headers=plan)
    assert r.status_code == 200, r.text
    revision = r.json()["version"]["revision"]
    (gap,) = gap_errors(client, plan, draft["id"])
    expected = gaps_by_geopandas(client, plan, draft["id"], [])
    located = shapely.geometry.shape(gap["geometry"])
    assert gap["properties"]["check"] == "gap" and gap["properties"]["codes"] == ["T1"]
    assert located.symmetric_difference(expected).area < 1e-12 and expected.symmetric_difference(LAKE).area < 1e-12
    assert gap["properties"]["area_m2"] == pytest.approx(expected.area * KX * KY, rel=2e-3)
    r = client.post(f"/versions/{draft['id']}/validate", params={"revision": revision}, headers=plan).json()
    assert (r["valid"], r["version"]["status"]) == (False, "draft")
    revision = r["version"]["revision"]

    # An allowed gap covering only the western half of the lake: the eastern half is still reported.
    half = shapely.box(115.11, 36.02, 115.13, 36.06)
    r = client.put(f"/versions/{draft['id']}/allowed-gaps/LAKE-1", params={"revision": revision},
                   json=feature(half, name="南关水库", note="水面不划村界"), headers=plan)
    assert r.status_code == 201, r.text
    assert r.json()["properties"] == {"code": "LAKE-1", "name": "南关水库", "note": "水面不划村界",
                                      "version": draft["id"]}
    revision = r.json()["version"]["revision"]
    (rest,) = gap_errors(client, plan, draft["id"])
    expected = gaps_by_geopandas(client, plan, draft["id"], [half])
    assert shapely.geometry.shape(rest["geometry"]).symmetric_difference(expected).area < 1e-12
    assert expected.symmetric_difference(shapely.box(115.13, 36.03, 115.14, 36.05)).area < 1e-12
    r = client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(clock.today() + timedelta(5))},
                    params={"revision": revision}, headers=plan)
    assert r.status_code == 409 and "topology error" in r.json()["detail"]

    # Replace it by one covering the whole lake (with some shore): no error; validate and publish pass.
    r = client.put(f"/versions/{draft['id']}/allowed-gaps/LAKE-1", params={"revision": revision},
                   json=feature(LAKE.buffer(0.001, join_style="mitre"), name="南关水库"), headers=plan)
    assert r.status_code == 200, r.text
    revision = r.json()["version"]["revision"]
    assert gaps_by_geopandas(client, plan, draft["id"], [LAKE.buffer(0.001, join_style="mitre")]).is_empty
    assert gap_errors(client, plan, draft["id"]) == []
    listed = client.get(f"/versions/{draft['id']}/allowed-gaps", headers=h["audit"]).json()
    assert [f["id"] for f in listed["features"]] == ["LAKE-1"]
    assert shapely.geometry.shape(listed["features"][0]["geometry"]).covers(LAKE)
    assert "allowed_gaps=1" in gridgov(engine.url.render_as_string(hide_password=False), "version", "validate",
                                       str(draft["id"]))
    revision = client.get(f"/versions/{draft['id']}", headers=plan).json()["revision"]

    # A draft based on it copies the allowed gap (and so has no error either).
    copy = client.post("/versions", json={"name": "副本", "based_on": draft["id"]}, headers=plan).json()
    got = client.get(f"/versions/{copy['id']}/allowed-gaps/LAKE-1", headers=plan).json()
    assert got["properties"]["name"] == "南关水库" and got["properties"]["version"] == copy["id"]
    assert gap_errors(client, plan, copy["id"]) == []
    # Deleting it in the copy brings the gap back there, and leaves the original alone.
    r = client.delete(f"/versions/{copy['id']}/allowed-gaps/LAKE-1", params={"revision": copy["revision"]},
                      headers=plan)
    assert r.status_code == 200 and r.json()["revision"] == copy["revision"] + 1
    assert [f["properties"]["check"] for f in gap_errors(client, plan, copy["id"])] == ["gap"]
    assert client.get(f"/versions/{copy['id']}/allowed-gaps/LAKE-1", headers=plan).status_code == 404
    assert len(client.get(f"/versions/{draft['id']}/allowed-gaps", headers=plan).json()["features"]) == 1

    # Publish, then roll back to it later: the rollback version carries the allowed gap too.
    start = clock.today() + timedelta(days=5)
    r = client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(start)},
                    params={"revision": revision}, headers=plan)
    assert r.status_code == 200, r.text
    r = client.put(f"/versions/{draft['id']}/allowed-gaps/LAKE-2", params={"revision": revision + 1},
                   json=feature(LAKE, name="x"), headers=plan)
    assert r.status_code == 409 and "published" in r.json()["detail"]
    back = client.post(f"/versions/{draft['id']}/rollback", json={"effective_from": str(start + timedelta(3))},
                       headers=plan).json()
    assert [f["id"] for f in client.get(f"/versions/{back['id']}/allowed-gaps", headers=plan).json()["features"]] \
        == ["LAKE-1"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM allowed_gap")).scalar_one() == 2


def test_bad_allowed_gaps_and_roles_are_refused_and_change_nothing(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "试", "based_on": 2}, headers=plan).json()
    url = f"/versions/{draft['id']}/allowed-gaps/LAKE"
    before = table_counts(engine)
    bowtie = {"type": "Polygon", "coordinates": [[[115.0, 36.0], [115.1, 36.1], [115.1, 36.0], [115.0, 36.1],
                                                  [115.0, 36.0]]]}
    for body, params, text in [
        (feature(bowtie), {}, "Self-intersection"),
        (feature({"type": "Polygon", "coordinates": []}), {}, "empty"),
        (feature(shapely.box(500000, 4000000, 510000, 4010000)), {}, "projected metres"),
        (feature(shapely.Point(115.1, 36.1)), {}, "Polygon or MultiPolygon"),
        (feature(shapely.box(115.1, 36.0, 115.2, 36.1)), {"crs": "mars"}, "mars"),
        (feature({"type": "Polygonal", "coordinates": [1]}), {}, "not a GeoJSON geometry"),
        (feature(LAKE, colour="blue"), {}, "unknown properties colour"),
        (feature(LAKE, name=""), {}, "at least 1 character"),
        ({"type": "Feature", "properties": {}}, {}, "geometry"),
    ]:
        r = client.put(url, params={"revision": draft["revision"], **params}, json=body, headers=plan)
        assert r.status_code == 422 and text in r.json()["detail"], (text, r.text)
    r = client.put(f"/versions/{draft['id']}/allowed-gaps/bad code!", params={"revision": draft["revision"]},
                   json=feature(LAKE), headers=plan)
    assert r.status_code == 422 and "code" in r.json()["detail"]
    r = client.put(url, params={"revision": draft["revision"] + 7}, json=feature(LAKE), headers=plan)
    assert r.status_code == 409 and "reload it" in r.json()["detail"]
    r = client.put("/versions/1/allowed-gaps/LAKE", params={"revision": 0}, json=feature(LAKE), headers=plan)
    assert r.status_code == 409 and "published" in r.json()["detail"]
    r = client.put("/versions/99/allowed-gaps/LAKE", params={"revision": 0}, json=feature(LAKE), headers=plan)
    assert r.status_code == 404
    for who in ("worker1", "tt1", "boss", "audit"):
        r = client.put(url, params={"revision": draft["revision"]}, json=feature(LAKE), headers=h[who])
        assert r.status_code == 403 and "planner" in r.json()["detail"], who
        r = client.delete(url, params={"revision": draft["revision"]}, headers=h[who])
        assert r.status_code == 403, who
    for who in ("worker1", "tt1", "boss"):
        assert client.get(f"/versions/{draft['id']}/allowed-gaps", headers=h[who]).status_code == 403, who
    assert client.get(f"/versions/{draft['id']}/allowed-gaps").status_code == 401
    r = client.delete(url, params={"revision": draft["revision"]}, headers=plan)
    assert r.status_code == 404 and "no allowed gap LAKE" in r.json()["detail"]
    assert table_counts(engine) == before
    assert client.get(f"/versions/{draft['id']}", headers=plan).json()["revision"] == draft["revision"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM allowed_gap")).scalar_one() == 0
    # A GCJ-02 polygon is converted once, like unit edits.
    r = client.put(url, params={"revision": draft["revision"], "crs": "gcj02"}, json=feature(LAKE), headers=plan)
    assert r.status_code == 201
    stored = shapely.geometry.shape(r.json()["geometry"])
    assert 0 < stored.centroid.distance(LAKE.centroid) < 0.01  # moved by the GCJ-02 offset (hundreds of metres)


def test_the_cli_lists_allowed_gaps_and_refuses_the_rest(api: Api) -> None:
    client, h, engine = api
    url = engine.url.render_as_string(hide_password=False)
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "湖", "based_on": 2}, headers=plan).json()
    r = client.put(f"/versions/{draft['id']}/units/V2", params={"revision": draft["revision"]},
                   json=feature(sc.V2.difference(LAKE)), headers=plan)
    assert r.status_code == 200
    gridgov_fails(url, "version", "validate", str(draft["id"]))  # exit status 2: the lake is a gap
    revision = client.get(f"/versions/{draft['id']}", headers=plan).json()["revision"]
    r = client.put(f"/versions/{draft['id']}/allowed-gaps/LAKE", params={"revision": revision},
                   json=feature(LAKE, name="水库"), headers=plan)
    assert r.status_code == 201
    out = gridgov(url, "version", "validate", str(draft["id"]))
    assert "allowed gap 水库 (LAKE)" in out and "errors=0" in out and "allowed_gaps=1" in out


def test_migration_0005_goes_down_and_up(engine: Engine) -> None:
    current, head = schema_revision(engine)
    assert current == head and head is not None and head >= "0005"  # later migrations follow 0005
    downgrade(engine, "0004")
    with pytest.raises(sa.exc.DatabaseError), engine.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM allowed_gap"))
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM allowed_gap")).scalar_one() == 0
