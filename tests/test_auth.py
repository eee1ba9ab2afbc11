"""Accounts, sign-in and tokens, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from cli.main import app as cli
from config import get_settings
from store.db import session_factory, transaction
from store.repo import Repository
from store.schema import TokenRow, UserRow
from store.users import Users, verify_password
from tests import routing_scenario as sc

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(engine: Engine) -> Engine:
    with transaction(session_factory(engine)) as session:
        Repository(session).add_teams(sc.TEAMS)
    return engine


def add_user(database_url: str, *args: str) -> CliRunner:
    result = CliRunner().invoke(cli, ["user", "add", *args, "--database-url", database_url],
                                env={"GRIDGOV_NEW_PASSWORD": PASSWORD, "GRIDGOV_LANGUAGE": "en"})
    return result


def test_cli_creates_accounts_with_scrypt_hashes(accounts: Engine, database_url: str) -> None:
    out = add_user(database_url, "wang", "--role", "team_member", "--team", "TT1")
    assert out.exit_code == 0 and "created user=wang role=team_member team=TT1" in out.stdout
    with accounts.connect() as conn:
        stored = conn.execute(sa.select(UserRow.password_hash)).scalar_one()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)
    for args, message in [(("li", "--role", "mayor"), "unknown role 'mayor'"),
                          (("li", "--role", "grid_worker"), "a grid_worker belongs to a team"),
                          (("li", "--role", "team_member", "--team", "NOPE"), "unknown team code NOPE"),
                          (("wang", "--role", "auditor"), "user wang already exists")]:
        bad = add_user(database_url, *args)
        assert bad.exit_code == 2 and message in bad.stderr


def test_sign_in_tokens_and_their_failures(accounts: Engine, database_url: str) -> None:
    add_user(database_url, "zhao", "--role", "dispatcher")
    client = TestClient(create_app(get_settings(database_url=database_url)))
    ok = client.post("/auth/token", json={"username": "zhao", "password": PASSWORD})
    assert ok.status_code == 200 and ok.json()["role"] == "dispatcher"
    token = ok.json()["access_token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "zhao"
    with accounts.connect() as conn:
        assert token not in {h for (h,) in conn.execute(sa.select(TokenRow.token_hash))}  # only its hash
    for body in ({"username": "zhao", "password": "wrong password"}, {"username": "nobody", "password": PASSWORD}):
        bad = client.post("/auth/token", json=body)
        assert bad.status_code == 401 and bad.json()["detail"] == "wrong username or password"
    missing = client.get("/auth/me")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "sign in first" in missing.json()["detail"]
    forged = client.get("/auth/me", headers={"Authorization": "Bearer " + token[:-2] + "xx"})
    assert forged.status_code == 401 and "unknown token" in forged.json()["detail"]
    assert client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoked = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_expired_tokens_and_device_tokens(accounts: Engine, database_url: str) -> None:
    add_user(database_url, "sun", "--role", "grid_worker", "--team", "TT1")
    short = TestClient(create_app(get_settings(database_url=database_url, token_ttl_hours=0)))
    token = short.post("/auth/token", json={"username": "sun", "password": PASSWORD}).json()["access_token"]
    expired = short.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    device = CliRunner().invoke(cli, ["user", "token", "sun", "--name", "phone-01", "--database-url", database_url])
    assert device.exit_code == 0
    got = short.get("/auth/me", headers={"Authorization": f"Bearer {device.stdout.strip()}"})
    assert got.status_code == 200 and got.json()["team_code"] == "TT1"
    with transaction(session_factory(accounts)) as session:
        assert Users(session).authenticate(device.stdout.strip()).username == "sun"
