"""Evaluation indicators, the delegation review and the annual publication against an independent computation.

Cases are made through the API with known step times across the 2026 Mid-Autumn/National Day working calendar
(a make-up Sunday, holidays): on time, late, reworked after a failed check, suspended and never resumed (out of
the on-time denominator), suspended and resumed (its paused working hours not counted), open and overdue and
escalated, held in triage (reported, not registered), and one outside the period. The expected figures are
computed here from the cases as the API shows them, with a minute-by-minute working-time count read straight
from the calendar file — not with the code under test. On SQLite and PostGIS.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from analytics.indicators import composite, load_scoring
from analytics.publication import annual_workbook
from api.app import create_app
from cases.calendar import bundled_calendar
from cli.main import app as cli
from config import get_settings
from gis.errors import InvalidInput
from store import indicator_facts
from store.db import session_factory, transaction
from store.schema import CaseEventRow
from store.users import User
from tests.conftest import bearer, scenario_app
from tests.live import ROOT
from tests.test_intake import report
from tests.test_lifecycle import EAST, SEAT, act, add_member, ok

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
ZONE = ZoneInfo("Asia/Shanghai")
FROM, TO = "2026-09-14T00:00:00+08:00", "2026-10-01T00:00:00+08:00"
V3 = (115.10, 36.15)  # 北河村: T1 and T2 both claim it under v2 (a dispute → triage)
EAST2 = (115.35, 36.05)  # 东乡 too, far enough from EAST not to be linked as a duplicate of the open case there
CONFIG = {"weights": {"on_time_rate": 0.5, "closure_rate": 0.2, "rework_rate": 0.2, "escalation_rate": 0.1},
          "invert": ["rework_rate", "escalation_rate"], "grades": [["A", 90], ["B", 75], ["C", 50], ["D", 25],
                                                                   ["E", 0]],
          "min_registered": 1, "source": "test weights",
          "delegation": {"span_years": 3, "withdraw_max_cases": 0, "delegate_min_cases_per_year": 0.3}}


def working_minutes(a: datetime, b: datetime) -> float:
    """Working hours between two instants, counted minute by minute on the calendar file's days and windows."""
    cal = json.loads((ROOT / "cases" / "calendars" / "cn.json").read_text(encoding="utf-8"))
    holidays, makeup = set(cal["holidays"]), set(cal["makeup_days"])
    start, end = a.astimezone(ZONE).replace(tzinfo=None), b.astimezone(ZONE).replace(tzinfo=None)
    windows = [("09:00", "12:00"), ("13:00", "17:00")]
    assert (cal.get("day_start", "09:00"), cal.get("day_end", "17:00"), cal.get("lunch", ["12:00", "13:00"])) == (
        "09:00", "17:00", ["12:00", "13:00"])
    count, t = 0, start.replace(second=0, microsecond=0)
    while t < end:
        day = t.date().isoformat()
        working = day in makeup or (t.weekday() < 5 and day not in holidays)
        hm = t.strftime("%H:%M")
        if working and any(lo <= hm < hi for lo, hi in windows) and t >= start:
            count += 1
        t += timedelta(minutes=1)
    return count / 60


def at(text: str) -> str:
    return f"2026-{text}:00+08:00"


def make_cases(api: Api) -> dict[str, dict[str, Any]]:
    """The scripted cases (see the module notes), each as the API shows it at the end, plus their step times."""
    client, h, engine = api
    bureau = add_member(engine, client, "bureau1", "BUREAU")
    boss = h["boss"]

    def new(where: tuple[float, float], reported: str, who: str = "worker1", matter: str = "M-STREET") -> Any:
        r = client.post("/reports", json=report(*where, matter=matter, reported_at=at(reported)), headers=h[who])
        assert r.status_code == 201, r.text
        return r.json()

    def team_steps(case: Any, headers: dict[str, str], when: str) -> Any:
        return ok(act(client, headers, case, {"action": "arrive", "at": at(when)}, {"action": "handle", "at": at(when)},
                      {"action": "feedback", "at": at(when)}))

    cases: dict[str, Any] = {}
    a = team_steps(new(SEAT, "09-14T10:00"), h["tt1"], "09-16T10:00")  # on time, simple: closes without a check
    cases["A"] = ok(act(client, boss, a, {"action": "close", "at": at("09-16T11:00")}))
    b = team_steps(new(SEAT, "09-15T09:30"), h["tt1"], "09-24T16:00")  # late, checked once (passed)
    cases["B"] = ok(act(client, boss, b, {"action": "check", "passed": True, "at": at("09-28T09:00")},
                        {"action": "close", "at": at("09-28T10:00")}))
    c = team_steps(new(SEAT, "09-14T14:00", matter="M-LAND"), bureau, "09-15T10:00")  # ordinary: BUREAU, reworked
    c = ok(act(client, boss, c, {"action": "check", "passed": False, "reason": "未拆除", "at": at("09-15T15:00")}))
    c = team_steps(c, bureau, "09-17T10:00")
    cases["C"] = ok(act(client, boss, c, {"action": "check", "passed": True, "at": at("09-17T11:00")},
                        {"action": "close", "at": at("09-17T11:30")}))
    d = new(EAST, "09-16T09:00", who="worker2")  # suspended and never resumed: out of the on-time denominator
    cases["D"] = ok(act(client, boss, d, {"action": "suspend", "reason": "待补证", "at": at("09-17T09:00")}))
    e = new(EAST2, "09-16T10:00", who="worker2")  # suspended over the holiday and the make-up Sunday, resumed
    e = ok(act(client, boss, e, {"action": "suspend", "reason": "待补证", "at": at("09-17T10:00")},
               {"action": "resume", "at": at("09-21T10:00")}))
    e = team_steps(e, h["tt2"], "09-22T10:00")
    cases["E"] = ok(act(client, boss, e, {"action": "close", "at": at("09-22T11:00")}))
    f = new(SEAT, "09-18T09:00")  # open, overdue by 1 October, escalated
    cases["F"] = ok(act(client, boss, f, {"action": "escalate", "level": 1, "reason": "超期", "at": at("09-28T09:00")}))
    cases["H"] = new(V3, "09-20T10:00")  # a dispute: held in triage, reported but not registered
    assert cases["H"]["status"] == "reported" and cases["H"]["triage"] == "dispute"
    new((115.12, 36.095), "10-05T10:00")  # outside the period
    for key, case in cases.items():
        case["history"] = client.get(f"/cases/{case['id']}/history", headers=boss).json()
        case["key"] = key
    return cases


def expected(cases: dict[str, dict[str, Any]], group: str) -> dict[str, dict[str, Any]]:
    """The indicators of the scripted cases per group, computed from the case views and their histories."""
    as_of = datetime.fromisoformat(TO)
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for case in cases.values():
        hist = case["history"]
        if group == "county":
            keys = [case["county"]]
        elif group == "officer":
            keys = sorted({e["actor"] for e in hist if e["action"] in ("arrive", "handle", "feedback")})
        elif group == "grid_worker":
            keys = [hist[0]["actor"]]
        else:
            keys = [case[group] or "(none)"]
        for key in keys:
            row = out[key]
            row["reported"] += 1
            registered = any(e["action"] == "register" for e in hist)
            if not registered:
                continue
            row["registered"] += 1
            closed = case["closed_at"] is not None
            suspended = case["status"] == "suspended"
            deadline = case["deadline"] or next(e["detail"]["deadline_was"] for e in reversed(hist)
                                                if e["action"] == "suspend")
            is_due = not suspended and (closed or datetime.fromisoformat(deadline) <= as_of)
            on_time = closed and datetime.fromisoformat(case["closed_at"]) <= datetime.fromisoformat(deadline)
            assert on_time == bool(case["on_time"])
            row["closed"] += closed
            row["suspended"] += suspended
            row["due"] += is_due
            row["closed_on_time"] += is_due and on_time
            row["overdue"] += is_due and not on_time
            row["escalated"] += any(e["action"] == "escalate" for e in hist)
            checks = [e for e in hist if e["action"] == "check"]
            row["checked"] += bool(checks)
            row["rework"] += any(not e["detail"]["passed"] for e in checks)
            if closed:
                reg = next(e["at"] for e in hist if e["action"] == "register")
                paused = 0.0
                for s in (e for e in hist if e["action"] == "suspend"):
                    r = next((x["at"] for x in hist if x["action"] == "resume" and x["at"] >= s["at"]),
                             case["closed_at"])
                    paused += working_minutes(datetime.fromisoformat(s["at"]), datetime.fromisoformat(r))
                row["hours"] += working_minutes(datetime.fromisoformat(reg),
                                                datetime.fromisoformat(case["closed_at"])) - paused
    def ratio(row: dict[str, Any], n: str, d: str) -> float | None:
        return row[n] / row[d] if row[d] else None

    for row in out.values():
        def rate(n: str, d: str, row: dict[str, Any] = row) -> float | None:
            return ratio(row, n, d)
        row["closure_rate"], row["on_time_rate"] = rate("closed", "registered"), rate("closed_on_time", "due")
        row["overdue_rate"], row["escalation_rate"] = rate("overdue", "due"), rate("escalated", "registered")
        row["rework_rate"] = rate("rework", "checked")
        row["mean_hours_to_close"] = row["hours"] / row["closed"] if row["closed"] else None
        parts = [(w, row[k] if k not in CONFIG["invert"] else (None if row[k] is None else 1 - row[k]))
                 for k, w in CONFIG["weights"].items()]
        parts = [(w, v) for w, v in parts if v is not None]
        row["score"] = sum(w * v for w, v in parts) / sum(w for w, _ in parts) * 100 if row["registered"] else None
    return out


@pytest.fixture
def scripted(api: Api, tmp_path: Path) -> tuple[TestClient, dict[str, dict[str, str]], dict[str, Any], Engine]:
    client, h, engine = api
    cases = make_cases(api)
    config = tmp_path / "weights.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    scored = TestClient(create_app(get_settings(database_url=url, media_dir=tmp_path / "m", indicators_config=config)))
    return scored, h, cases, engine


COUNTS = ("reported", "registered", "closed", "due", "closed_on_time", "overdue", "suspended", "escalated", "checked",
          "rework")
RATES = ("closure_rate", "on_time_rate", "overdue_rate", "escalation_rate", "rework_rate", "mean_hours_to_close",
         "score")


def same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for k in COUNTS:
        assert got[k] == want[k], (k, got, dict(want))
    for k in RATES:
        if want[k] is None:
            assert got[k] is None, (k, got)
        else:
            tolerance = {"score": 0.006, "mean_hours_to_close": 1e-4}.get(k, 1e-6)  # as rounded in the answer
            assert got[k] == pytest.approx(want[k], abs=tolerance), (k, got, dict(want))


def test_indicators_equal_an_independent_computation_at_every_level(scripted: Any) -> None:
    """Every level against the independent figures; then the downloads, refusals and a first-violation outcome
    over the same cases (one set of cases per backend keeps the suite quick)."""
    client, h, cases, _ = scripted
    for level, group in (("county", "county"), ("township", "township"), ("village", "village"), ("team", "team"),
                         ("officer", "officer"), ("grid_worker", "grid_worker")):
        r = client.get("/indicators", params={"from": FROM, "to": TO, "level": level}, headers=h["audit"])
        assert r.status_code == 200, r.text
        body = r.json()
        want = expected(cases, group)
        assert {row["code"] for row in body["rows"]} == set(want), level
        for row in body["rows"]:
            same(row, want[row["code"]])
        assert body["period"]["as_of"] == TO and body["first_violation_recorded"] is False
        assert all(row["first_violation"] is None for row in body["rows"])
    county = client.get("/indicators", params={"from": FROM, "to": TO, "level": "county"},
                        headers=h["audit"]).json()["rows"][0]
    # The scripted story, in numbers: the suspended case D is registered but not due; H was never registered.
    assert (county["reported"], county["registered"], county["suspended"], county["due"]) == (7, 6, 1, 5)
    assert (county["rework"], county["checked"], county["escalated"], county["open_overdue"]) == (1, 2, 1, 1)
    assert county["grade"] == next(g for g, m in CONFIG["grades"] if county["score"] >= m)
    names = {row["code"]: row["name"] for row in client.get("/indicators", params={
        "from": FROM, "to": TO, "level": "team"}, headers=h["audit"]).json()["rows"]}
    assert names["TT1"] == "城关镇综合执法队"  # names before codes
    assert county["code"] == "C" and county["name"] == "演示县"
    check_downloads_hold_the_same_figures_in_chinese(scripted)
    check_bad_input_is_a_clear_422_and_roles_are_checked(scripted)
    check_a_first_violation_outcome_event_is_counted(scripted)


def check_a_first_violation_outcome_event_is_counted(scripted: Any) -> None:
    client, h, cases, engine = scripted
    with transaction(session_factory(engine)) as session:  # as the officer's handling step logs it (store/cases.py)
        first = {"outcome": "no_penalty", "list": "no_penalty", "first": True}
        repeat = {"outcome": "penalty", "list": "no_penalty", "first": False}
        unlisted = {"outcome": "warning", "list": "none"}
        session.add(CaseEventRow(case_id=cases["A"]["id"], at=datetime(2026, 9, 16, 11, 30, tzinfo=ZONE),
                                 actor="boss", action="handle", reason="", detail={"outcome": first}))
        for name in ("B", "C"):  # a repeat's penalty, and an outcome on no list, are not first-violation outcomes
            session.add(CaseEventRow(case_id=cases[name]["id"], at=datetime(2026, 9, 16, 11, 30, tzinfo=ZONE),
                                     actor="boss", action="handle", reason="",
                                     detail={"outcome": repeat if name == "B" else unlisted}))
    body = client.get("/indicators", params={"from": FROM, "to": TO, "level": "team"}, headers=h["audit"]).json()
    assert body["first_violation_recorded"] is True
    assert {r["code"]: r["first_violation"] for r in body["rows"]} == {"TT1": 1, "BUREAU": 0, "TT2": 0}


def check_downloads_hold_the_same_figures_in_chinese(scripted: Any) -> None:
    client, h, _, _ = scripted
    params = {"from": FROM, "to": TO, "level": "township"}
    rows = client.get("/indicators", params=params, headers=h["audit"]).json()["rows"]
    csv_r = client.get("/indicators", params={**params, "format": "csv"}, headers=h["audit"])
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    lines = csv_r.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:4] == ["代码", "名称", "上报数", "立案数"]
    assert [line.split(",")[0] for line in lines[1:]] == [r["code"] for r in rows]
    x = client.get("/indicators", params={**params, "format": "xlsx"}, headers=h["audit"])
    assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).worksheets[0]
    assert ws.title == "乡镇"
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    head = grid[0]
    assert "按期结案率" in head and "综合得分" in head
    for line, row in zip(grid[1:], rows, strict=True):
        got = dict(zip(head, line, strict=True))
        assert got["代码"] == row["code"] and got["立案数"] == row["registered"]
        assert got["按期结案率"] == (row["on_time_rate"] if row["on_time_rate"] is not None else "")
    en = client.get("/indicators", params={**params, "format": "csv", "lang": "en"}, headers=h["audit"])
    assert en.content.decode("utf-8-sig").startswith("Code,Name,Reported,Registered")


def check_bad_input_is_a_clear_422_and_roles_are_checked(scripted: Any) -> None:
    client, h, _, _ = scripted
    r = client.get("/indicators", params={"from": TO, "to": FROM}, headers=h["audit"])
    assert r.status_code == 422 and r.json()["where"] == "to" and "统计期为空" in r.json()["message"]
    r = client.get("/indicators", params={"level": "province"}, headers=h["audit"])
    assert r.status_code == 422 and r.json()["where"] == "level"
    assert client.get("/indicators", params={"format": "pdf"}, headers=h["audit"]).status_code == 422
    assert client.get("/indicators").status_code == 401
    assert client.get("/indicators", headers=h["worker1"]).status_code == 403
    mine = client.get("/indicators", params={"from": FROM, "to": TO, "level": "team"}, headers=h["tt1"]).json()
    assert [r["code"] for r in mine["rows"]] == ["TT1"]  # a team sees its own team only
    empty = client.get("/indicators", params={"from": "2020-01-01", "to": "2020-02-01"}, headers=h["audit"]).json()
    assert empty["rows"] == []
    assert client.get("/publication/annual", params={"year": 2099}, headers=h["audit"]).status_code == 422
    assert client.get("/publication/annual", params={"year": 2026}, headers=h["tt1"]).status_code == 403
    assert client.get("/indicators/delegation-review", params={"years": 0}, headers=h["audit"]).status_code == 422
    r = client.get("/indicators/delegation-review", params={"to": "2024-06-01"}, headers=h["audit"])
    assert r.status_code == 422 and r.json()["where"] == "to" and "没有生效的边界版本" in r.json()["message"]


def test_delegation_review_and_the_annual_publication(scripted: Any) -> None:
    """The review flags withdrawal and delegation candidates; the publication is reproducible, without persons."""
    check_annual_publication_is_reproducible_and_holds_no_personal_data(scripted)
    client, h, cases, _ = scripted
    r = client.get("/indicators/delegation-review", params={"to": TO}, headers=h["audit"])
    assert r.status_code == 200, r.text
    rows = {(x["township"], x["matter"]): x for x in r.json()["rows"]}
    kinds = {"TT1": "township_team", "TT2": "township_team", "BUREAU": "county_bureau", "URBAN": "squadron"}
    want: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for case in cases.values():
        want[(case["township"], case["matter"])].append(case)
    delegated = {("T1", "M-STREET"), ("T2", "M-STREET"), ("T1", "M-NOISE")}
    assert set(rows) == set(want) | delegated
    for key, row in rows.items():
        mine = want.get(key, [])
        assert row["cases"] == len(mine) and row["delegated"] == (key in delegated)
        assert row["by_township"] == sum(kinds.get(c["team"]) == "township_team" for c in mine)
        flag = ("withdraw" if key in delegated and not mine else
                "delegate" if key not in delegated and len(mine) / 3 >= 0.3 else None)
        assert row["flag"] == flag, key
    assert rows[("T1", "M-NOISE")]["flag"] == "withdraw" and rows[("T1", "M-LAND")]["flag"] == "delegate"
    x = client.get("/indicators/delegation-review", params={"to": TO, "format": "xlsx"}, headers=h["audit"])
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).worksheets[0]
    grid = [[c.value for c in row] for row in ws.iter_rows()]
    assert grid[0][:2] == ["乡镇编码", "乡镇"] and len(grid) == len(rows) + 1
    assert "收回候选" in {v for line in grid for v in line} and "赋权候选" in {v for line in grid for v in line}


def check_annual_publication_is_reproducible_and_holds_no_personal_data(scripted: Any) -> None:
    client, h, cases, engine = scripted
    first = client.get("/publication/annual", params={"year": 2026}, headers=h["audit"])
    second = client.get("/publication/annual", params={"year": 2026}, headers=h["audit"])
    assert first.status_code == 200, first.text

    def cells(content: bytes) -> dict[str, list[list[Any]]]:
        wb = openpyxl.load_workbook(io.BytesIO(content))
        return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}

    one, two = cells(first.content), cells(second.content)
    # 2026 is not over: its figures are as of the moment of publishing, stamped like the generated-at time.
    stamps = ("生成时间", "数据截至")
    assert [row for row in one["说明"] if row[0] not in stamps] == [row for row in two["说明"] if row[0] not in stamps]
    assert {k: v for k, v in one.items() if k != "说明"} == {k: v for k, v in two.items() if k != "说明"}
    assert list(one) == ["说明", "分析", "县", "乡镇", "村（社区）", "队伍", "按事项统计案件", "按领域统计案件",
                         "按程序统计案件", "按月统计案件", "案件处置结果", "争议与裁决", "赋权评估"]
    assert one["争议与裁决"][1:] == [["dispute/open", "多支队伍主张管辖 · 待裁决", 1]]  # case H, held in triage
    in_year = len(cases) + 1  # the October case is in the year too
    head, county = one["县"][0], dict(zip(one["县"][0], one["县"][1], strict=True))
    assert head[0] == "代码" and county["上报数"] == in_year
    assert sum(r[2] for r in one["按程序统计案件"][1:]) == in_year
    text = json.dumps(one, ensure_ascii=False) + client.get("/publication/annual", params={
        "year": 2026, "format": "html"}, headers=h["audit"]).text
    for person in ("worker1", "worker2", "tt1", "tt2", "bureau1", "boss"):
        assert person not in text  # no reporter, no officer
    assert "2026年执法数据年度公开" in text and "按期结案率" in text
    assert text.count("<svg") == 4 and "各乡镇按期结案率" in text  # the four charts `gridgov annual` draws
    # The same figures and the same stamp give the same bytes (zip times and workbook properties are fixed).
    reader = User(id=0, username="t", display_name="t", role="auditor", team_code=None)
    stamp = datetime(2027, 1, 5, 9, 0, tzinfo=ZONE)
    made = []
    for _ in range(2):
        with transaction(session_factory(engine)) as session:
            annual = indicator_facts.annual(session, reader, 2026, None, bundled_calendar("cn"), load_scoring(),
                                            stamp, "zh-CN")
        made.append(annual_workbook(annual, stamp, "zh-CN"))
    assert made[0] == made[1]


def test_cli_publishes_the_year(tmp_path: Path) -> None:
    """`gridgov publish-annual` (on SQLite: the command is the same over PostGIS)."""
    client, engine, url = scenario_app(tmp_path, [("worker1", "grid_worker", "TT1")])
    engine.dispose()
    client.post("/reports", json=report(*SEAT, reported_at="2025-06-02T10:00:00+08:00"),
                headers=bearer(client, "worker1"))
    done = CliRunner().invoke(cli, ["publish-annual", "--year", "2025", "--out", str(tmp_path / "out"),
                                    "--database-url", url])
    assert done.exit_code == 0, done.output
    assert "published year=2025 cases=1" in done.output
    wb = openpyxl.load_workbook(tmp_path / "out" / "annual-2025.xlsx")
    assert wb["县"]["C2"].value == 1
    html = (tmp_path / "out" / "annual-2025.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "<svg" in html and "http" not in html.replace("http://www.w3.org", "")
    bad = CliRunner().invoke(cli, ["publish-annual", "--year", "2999", "--out", str(tmp_path / "x"),
                                   "--database-url", url])
    assert bad.exit_code == 2 and "2999" in bad.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize(("content", "where", "words"), [
    ("{not json", "", "cannot read"),
    (json.dumps({**CONFIG, "weights": {"speed": 1.0}}), "weights", "unknown indicator speed"),
    (json.dumps({**CONFIG, "weights": {"on_time_rate": 0}}), "weights", "not all 0"),
    (json.dumps({**CONFIG, "grades": [["A", 50], ["B", 80]]}), "grades", "best first"),
    (json.dumps({"grades": [["A", 0]]}), "", "malformed"),
])
def test_a_broken_scoring_file_is_refused_naming_what_is_wrong(tmp_path: Path, content: str, where: str,
                                                                words: str) -> None:
    path = tmp_path / "weights.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_scoring(path)
    assert words in str(caught.value) and str(path) in (caught.value.where or "") and where in caught.value.where
    with pytest.raises(InvalidInput):  # the server does not start on it
        create_app(get_settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite'}", indicators_config=path))


def test_the_bundled_defaults_load_and_grade_by_their_bands() -> None:
    scoring = load_scoring()
    assert sum(scoring.weights.values()) == pytest.approx(1.0) and "GB/T 30428.4" in scoring.source
    row = {"registered": 10, "on_time_rate": 0.9, "closure_rate": 0.8, "rework_rate": 0.1, "escalation_rate": None}
    weights = {k: w for k, w in scoring.weights.items() if row.get(k) is not None}
    by_hand = sum(w * (1 - row[k] if k in scoring.invert else row[k]) for k, w in weights.items())
    score, grade = composite(row, scoring)
    assert score == pytest.approx(100 * by_hand / sum(weights.values()), abs=0.005)
    assert grade == next(g for g, least in scoring.grades if score >= least)
    assert composite({**row, "registered": scoring.min_registered - 1}, scoring) == (None, None)
