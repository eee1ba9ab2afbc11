"""The data behind the map pages: the wall's live case feed (scope, cursor, finished cases), H3 hotspots
checked against h3 itself, cell outlines, the local basemap, and clear 4xx for bad input."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import h3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from tests.conftest import table_counts
from tests.test_intake import report
from web.pages import PAGES

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
SEAT = (115.17, 36.09)  # T1: M-STREET → TT1
EAST = (115.30, 36.15)  # T2: M-STREET → TT2


def now_report(lon: float, lat: float, **extra: Any) -> dict[str, Any]:
    return {**report(lon, lat, **extra), "reported_at": datetime.now().isoformat(timespec="seconds")}


def rows(feed: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r[0]: dict(zip(feed["columns"], r, strict=True)) for r in feed["cases"]}


def test_feed_scope_cursor_and_finished_cases(api: Api) -> None:
    client, h, _ = api
    a = client.post("/reports", json=now_report(*SEAT), headers=h["worker1"]).json()
    b = client.post("/reports", json=now_report(*EAST), headers=h["worker2"]).json()
    assert (a["team"], b["team"]) == ("TT1", "TT2")
    first = client.get("/wall/cases", headers=h["boss"]).json()
    assert {a["id"], b["id"]} <= set(rows(first)) and rows(first)[a["id"]]["status"] == "dispatched"
    assert set(rows(client.get("/wall/cases", headers=h["tt1"]).json())) == {a["id"]}  # a team sees its own
    assert set(rows(client.get("/wall/cases", headers=h["worker2"]).json())) == {b["id"]}  # a worker, their reports
    assert client.get("/wall/cases", headers=h["plan"]).status_code == 403
    assert client.get("/wall/cases").status_code == 401
    # After the cursor: only what changed, finished cases included so the wall can drop them.
    cursor = first["cursor"]
    time.sleep(0.01)
    case = client.get(f"/cases/{a['id']}", headers=h["tt1"]).json()
    r = client.post(f"/cases/{a['id']}/actions", headers=h["tt1"], json={"revision": case["revision"], "actions": [
        {"action": "arrive"}, {"action": "handle"}, {"action": "feedback"}]})
    assert r.status_code == 200, r.text
    case = r.json()
    r = client.post(f"/cases/{a['id']}/actions", headers=h["boss"],
                    json={"revision": case["revision"], "action": "close"})
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    later = rows(client.get("/wall/cases", params={"since": cursor}, headers=h["boss"]).json())
    assert later[a["id"]]["status"] == "closed"
    # Cursors overlap on purpose (a commit may land just after a poll): b may come again, never be missed.
    assert set(later) <= {a["id"], b["id"]}


def test_feed_refuses_bad_input(api: Api) -> None:
    client, h, _ = api
    future = (datetime.now() + timedelta(days=1)).isoformat()
    for params, text in [({"since": future}, "since lies in the future"), ({"since": "yesterday"}, "since"),
                         ({"limit": 0}, "limit"), ({"recent_hours": -1}, "recent_hours")]:
        r = client.get("/wall/cases", params=params, headers=h["boss"])
        assert r.status_code == 422 and text in r.json()["detail"], r.text
    for _ in range(3):
        client.post("/reports", json=now_report(*SEAT), headers=h["worker1"])
    r = client.get("/wall/cases", params={"limit": 2}, headers=h["boss"])
    assert r.status_code == 413 and "poll more often" in r.json()["detail"]


def test_hotspots_match_h3_and_refuse_bad_input(api: Api) -> None:
    client, h, engine = api
    points = [(115.17, 36.09), (115.1701, 36.0901), (115.30, 36.15), (115.05, 36.05), (115.3001, 36.1502)]
    for lon, lat in points:
        assert client.post("/reports", json=now_report(lon, lat), headers=h["worker1"]).status_code == 201
    client.post("/reports", json=now_report(115.12, 36.12, matter="M-LAND"), headers=h["worker1"])
    for res in (6, 8, 10):
        r = client.get("/hotspots", params={"res": res, "matter": "M-STREET"}, headers=h["boss"]).json()
        want = Counter(h3.latlng_to_cell(lat, lon, res) for lon, lat in points)
        assert {c["h"]: c["n"] for c in r["cells"]} == dict(want) and r["total"] == len(points)
        for c in r["cells"]:  # outlines are the cells' own boundaries, as lon,lat pairs
            ring = h3.cell_to_boundary(c["h"])
            assert c["b"][:2] == pytest.approx([ring[0][1], ring[0][0]], abs=1e-6)
    both = client.get("/hotspots", params={"res": 8, "matter": "M-STREET,M-LAND"}, headers=h["boss"]).json()
    assert both["total"] == len(points) + 1
    boxed = client.get("/hotspots", params={"res": 8, "bbox": "115.25,36.1,115.35,36.2"}, headers=h["boss"]).json()
    assert boxed["total"] == 2
    # `days` is a window ending at the server's now: a report from three days ago is in 5 days, not in 2.
    old = {**report(115.2, 36.1), "reported_at": (datetime.now() - timedelta(days=3)).isoformat(timespec="seconds")}
    assert client.post("/reports", json=old, headers=h["worker1"]).status_code == 201
    five = client.get("/hotspots", params={"res": 8, "days": 5, "matter": "M-STREET"}, headers=h["boss"]).json()
    two = client.get("/hotspots", params={"res": 8, "days": 2, "matter": "M-STREET"}, headers=h["boss"]).json()
    assert (five["total"], two["total"]) == (len(points) + 1, len(points))
    assert datetime.fromisoformat(five["to"]) - datetime.fromisoformat(five["from"]) == timedelta(days=5)
    # A worker's hotspots count only the cases in their scope (history aside).
    assert client.get("/hotspots", params={"res": 8}, headers=h["worker2"]).json()["total"] == 0
    before = table_counts(engine)
    for params, status, text in [
        ({"res": 3}, 422, "res"), ({"res": 12}, 422, "res"),
        ({"matter": "M-NOPE"}, 422, "unknown matter code(s) M-NOPE"),
        ({"bbox": "1,2,3"}, 422, "four numbers"), ({"bbox": "10,5,0,6"}, 422, "west ≤ east"),
        ({"from": "2026-05-02T00:00:00", "to": "2026-05-01T00:00:00"}, 422, "window is empty"),
        ({"days": 0}, 422, "days"), ({"days": 3, "from": "2026-05-01T00:00:00"}, 422, "not both")]:
        r = client.get("/hotspots", params=params, headers=h["boss"])
        assert r.status_code == status and text in r.json()["detail"], r.text
    assert client.get("/hotspots").status_code == 401
    assert table_counts(engine) == before


def test_cells_of_a_version(api: Api) -> None:
    client, h, _ = api
    plan = h["plan"]
    v = client.post("/versions", json={"name": "cells", "based_on": 2}, headers=plan).json()
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(36.05, 115.05, 9), 1))  # inside V1
    r = client.put(f"/versions/{v['id']}/units/G1", params={"revision": v["revision"]}, headers=plan, json={
        "type": "Feature", "geometry": None,
        "properties": {"name": "网格一", "layer": "grid", "kind": "grid", "parent_code": "V1", "cells": cells}})
    assert r.status_code == 201, r.text
    got = client.get("/cells", params={"version": v["id"]}, headers=plan).json()
    assert sorted((c["h"], c["unit"], c["parent_code"]) for c in got["cells"]) == [(c, "G1", "V1") for c in cells]
    assert client.get("/cells", params={"version": 2}, headers=plan).json()["cells"] == []
    assert client.get("/cells", params={"version": 999}, headers=h["plan"]).status_code == 404


def test_pages_and_policy(api: Api, database_url: str) -> None:
    client, h, _ = api
    for name in PAGES:
        r = client.get(f"/{name}")
        assert r.status_code == 200 and "/static/vendor/leaflet/leaflet.js" in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "demo_user\": null" in r.text  # no automatic sign-in outside the demo
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/basemap/1/0/0").status_code == 404  # none unless configured (tests/test_basemap.py)
    intranet = TestClient(create_app(get_settings(database_url=database_url,
                                                  basemap_url="http://tiles.gov.local/{z}/{x}/{y}.png")))
    page = intranet.get("/wall")
    assert "http://tiles.gov.local/{z}/{x}/{y}.png" in page.text
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob: http://tiles.gov.local" in policy and "connect-src 'self'" in policy


def test_large_answers_are_gzipped_for_clients_that_take_it(api: Api) -> None:
    client, h, _ = api
    for _ in range(30):
        client.post("/reports", json=now_report(*SEAT), headers=h["worker1"])
    plain = client.get("/wall/cases", headers={**h["boss"], "Accept-Encoding": "identity"})
    packed = client.get("/wall/cases", headers={**h["boss"], "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 3  # what went over the wire
    assert rows(packed.json()) == rows(plain.json())  # the same answer, decoded


def test_feed_shows_a_step_sent_late_from_a_phone_that_was_offline(api: Api) -> None:
    """A step carries the time it was done; sent minutes later (the phone was offline) it is before the cursor by
    that time, and the feed still shows it: the server's recording time counts."""
    client, h, _ = api
    then = datetime.now().astimezone() - timedelta(minutes=20)
    a = client.post("/reports", json={**report(*SEAT), "reported_at": then.isoformat(timespec="seconds")},
                    headers=h["worker1"]).json()
    cursor = client.get("/wall/cases", headers=h["boss"]).json()["cursor"]
    case = client.get(f"/cases/{a['id']}", headers=h["tt1"]).json()
    done = (then + timedelta(minutes=5)).isoformat(timespec="seconds")  # arrived 15 minutes ago, sent only now
    r = client.post(f"/cases/{a['id']}/actions", headers=h["tt1"],
                    json={"revision": case["revision"], "action": "arrive", "at": done})
    assert r.status_code == 200 and r.json()["status"] == "arrived", r.text
    assert datetime.fromisoformat(r.json()["updated_at"]) < datetime.fromisoformat(cursor)
    later = rows(client.get("/wall/cases", params={"since": cursor}, headers=h["boss"]).json())
    assert later[a["id"]]["status"] == "arrived"
