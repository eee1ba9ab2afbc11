"""A write is committed before its response leaves: what a client was told exists, exists for the next call.

FastAPI ends dependencies with `yield` after the response by default, which made `get_repo` commit after
the client already had its answer: a token just issued was unknown to the very next request about one
time in seven here, and a 2xx could be followed by a failed commit. `get_repo` now ends with the function."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from store.db import session_factory, transaction
from store.users import Users
from tests.live import live_server

PASSWORD = "correct horse battery"


def test_a_new_token_and_a_new_draft_work_at_once(engine: Engine, database_url: str, tmp_path: Path) -> None:
    with transaction(session_factory(engine)) as session:
        Users(session).add("plan", PASSWORD, "planner")
    with live_server(database_url, tmp_path) as base, httpx.Client(base_url=base, timeout=10) as client:
        unknown = 0
        for _ in range(150):
            tok = client.post("/auth/token", json={"username": "plan", "password": PASSWORD}).json()["access_token"]
            unknown += client.get("/auth/me", headers={"Authorization": f"Bearer {tok}"}).status_code != 200
        assert unknown == 0
        auth = {"Authorization": f"Bearer {tok}"}
        missing = 0
        for n in range(60):
            created = client.post("/versions", json={"name": f"draft {n}"}, headers=auth)
            assert created.status_code == 201, created.text
            missing += client.get(f"/versions/{created.json()['id']}", headers=auth).status_code != 200
        assert missing == 0
