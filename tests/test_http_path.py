"""The cheap HTTP path (issue 17.5): token checks and the version in force come from a worker's memory, and a
sign-out, a language change or a publish through one worker is seen by the next request on every other; both
backends. Workers are two apps in this process (deterministic) and `gridgov serve --workers 2` (real processes,
one kept-alive connection to each, told apart through /proc)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.fastjson import dumps
from cases import clock
from config import get_settings
from store.db import session_factory, transaction
from store.schema import UserRow
from store.users import Users
from tests.live import free_port, one_connection_per_worker, running

PASSWORD = "correct horse battery"
V3 = {"lat": 36.15, "lon": 115.05}  # 北河村: a dispute under v2 (TT1 and TT2 both claim it), TT1's under v1


def _accounts(engine: Engine) -> None:
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        users.add("boss", PASSWORD, "dispatcher")
        users.add("plan", PASSWORD, "planner")


def _worker(url: str, data_dir: Path, **settings: Any) -> tuple[FastAPI, TestClient]:
    app = create_app(get_settings(database_url=url, data_dir=data_dir, tick_seconds=0, **settings))
    return app, TestClient(app)


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def test_a_worker_answers_from_memory_and_sees_what_another_changed(loaded: Engine, database_url: str,
                                                                    tmp_path: Path) -> None:
    _accounts(loaded)
    app_a, a = _worker(database_url, tmp_path)
    app_b, b = _worker(database_url, tmp_path)
    token = a.post("/auth/token", json={"username": "boss", "password": PASSWORD}).json()["access_token"]
    plan = a.post("/auth/token", json={"username": "plan", "password": PASSWORD}).json()["access_token"]
    boss, planner = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {plan}"}
    body = {**V3, "matter": "M-STREET"}
    first = b.post("/route", json=body, headers=boss)
    assert first.status_code == 200 and first.json()["decisions"][0]["status"] == "dispute"
    with _statements(app_b.state.engine) as sent:
        again = b.post("/route", json=body, headers=boss)
    assert again.json() == first.json() and sent == []  # no token read, no version lookup: not one statement

    # A sign-out through A: B refuses the token on the next request.
    assert b.get("/auth/me", headers=boss).status_code == 200
    assert a.post("/auth/logout", headers=boss).status_code == 200
    refused = b.get("/auth/me", headers=boss)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"

    # A language change through A: B answers with it at once.
    assert b.get("/auth/me", headers=planner).json()["language"] is None
    assert a.put("/auth/me/language", json={"language": "en"}, headers=planner).status_code == 200
    assert b.get("/auth/me", headers=planner).json()["language"] == "en"

    # A publish through A (v1's content again, from today): B routes by the new version on the next request.
    before = b.post("/route", json=body, headers=planner).json()
    back = a.post("/versions/1/rollback", json={"effective_from": clock.today().isoformat()}, headers=planner)
    assert back.status_code == 200, back.text
    after = b.post("/route", json=body, headers=planner).json()
    assert before["version"]["id"] == 2 and after["version"]["id"] == back.json()["id"] != 2
    assert after["decisions"][0]["status"] == "ok" and after["decisions"][0]["team"] == "TT1"
    report = {"idempotency_key": "http-path-0001", "matter": "M-STREET", **V3}
    boss2 = {"Authorization": "Bearer " + b.post("/auth/token", json={"username": "boss", "password": PASSWORD})
             .json()["access_token"]}
    made = b.post("/reports", json=report, headers=boss2)
    assert made.status_code == 201 and made.json()["team"] == "TT1", made.text


def test_a_change_behind_the_apps_back_counts_after_the_recheck_time(loaded: Engine, database_url: str,
                                                                     tmp_path: Path) -> None:
    """What no process on this host records (SQL by hand, another host) is trusted for GRIDGOV_RECHECK_SECONDS."""
    _accounts(loaded)
    _, client = _worker(database_url, tmp_path, recheck_seconds=0.5)
    token = client.post("/auth/token", json={"username": "boss", "password": PASSWORD}).json()["access_token"]
    boss = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=boss).status_code == 200
    with loaded.begin() as conn:  # not through a session: no counter moves
        conn.execute(sa.update(UserRow).where(UserRow.username == "boss").values(active=False))
    started = time.monotonic()
    while client.get("/auth/me", headers=boss).status_code == 200:
        assert time.monotonic() - started < 0.5 + 0.5, "still trusted after the recheck time"
        time.sleep(0.05)
    assert client.get("/auth/me", headers=boss).json()["code"] == "account_disabled"
    _, fresh = _worker(database_url, tmp_path, recheck_seconds=0)  # 0: every request asks the database
    assert fresh.get("/auth/me", headers=boss).status_code == 401


def _call(conn: Any, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # the counters are the backend's no matter: one run
def test_two_server_workers_agree_after_a_sign_out_and_a_publish(loaded: Engine, database_url: str,
                                                                 tmp_path: Path) -> None:
    _accounts(loaded)
    with transaction(session_factory(loaded)) as session:
        boss, plan = (Users(session).device_token(n, "http-path") for n in ("boss", "plan"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_TICK_SECONDS": "0",
           "GRIDGOV_DATA_DIR": str(tmp_path), "GRIDGOV_KEEP_ALIVE_SECONDS": "120"}
    argv = [sys.executable, "-m", "cli.main", "serve", "--workers", "2", "--port", str(port)]
    body = {**V3, "matter": "M-STREET"}
    with running(argv, f"{base}/health", tmp_path / "server.log", env, startup_s=300):
        a, b = one_connection_per_worker(base, 2)
        for conn in (a, b):  # both workers hold both tokens and the router of v2
            assert _call(conn, "GET", "/auth/me", boss)[0] == 200
            status, routed = _call(conn, "POST", "/route", plan, body)
            assert status == 200 and routed["version"]["id"] == 2
        assert _call(a, "POST", "/auth/logout", boss)[0] == 200
        status, refused = _call(b, "GET", "/auth/me", boss)
        assert status == 401 and refused["code"] == "token_revoked"
        status, back = _call(a, "POST", "/versions/1/rollback", plan, {"effective_from": clock.today().isoformat()})
        assert status == 200, back
        for conn in (b, a):
            status, routed = _call(conn, "POST", "/route", plan, body)
            assert status == 200 and routed["version"]["id"] == back["id"]
            assert routed["decisions"][0]["team"] == "TT1"
        for conn in (a, b):
            conn.close()


def test_the_fast_encoder_writes_what_the_standard_one_wrote(api: Any) -> None:
    """Real answers of POST /route (full and summary, edge and vertex points) and POST /reports, and awkward
    values, mean the same through orjson as through Starlette's encoder; NaN becomes null (module docstring)."""
    client, headers, _ = api
    edge = [{"lat": 36.1, "lon": 115.1, "id": "corner"}, {"lat": 36.05, "lon": 115.2, "id": "edge"},
            {"lat": 36.15, "lon": 115.05, "accuracy_m": 2500.5}, {"lat": 36.0300001, "lon": 115.1500003}]
    contents = []
    for detail in ("full", "summary"):
        r = client.post("/route", json={"points": edge, "matter": "M-STREET", "detail": detail},
                        headers=headers["boss"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        contents.append(r.json())
    made = client.post("/reports", json={"idempotency_key": "fast-json-01", "matter": "M-NOISE",
                                         "reported_at": "2026-11-02T09:30:00", **V3}, headers=headers["boss"])
    assert made.status_code == 201 and made.json()["reported_at"].endswith("+08:00")  # the county's offset
    contents.append(made.json())
    awkward = {"floats": [1e-07, 1e16, 0.1 + 0.2, -0.0, 123456.789, 2.5e-308], "big": 2**62, "name": "北河村 ☂",
               "nested": (1, [True, None, {"k": "v"}]), 7: "int key", "escape": "quote \" slash \\ tab \t"}
    for content in [*contents, awkward]:
        assert json.loads(dumps(content)) == json.loads(JSONResponse(content).body)
    assert json.loads(dumps({"n": np.float64(2.5), "i": np.int64(3), "a": np.array([1.5, 2.0]), "b": np.bool_(True)})) \
        == {"n": 2.5, "i": 3, "a": [1.5, 2.0], "b": True}
    assert json.loads(dumps({"x": math.nan, "y": math.inf})) == {"x": None, "y": None}
    with pytest.raises(ValueError):  # what the standard encoder did with them: refuse (a 500)
        JSONResponse({"x": math.nan})
