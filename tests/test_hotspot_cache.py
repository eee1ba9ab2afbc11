"""Hotspot answers kept per worker (api/hotspot_cache.py), both backends: a second request is answered from memory
and the same as a fresh computation; a new report, a case moved to another place, and a report made behind the
apps' back each change the next answer, on the other worker too; a step that moves no report keeps it; a window of
"the last N days" that slides over a report is computed again. Workers are two apps sharing a data directory (their
change counters, store/epochs.py), as in tests/test_http_path.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import pytest
import shapely
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.hotspots import _outline, outlines
from cases import clock
from config import get_settings
from gis.model import Incident
from store.db import session_factory, transaction
from store.repo import Repository
from store.schema import IncidentRow
from store.users import Users
from tests.test_wall_api import now_report

PASSWORD = "correct horse battery"
SEAT, EAST, FAR = (115.17, 36.09), (115.30, 36.15), (115.05, 36.05)  # TT1's, TT2's; another cell of TT1's
RES = 8


def _worker(url: str, data_dir: Path, **settings: Any) -> tuple[FastAPI, TestClient]:
    app = create_app(get_settings(database_url=url, data_dir=data_dir, tick_seconds=0, **settings))
    return app, TestClient(app)


def _people(engine: Engine) -> None:
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        users.add("boss", PASSWORD, "dispatcher")
        users.add("worker1", PASSWORD, "grid_worker", team_code="TT1")


def _sign_in(client: TestClient, name: str) -> dict[str, str]:
    token = client.post("/auth/token", json={"username": name, "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _cells(answer: dict[str, Any]) -> dict[str, int]:
    return {c["h"]: c["n"] for c in answer["cells"]}


def _without_window(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("from", "to")}


def test_a_kept_hotspot_map_gives_way_to_each_change_of_its_reports_on_every_worker(
        loaded: Engine, database_url: str, tmp_path: Path) -> None:
    _people(loaded)
    app_a, a = _worker(database_url, tmp_path)
    app_b, b = _worker(database_url, tmp_path)
    fresh_app, fresh = _worker(database_url, tmp_path / "alone", hotspot_cache_seconds=0)  # computes every answer
    boss_a, boss_b, boss_fresh = _sign_in(a, "boss"), _sign_in(b, "boss"), _sign_in(fresh, "boss")
    worker = _sign_in(a, "worker1")
    for lon, lat in (SEAT, SEAT, EAST):
        assert a.post("/reports", json=now_report(lon, lat), headers=worker).status_code == 201
    ask = {"significance": {"res": RES, "days": 30, "mode": "significance"}, "counts": {"res": RES, "days": 30}}

    def answers() -> dict[str, dict[str, Any]]:
        got = {mode: b.get("/hotspots", params=q, headers=boss_b) for mode, q in ask.items()}
        assert all(r.status_code == 200 and r.headers["content-type"] == "application/json" for r in got.values())
        out = {mode: r.json() for mode, r in got.items()}
        for mode, q in ask.items():  # the same as computed afresh
            assert _without_window(out[mode]) == _without_window(fresh.get("/hotspots", params=q,
                                                                           headers=boss_fresh).json()), mode
        return out

    cache = app_b.state.hotspots
    first = answers()
    assert cache.computed == 2 and _cells(first["counts"]) == {h3.latlng_to_cell(SEAT[1], SEAT[0], RES): 2,
                                                                h3.latlng_to_cell(EAST[1], EAST[0], RES): 1}
    again = answers()
    assert cache.computed == 2  # both from memory
    assert [_without_window(x) for x in again.values()] == [_without_window(x) for x in first.values()]
    assert again["counts"]["to"] >= first["counts"]["to"]  # the window stated is the request's own

    # A step that moves no report (the team arrives) keeps the answers.
    case = a.post("/reports", json=now_report(*FAR), headers=worker).json()
    answers()
    computed = cache.computed
    assert computed == 4  # the new report: both computed again
    with transaction(session_factory(loaded)) as session:
        Users(session).add("crew", PASSWORD, "team_member", team_code=case["team"])
    moved = a.post(f"/cases/{case['id']}/actions", headers=_sign_in(a, "crew"),
                   json={"revision": case["revision"], "action": "arrive"})
    assert moved.status_code == 200 and moved.json()["status"] == "arrived", moved.text
    answers()
    assert cache.computed == computed

    # A dispatcher places the case elsewhere through A: B's next answers count it there (the counters tell B).
    located = a.post(f"/cases/{case['id']}/actions", headers=boss_a, json={
        "revision": moved.json()["revision"], "action": "locate", "lon": EAST[0], "lat": EAST[1]})
    assert located.status_code == 200, located.text
    now = answers()
    assert cache.computed == computed + 2
    assert _cells(now["counts"])[h3.latlng_to_cell(EAST[1], EAST[0], RES)] == 2
    assert h3.latlng_to_cell(FAR[1], FAR[0], RES) not in _cells(now["counts"])

    # A report written behind the apps' back (no counter moves): the database's fingerprint tells.
    with loaded.begin() as conn:  # not through a session: no counter moves, as for a write from another host
        conn.execute(sa.insert(IncidentRow).values(
            reported_at=clock.now() - timedelta(hours=1), lon=FAR[0], lat=FAR[1], geom=shapely.Point(*FAR),
            matter_code="M-STREET", external_id="behind-the-back", raw_crs="wgs84", description="", attributes={}))
    last = answers()
    assert cache.computed == computed + 4 and last["counts"]["total"] == now["counts"]["total"] + 1
    assert app_a.state.hotspots.computed == 0 and fresh_app.state.hotspots.computed > 0


def test_a_window_of_the_last_days_is_computed_again_when_it_slides_over_a_report(
        loaded: Engine, database_url: str, tmp_path: Path) -> None:
    _people(loaded)
    app, client = _worker(database_url, tmp_path)
    boss = _sign_in(client, "boss")
    soon = clock.now() + timedelta(seconds=1.5)  # enters "the last day" a moment from now
    with transaction(session_factory(loaded)) as session:
        Repository(session).add_incidents([
            Incident(reported_at=soon, lon=SEAT[0], lat=SEAT[1], matter_code="M-STREET", external_id="soon"),
            Incident(reported_at=soon - timedelta(days=1), lon=EAST[0], lat=EAST[1], matter_code="M-STREET",
                     external_id="leaving")])
    ask = {"res": RES, "days": 1}
    before = client.get("/hotspots", params=ask, headers=boss).json()
    assert _cells(before) == {h3.latlng_to_cell(EAST[1], EAST[0], RES): 1}
    assert client.get("/hotspots", params=ask, headers=boss).json()["cells"] == before["cells"]
    assert app.state.hotspots.computed == 1
    time.sleep(max(0.0, (soon - clock.now()).total_seconds()) + 0.3)
    after = client.get("/hotspots", params=ask, headers=boss).json()
    assert app.state.hotspots.computed == 2
    assert _cells(after) == {h3.latlng_to_cell(SEAT[1], SEAT[0], RES): 1}  # one came in, the other went out
    # A window with both ends given does not slide: kept as it is.
    fixed = {"res": RES, "from": (soon - timedelta(hours=2)).isoformat(), "to": (soon + timedelta(hours=1)).isoformat()}
    assert client.get("/hotspots", params=fixed, headers=boss).json()["total"] == 1
    assert client.get("/hotspots", params=fixed, headers=boss).json()["total"] == 1
    assert app.state.hotspots.computed == 3


@pytest.mark.parametrize("res", [5, 9, 11])
def test_outlines_at_once_are_the_cells_own(res: int) -> None:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(36.1, 115.2, res), 6)) + ["8009fffffffffff"]  # and a pentagon
    assert outlines(cells) == [_outline(c) for c in cells]
    assert all(len(o) == 2 * len(h3.cell_to_boundary(c)) for c, o in zip(cells, outlines(cells), strict=True))


def test_feed_times_at_once_are_the_clock_s_own() -> None:
    zone = clock.zone()
    try:
        for name in ("Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"):
            clock.configure(name)
            # Every 7 minutes over two years (both changes of summer time), before 1970, and none.
            times: list[int | None] = [*range(1_700_000_000, 1_763_000_000, 420), -1_000_000_007, None, 0]
            want = [clock.to_local(datetime.fromtimestamp(t, UTC)).isoformat(timespec="seconds") if t is not None
                    else None for t in times]
            assert clock.iso_seconds(times) == want, name
    finally:
        clock.configure(zone)


def test_kept_recurring_sites_give_way_to_a_new_report_of_their_matter(
        loaded: Engine, database_url: str, tmp_path: Path) -> None:
    # GET /hotspots/sites is kept like the maps (the big screen asks every minute): the same answer as computed
    # afresh, from memory the second time, computed again once a report of the matter comes in on either worker.
    _people(loaded)
    app_a, a = _worker(database_url, tmp_path)
    app_b, b = _worker(database_url, tmp_path)
    _, fresh = _worker(database_url, tmp_path / "alone", hotspot_cache_seconds=0)
    boss_b, boss_fresh, worker = _sign_in(b, "boss"), _sign_in(fresh, "boss"), _sign_in(a, "worker1")
    now = clock.now()
    with transaction(session_factory(loaded)) as session:  # a yard used on three weeks: a recurring site
        Repository(session).add_incidents([
            Incident(reported_at=now - timedelta(days=3 + 7 * (k % 3), hours=k), lon=SEAT[0] + 0.0002 * (k % 2),
                     lat=SEAT[1], matter_code="M-STREET", external_id=f"yard-{k}") for k in range(6)])
    ask = {"matter": "M-STREET", "days": 60, "min_reports": 3}

    def sites() -> list[dict[str, Any]]:
        got = b.get("/hotspots/sites", params=ask, headers=boss_b)
        assert got.status_code == 200 and got.headers["content-type"] == "application/json", got.text
        want = fresh.get("/hotspots/sites", params=ask, headers=boss_fresh).json()
        assert _without_window(got.json()) == _without_window(want)
        return list(got.json()["sites"])

    first = sites()
    assert len(first) == 1 and first[0]["reports"] == 6 and first[0]["township"]
    assert sites() == first and app_b.state.hotspots.computed == 1
    assert a.post("/reports", json={**now_report(*SEAT), "matter": "M-STREET"}, headers=worker).status_code == 201
    later = sites()
    assert app_b.state.hotspots.computed == 2 and later[0]["reports"] == 7
    assert app_a.state.hotspots.computed == 0
