"""Shared fixtures: the same behaviour tests run on SQLite and on a real PostgreSQL+PostGIS server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository

# The real data lives beside the checkout (../shared/data), never in the repository.
SHARED = Path(os.environ.get("GRIDGOV_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
if not (SHARED / "qiu_county").is_dir():
    raise RuntimeError(f"the shared test data is not at {SHARED}; set GRIDGOV_SHARED_DATA to its folder")
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


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'gridgov.sqlite'}")
    else:
        eng = make_engine(_require_postgres())
        _reset_postgres(eng)
    upgrade(eng)
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
    tables = ["boundary_version", "unit", "team", "matter", "delegation", "rule", "incident"]
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
