"""One clock (issue 13.3): instants stored, the county's zone for days, deadlines, "today" and what pages show.

The must-show test runs `gridgov serve` with TZ=UTC and with TZ=America/New_York over copies of one database,
the server's clock started (GRIDGOV_TEST_NOW) at 2026-03-01 17:30 UTC: a Sunday in UTC and in New York, but
Monday 01:30 in the county (Asia/Shanghai). Both servers must agree — and agree with the county — on the
version in force "today", deadlines, escalation (`gridgov tick`, `POST /cases/{id}/actions`) and the times the
pages show (in a browser whose own zone is a third one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases import clock
from config import get_settings
from store.cases import case_state
from store.db import downgrade, make_engine, session_factory, transaction, upgrade
from store.repo import Repository
from store.schema import CaseEventRow, CaseRow, SignInEventRow, VersionRow
from store.users import Users
from tests.conftest import ACCOUNTS, PASSWORD
from tests.live import ROOT, live_server, token

CN = ZoneInfo("Asia/Shanghai")
SEAT = (115.17, 36.09)  # 城关镇 T1 (tests/routing_scenario.py): M-STREET → township team TT1
EAST = (115.30, 36.15)  # 东乡 T2: M-STREET → TT2
START = "2026-03-01T17:30:00Z"  # Sunday in UTC and New York; Monday 2026-03-02 01:30 in the county


# --- the clock itself -------------------------------------------------------------------------------------

def test_clock_is_the_county_s_whatever_the_server_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    try:
        for tz in ("UTC", "America/New_York", "Asia/Kolkata"):
            monkeypatch.setenv("TZ", tz)
            time.tzset()
            clock.configure("Asia/Shanghai", test_now=START)
            assert clock.today() == date(2026, 3, 2)
            assert clock.now().utcoffset() == timedelta(hours=8) and clock.now().hour == 1
            at, assumed = clock.parse("2026-03-02T09:00")
            assert assumed and at == datetime(2026, 3, 2, 1, tzinfo=UTC)
            at, assumed = clock.parse("2026-03-02T09:00Z")
            assert not assumed and clock.iso(at) == "2026-03-02T17:00:00+08:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        clock.configure()


def test_unknown_zone_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        get_settings(timezone="Mars/Olympus")
    done = subprocess.run([sys.executable, "-m", "cli.main", "info"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GRIDGOV_TIMEZONE": "Asia/Nowhere", "GRIDGOV_LANGUAGE": "en"})
    assert done.returncode == 2 and "GRIDGOV_TIMEZONE: unknown time zone 'Asia/Nowhere'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    settings = get_settings(timezone="Asia/Urumqi")
    try:
        assert clock.zone_name() == "Asia/Urumqi" and clock.now().utcoffset() == timedelta(hours=6)
    finally:
        clock.configure(type(settings).model_fields["timezone"].default)


# --- migration 0010 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Asia/Urumqi"])
def test_0010_reads_naive_rows_in_the_configured_zone(engine: Engine, zone: str) -> None:
    """Rows written before 0010 (naive wall-clock times, JSON without offsets) become instants read in the zone
    configured when the migration runs; the log stays append-only; downgrade gives the wall-clock times back."""
    offset = timedelta(hours=8 if zone == "Asia/Shanghai" else 6)
    tz = ZoneInfo(zone)
    downgrade(engine, "0009")
    state = {"status": "dispatched", "matter_code": "M-X", "procedure": "simple", "time_limit": 2,
             "time_unit": "working_days", "team": {"code": "TT1", "kind": "township_team"},
             "reported_at": "2026-03-02T09:00:00", "registered_at": "2026-03-02T09:00:00",
             "deadline": "2026-03-04T17:00:00", "level2_at": "2026-03-06T17:00:00",
             "updated_at": "2026-03-02T09:00:00", "revision": 2}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO boundary_version (id, name, status, note, created_at, revision) "
                             "VALUES (1, 'v', 'published', '', '2026-01-01 08:00:00', 0)"))
        conn.execute(sa.insert(sa.table("case_record", *(sa.column(c) for c in (
            "id", "status", "matter_code", "procedure", "team_code", "co_owners", "raw_crs", "description",
            "reporter", "reported_at", "routing", "version_id", "state", "revision", "updated_at", "deadline",
            "escalation_level", "photos", "address")))).values(
            id=7, status="dispatched", matter_code="M-X", procedure="simple", team_code="TT1", co_owners="[]",
            raw_crs="wgs84", description="旧案", reporter="w", reported_at=datetime(2026, 3, 2, 9), routing="{}",
            version_id=1, state=json.dumps(state), revision=2, updated_at=datetime(2026, 3, 2, 9),
            deadline=datetime(2026, 3, 4, 17), escalation_level=0, photos="[]", address="某村"))
        conn.execute(sa.text("INSERT INTO case_event (case_id, at, recorded_at, actor, action, reason, detail) "
                             "VALUES (7, '2026-03-02 09:00:00', '2026-03-02 09:00:05', 'platform', 'register', '', "
                             "'{\"deadline\": \"2026-03-04T17:00:00\"}')"))
        conn.execute(sa.text("INSERT INTO sign_in_event (at, username, client, outcome, actor, detail) "
                             "VALUES ('2026-03-02 08:00:00', 'w', '127.0.0.1', 'success', 'w', '')"))
    clock.configure(zone)
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as session:
            row = session.get(CaseRow, 7)
            assert row is not None
            assert row.reported_at == datetime(2026, 3, 2, 9, tzinfo=tz) == datetime(2026, 3, 2, 9, tzinfo=UTC) - offset
            assert row.reported_at.utcoffset() == offset and row.deadline == datetime(2026, 3, 4, 17, tzinfo=tz)
            assert row.state["deadline"] == datetime(2026, 3, 4, 17, tzinfo=tz).isoformat()
            assert case_state(row).deadline == row.deadline and case_state(row).updated_at == row.updated_at
            event = session.scalars(sa.select(CaseEventRow).where(CaseEventRow.case_id == 7)).one()
            assert event.at == datetime(2026, 3, 2, 9, tzinfo=tz)
            assert event.recorded_at == datetime(2026, 3, 2, 9, 0, 5, tzinfo=tz)
            assert event.detail["deadline"] == datetime(2026, 3, 4, 17, tzinfo=tz).isoformat()
            signin = session.scalars(sa.select(SignInEventRow)).one()
            assert signin.at == datetime(2026, 3, 2, 8, tzinfo=tz)
            assert session.get(VersionRow, 1).created_at == datetime(2026, 1, 1, 8, tzinfo=tz)  # type: ignore[union-attr]
        with engine.connect() as conn:  # what is stored: UTC on SQLite, timestamptz on PostgreSQL
            if engine.dialect.name == "postgresql":
                assert conn.execute(sa.text("SELECT data_type FROM information_schema.columns WHERE table_name = "
                                            "'case_record' AND column_name = 'deadline'")).scalar_one() == \
                    "timestamp with time zone"
                stored = conn.execute(sa.text("SELECT reported_at AT TIME ZONE 'UTC' FROM case_record")).scalar_one()
            else:
                stored = conn.execute(sa.text("SELECT reported_at FROM case_record")).scalar_one()
                stored = datetime.fromisoformat(stored)
            assert stored == datetime(2026, 3, 2, 9) - offset
        for table in ("case_event", "sign_in_event"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(f"DELETE FROM {table}"))
        downgrade(engine, "0009")
        with engine.connect() as conn:
            back = conn.execute(sa.text("SELECT reported_at, deadline, state FROM case_record")).one()
            value = back[0] if isinstance(back[0], datetime) else datetime.fromisoformat(back[0])
            assert value == datetime(2026, 3, 2, 9)
            kept = back[2] if isinstance(back[2], dict) else json.loads(back[2])
            assert kept["deadline"] == "2026-03-04T17:00:00"
        upgrade(engine)
    finally:
        clock.configure()


# --- the must-show: one server, two TZs, identical answers -----------------------------------------------------

def _prepare(path: Path) -> tuple[int, int]:
    """The routing scenario (v1 2025, v2 2026) plus v3 in force from 2026-03-02 — the county's Monday, still Sunday
    in UTC at the servers' start — and one account per role. Returns (v2, v3) ids."""
    from tests import routing_scenario as sc

    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as session:
            repo = Repository(session)
            _, v2 = sc.load(repo)
            v3 = repo.create_version("2026-03", based_on=v2)
            assert v3.id is not None
            repo.publish(v3.id, date(2026, 3, 2))
            users = Users(session)
            for name, role, team in ACCOUNTS:
                users.add(name, PASSWORD, role, team_code=team)
        return v2, v3.id
    finally:
        engine.dispose()


def _session(base: str, tz: str, db: Path, data: Path) -> dict[str, Any]:
    """Everything a person would read about time from one server: versions, deadlines, escalations, events."""
    h = {name: {"Authorization": f"Bearer {token(base, name, PASSWORD)}"} for name in ("worker1", "boss", "tt1")}
    out: dict[str, Any] = {}
    today = httpx.post(f"{base}/route", json={"lat": SEAT[1], "lon": SEAT[0], "matter": "M-STREET"},
                       headers=h["worker1"], timeout=30).json()
    out["route_today"] = (today.get("day"), today.get("version", {}))
    # A report now (the county's Monday 01:30): registered at once; 5 working days, Monday not counted.
    r = httpx.post(f"{base}/reports", json={"idempotency_key": "clock-now-0001", "matter": "M-STREET",
                                            "lat": SEAT[1], "lon": SEAT[0]}, headers=h["worker1"], timeout=30)
    assert r.status_code == 201, r.text
    now_case = r.json()
    assert "time_zone_assumed" not in now_case
    # A phone that sends its local time without an offset: the county's wall clock, and the answer says so.
    r = httpx.post(f"{base}/reports", json={"idempotency_key": "clock-naive-0001", "matter": "M-STREET",
                                            "lat": EAST[1], "lon": EAST[0],
                                            "reported_at": "2026-03-02T00:45:00"}, headers=h["worker1"], timeout=30)
    assert r.status_code == 201, r.text
    naive_case = r.json()
    # An offset far in the future (an hour ahead of the county's clock, written in UTC) is refused.
    r = httpx.post(f"{base}/reports", json={"idempotency_key": "clock-late-0001", "matter": "M-STREET",
                                            "lat": SEAT[1], "lon": SEAT[0], "reported_at": "2026-03-01T18:45:00Z"},
                   headers=h["worker1"], timeout=30)
    assert r.status_code == 422 and "future" in r.text, r.text
    # A step with a naive `at`: read in the county's zone, said so.
    r = httpx.post(f"{base}/cases/{now_case['id']}/actions",
                   json={"revision": now_case["revision"], "action": "arrive", "at": "2026-03-02T01:36"},
                   headers=h["tt1"], timeout=30)
    assert r.status_code == 200, r.text
    arrived = r.json()
    # Escalation by the CLI, at the deadline's minute and a minute after it (naive: the county's wall clock).
    ticks = []
    for at in (now_case["deadline"][:16], clock.to_local(datetime.fromisoformat(now_case["deadline"])
                                                          + timedelta(minutes=1)).isoformat()[:16]):
        done = subprocess.run([sys.executable, "-m", "cli.main", "tick", "--at", at], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "TZ": tz, "GRIDGOV_TEST_NOW": "",
                                                           "GRIDGOV_DATABASE_URL": f"sqlite:///{db}",
                                                           "GRIDGOV_DATA_DIR": str(data)})
        assert done.returncode == 0, done.stderr
        ticks.append((done.stdout.strip().splitlines()[-1], "--at 未带 UTC 偏移" in done.stderr))  # said in zh-CN
    history = httpx.get(f"{base}/cases/{now_case['id']}/history", headers=h["boss"], timeout=30).json()
    case = httpx.get(f"{base}/cases/{now_case['id']}", headers=h["boss"], timeout=30).json()
    feed = httpx.get(f"{base}/wall/cases", headers=h["boss"], timeout=30).json()
    out.update({
        "now_case": {"reported_at": now_case["reported_at"][:16] + now_case["reported_at"][-6:],
                     **{k: now_case[k] for k in ("deadline", "version", "status")}},
        "naive_case": {k: naive_case[k] for k in ("reported_at", "deadline", "time_zone_assumed")},
        "arrived": (arrived["status"], arrived["events"][-1]["at"], arrived.get("time_zone_assumed")),
        "ticks": ticks,
        "escalations": [(e["action"], e["at"], e["reason"], e["detail"].get("deadline")) for e in history
                        if e["action"] == "escalate"],
        "case": (case["escalation_level"], case["overdue"], case["deadline"]),
        "feed_now": feed["now"][:15],
        "page_zone": '"time_zone": "Asia/Shanghai"' in httpx.get(f"{base}/wall", timeout=30).text,
    })
    return out


def _shown(base: str, browser_zone: str) -> dict[str, Any]:
    """What the wall page shows, in a browser whose own zone is `browser_zone`."""
    from playwright import sync_api as playwright_api

    from tests.test_web import CHROMIUM_FLAGS, chromium_path

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(timezone_id=browser_zone)
            context.add_init_script(f"localStorage.setItem('gg.token', {token(base, 'boss', PASSWORD)!r});")
            page = context.new_page()
            page.goto(base + "/wall")
            page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=60_000)
            page.wait_for_timeout(1200)  # the header clock ticks every second
            return {
                "clock": page.evaluate("document.querySelector('#gg-clock').textContent")[:16],
                "deadline": page.evaluate("GG.fmtTime('2026-03-09T09:00:00Z')"),
                "day": page.evaluate("GG.isoDay(new Date(Date.parse('2026-03-01T17:30:00Z')))"),
                "browser_zone": page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone"),
            }
        finally:
            browser.close()


def test_same_answers_with_server_tz_utc_and_new_york(tmp_path: Path) -> None:
    source = tmp_path / "source.sqlite"
    v2, v3 = _prepare(source)
    seen: dict[str, dict[str, Any]] = {}
    shown: dict[str, dict[str, Any]] = {}
    for tz in ("UTC", "America/New_York"):
        data = tmp_path / tz.replace("/", "_")
        data.mkdir()
        db = data / "gridgov.sqlite"
        shutil.copy(source, db)
        with live_server(f"sqlite:///{db}", data, TZ=tz, GRIDGOV_TEST_NOW=START) as base:
            seen[tz] = _session(base, tz, db, data)
            shown[tz] = _shown(base, "America/Los_Angeles" if tz == "UTC" else "Europe/Berlin")
    utc, ny = seen["UTC"], seen["America/New_York"]
    assert utc == ny
    # …and what they agree on is the county's reading.
    assert utc["route_today"][0] == "2026-03-02"  # the county's Monday, not UTC's or New York's Sunday
    assert utc["now_case"]["version"] == v3 != v2
    assert utc["now_case"]["reported_at"] == "2026-03-02T01:30+08:00"
    assert utc["now_case"]["deadline"] == "2026-03-09T17:00:00+08:00"  # 5 working days after Monday, 17:00
    assert utc["naive_case"]["reported_at"] == "2026-03-02T00:45:00+08:00"
    assert utc["naive_case"]["time_zone_assumed"]["fields"] == ["reported_at"]
    assert utc["naive_case"]["time_zone_assumed"]["time_zone"] == "Asia/Shanghai"
    assert utc["arrived"] == ("arrived", "2026-03-02T01:36:00+08:00", utc["arrived"][2])
    assert utc["arrived"][2]["fields"] == ["at"]
    assert utc["ticks"] == [("escalated=0", True), ("escalated=2", True)]  # both cases are due 03-09 17:00
    assert [e[:2] for e in utc["escalations"]] == [("escalate", "2026-03-09T17:01:00+08:00")]
    assert "2026年3月9日 17:00" in utc["escalations"][0][2]  # the note: the county's wall clock, in its language
    assert utc["escalations"][0][3] == "2026-03-09T17:00:00+08:00"
    assert utc["case"] == (1, False, "2026-03-09T17:00:00+08:00")  # not overdue yet by the servers' clock
    assert utc["feed_now"] == "2026-03-02T01:3"
    assert utc["page_zone"]
    for tz, page in shown.items():
        assert page["browser_zone"] != tz
        assert page["clock"].startswith("2026-03-02 01:3"), page
        assert page["deadline"] == "2026-03-09 17:00" and page["day"] == "2026-03-02", page
    assert {k: v for k, v in shown["UTC"].items() if k != "browser_zone"} == \
        {k: v for k, v in shown["America/New_York"].items() if k != "browser_zone"}
