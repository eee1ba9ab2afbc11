"""Reads within the documented scope (issue 15.7): incidents scoped like cases, one 404 for a missing case and a
case outside your scope on every per-case endpoint, the topology check for planners and auditors, cached per
revision. Both backends."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

import store.versions
from gis.model import Incident
from store.db import session_factory, transaction
from store.repo import Repository
from store.users import Users
from tests.test_intake import report
from tests.test_photos import png

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
SEAT, EAST, NORTH = (115.17, 36.09), (115.30, 36.15), (115.10, 36.15)  # → TT1, → TT2, TT1 in 2025 / disputed 2026
MISSING = 987654


def token(engine: Engine, username: str, role: str, team: str | None = None) -> dict[str, str]:
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        users.add(username, "correct horse battery", role, team_code=team)
        return {"Authorization": f"Bearer {users.device_token(username, 'tests')}"}


def incident(n: int, where: tuple[float, float], at: str, reporter: str, matter: str = "M-STREET") -> Incident:
    return Incident(reported_at=datetime.fromisoformat(at), lon=where[0], lat=where[1], matter_code=matter,
                    description=f"note {n}", reporter=reporter, external_id=f"H-{n}")


def test_incidents_are_scoped_like_cases(api: Api) -> None:
    client, h, engine = api
    history = [incident(1, SEAT, "2026-03-01T09:00", "worker1"), incident(2, EAST, "2026-03-02T09:00", "worker2"),
               incident(3, NORTH, "2025-06-01T09:00", "worker2"),  # v1: 北河村 is 城关镇's → TT1
               incident(4, NORTH, "2026-06-01T09:00", "worker1"),  # v2: disputed → the fallback, not TT1
               incident(5, SEAT, "2026-04-01T09:00", "someone", "M-LAND"),  # not delegated → BUREAU
               incident(6, SEAT, "2024-01-01T09:00", "worker1"),  # before any version: nobody's team
               incident(7, NORTH, "2026-01-01T07:00", "someone")]  # v2's first morning (the day before in UTC)
    with transaction(session_factory(engine)) as session:
        Repository(session).add_incidents(history)

    def ids(who: str, **params: Any) -> list[str]:
        r = client.get("/incidents", params=params, headers=h[who])
        assert r.status_code == 200, r.text
        return [f["properties"]["external_id"] for f in r.json()["features"]]

    everything = ["H-6", "H-3", "H-7", "H-1", "H-2", "H-5", "H-4"]  # oldest first
    assert ids("boss") == ids("audit") == everything
    assert ids("boss", limit=2) == ["H-5", "H-4"]  # the newest two
    assert ids("worker1") == ["H-6", "H-1", "H-4"] and ids("worker2") == ["H-3", "H-2"]
    assert ids("tt1") == ["H-3", "H-1"] and ids("tt2") == ["H-2"]
    assert ids("tt1", limit=1) == ["H-1"]
    bureau = token(engine, "bureau1", "team_member", "BUREAU")
    got = client.get("/incidents", headers=bureau).json()["features"]
    assert [f["properties"]["external_id"] for f in got] == ["H-7", "H-5", "H-4"]
    denied = client.get("/incidents", headers=h["plan"])
    assert denied.status_code == 403 and "planner does not see incident reports" in denied.json()["detail"]


def same_answer(a: Any, b: Any, a_id: object, b_id: object) -> None:
    """Same status, and the same body once the ids are swapped: nothing tells an existing id from a missing one."""
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    assert a.text.replace(str(a_id), "ID") == b.text.replace(str(b_id), "ID"), (a.text, b.text)


def test_a_case_outside_your_scope_is_a_404_like_a_missing_one(api: Api) -> None:
    client, h, engine = api
    image = png(seed=7)
    sha = hashlib.sha256(image).hexdigest()
    assert client.post("/photos", content=image, headers={**h["worker1"], "content-type": "image/png"}).is_success
    mine = client.post("/reports", json=report(*SEAT, photos=[sha], idempotency_key="scope-key-0001"),
                       headers=h["worker1"]).json()
    assert mine["team"] == "TT1"
    cid = mine["id"]
    keys = {who: token(engine, f"{who}-dev", role, team)["Authorization"].split()[1]
            for who, role, team in [("tt2", "team_member", "TT2"), ("worker2", "grid_worker", "TT2")]}
    for who in ("tt2", "worker2"):  # another township's team; another grid worker
        hdr = h[who]
        pairs = [(client.get(f"/cases/{cid}", headers=hdr), client.get(f"/cases/{MISSING}", headers=hdr)),
                 (client.get(f"/cases/{cid}/history", headers=hdr),
                  client.get(f"/cases/{MISSING}/history", headers=hdr)),
                 (client.post(f"/cases/{cid}/actions", json={"revision": 0, "action": "arrive"}, headers=hdr),
                  client.post(f"/cases/{MISSING}/actions", json={"revision": 0, "action": "arrive"}, headers=hdr)),
                 (client.get(f"/ogc/collections/cases/items/{cid}", headers=hdr),
                  client.get(f"/ogc/collections/cases/items/{MISSING}", headers=hdr)),
                 (client.get(f"/open311/v2/requests/{cid}.json", params={"api_key": keys[who]}),
                  client.get(f"/open311/v2/requests/{MISSING}.json", params={"api_key": keys[who]}))]
        for seen, missing in pairs:
            same_answer(seen, missing, cid, MISSING)
        same_answer(client.get(f"/photos/{sha}", headers=hdr), client.get(f"/photos/{'0' * 64}", headers=hdr),
                    sha, "0" * 64)
        same_answer(client.get("/open311/v2/tokens/scope-key-0001.json", params={"api_key": keys[who]}),
                    client.get("/open311/v2/tokens/scope-key-9999.json", params={"api_key": keys[who]}),
                    "scope-key-0001", "scope-key-9999")
    # Those who may see it still do; a role that sees no cases is refused by role, whatever the id.
    for who in ("worker1", "tt1", "boss", "audit"):
        assert client.get(f"/cases/{cid}", headers=h[who]).status_code == 200, who
    for path in (f"/cases/{cid}", f"/cases/{MISSING}", f"/photos/{sha}", f"/photos/{'0' * 64}"):
        r = client.get(path, headers=h["plan"])
        assert r.status_code == 403 and "planner" in r.json()["detail"], path


def test_a_dispute_between_other_teams_is_a_404_like_a_missing_one(api: Api) -> None:
    client, h, engine = api
    case = client.post("/reports", json=report(*NORTH, reported_at="2026-06-01T08:00:00"), headers=h["worker1"]).json()
    assert case["triage"] == "dispute"
    (record,) = client.get("/disputes", headers=h["boss"]).json()
    market = token(engine, "market1", "team_member", "MARKET")
    same_answer(client.get(f"/disputes/{record['id']}", headers=market),
                client.get(f"/disputes/{MISSING}", headers=market), record["id"], MISSING)
    assert client.get(f"/disputes/{record['id']}", headers=h["tt2"]).status_code == 200  # a party


def test_topology_is_for_planners_and_auditors_and_cached_per_revision(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    client, h, engine = api
    calls: list[int] = []
    real = store.versions.check_topology

    def counting(units: Any, options: Any) -> Any:
        calls.append(len(units))
        return real(units, options)

    monkeypatch.setattr(store.versions, "check_topology", counting)
    v2 = client.get("/versions", headers=h["plan"]).json()[-1]["id"]
    for who in ("worker1", "tt1", "boss"):
        r = client.get(f"/versions/{v2}/topology", headers=h[who])
        assert r.status_code == 403 and "allowed: planner, auditor" in r.json()["detail"], who
    assert calls == []  # refused before any work
    first = client.get(f"/versions/{v2}/topology", headers=h["plan"])
    assert first.status_code == 200 and first.json()["type"] == "FeatureCollection"
    again = client.get(f"/versions/{v2}/topology", headers=h["audit"])
    assert again.status_code == 200 and again.content == first.content and len(calls) == 1  # the second is cached
    draft = client.post("/versions", json={"name": "redraw", "based_on": v2}, headers=h["plan"]).json()
    assert client.get(f"/versions/{draft['id']}/topology", headers=h["plan"]).status_code == 200
    assert client.get(f"/versions/{draft['id']}/topology", headers=h["plan"]).status_code == 200
    assert len(calls) == 2
    with transaction(session_factory(engine)) as session:  # any edit bumps the revision: checked afresh
        Repository(session).editable(draft["id"])
    assert client.get(f"/versions/{draft['id']}/topology", headers=h["plan"]).status_code == 200
    assert len(calls) == 3
    assert client.get(f"/versions/{MISSING}/topology", headers=h["plan"]).status_code == 404
