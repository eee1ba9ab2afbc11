"""A planner's redraw end to end: edit a draft, see the located overlap, fix it, preview the impact (checked
against geopandas), publish for a future date, route before and after; diff and rollback round trip."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases import clock
from gis.crs import metres_per_degree
from gis.routing import Router
from store.db import session_factory, transaction
from store.repo import Repository
from store.routers import load_routing_data
from tests import routing_scenario as sc
from tests.conftest import table_counts
from tests.test_import import gridgov, gridgov_fails

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
STRIP = shapely.box(115.18, 36.0, 115.2, 36.2)  # moves from 城关镇 T1 to 东乡 T2


def feature(geometry: shapely.Geometry) -> dict[str, Any]:
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geometry), "properties": {}}


def put(client: TestClient, h: dict[str, str], version: dict[str, Any], code: str, geometry: shapely.Geometry) -> Any:
    r = client.put(f"/versions/{version['id']}/units/{code}", params={"revision": version["revision"]},
                   json=feature(geometry), headers=h)
    assert r.status_code == 200, r.text
    return r.json()["version"]


def townships(client: TestClient, h: dict[str, str], version: int) -> gpd.GeoDataFrame:
    fc = client.get("/units", params={"version": version, "layer": "township"}, headers=h).json()
    return gpd.GeoDataFrame.from_features(fc["features"], crs=4326)


def test_redraw_preview_publish_and_route_by_date(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "东乡西扩", "based_on": 2}, headers=plan).json()
    assert client.get(f"/versions/{draft['id']}/topology", headers=plan).json()["errors"] == 0
    # Open cases at random points outside the zones (whose rules outrank townships), plus one closed case.
    rng = np.random.default_rng(5)
    zones = shapely.union_all([sc.V1, sc.DEV, sh(sc.MARKET)])
    points: list[tuple[float, float]] = [(115.19, 36.09), (115.195, 36.15), (115.185, 36.095)]
    for x, y in zip(rng.uniform(115.0, 115.4, 400), rng.uniform(36.0, 36.2, 400), strict=True):
        far = all(abs(x - px) > 0.004 or abs(y - py) > 0.004 for px, py in points)  # no duplicate links
        if far and not zones.buffer(0.002).covers(shapely.Point(x, y)) and len(points) < 60:
            points.append((round(x, 6), round(y, 6)))
    closed_point = points.pop(2)
    ids = []
    for i, (x, y) in enumerate(points):
        r = client.post("/reports", headers=h["worker1"], json={
            "idempotency_key": f"redraw-{i:04d}", "matter": "M-STREET", "lon": x, "lat": y,
            "reported_at": "2026-03-02T09:30:00", "description": "占道"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    closed = client.post("/reports", headers=h["worker1"], json={
        "idempotency_key": "redraw-closed", "matter": "M-STREET", "lon": closed_point[0], "lat": closed_point[1],
        "reported_at": "2026-03-01T09:30:00"}).json()
    assert closed["team"] == "TT1"
    closed = client.post(f"/cases/{closed['id']}/actions", headers=h["tt1"], json={
        "revision": closed["revision"], "actions": [{"action": a} for a in ("arrive", "handle", "feedback")]}).json()
    assert client.post(f"/cases/{closed['id']}/actions", headers=h["boss"],
                       json={"revision": closed["revision"], "action": "close"}).json()["status"] == "closed"

    # 1. Grow 东乡 west: the overlap it creates is reported where it is.
    version = put(client, plan, draft, "T2", shapely.box(115.18, 36.0, 115.4, 36.2))
    report = client.get(f"/versions/{draft['id']}/topology", headers=plan).json()
    overlaps = [f for f in report["features"] if f["properties"]["check"] == "overlap"]
    assert [f["properties"]["codes"] for f in overlaps] == [["T1", "T2"]]
    assert shapely.geometry.shape(overlaps[0]["geometry"]).symmetric_difference(STRIP).area < 1e-12
    r = client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(clock.today() + timedelta(10))},
                    params={"revision": version["revision"]}, headers=plan)
    assert r.status_code == 409 and "topology error" in r.json()["detail"]
    # A stale edit is refused and changes nothing.
    before = table_counts(engine)
    r = client.put(f"/versions/{draft['id']}/units/T1", params={"revision": draft["revision"]},
                   json=feature(shapely.box(115.0, 36.0, 115.18, 36.2)), headers=plan)
    assert r.status_code == 409 and "reload it" in r.json()["detail"] and table_counts(engine) == before
    # 2. Fix it: villages follow, then 城关镇 shrinks; the checks run again after every fix.
    version = put(client, plan, version, "V4", shapely.box(115.18, 36.0, 115.4, 36.2))
    version = put(client, plan, version, "V2", shapely.box(115.1, 36.0, 115.18, 36.1))
    version = put(client, plan, version, "V3", shapely.box(115.0, 36.1, 115.18, 36.2))
    left = client.get(f"/versions/{draft['id']}/topology", headers=plan).json()
    assert sorted(f["properties"]["check"] for f in left["features"]) == ["gap", "overlap"]  # T1 still holds it
    version = put(client, plan, version, "T1", shapely.box(115.0, 36.0, 115.18, 36.2))
    checked = client.post(f"/versions/{draft['id']}/validate", params={"revision": version["revision"]},
                          headers=plan).json()
    assert (checked["valid"], checked["version"]["status"]) == (True, "validated")

    # 3. Impact: the open cases that would change owner are exactly those geopandas finds changing township.
    impact = client.get(f"/versions/{draft['id']}/impact", params={"against": 2, "day": "2026-12-01"},
                        headers=plan).json()
    old, new = townships(client, plan, 2), townships(client, plan, draft["id"])
    pts = gpd.GeoDataFrame({"id": ids}, geometry=gpd.points_from_xy(*zip(*points, strict=True)), crs=4326)
    before_t = gpd.sjoin(pts, old, predicate="within")[["id", "code"]].set_index("id")["code"]
    after_t = gpd.sjoin(pts, new, predicate="within")[["id", "code"]].set_index("id")["code"]
    expected = sorted(i for i in ids if before_t[i] != after_t[i])
    assert len(expected) >= 2 and len(ids) > 40
    assert sorted(c["case"] for c in impact["open_cases_changing_owner"]) == expected
    assert all(c["would_be"] == "TT2" for c in impact["open_cases_changing_owner"])
    assert impact["historical_cases_reattributed"] == 1  # the closed case in the strip
    strip_m2 = impact["townships"]["T2"]["gained_m2"]
    kx, ky = metres_per_degree(36.1)
    assert strip_m2 == impact["townships"]["T1"]["lost_m2"] and abs(strip_m2 / (STRIP.area * kx * ky) - 1) < 5e-3
    assert impact["workload"]["TT2"]["open_after"] - impact["workload"]["TT2"]["open_now"] == len(expected)
    # Per team: the area each gains and loses, against a face-by-face geopandas computation.
    teams_before = territories(client, plan, 2, date(2026, 12, 1))
    teams_after = territories(client, plan, draft["id"], date(2026, 12, 1))
    want = {}
    for team in sorted(set(teams_before.index) | set(teams_after.index)):
        old_t = gpd.GeoDataFrame(geometry=[teams_before.get(team, shapely.Polygon())], crs=4326)
        new_t = gpd.GeoDataFrame(geometry=[teams_after.get(team, shapely.Polygon())], crs=4326)
        gained = gpd.overlay(new_t, old_t, how="difference").area.sum() * kx * ky
        lost = gpd.overlay(old_t, new_t, how="difference").area.sum() * kx * ky
        if gained > 0.5 or lost > 0.5:
            want[team] = (gained, lost)
    got_teams = {t: (a["gained_m2"], a["lost_m2"]) for t, a in impact["teams"].items()}
    assert set(got_teams) == set(want) == {"TT1", "TT2"}
    for team, (gained, lost) in want.items():
        assert got_teams[team] == pytest.approx((gained, lost), rel=2e-3, abs=1.0), team
    # 城关镇's team loses the whole strip outside the development zone (the north half was a tie with 东乡's
    # claim on 北河村); 东乡's team gains only its south half: the north half was already its claim.
    south = shapely.box(115.18, 36.0, 115.2, 36.1).difference(sc.DEV)
    assert got_teams["TT1"] == pytest.approx((0.0, STRIP.difference(sc.DEV).area * kx * ky), rel=5e-3)
    assert got_teams["TT2"] == pytest.approx((south.area * kx * ky, 0.0), rel=5e-3)
    assert "最高优先级" in impact["team_area_means"]  # a note for a person: in the reader's language (zh-CN)

    # 4. Publish from a future date: the same point routes to the old team before it, the new one after.
    at = {"revision": checked["version"]["revision"]}  # the revision validated and previewed
    r = client.post(f"/versions/{draft['id']}/publish", json={"effective_from": "2020-01-01"}, params=at,
                    headers=plan)
    assert r.status_code == 409 and "rewrite" in r.json()["detail"]
    start = clock.today() + timedelta(days=10)
    before = client.post("/route", json={"lon": 115.19, "lat": 36.09, "matter": "M-STREET"}, headers=plan).json()
    assert before["version"]["effective_to"] is None  # the version in force, its router now built and cached
    assert client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(start)}, params=at,
                       headers=h["worker1"]).status_code == 403
    r = client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(start)}, params=at, headers=plan)
    assert r.status_code == 200 and r.json()["status"] == "published"
    for day, team in [(start - timedelta(days=1), "TT1"), (start, "TT2"), (start + timedelta(days=400), "TT2")]:
        got = client.post("/route", json={"lon": 115.19, "lat": 36.09, "matter": "M-STREET", "at": str(day)},
                          headers=plan).json()
        assert got["decisions"][0]["team"] == team, (day, got["decisions"][0]["team"])
        # The explanation names the version in force with its dates as they are now (the old one ends at start).
        assert got["version"]["id"] == (before["version"]["id"] if day < start else draft["id"])
        assert got["version"]["effective_to"] == (str(start) if day < start else None), got["version"]
    # The map of a date is that date's: units as of the day before and of the day itself.
    for day, version, t2 in [(start - timedelta(days=1), before["version"]["id"], sc.T2),
                             (start, draft["id"], shapely.box(115.18, 36.0, 115.4, 36.2))]:
        fc = client.get("/units", params={"layer": "township", "at": str(day)}, headers=plan).json()
        shown = {f["id"]: f for f in fc["features"]}
        assert {f["properties"]["version"] for f in fc["features"]} == {version}
        assert shapely.geometry.shape(shown["T2"]["geometry"]).symmetric_difference(t2).area < 1e-12, day
    none = client.get("/units", params={"at": "2000-01-01"}, headers=plan)
    assert none.status_code == 404 and "no boundary version was in force on 2000-01-01" in none.json()["detail"]
    # Open cases kept their owner: publishing does not re-route them.
    assert client.get(f"/cases/{ids[0]}", headers=h["boss"]).json()["team"] == "TT1"
    # Editing a published version is refused.
    r = client.put(f"/versions/{draft['id']}/units/T1", params={"revision": r.json()["revision"]},
                   json=feature(shapely.box(115.0, 36.0, 115.1, 36.2)), headers=plan)
    assert r.status_code == 409 and "published" in r.json()["detail"]


def move_strip(client: TestClient, plan: dict[str, str], draft: dict[str, Any]) -> dict[str, Any]:
    """The redraw of the test above in one go: STRIP from 城关镇 to 东乡; returns the version."""
    version = draft
    for code, box in (("T2", (115.18, 36.0, 115.4, 36.2)), ("V4", (115.18, 36.0, 115.4, 36.2)),
                      ("V2", (115.1, 36.0, 115.18, 36.1)), ("V3", (115.0, 36.1, 115.18, 36.2)),
                      ("T1", (115.0, 36.0, 115.18, 36.2))):
        version = put(client, plan, version, code, shapely.box(*box))
    assert client.get(f"/versions/{draft['id']}/topology", headers=plan).json()["errors"] == 0
    return version


def street_cases(client: TestClient, h: dict[str, dict[str, str]], key: str,
                 points: list[tuple[float, float]]) -> list[int]:
    """Street-vending reports by worker1 at these points (routed and dispatched); their case ids."""
    ids = []
    for i, (x, y) in enumerate(points):
        r = client.post("/reports", headers=h["worker1"], json={
            "idempotency_key": f"{key}-{i}", "matter": "M-STREET", "lon": x, "lat": y,
            "reported_at": "2026-03-02T09:30:00"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def case_rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(
            "SELECT id, team_code, status, revision, township_code, deadline FROM case_record"))}


def test_publish_from_today_reroutes_exactly_the_previewed_open_cases(api: Api) -> None:
    client, h, engine = api
    plan, boss, tt1 = h["plan"], h["boss"], h["tt1"]

    def report(key: str, x: float, y: float, matter: str = "M-STREET", **extra: Any) -> dict[str, Any]:
        r = client.post("/reports", headers=h["worker1"], json={
            "idempotency_key": f"reroute-{key}", "matter": matter, "lon": x, "lat": y,
            "reported_at": "2026-03-02T09:30:00", **extra})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def act(case: dict[str, Any], who: dict[str, str], *steps: dict[str, Any]) -> dict[str, Any]:
        r = client.post(f"/cases/{case['id']}/actions", headers=who,
                        json={"revision": case["revision"], "actions": list(steps)})
        assert r.status_code == 200, r.text
        return dict(r.json())

    # Open cases in the strip (south of the contested 北河村, outside the development zone) in every state,
    # and around it cases the redraw must leave alone. In the strip a street case goes to 东乡's team; a
    # noise case to the county bureau, since 东乡 does not hold noise (its delegation list).
    c: dict[str, dict[str, Any]] = {}
    c["dispatched"] = report("a", 115.19, 36.09)
    c["arrived"] = act(report("b", 115.185, 36.015), tt1, {"action": "arrive"})
    c["fed_back"] = act(report("c", 115.195, 36.085), tt1, *({"action": a} for a in ("arrive", "handle", "feedback")))
    c["suspended"] = act(report("d", 115.19, 36.005), boss, {"action": "suspend", "reason": "等待规划部门意见"})
    c["triage"] = report("e", 115.1998, 36.01, accuracy_m=50)  # near the old township line: held for triage
    c["noise"] = report("f", 115.185, 36.09, matter="M-NOISE")
    c["by_hand"] = act(report("g", 115.12, 36.09), boss, {"action": "transfer", "team": "TT2", "reason": "联合整治"})
    c["elsewhere"] = report("i", 115.3, 36.15)
    closed = act(report("h", 115.195, 36.095), tt1, *({"action": a} for a in ("arrive", "handle", "feedback")))
    closed = act(closed, boss, {"action": "close"})
    assert [c[k]["team"] for k in ("dispatched", "arrived", "fed_back", "suspended", "triage", "noise")] == ["TT1"] * 6
    assert (c["triage"]["status"], c["triage"]["triage"]) == ("reported", "near_boundary")
    assert (c["by_hand"]["team"], c["elsewhere"]["team"], closed["status"]) == ("TT2", "TT2", "closed")

    draft = client.post("/versions", json={"name": "东乡西扩", "based_on": 2}, headers=plan).json()
    version = move_strip(client, plan, draft)
    preview = client.get(f"/versions/{draft['id']}/impact", headers=plan).json()  # against today's version, today
    listed = {x["case"]: x for x in preview["open_cases_changing_owner"]}
    ids = {k: v["id"] for k, v in c.items()}
    plan_for = {"dispatched": ("transfer", "TT2"), "arrived": ("transfer", "TT2"), "fed_back": ("keep", "TT2"),
                "suspended": ("keep", "TT2"), "triage": ("reassign", "TT2"), "noise": ("transfer", "BUREAU")}
    # The case moved by hand stays out: the redraw does not move its place (the old and new answers agree).
    assert {k: (listed[ids[k]]["on_reroute"], listed[ids[k]]["would_be"]) for k in plan_for} == plan_for
    assert set(listed) == {ids[k] for k in plan_for}
    assert all("kept_because" in listed[ids[k]] for k in ("fed_back", "suspended"))
    # Workload after a re-route: the four that move leave 城关镇's team; the fed-back and suspended ones stay.
    assert preview["workload"]["TT1"]["open_now"] - preview["workload"]["TT1"]["open_after"] == 4
    assert preview["workload"]["BUREAU"]["open_after"] - preview["workload"]["BUREAU"]["open_now"] == 1

    # Refused, each with nothing changed: re-routing for a future date, a stale revision, no revision.
    before, cases_before = table_counts(engine), case_rows(engine)
    url = f"/versions/{draft['id']}/publish"
    today = str(clock.today())
    r = client.post(url, params={"revision": version["revision"]}, headers=plan,
                    json={"effective_from": str(clock.today() + timedelta(days=1)), "reroute_open_cases": True})
    assert r.status_code == 422 and "today" in r.json()["detail"] and r.json()["where"] == "reroute_open_cases"
    r = client.post(url, params={"revision": version["revision"] - 1}, headers=plan,
                    json={"effective_from": today, "reroute_open_cases": True})
    assert r.status_code == 409 and r.json()["where"] == "revision" and "publish the revision" in r.json()["detail"]
    assert client.post(url, headers=plan, json={"effective_from": today}).status_code == 422
    r = client.post(url, params={"revision": version["revision"]}, headers=plan,  # not the preview's list
                    json={"effective_from": today, "reroute_open_cases": True, "expected_cases": sorted(listed)[1:]})
    assert r.status_code == 409 and r.json()["where"] == "expected_cases" and "preview again" in r.json()["detail"]
    r = client.post(url, params={"revision": version["revision"]}, headers=plan,
                    json={"effective_from": today, "expected_cases": sorted(listed)})
    assert r.status_code == 422 and "goes with reroute_open_cases" in r.json()["detail"]
    assert table_counts(engine) == before and case_rows(engine) == cases_before
    assert client.get(f"/versions/{draft['id']}", headers=plan).json()["status"] == "draft"

    r = client.post(url, params={"revision": version["revision"]}, headers=plan,
                    json={"effective_from": today, "reroute_open_cases": True, "expected_cases": sorted(listed)})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["effective_from"]) == ("published", today)
    moved = {x["case"]: x for x in out["reroute"]["rerouted"]}
    assert {x["case"] for x in out["reroute"]["kept"]} == {ids["fed_back"], ids["suspended"]}
    # Exactly the previewed cases moved, each to the team the preview named; nothing else changed.
    assert set(moved) == {i for i, x in listed.items() if x["on_reroute"] != "keep"}
    assert all(moved[i]["to"] == listed[i]["would_be"] and moved[i]["how"] == listed[i]["on_reroute"] for i in moved)
    after = case_rows(engine)
    for i, row in cases_before.items():
        if i in moved:
            team, status, revision, township, deadline = after[i]
            assert (team, revision, township, deadline) == (listed[i]["would_be"], row[2] + 1, "T2", row[4])
            assert status == ("reported" if i == ids["triage"] else "dispatched")  # arrived goes back to dispatched
        else:
            assert after[i] == row, i
    # The transfer carries the new routing explanation, by the planner, naming the version.
    last = client.get(f"/cases/{ids['arrived']}/history", headers=boss).json()[-1]
    assert (last["action"], last["actor"], last["from"], last["to"]) == ("transfer", "plan", "arrived", "dispatched")
    assert last["detail"]["to_team"] == "TT2" and last["detail"]["routing"]["version"] == draft["id"]
    assert f"区划版本 {draft['id']}" in last["reason"]  # stored in the deployment's language (zh-CN by default)
    last = client.get(f"/cases/{ids['triage']}/history", headers=boss).json()[-1]
    assert (last["action"], last["detail"]["from_team"], last["detail"]["to_team"]) == ("reroute", "TT1", "TT2")
    # 东乡's team now holds them; the router agrees for today.
    mine = {x["id"] for x in client.get("/cases", headers=h["tt2"]).json()}
    assert {ids["dispatched"], ids["arrived"], ids["triage"]} <= mine
    got = client.post("/route", json={"lon": 115.19, "lat": 36.09, "matter": "M-STREET"}, headers=plan).json()
    assert (got["decisions"][0]["team"], got["version"]["id"]) == ("TT2", draft["id"])


def test_a_case_changed_while_publishing_stops_the_whole_publish(api: Api) -> None:
    """A dispatcher's change to a listed case, written while the publish runs: the publish (and every other
    case it would have moved) is refused as a whole, and the dispatcher's change stands."""
    import threading
    import time

    client, h, engine = api
    plan = h["plan"]
    ids = street_cases(client, h, "race-case", [(115.19, 36.09), (115.185, 36.015), (115.195, 36.01)])
    assert {client.get(f"/cases/{i}", headers=h["boss"]).json()["team"] for i in ids} == {"TT1"}
    draft = client.post("/versions", json={"name": "东乡西扩", "based_on": 2}, headers=plan).json()
    version = move_strip(client, plan, draft)
    listed = [c["case"] for c in client.get(f"/versions/{draft['id']}/impact", headers=plan).json()[
        "open_cases_changing_owner"]]
    assert sorted(listed) == sorted(ids)
    before = case_rows(engine)
    # The dispatcher's write: holds the case's row (PostgreSQL) or the write lock (SQLite) for half a second.
    dispatcher = engine.connect()
    tx = dispatcher.begin()
    dispatcher.execute(sa.text("UPDATE case_record SET team_code = 'TT2', revision = revision + 1 WHERE id = :id"),
                       {"id": ids[-1]})
    threading.Thread(target=lambda: (time.sleep(0.5), tx.commit(), dispatcher.close())).start()
    r = client.post(f"/versions/{draft['id']}/publish", params={"revision": version["revision"]}, headers=plan,
                    json={"effective_from": str(clock.today()), "reroute_open_cases": True, "expected_cases": listed})
    assert r.status_code == 409 and "preview again" in r.json()["detail"], r.text
    assert client.get(f"/versions/{draft['id']}", headers=plan).json()["status"] == "draft"
    after = case_rows(engine)
    assert after[ids[-1]][:3] == ("TT2", before[ids[-1]][1], before[ids[-1]][2] + 1)  # the dispatcher's change
    assert {i: after[i] for i in ids[:-1]} == {i: before[i] for i in ids[:-1]}  # nothing moved by the publish


def test_a_version_in_force_reroutes_the_cases_its_preview_lists(api: Api) -> None:
    """A version published without re-routing (as one published for a later day is, until its day comes): once in
    force, POST /versions/{id}/reroute moves the cases the impact against its predecessor lists, once."""
    client, h, engine = api
    plan = h["plan"]
    ids = street_cases(client, h, "later-case", [(115.19, 36.09), (115.185, 36.015), (115.3, 36.05)])
    draft = client.post("/versions", json={"name": "东乡西扩", "based_on": 2}, headers=plan).json()
    version = move_strip(client, plan, draft)
    r = client.post(f"/versions/{draft['id']}/publish", params={"revision": version["revision"]}, headers=plan,
                    json={"effective_from": str(clock.today())})
    assert r.status_code == 200 and "reroute" not in r.json()
    later = client.post("/versions", json={"name": "下周", "based_on": draft["id"]}, headers=plan).json()
    r = client.post(f"/versions/{later['id']}/publish", params={"revision": later["revision"]}, headers=plan,
                    json={"effective_from": str(clock.today() + timedelta(days=5))})
    assert r.status_code == 200, r.text
    # The preview of a published version compares it with the version it succeeded (2): the two strip cases.
    preview = client.get(f"/versions/{draft['id']}/impact", headers=plan).json()
    listed = sorted(c["case"] for c in preview["open_cases_changing_owner"])
    assert preview["current"] == 2 and listed == ids[:2]
    before = case_rows(engine)
    url = f"/versions/{draft['id']}/reroute"
    refused = [
        (client.post(f"/versions/{later['id']}/reroute", json={}, headers=plan), 409, "takes effect on"),
        (client.post("/versions/2/reroute", json={}, headers=plan), 409, "no longer in force"),
        (client.post(url, json={"expected_cases": ids}, headers=plan), 409, "preview again"),
        (client.post(url, json={"expected_cases": listed}, headers=h["boss"]), 403, "planner"),
    ]
    for resp, status, words in refused:
        assert (resp.status_code, words in resp.text) == (status, True), resp.text
    assert case_rows(engine) == before
    r = client.post(url, json={"expected_cases": listed}, headers=plan)
    assert r.status_code == 200, r.text
    assert sorted(x["case"] for x in r.json()["rerouted"]) == listed and r.json()["kept"] == []
    after = case_rows(engine)
    assert [after[i][0] for i in ids] == ["TT2", "TT2", "TT2"] and after[ids[2]] == before[ids[2]]
    # Done once: the preview lists nothing more, and asking again moves nothing.
    assert client.get(f"/versions/{draft['id']}/impact", headers=plan).json()["open_cases_changing_owner"] == []
    assert client.post(url, json={"expected_cases": []}, headers=plan).json()["rerouted"] == []


def test_bad_unit_edits_are_clear_4xx_and_change_nothing(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "试改", "based_on": 2}, headers=plan).json()
    before = table_counts(engine)
    bowtie = {"type": "Polygon", "coordinates": [[[115.0, 36.0], [115.1, 36.1], [115.1, 36.0], [115.0, 36.1],
                                                  [115.0, 36.0]]]}
    for body, params, text in [
        ({"type": "Feature", "geometry": bowtie, "properties": {}}, {}, "Self-intersection"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}, {}, "empty"),
        ({"type": "Feature", "geometry": feature(shapely.box(500000, 4000000, 510000, 4010000))["geometry"],
          "properties": {}}, {}, "projected metres"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [115.1, 36.1]}, "properties": {}}, {},
         "Polygon or MultiPolygon"),
        ({"type": "Feature", "geometry": feature(shapely.box(115.0, 36.0, 115.3, 36.1))["geometry"],
          "properties": {}}, {}, "outside its parent"),
        ({"type": "Feature", "geometry": None, "properties": {"parent_code": "NOPE"}}, {}, "unknown parent code"),
        ({"type": "Feature", "geometry": feature(shapely.box(115.0, 36.0, 115.1, 36.1))["geometry"],
          "properties": {}}, {"crs": "mars"}, "mars"),
    ]:
        r = client.put(f"/versions/{draft['id']}/units/V1", params={"revision": draft["revision"], **params},
                       json=body, headers=plan)
        assert r.status_code == 422 and text in r.json()["detail"], (text, r.text)
    r = client.put("/versions/1/units/V1", params={"revision": 0}, json=feature(shapely.box(115, 36, 115.1, 36.1)),
                   headers=plan)
    assert r.status_code == 409 and "published" in r.json()["detail"]
    r = client.delete(f"/versions/{draft['id']}/units/T1", params={"revision": draft["revision"]}, headers=plan)
    assert r.status_code == 409 and "parent of" in r.json()["detail"]
    # A diff against a version that does not exist names it (it is not an empty version with every unit "added").
    for params in ({"from": 999, "to": 2}, {"from": 2, "to": 999}):
        r = client.get("/versions/diff", params=params, headers=plan)
        assert r.status_code == 404 and "no boundary version 999" in r.json()["detail"], r.text
    # The impact preview lists open cases of every team: not for grid workers or team members.
    for who in ("worker1", "tt1"):
        r = client.get(f"/versions/{draft['id']}/impact", params={"against": 2}, headers=h[who])
        assert r.status_code == 403 and "planner" in r.json()["detail"], r.text
    for who in ("plan", "boss", "audit"):
        assert client.get(f"/versions/{draft['id']}/impact", params={"against": 2}, headers=h[who]).status_code == 200
    assert table_counts(engine) == before


def test_diff_and_rollback_round_trip(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "改", "based_on": 2}, headers=plan).json()
    version = put(client, plan, draft, "V2", shapely.box(115.12, 36.0, 115.2, 36.1))
    version = put(client, plan, version, "V1", shapely.box(115.0, 36.0, 115.12, 36.1))
    start = clock.today() + timedelta(days=3)
    assert client.post(f"/versions/{draft['id']}/publish", json={"effective_from": str(start)},
                       params={"revision": version["revision"]}, headers=plan).status_code == 200
    diff = client.get("/versions/diff", params={"from": 2, "to": draft["id"]}, headers=plan).json()
    changed = {c["code"]: c for c in diff["units"]["changed"]}
    assert set(changed) == {"V1", "V2"} and diff["units"]["added"] == diff["units"]["removed"] == []
    assert changed["V1"]["area_gained_m2"] == changed["V2"]["area_lost_m2"] > 0
    back = client.post("/versions/2/rollback", json={"effective_from": str(start + timedelta(days=5))},
                       headers=plan).json()
    # Its name is written in the deployment's language (zh-CN by default), like the case log's texts.
    assert back["status"] == "published" and back["name"].startswith("回滚到 ")
    undo = client.get("/versions/diff", params={"from": 2, "to": back["id"]}, headers=plan).json()
    assert undo["units"] == {"added": [], "removed": [], "changed": []} and undo["rules"]["changed"] == []
    # Routing under the rollback equals routing under the version it restores, for 10^4 random points.
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        original = Router(load_routing_data(repo, repo.version(2)))
        restored = Router(load_routing_data(repo, repo.version(back["id"])))
        edited = Router(load_routing_data(repo, repo.version(draft["id"])))
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(114.95, 115.45, 10_000), rng.uniform(35.95, 36.25, 10_000)
    for matter in ("M-STREET", "M-LAND", "M-NOISE", "M-POLL"):
        day = start + timedelta(days=30)
        a = original.route_table(lon, lat, matter, day)
        b = restored.route_table(lon, lat, matter, day)
        assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a), matter
        for x, y in zip(lon[:300], lat[:300], strict=True):  # and the same units are selected, one by one
            ua = [(u.code, u.selected) for u in original.explain(float(x), float(y), matter, day).units]
            assert ua == [(u.code, u.selected) for u in restored.explain(float(x), float(y), matter, day).units]
    moved = edited.route_table(lon, lat, "M-STREET", day)
    assert moved["distance_m"] != a["distance_m"]  # the edit did change something the rollback undid


def territories(client: TestClient, h: dict[str, str], version: int, day: date) -> Any:
    """Team -> territory, independently: cut the county into faces along every rule scope's boundary, give
    each face to the teams of the highest-priority unit- or cell-scoped rules covering its inner point (sjoin),
    dissolve by team."""
    units = gpd.GeoDataFrame.from_features(
        client.get("/units", params={"version": version}, headers=h).json()["features"], crs=4326).set_index("code")
    rows = []
    for r in client.get("/rules", params={"version": version}, headers=h).json():
        start, end = r["effective_from"], r["effective_to"]
        if (start and date.fromisoformat(start) > day) or (end and date.fromisoformat(end) <= day):
            continue
        if r["scope"]["type"] == "unit":
            rows.append((r["priority"], r["team_code"], units.geometry[r["scope"]["unit_code"]]))
        elif r["scope"]["type"] == "cells":
            rows.append((r["priority"], r["team_code"], sh(r["scope"]["cells"])))
    scopes = gpd.GeoDataFrame({"priority": [p for p, _, _ in rows], "team": [t for _, t, _ in rows]},
                              geometry=[g for _, _, g in rows], crs=4326)
    faces = gpd.GeoDataFrame(geometry=list(shapely.get_parts(shapely.polygonize(
        [shapely.union_all(scopes.boundary.tolist())]))), crs=4326)
    inner = gpd.GeoDataFrame({"face": range(len(faces))}, geometry=faces.representative_point(), crs=4326)
    hits = gpd.sjoin(inner, scopes, predicate="within")
    top = hits[hits["priority"] == hits.groupby("face")["priority"].transform("max")]
    owned = gpd.GeoDataFrame({"team": top["team"].to_numpy()},
                             geometry=faces.geometry.iloc[top["face"].to_numpy()].to_numpy(), crs=4326)
    return owned.dissolve("team").geometry


def sh(cells: list[str]) -> shapely.Geometry:
    return shapely.union_all([shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in cells])


def test_planner_cli_validate_publish_diff_rollback(loaded: Engine, database_url: str, tmp_path: Path) -> None:
    assert gridgov(database_url, "version", "create", "东乡西扩", "--based-on", "2").strip() == "created version=3"
    with transaction(session_factory(loaded)) as session:  # an overlap, as a hurried redraw leaves it
        Repository(session).add_units(3, [sc.units()[2].model_copy(update={
            "geometry": shapely.MultiPolygon([shapely.box(115.18, 36.0, 115.4, 36.2)])})], replace=True)
    problems = tmp_path / "problems.geojson"
    gridgov_fails(database_url, "version", "validate", "3", "--geojson", str(problems))
    out = json.loads(problems.read_text(encoding="utf-8"))
    found = {(f["properties"]["check"], tuple(f["properties"]["codes"])) for f in out["features"]}
    assert ("overlap", ("T1", "T2")) in found and ("gap", ("T2",)) in found and out["valid"] is False
    future = clock.today() + timedelta(days=30)
    assert "topology error" in gridgov_fails(database_url, "version", "publish", "3", "--effective-from", str(future))
    with transaction(session_factory(loaded)) as session:  # undo it
        Repository(session).add_units(3, [sc.units()[2]], replace=True)
    assert "status=validated errors=0" in gridgov(database_url, "version", "validate", "3")
    assert "would rewrite" in gridgov_fails(database_url, "version", "publish", "3", "--effective-from", "2026-01-02")
    assert "changed since revision 1" in gridgov_fails(database_url, "version", "publish", "3", "--effective-from",
                                                       str(future), "--revision", "1")
    assert "takes effect today" in gridgov_fails(database_url, "version", "publish", "3", "--effective-from",
                                                 str(future), "--reroute-open-cases")
    today = clock.today()
    out_line = gridgov(database_url, "version", "publish", "3", "--effective-from", str(today), "--reroute-open-cases")
    assert f"published version=3 effective_from={today} rerouted=0 kept=0" in out_line  # the scenario has no cases
    diff = json.loads(gridgov(database_url, "version", "diff", "2", "3"))
    assert diff["units"] == {"added": [], "removed": [], "changed": []}
    out_line = gridgov(database_url, "version", "rollback", "1", "--effective-from", str(future + timedelta(days=1)))
    assert "rollback_of=1" in out_line
    diff = json.loads(gridgov(database_url, "version", "diff", "2", "4"))
    assert diff["rules"]["removed"] == ["R-V3-CLAIM"]  # version 1 had no claim on 北河村


def test_who_owns_a_contested_yard_as_of_a_date(api: Api) -> None:
    client, h, _ = api
    yard = shapely.box(115.19, 36.09, 115.21, 36.095)  # across the 城关镇 / 东乡 line
    r = client.post("/disputes/area", json={"geometry": shapely.geometry.mapping(yard), "matter": "M-STREET",
                                            "at": "2026-05-01"}, headers=h["boss"])
    assert r.status_code == 200, r.text
    got = r.json()
    towns = gpd.GeoDataFrame({"code": ["T1", "T2"]}, geometry=[sc.T1, sc.T2], crs=4326)
    pieces = gpd.overlay(gpd.GeoDataFrame(geometry=[yard], crs=4326), towns, how="intersection")
    expected = {c: a / yard.area for c, a in zip(pieces["code"], pieces.geometry.area, strict=True)}
    shares = {u["code"]: u["share"] for u in got["units"] if u["layer"] == "township"}
    assert shares == pytest.approx(expected, abs=1e-6)
    assert {t["team"]: t["share"] for t in got["teams"]} == pytest.approx({"TT1": expected["T1"],
                                                                          "TT2": expected["T2"]}, abs=1e-6)
    kx, ky = metres_per_degree(yard.centroid.y)
    assert got["area_m2"] == pytest.approx(yard.area * kx * ky, rel=1e-6)
    # 北河村 V3: claimed by both townships from 2026 (a dispute), held by 城关镇 alone before.
    north = shapely.geometry.mapping(shapely.box(115.05, 36.15, 115.06, 36.16))
    before = client.post("/disputes/area", json={"geometry": north, "matter": "M-STREET", "at": "2025-06-01"},
                         headers=h["boss"]).json()
    after = client.post("/disputes/area", json={"geometry": north, "matter": "M-STREET", "at": "2026-06-01"},
                        headers=h["boss"]).json()
    assert [(t["team"], t["share"]) for t in before["teams"]] == [("TT1", 1.0)] and before["version"] == 1
    assert after["status"] == {"dispute": 1.0} and after["version"] == 2
    for geometry, text in [({"type": "Polygon", "coordinates": []}, "empty"),
                           ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
                            "Self-intersection"),
                           (shapely.geometry.mapping(shapely.box(500000, 4e6, 500100, 4.0001e6)), "projected")]:
        r = client.post("/disputes/area", json={"geometry": geometry, "matter": "M-STREET"}, headers=h["boss"])
        assert r.status_code == 422 and text in r.json()["detail"], r.text


def test_split_merge_and_rule_edits_in_a_draft(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "拆乡", "based_on": 2}, headers=plan).json()
    cut = shapely.geometry.mapping(shapely.LineString([(115.3, 35.9), (115.3, 36.3)]))

    def split(code: str, new_code: str, revision: int) -> Any:
        return client.post(f"/versions/{v['id']}/units/{code}/split", params={"revision": revision},
                           json={"line": cut, "at": [115.35, 36.1], "new_code": new_code, "new_name": new_code},
                           headers=plan)

    before = table_counts(engine)
    r = split("T2", "T5", v["revision"])  # the village V4 straddles the line: refused, naming it
    assert r.status_code == 422 and "50.00% of 东村 (V4) lies outside its parent T5" in r.json()["detail"]
    assert table_counts(engine) == before
    # From the children up: split the village, then the township.
    first = split("V4", "V5", v["revision"]).json()
    second = split("T2", "T5", first["version"]["revision"])
    assert second.status_code == 200 and second.json()["children_moved"] == ["V5"]
    units = {f["id"]: f for f in client.get("/units", params={"version": v["id"]}, headers=plan).json()["features"]}
    areas = {c: shapely.geometry.shape(units[c]["geometry"]).area for c in ("T2", "T5", "V4", "V5")}
    assert areas["T2"] + areas["T5"] == pytest.approx(sc.T2.area, rel=1e-12)
    assert areas["T2"] == pytest.approx(shapely.box(115.2, 36.0, 115.3, 36.2).area, rel=1e-12)
    assert units["V5"]["properties"]["parent_code"] == "T5"
    # No rule names the new township yet: its delegated matter is a located rule gap (it passed as 0 errors).
    topology = client.get(f"/versions/{v['id']}/topology", headers=plan).json()
    assert [(f["properties"]["check"], f["properties"]["codes"]) for f in topology["features"]
            if f["properties"]["severity"] == "error"] == [("rule_gap", ["T5"])]
    delegations = client.get("/delegations", params={"version": v["id"]}, headers=plan).json()
    assert {d["matter_code"] for d in delegations if d["township_code"] == "T5"} == {"M-STREET"}  # copied
    revision = second.json()["version"]["revision"]
    # A rule for the new township, then the delegation list changes who gets noise complaints there.
    rule = {"code": "R-T5", "priority": 20, "scope": {"type": "unit", "unit_code": "T5"},
            "matters": {"type": "delegated"}, "team_code": "TT2"}
    r = client.put(f"/versions/{v['id']}/rules/R-T5", params={"revision": revision}, json=rule, headers=plan)
    assert r.status_code == 201, r.text
    r = client.put(f"/versions/{v['id']}/rules/R-T5", params={"revision": revision}, json=rule, headers=plan)
    assert r.status_code == 409  # stale
    bad = {**rule, "team_code": "NOPE"}
    r = client.put(f"/versions/{v['id']}/rules/R-T5", params={"revision": revision + 1}, json=bad, headers=plan)
    assert r.status_code == 422 and "unknown team code NOPE" in r.json()["detail"]
    r = client.put(f"/versions/{v['id']}/delegations", params={"revision": revision + 1},
                   json=[*delegations, {"township_code": "T5", "matter_code": "M-NOISE"}], headers=plan)
    assert r.status_code == 200 and r.json()["delegations"] == len(delegations) + 1
    assert client.get(f"/versions/{v['id']}/topology", headers=plan).json()["errors"] == 0  # R-T5 closed it
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        router = Router(load_routing_data(repo, repo.version(v["id"])))
    assert router.owner(115.35, 36.1, "M-NOISE", date(2026, 6, 1)) == "TT2"  # T5 now holds noise
    assert router.owner(115.25, 36.1, "M-NOISE", date(2026, 6, 1)) == "BUREAU"  # T2 still does not
    # Merge them back: areas, children, rules and delegations follow the surviving code.
    revision = r.json()["version"]["revision"]
    merged = client.post(f"/versions/{v['id']}/merge", params={"revision": revision},
                         json={"codes": ["T2", "T5"], "into": "T2"}, headers=plan).json()
    assert merged["children_moved"] == ["V5"] and merged["rules_retargeted"] == ["R-T5"]
    t2 = client.get("/units/T2", params={"version": v["id"]}, headers=plan).json()
    assert shapely.geometry.shape(t2["geometry"]).symmetric_difference(sc.T2).area < 1e-12
    r = client.post(f"/versions/{v['id']}/merge", params={"revision": merged["version"]["revision"]},
                    json={"codes": ["T1", "V1"], "into": "T1"}, headers=plan)
    assert r.status_code == 422 and "one layer" in r.json()["detail"]
    bad_cut = shapely.geometry.mapping(shapely.LineString([(115.25, 36.05), (115.26, 36.06)]))
    r = client.post(f"/versions/{v['id']}/units/T1/split", params={"revision": merged["version"]["revision"]},
                    json={"line": bad_cut, "at": [115.1, 36.1], "new_code": "T9", "new_name": "x"}, headers=plan)
    assert r.status_code == 422 and "cuts 城关镇 (T1) into 1 part" in r.json()["detail"]
