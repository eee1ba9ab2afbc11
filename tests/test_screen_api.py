"""The big screen's figures (GET /screen/summary) against an independent count over cases made through the API.

The county clock is set to Thursday 18 June 2026, 10:00, so "today", "this month" and the 30-day window are
fixed. Cases are reported (grid workers, Open311, a dispatcher), closed on time and late, left overdue, suspended
after their deadline, escalated and cancelled through the API; the expected figures are then counted in Python
from what GET /cases and the histories say, and from how the test itself made each case (its channel).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases import clock
from tests.test_open311 import FORM, V2, device_key

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 18, 10, 0, tzinfo=ZONE)
T1_POINTS = [(115.11, 36.09), (115.13, 36.09), (115.12, 36.075), (115.11, 36.065)]  # 南关村: 城关镇's own team
T2_POINTS = [(115.30, 36.15), (115.33, 36.12), (115.36, 36.16), (115.30, 36.06), (115.35, 36.05), (115.27, 36.18)]


@pytest.fixture
def june() -> Iterator[None]:
    clock.configure("Asia/Shanghai", test_now=NOW.isoformat())
    yield
    clock.configure()


def report(client: TestClient, who: dict[str, str], point: tuple[float, float], at: str, matter: str = "M-STREET",
           **extra: Any) -> dict[str, Any]:
    body = {"idempotency_key": str(uuid.uuid4()), "matter": matter, "lon": point[0], "lat": point[1],
            "reported_at": at, "description": "大屏", **extra}
    r = client.post("/reports", json=body, headers=who)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


def act(client: TestClient, who: dict[str, str], case_id: int, *actions: dict[str, Any]) -> dict[str, Any]:
    revision = client.get(f"/cases/{case_id}", headers=who).json()["revision"]
    r = client.post(f"/cases/{case_id}/actions", headers=who, json={"revision": revision, "actions": list(actions)})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def work_and_close(client: TestClient, h: dict[str, dict[str, str]], team: str, case_id: int,
                   at: str | None = None) -> None:
    when = {"at": at} if at else {}
    act(client, h[team], case_id, {"action": "arrive", **when}, {"action": "handle", **when},
        {"action": "feedback", **when})
    act(client, h["boss"], case_id, {"action": "close", **when})


def day(iso: str) -> date:
    return datetime.fromisoformat(iso).astimezone(ZONE).date()


def expected(client: TestClient, who: dict[str, str], channels: dict[int, str]) -> dict[str, Any]:
    """The figures counted in Python from the API's own views of the cases and their histories."""
    now = clock.now()
    today, month = now.date(), now.date().replace(day=1)
    window = [today - timedelta(days=k) for k in range(29, -1, -1)]
    cases = client.get("/cases", params={"limit": 10000}, headers=who).json()
    histories = {c["id"]: client.get(f"/cases/{c['id']}/history", headers=who).json() for c in cases}
    open_states = {"reported", "registered", "dispatched", "arrived", "handled", "fed_back", "checked", "suspended"}
    closed = [c for c in cases if c["status"] in ("closed", "evaluated")]

    def due(c: dict[str, Any]) -> bool:
        if c["status"] in ("suspended", "cancelled", "duplicate"):
            return False
        if c in closed:
            return day(c["closed_at"]) >= month
        return c["status"] in open_states and c["deadline"] is not None and \
            month <= day(c["deadline"]) and datetime.fromisoformat(c["deadline"]) < now

    def on_time(c: dict[str, Any]) -> bool:
        return c in closed and day(c["closed_at"]) >= month and c["on_time"] is True

    townships: dict[str, list[int]] = {}
    for c in cases:
        if due(c):
            townships.setdefault(c["township"] or "(none)", [0, 0])
            townships[c["township"] or "(none)"][0] += 1
            townships[c["township"] or "(none)"][1] += on_time(c)
    n_due, n_on = sum(due(c) for c in cases), sum(on_time(c) for c in cases)
    recent = [c for c in cases if day(c["reported_at"]) >= window[0]]
    return {
        "kpi": {"reported_today": sum(day(c["reported_at"]) == today for c in cases),
                "registered_today": sum(any(e["action"] == "register" and day(e["at"]) == today for e in histories[i])
                                        for i in histories),
                "closed_today": sum(day(c["closed_at"]) == today for c in closed),
                "open": sum(c["status"] in open_states for c in cases),
                "overdue": sum(c["overdue"] for c in cases), "escalated": sum(
                    c["status"] in open_states and c["escalation_level"] >= 1 for c in cases),
                "due_this_month": n_due, "closed_on_time_this_month": n_on,
                "on_time_rate_this_month": round(n_on / n_due, 6) if n_due else None},
        "trend": [{"day": d.isoformat(), "reported": sum(day(c["reported_at"]) == d for c in cases),
                   "closed": sum(day(c["closed_at"]) == d for c in closed)} for d in window],
        "categories": Counter(c["matter"] for c in recent),
        "townships": {k: (v[0], v[1]) for k, v in townships.items()},
        "sources": Counter(channels.get(c["id"], "other") for c in recent),
        "events": sorted((e["id"] for es in histories.values() for e in es), reverse=True)[:20],
    }


def test_figures_match_an_independent_count(api: Api, june: None) -> None:
    client, h, engine = api
    channels: dict[int, str] = {}

    def by_worker(point: tuple[float, float], at: str, who: str = "worker1", **extra: Any) -> dict[str, Any]:
        case = report(client, h[who], point, at, **extra)
        channels[case["id"]] = "grid_worker"
        return case

    # Closed on time: two today in 东乡 (T2), one yesterday in 城关镇 (T1).
    a = by_worker(T2_POINTS[0], "2026-06-18T08:00:00", who="worker2")
    work_and_close(client, h, "tt2", a["id"])
    a2 = by_worker(T2_POINTS[5], "2026-06-18T08:20:00", who="worker2")
    work_and_close(client, h, "tt2", a2["id"])
    b = by_worker(T1_POINTS[0], "2026-06-17T09:00:00")
    work_and_close(client, h, "tt1", b["id"], at="2026-06-17T15:00:00")
    # Reported ten days ago: closed late today (T2), left open and overdue (T1), suspended after its deadline (T1).
    late = by_worker(T2_POINTS[1], "2026-06-08T09:00:00", who="worker2")
    work_and_close(client, h, "tt2", late["id"])
    by_worker(T1_POINTS[1], "2026-06-08T09:30:00")  # open and overdue
    held = by_worker(T1_POINTS[2], "2026-06-08T10:00:00")
    assert datetime.fromisoformat(held["deadline"]) < NOW and day(held["deadline"]) >= date(2026, 6, 1)
    act(client, h["boss"], held["id"], {"action": "suspend", "reason": "等待产权认定", "at": "2026-06-16T11:00:00"})
    # Escalated today; closed last month; a report through Open311; one a dispatcher took by phone; a cancelled one.
    esc = by_worker(T2_POINTS[2], "2026-06-18T09:10:00", who="worker2")
    act(client, h["boss"], esc["id"], {"action": "escalate", "level": 1, "reason": "群众多次反映"})
    old = by_worker(T2_POINTS[3], "2026-05-22T09:00:00", who="worker2")
    work_and_close(client, h, "tt2", old["id"], at="2026-05-25T10:00:00")
    key = device_key(engine, "worker2")
    r = client.post(f"{V2}/requests.json", headers=FORM, content=(
        f"api_key={key}&service_code=M-LAND&lat={T2_POINTS[4][1]}&long={T2_POINTS[4][0]}"
        "&description=open311").encode())
    assert r.status_code == 201, r.text
    channels[int(r.json()[0]["service_request_id"])] = "open311"
    report(client, h["boss"], T1_POINTS[3], "2026-06-18T09:40:00", matter="M-NOISE")  # other: not in `channels`
    gap = by_worker((115.2004, 36.19), "2026-06-18T09:50:00", accuracy_m=100)  # near the T1/T2 boundary: triage
    assert gap["status"] == "reported" and gap["triage"]
    act(client, h["boss"], gap["id"], {"action": "cancel", "reason": "误报"})

    got = client.get("/screen/summary", headers=h["boss"])
    assert got.status_code == 200, got.text
    s = got.json()
    want = expected(client, h["boss"], channels)
    assert s["kpi"] == want["kpi"]
    assert (s["today"], s["month"], s["county_name"]) == ("2026-06-18", "2026-06", "演示县")
    # The independent count has something to count: every tile but the rate's parts moved off zero.
    kpi = s["kpi"]
    assert kpi["reported_today"] >= 5 and kpi["closed_today"] == 3 and kpi["overdue"] >= 2 and kpi["escalated"] == 1
    assert (kpi["due_this_month"], kpi["closed_on_time_this_month"]) == (5, 3)  # a, a2, b on time; late, overdue
    assert kpi["on_time_rate_this_month"] == 0.6  # suspended is out of the denominator: counted in, 3/6
    assert s["trend"] == want["trend"] and len(s["trend"]) == 30 and s["trend"][-1]["day"] == "2026-06-18"
    assert {c["matter"]: c["cases"] for c in s["categories"]} == dict(want["categories"])
    assert [c["cases"] for c in s["categories"]] == sorted((c["cases"] for c in s["categories"]), reverse=True)
    assert s["categories"][0]["name"] == "占道经营"
    assert {t["township"]: (t["due"], t["on_time"]) for t in s["townships"]} == want["townships"]
    assert [t["name"] for t in s["townships"]] == ["东乡", "城关镇"]  # 2 of 3 on time, 1 of 2
    assert [t["rate"] for t in s["townships"]] == sorted((t["rate"] for t in s["townships"]), reverse=True)
    assert s["sources"] == {k: want["sources"].get(k, 0) for k in ("grid_worker", "open311", "other")}
    assert s["sources"]["open311"] == 1 and s["sources"]["other"] == 1
    assert [e["event"] for e in s["ticker"]] == want["events"]
    assert all(set(e) >= {"at", "action", "case", "matter_name", "township_name"} and "actor" not in e
               for e in s["ticker"])


def test_scope_and_refusals(api: Api, june: None) -> None:
    client, h, engine = api
    mine = report(client, h["worker2"], T2_POINTS[0], "2026-06-18T08:00:00")
    report(client, h["worker1"], T1_POINTS[0], "2026-06-18T08:30:00")
    everyone = client.get("/screen/summary", headers=h["boss"]).json()["kpi"]
    team = client.get("/screen/summary", headers=h["tt2"]).json()["kpi"]
    assert (everyone["open"], team["open"]) == (2, 1) and mine["team"] == "TT2"  # a team sees its own figures
    assert client.get("/screen/summary", headers=h["plan"]).status_code == 200  # aggregates, like /stats
    assert client.get("/screen/summary", params={"county": "C"}, headers=h["boss"]).json()["kpi"] == everyone
    assert client.get("/screen/summary", headers=h["worker1"]).status_code == 403
    assert client.get("/screen/summary").status_code == 401
    for params, where in [({"county": "NOWHERE"}, "county"), ({"days": 3}, "days"), ({"top": 0}, "top"),
                          ({"ticker": 1000}, "ticker")]:
        r = client.get("/screen/summary", params=params, headers=h["boss"])
        assert r.status_code == 422 and where in r.text, r.text
    zh = client.get("/screen/summary", params={"county": "NOWHERE"}, headers={**h["boss"], "Accept-Language": "zh-CN"})
    assert "未知的县" in zh.json()["message"]


def test_the_figures_read_the_covering_index_not_the_wide_rows(api: Api, june: None) -> None:
    # The figures' statement reads case_record through ix_case_figures (migration 0015) alone: the rows' JSON is
    # read only for suspended cases, found by their status. Checked on SQLite's plan (PostgreSQL's choice depends
    # on its statistics; the figures themselves are checked on both above).
    client, h, engine = api
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's")
    report(client, h["worker1"], T1_POINTS[0], "2026-06-18T08:30:00")
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, params))

    served = client.app.state.engine  # type: ignore[attr-defined]  # the app's own engine
    sa.event.listen(served, "before_cursor_execute", keep)
    try:
        assert client.get("/screen/summary", headers=h["boss"]).status_code == 200
    finally:
        sa.event.remove(served, "before_cursor_execute", keep)
    assert seen, "no statement seen"
    statement, params = max(seen, key=lambda sp: len(sp[0]))  # the figures: one long UNION ALL
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    reads = [step for step in plan if "case_record" in step]
    assert any("COVERING INDEX ix_case_figures" in step for step in reads), plan
    assert all("COVERING INDEX ix_case_figures" in step or "INDEX ix_case_status_deadline (status=?)" in step
               for step in reads), reads
