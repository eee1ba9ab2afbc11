"""Sign-in protection (issue 15.6): lockout per account, limit per address, audit, constant time; both backends."""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from cases import clock
from cli.main import app as cli
from config import get_settings
from store.db import downgrade, schema_revision, session_factory, transaction, upgrade
from store.repo import Repository
from store.schema import SignInGuardRow, UserRow
from store.signin import SignInGuard, SignInPolicy
from store.users import Users
from tests import routing_scenario as sc
from tests.live import free_port, running

PASSWORD = "correct horse battery"
WRONG = "wrong password"


@pytest.fixture
def people(engine: Engine) -> Engine:
    with transaction(session_factory(engine)) as session:
        Repository(session).add_teams(sc.TEAMS)
        users = Users(session)
        for name, role, team in [("zhao", "grid_worker", "TT1"), ("boss", "dispatcher", None),
                                 ("audit", "auditor", None), ("tt1", "team_member", "TT1"),
                                 ("qian", "team_member", "TT1")]:
            users.add(name, PASSWORD, role, team_code=team)
    return engine


def app_client(engine: Engine, address: str = "10.0.0.1", /, **settings: Any) -> TestClient:
    """A client of a fresh app (a separate worker, as far as state goes) from one address."""
    url = engine.url.render_as_string(hide_password=False)
    return TestClient(create_app(get_settings(database_url=url, **settings)), client=(address, 40000))


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/token", json={"username": name, "password": password})


def bearer(client: TestClient, name: str) -> dict[str, str]:
    r = sign_in(client, name)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_repeated_failures_lock_the_account_across_workers_until_a_dispatcher_unlocks(people: Engine) -> None:
    limits = {"signin_account_failures": 3, "signin_lock_minutes": 10, "signin_address_failures": 1000}
    one, two = app_client(people, **limits), app_client(people, "10.0.0.2", **limits)
    boss = bearer(one, "boss")
    for n, client in enumerate([one, two, one]):  # failures on two workers count together
        r = sign_in(client, "zhao", WRONG)
        assert r.status_code == 401 and r.json()["detail"].startswith("wrong username or password"), n
    assert "locked until" in r.json()["detail"]
    for client in (one, two):
        r = sign_in(client, "zhao")  # the right password too: a lock is a lock
        assert r.status_code == 429, r.text
        assert 540 <= int(r.headers["retry-after"]) <= 600
        assert "locked until" in r.json()["detail"] and "dispatcher" in r.json()["detail"]
    # An unknown name is counted and locked exactly the same way: the answers do not tell names apart.
    answers = [(r.status_code, r.json()["detail"].replace("ghost", "zhao"))
               for r in (sign_in(one, "ghost", WRONG) for _ in range(4))]
    assert [s for s, _ in answers] == [401, 401, 401, 429]
    locks = one.get("/auth/locks", headers=boss).json()
    assert {(x["username"], x["account_exists"]) for x in locks} == {("zhao", True), ("ghost", False)}
    # Only a dispatcher unlocks; it is logged with who did it.
    assert one.delete("/auth/locks/zhao", headers=bearer(one, "tt1")).status_code == 403
    assert one.delete("/auth/locks/zhao", headers=bearer(one, "audit")).status_code == 403
    r = two.delete("/auth/locks/zhao", headers=boss)
    assert r.status_code == 200 and r.json()["unlocked"] is True and r.json()["was_locked_until"]
    assert two.delete("/auth/locks/zhao", headers=boss).json()["unlocked"] is False
    assert sign_in(one, "zhao").status_code == 200
    log = one.get("/auth/events", params={"username": "zhao"}, headers=bearer(one, "audit")).json()
    assert [(e["outcome"], e["actor"]) for e in reversed(log)] == [
        ("failure", "zhao"), ("failure", "zhao"), ("failure", "zhao"), ("locked", "system"), ("refused", "zhao"),
        ("refused", "zhao"), ("unlocked", "boss"), ("success", "zhao")]
    assert {e["client"] for e in log if e["outcome"] == "failure"} == {"10.0.0.1", "10.0.0.2"}
    assert one.get("/auth/events", headers=bearer(one, "zhao")).status_code == 403


def test_a_success_resets_the_count(people: Engine) -> None:
    client = app_client(people, signin_account_failures=3)
    for _ in range(3):
        assert [sign_in(client, "zhao", WRONG).status_code for _ in range(2)] == [401, 401]
        assert sign_in(client, "zhao").status_code == 200  # 6 failures in all, never 3 in a row: no lock
    with people.connect() as conn:
        assert conn.execute(sa.select(SignInGuardRow.failures).where(SignInGuardRow.key == "zhao")).scalar_one() == 0


def test_a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit(people: Engine) -> None:
    client = app_client(people, signin_account_failures=4, signin_address_failures=1000)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: sign_in(client, "zhao", WRONG).status_code, range(24)))
    assert sorted(codes) == [401] * 4 + [429] * 20


def test_address_limit_spares_names_that_signed_in_there_before(people: Engine) -> None:
    """The NAT trade-off: an attacker behind the office address exhausts its limit; the office's regular users
    still get in, a name new to the address waits, and the same name from elsewhere is unaffected."""
    limits = {"signin_address_failures": 5, "signin_account_failures": 100}
    office, elsewhere = app_client(people, "192.0.2.7", **limits), app_client(people, "198.51.100.9", **limits)
    assert sign_in(office, "zhao").status_code == 200  # zhao works here
    for n in range(5):
        assert sign_in(office, f"guess{n}", WRONG).status_code == 401
    r = sign_in(office, "guess9", WRONG)
    assert r.status_code == 429 and "from this address (192.0.2.7)" in r.json()["detail"]
    assert 800 <= int(r.headers["retry-after"]) <= 900
    assert sign_in(office, "qian").status_code == 429  # never signed in from the office: waits
    assert sign_in(office, "zhao").status_code == 200  # a regular of this address: not held back
    assert sign_in(elsewhere, "qian").status_code == 200


def test_cli_unlocks_and_the_log_is_append_only(people: Engine, database_url: str) -> None:
    client = app_client(people, signin_account_failures=2)
    assert [sign_in(client, "qian", WRONG).status_code for _ in range(3)] == [401, 401, 429]
    out = CliRunner().invoke(cli, ["user", "unlock", "qian", "--database-url", database_url])
    assert out.exit_code == 0 and "unlocked user=qian was_locked=true" in out.stdout, out.output
    assert sign_in(client, "qian").status_code == 200
    events = client.get("/auth/events", params={"username": "qian"}, headers=bearer(client, "boss")).json()
    assert events[1]["outcome"] == "unlocked" and events[1]["actor"].startswith("cli:")
    again = CliRunner().invoke(cli, ["user", "unlock", "qian", "--database-url", database_url])
    assert again.exit_code == 0 and "was_locked=false" in again.stdout
    for sql in ("UPDATE sign_in_event SET outcome = 'success'", "DELETE FROM sign_in_event"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), people.begin() as conn:
            conn.execute(sa.text(sql))


def test_unknown_names_run_the_same_password_hashing(people: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown (or disabled) name costs the same scrypt as a wrong password for a real account."""
    with transaction(session_factory(people)) as session:
        session.execute(sa.update(UserRow).where(UserRow.username == "qian").values(active=False))
    client = app_client(people, signin_account_failures=1000, signin_address_failures=1000)
    real = hashlib.scrypt
    calls: list[tuple[Any, ...]] = []

    def scrypt(password: bytes, **kw: Any) -> bytes:
        calls.append((kw["n"], kw["r"], kw["p"], kw["dklen"], len(kw["salt"])))
        return real(password, **kw)

    monkeypatch.setattr(hashlib, "scrypt", scrypt)
    seen = {}
    for name in ("zhao", "nobody-here", "qian"):
        calls.clear()
        r = sign_in(client, name, WRONG)
        assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
        seen[name] = list(calls)
    assert seen["zhao"] == seen["nobody-here"] == seen["qian"] and len(seen["zhao"]) == 1
    monkeypatch.setattr(hashlib, "scrypt", real)
    # And the clock agrees (the probe measured 6 ms against 59 ms): medians within a generous factor.
    timings: dict[str, list[float]] = {"zhao": [], "nobody-here": []}
    for _ in range(7):
        for name, spent in timings.items():
            start = time.perf_counter()
            sign_in(client, name, WRONG)
            spent.append(time.perf_counter() - start)
    known, unknown = (statistics.median(timings[n]) for n in ("zhao", "nobody-here"))
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_the_lock_holds_across_server_workers(people: Engine, database_url: str, tmp_path: Path) -> None:
    """`gridgov serve --workers 2`: each attempt on a new connection, whichever worker takes it, counts once."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_TICK_SECONDS": "0",
           "GRIDGOV_DATA_DIR": str(tmp_path), "GRIDGOV_SIGNIN_ACCOUNT_FAILURES": "3"}
    argv = [sys.executable, "-m", "cli.main", "serve", "--workers", "2", "--port", str(port)]
    with running(argv, f"{base}/health", tmp_path / "server.log", env, startup_s=300):
        codes = [httpx.post(f"{base}/auth/token", json={"username": "zhao", "password": WRONG}, timeout=30)
                 .status_code for _ in range(10)]
        right = httpx.post(f"{base}/auth/token", json={"username": "zhao", "password": PASSWORD}, timeout=30)
    assert codes == [401] * 3 + [429] * 7
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0


def test_migration_0007_goes_down_and_up(people: Engine) -> None:
    client = app_client(people)
    assert sign_in(client, "zhao", WRONG).status_code == 401
    downgrade(people, "0006")
    for table in ("sign_in_guard", "sign_in_event"):
        with pytest.raises(sa.exc.DatabaseError), people.connect() as conn:
            conn.execute(sa.text(f"SELECT count(*) FROM {table}"))
    upgrade(people)
    assert schema_revision(people)[0] == schema_revision(people)[1]
    with people.begin() as conn:
        conn.execute(sa.text("INSERT INTO sign_in_event (at, username, outcome, actor, detail) "
                             "VALUES (CURRENT_TIMESTAMP, 'x', 'failure', 'x', '')"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), people.begin() as conn:
        conn.execute(sa.text("DELETE FROM sign_in_event"))


def test_stale_counters_are_pruned_and_locks_kept(people: Engine) -> None:
    policy = SignInPolicy(window=timedelta(minutes=15), account_failures=2, lock=timedelta(hours=2))
    now = clock.now()
    long_ago = now - timedelta(hours=1)
    with transaction(session_factory(people)) as session:
        guard = SignInGuard(session, policy)
        assert guard.reserve("stale", "10.1.1.1", long_ago) is None
        assert guard.failed("stale", "10.1.1.1", long_ago) is None
        for _ in range(2):
            assert guard.reserve("locked", "10.1.1.2", long_ago) is None
        assert guard.failed("locked", "10.1.1.2", long_ago) == long_ago + policy.lock
        assert guard.reserve("fresh", "10.1.1.3", now) is None
    with transaction(session_factory(people)) as session:
        assert SignInGuard(session, policy).prune(now) == 3  # stale's two rows and locked's address row
    with people.connect() as conn:
        left = set(conn.execute(sa.select(SignInGuardRow.scope, SignInGuardRow.key)).all())
    assert left == {("account", "locked"), ("account", "fresh"), ("address", "10.1.1.3")}


def test_hammering_a_lock_adds_one_refusal_a_minute_to_the_log(people: Engine) -> None:
    limits = {"signin_account_failures": 2, "signin_address_failures": 3}
    client, other = app_client(people, "10.9.9.9", **limits), app_client(people, "10.9.9.8", **limits)
    assert [sign_in(client, "zhao", WRONG).status_code for _ in range(40)] == [401] * 2 + [429] * 38
    assert [sign_in(other, f"n{i}", WRONG).status_code for i in range(30)] == [401] * 3 + [429] * 27
    log = client.get("/auth/events", params={"limit": 1000}, headers=bearer(client, "boss")).json()
    refused = [(e["username"], e["client"]) for e in log if e["outcome"] == "refused"]
    assert sorted(refused) == [("n3", "10.9.9.8"), ("zhao", "10.9.9.9")]
