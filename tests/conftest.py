"""Shared fixtures: the same behaviour tests run on SQLite and on a real PostgreSQL+PostGIS server."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository
from store.users import Users
from tests import routing_scenario as sc

# Real public data (Qiu County, NYC 311) copied into the repository with its source and licence
# (tests/data/SOURCE.md), so a clone alone passes; GRIDGOV_TEST_DATA points elsewhere if wanted.
SHARED = Path(os.environ.get("GRIDGOV_TEST_DATA") or Path(__file__).resolve().parent / "data")
QIU = SHARED / "qiu_county"
NYC311 = SHARED / "nyc311"
BACKENDS = ["sqlite", "postgis"]


def postgres_url() -> str | None:
    """The throwaway PostGIS the test command started, if any."""
    return os.environ.get("GRIDGOV_TEST_POSTGRES_URL")


def _require_postgres() -> str:
    url = postgres_url()
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("GRIDGOV_TEST_POSTGRES_URL is not set: in CI the PostGIS tests must run "
                    "(scripts/test.sh starts the server)")
    pytest.skip("no PostGIS server (run scripts/test.sh, which starts one)")


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")


def fresh_engine(backend: str, folder: Path) -> Engine:
    """A freshly migrated, empty database on this backend ("sqlite": a file in `folder`; "postgis": the test server's,
    its schema dropped first)."""
    if backend == "sqlite":
        eng = make_engine(f"sqlite:///{folder / 'gridgov.sqlite'}")
    else:
        eng = make_engine(_require_postgres())
        _reset_postgres(eng)
    upgrade(eng)
    return eng


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty database on each backend."""
    eng = fresh_engine(request.param, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of the fresh database (for CLI and API tests)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def repo(engine: Engine) -> Iterator[Repository]:
    """A repository in one transaction that the test commits explicitly when it needs to."""
    with transaction(session_factory(engine)) as session:
        yield Repository(session)


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table: to prove a failed write left nothing behind."""
    tables = ["boundary_version", "unit", "team", "matter", "delegation", "rule", "incident", "case_record",
              "case_event", "photo"]
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def signed_in(client: TestClient, engine: Engine, role: str = "auditor", *, team: str | None = None,
              username: str | None = None) -> TestClient:
    """The client with a device token of a new account of this role in its default headers."""
    name = username or f"{role}-{team or 'all'}"
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        users.add(name, "correct horse battery", role, team_code=team)
        token = users.device_token(name, "tests")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    """v1 from 2025-01-01 without the claim on V3; v2 from 2026-01-01 adds it (a dispute)."""
    with transaction(session_factory(engine)) as session:
        sc.load(Repository(session))
    return engine


PASSWORD = "correct horse battery"
ACCOUNTS = [("worker1", "grid_worker", "TT1"), ("worker2", "grid_worker", "TT2"), ("tt1", "team_member", "TT1"),
            ("tt2", "team_member", "TT2"), ("boss", "dispatcher", None), ("audit", "auditor", None),
            ("plan", "planner", None)]


Account = tuple[str, str, str | None]  # username, role, team


def add_accounts(engine: Engine, accounts: Sequence[Account], names: Mapping[str, str] | None = None) -> None:
    """These accounts, all with PASSWORD (display names from `names` where given)."""
    with transaction(session_factory(engine)) as session:
        users = Users(session)
        for name, role, team in accounts:
            users.add(name, PASSWORD, role, team_code=team, display_name=(names or {}).get(name))


def bearer(client: TestClient, name: str) -> dict[str, str]:
    """The Authorization header of an account signed in through /auth/token."""
    token = client.post("/auth/token", json={"username": name, "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def scenario_app(folder: Path, accounts: Sequence[Account], names: Mapping[str, str] | None = None) -> tuple[
        TestClient, Engine, str]:
    """The two-version scenario (as `loaded`) in a SQLite file in `folder`, with these accounts, behind an app:
    its client, the engine and the database URL."""
    engine = fresh_engine("sqlite", folder)
    with transaction(session_factory(engine)) as session:
        sc.load(Repository(session))
    add_accounts(engine, accounts, names)
    url = engine.url.render_as_string(hide_password=False)
    return TestClient(create_app(get_settings(database_url=url, media_dir=folder / "m"))), engine, url


@pytest.fixture
def api(loaded: Engine, database_url: str, tmp_path: Path) -> tuple[TestClient, dict[str, dict[str, str]], Engine]:
    """The two-version scenario behind an app, with one signed-in account per role (headers by name)."""
    add_accounts(loaded, ACCOUNTS)
    client = TestClient(create_app(get_settings(database_url=database_url, media_dir=tmp_path / "media")))
    return client, {name: bearer(client, name) for name, _, _ in ACCOUNTS}, loaded
