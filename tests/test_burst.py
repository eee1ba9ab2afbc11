"""Bursts and crashes against a real `gridgov serve` (issue 15): no pool stall, limits while reading, exactly once.

Each test runs the server as a subprocess over the two-version scenario (tests/routing_scenario.py) on both
backends. The pool is made tiny (2 connections, no overflow, 5 s timeout) so that the old deadlock — every
threadpool thread waiting for a connection while every connection's owner waited for a thread — would show
within seconds as 500s; with requests holding a connection only while their endpoint runs, a burst queues.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import session_factory, transaction
from store.users import Users
from tests.live import ROOT, free_port, live_server

PASSWORD = "correct horse battery"
TINY_POOL = {"GRIDGOV_DB_POOL_SIZE": "2", "GRIDGOV_DB_MAX_OVERFLOW": "0", "GRIDGOV_DB_POOL_TIMEOUT": "5"}
READS = ["/health", "/ready", "/matters", "/teams", "/versions", "/units?layer=township", "/rules", "/delegations",
         "/cases", "/cases?triage=true", "/stats", "/jurisdictions/at?lat=36.09&lon=115.17", "/auth/me",
         "/open311/v2/services.json", "/ogc/collections", "/wall/cases", "/hotspots", "/disputes"]


def _accounts(engine: Engine, *names: tuple[str, str, str | None]) -> dict[str, str]:
    """Device tokens of new accounts (username → token)."""
    tokens = {}
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        for name, role, team in names:
            users.add(name, PASSWORD, role, team_code=team)
            tokens[name] = users.device_token(name, "burst")
    return tokens


async def _burst(base: str, token: str, n: int) -> Counter[int]:
    """n concurrent GETs spread over every read endpoint; status → count (-1 for a client timeout)."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        async def one(i: int) -> int:
            try:
                return (await client.get(READS[i % len(READS)])).status_code
            except httpx.TimeoutException:
                return -1
        return Counter(await asyncio.gather(*(one(i) for i in range(n))))


def test_a_burst_of_reads_never_stalls_the_pool(loaded: Engine, database_url: str, tmp_path: Path) -> None:
    tokens = _accounts(loaded, ("boss", "dispatcher", None))
    with live_server(database_url, tmp_path, **TINY_POOL) as base:
        started = time.monotonic()
        codes = asyncio.run(_burst(base, tokens["boss"], 160))
        elapsed = time.monotonic() - started
    assert sum(codes.values()) == 160
    assert not [c for c in codes if c >= 500 or c < 0], codes  # the old code gave 500s after the 5 s pool timeout
    assert set(codes) == {200}, codes
    assert elapsed < 60, f"160 reads took {elapsed:.1f} s"


def _raw(port: int, head: bytes, chunks: int, chunk: bytes) -> tuple[bytes, int]:
    """Send a chunked POST without finishing it; the answer the server gives meanwhile and the bytes it took."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head)
        try:
            for _ in range(chunks):
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading and closed: what we want
        s.settimeout(20)
        answer = b""
        try:
            while True:  # the server closes the connection after refusing a body it did not read
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def test_chunked_bodies_are_cut_at_the_limit_and_tokens_checked_first(
        loaded: Engine, database_url: str, tmp_path: Path) -> None:
    """A chunked body has no Content-Length: bytes are counted as they arrive (413), and a protected endpoint
    refuses a missing token (401) before reading the body at all."""
    tokens = _accounts(loaded, ("boss", "dispatcher", None))
    chunk = b"[" + b" " * (256 * 1024 - 1)  # 256 KiB of a JSON document that never ends
    with live_server(database_url, tmp_path, GRIDGOV_MAX_UPLOAD_MIB="1") as base:
        port = int(base.rsplit(":", 1)[1])
        head = (f"POST /route HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {tokens['boss']}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        answer, _ = _raw(port, head, 8, chunk)  # 2 MiB offered against a 1 MiB limit
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"over the limit of 1048576 bytes" in answer
        anonymous = (f"POST /route HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n").encode()
        answer, _ = _raw(port, anonymous, 1, b'{"matter": "M-STREET", ')  # the body is not even complete
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert httpx.get(f"{base}/health").status_code == 200  # and the server is fine


def _server(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_TICK_SECONDS": "0",
           "GRIDGOV_DATA_DIR": str(data_dir)}
    log = (data_dir / f"server-{port}-{time.monotonic_ns()}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start; see {log.name}")
        time.sleep(0.1)


def test_acknowledged_reports_survive_sigkill_exactly_once(loaded: Engine, database_url: str,
                                                           tmp_path: Path) -> None:
    """Reporters retry through two SIGKILLs of the server: every acknowledged report is stored exactly once, and
    a report's retries never make a second case."""
    names = [(f"w{i}", "grid_worker", "TT1") for i in range(4)]
    tokens = _accounts(loaded, *names)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged: dict[tuple[str, str], int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def reporter(name: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        n = 0
        while not stop.is_set() and n < 8:
            key = f"{name}-{uuid.uuid4()}"
            body = {"idempotency_key": key, "matter": "M-STREET", "lon": 115.17 + n * 1e-4, "lat": 36.09,
                    "reported_at": "2026-03-02T09:30:00", "description": f"{name} #{n}"}
            for _ in range(200):  # retry the same key and body until the server answers
                try:
                    r = httpx.post(f"{base}/reports", json=body, headers=headers, timeout=5)
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                assert r.status_code in (200, 201), r.text
                with lock:
                    acknowledged[(name, key)] = r.json()["id"]
                break
            n += 1

    server = _server(database_url, tmp_path, port)
    threads = [threading.Thread(target=reporter, args=(name,)) for name, _, _ in names]
    try:
        for t in threads:
            t.start()
        for _ in range(2):
            time.sleep(1.5)
            server.send_signal(signal.SIGKILL)  # mid-stream: some answers are lost, some writes half-done
            server.wait(timeout=30)
            server = _server(database_url, tmp_path, port)
        for t in threads:
            t.join(timeout=120)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    assert len(acknowledged) >= 16, "too few reports got through to prove anything"
    with loaded.connect() as conn:
        keys = conn.execute(sa.text("SELECT reporter, idempotency_key, case_id FROM report_key")).all()
        cases = Counter(conn.execute(sa.text("SELECT reporter FROM case_record")).scalars())
    stored = {(r, k): c for r, k, c in keys}
    assert {k: stored.get(k) for k in acknowledged} == acknowledged  # acknowledged = stored, with the same id
    for name, _, _ in names:  # exactly once: one case per key of this reporter, no orphan cases
        assert cases[name] == sum(1 for r, _ in stored if r == name)


def test_every_route_that_opens_a_session_releases_it_on_its_own_thread(tmp_path: Path) -> None:
    """The fix for the stall is structural: a route taking the request's repository must be a GridGovRoute
    (commits as the endpoint returns); a plain APIRoute would hold its connection across threadpool hops."""
    from fastapi.routing import APIRoute

    from api.app import create_app
    from api.deps import GridGovRoute, get_repo
    from config import get_settings

    def uses_repo(dependant: object) -> bool:
        return any(d.call is get_repo or uses_repo(d) for d in dependant.dependencies)  # type: ignore[attr-defined]

    def flat(routes: list[object]) -> list[object]:  # routers are kept whole by include_router (FastAPI 0.165)
        return [x for r in routes for x in (flat(r.original_router.routes) if hasattr(r, "original_router") else [r])]

    app = create_app(get_settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite'}"))
    routes = [r for r in flat(app.routes) if isinstance(r, APIRoute) and uses_repo(r.dependant)]
    assert len(routes) > 40
    assert [r.path for r in routes if not isinstance(r, GridGovRoute)] == []


def test_an_app_and_its_connections_are_freed_when_dropped(tmp_path: Path) -> None:
    """FastAPI caches endpoint functions module-wide: an endpoint that closes over `app` keeps every app built
    (in tests, one per test) and its pool of open connections alive, until PostgreSQL runs out of slots."""
    import gc
    import inspect
    import weakref

    from fastapi import FastAPI
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient

    from api.app import create_app
    from config import get_settings

    def flat(routes: list[object]) -> list[object]:
        return [x for r in routes for x in (flat(r.original_router.routes) if hasattr(r, "original_router") else [r])]

    app = create_app(get_settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite'}"))
    closing_over_app = [r.path for r in flat(app.routes) if isinstance(r, APIRoute) and any(
        isinstance(c.cell_contents, FastAPI) for c in inspect.unwrap(r.endpoint).__closure__ or ())]
    assert closing_over_app == []
    client = TestClient(app)
    assert client.get("/i18n/en.json").status_code == 200 and client.get("/ready").status_code == 200
    engine = weakref.ref(app.state.engine)
    del client, app
    gc.collect()
    assert engine() is None
