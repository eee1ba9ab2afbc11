"""The case lifecycle over HTTP: every role's part, scope, concurrency, transfer, triage, escalation on holidays."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from gis.crs import from_wgs84
from store.db import session_factory, transaction
from store.users import Users
from tests.conftest import PASSWORD, table_counts
from tests.test_import import gridgov
from tests.test_intake import report

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
SEAT = (115.17, 36.09)  # 城关镇 T1, 南关村 V2: M-STREET → TT1, M-LAND → BUREAU
EAST = (115.30, 36.15)  # 东乡 T2, 东村 V4: M-STREET → TT2


def act(client: TestClient, headers: dict[str, str], case: dict[str, Any], *steps: dict[str, Any]) -> Any:
    return client.post(f"/cases/{case['id']}/actions", json={"revision": case["revision"], "actions": list(steps)},
                       headers=headers)


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return dict(r.json())


def add_member(engine: Engine, client: TestClient, name: str, team: str) -> dict[str, str]:
    with transaction(session_factory(engine)) as session:
        Users(session).add(name, PASSWORD, "team_member", team_code=team)
    token = client.post("/auth/token", json={"username": name, "password": PASSWORD}).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_full_lifecycle_each_role_plays_its_part(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT, matter="M-LAND"), headers=h["worker1"]).json()
    bureau = add_member(api[2], client, "bureau1", "BUREAU")
    assert (case["status"], case["team"], case["procedure"]) == ("dispatched", "BUREAU", "ordinary")
    gx, gy = from_wgs84(115.1702, 36.0901, "gcj02")
    case = ok(act(client, bureau, case, {"action": "arrive", "lon": gx, "lat": gy, "crs": "gcj02", "note": "到场"}))
    assert case["status"] == "arrived" and case["events"][0]["actor"] == "bureau1"
    assert abs(case["events"][0]["lon"] - 115.1702) < 1e-6  # where the team stood, converted from GCJ-02
    case = ok(act(client, bureau, case, {"action": "handle"}, {"action": "feedback", "note": "已拆除"}))
    assert case["status"] == "fed_back" and [e["action"] for e in case["events"]] == ["handle", "feedback"]
    r = act(client, h["boss"], case, {"action": "close"})  # ordinary procedure: the platform must check first
    assert r.status_code == 409 and "checked before closing" in r.json()["detail"]
    case = ok(act(client, h["boss"], case, {"action": "check", "passed": True}, {"action": "close"}))
    assert case["status"] == "closed" and case["on_time"] is False  # reported in March, closed in November
    r = act(client, h["worker2"], case, {"action": "evaluate", "score": 5})
    assert r.status_code == 404  # not worker2's report, not even visible: like a missing case
    case = ok(act(client, h["worker1"], case, {"action": "evaluate", "score": 4}))
    assert case["status"] == "evaluated" and case["allowed_actions"] == []
    history = client.get(f"/cases/{case['id']}/history", headers=h["audit"]).json()
    assert [(e["action"], e["actor"]) for e in history] == [
        ("report", "worker1"), ("register", "platform"), ("dispatch", "platform"), ("arrive", "bureau1"),
        ("handle", "bureau1"), ("feedback", "bureau1"), ("check", "boss"), ("close", "boss"), ("evaluate", "worker1")]
    assert all(e["recorded_at"] for e in history) and history[5]["detail"]["note"] == "已拆除"
    assert [e["to"] for e in history][-3:] == ["checked", "closed", "evaluated"]


def test_simple_procedure_closes_from_feedback(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    assert case["procedure"] == "simple" and case["team"] == "TT1"
    case = ok(act(client, h["tt1"], case, {"action": "arrive"}, {"action": "handle"}, {"action": "feedback"}))
    assert "close" in case["allowed_actions"]
    assert ok(act(client, h["boss"], case, {"action": "close"}))["status"] == "closed"


def test_scope_a_township_team_cannot_read_or_change_another_townships_case(api: Api) -> None:
    client, h, engine = api
    mine = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    theirs = client.post("/reports", json=report(*EAST), headers=h["worker2"]).json()
    assert (mine["team"], theirs["team"]) == ("TT1", "TT2")
    assert client.get(f"/cases/{theirs['id']}", headers=h["tt1"]).status_code == 404  # as if missing
    assert client.get(f"/cases/{theirs['id']}/history", headers=h["tt1"]).status_code == 404
    assert [c["id"] for c in client.get("/cases", headers=h["tt1"]).json()] == [mine["id"]]
    before = table_counts(engine)
    r = act(client, h["tt1"], theirs, {"action": "arrive"})
    assert r.status_code == 404 and "in your scope" in r.json()["detail"]
    assert table_counts(engine) == before
    # Grid workers see only their own reports; the auditor sees all but changes nothing; planners see no cases.
    assert [c["id"] for c in client.get("/cases", headers=h["worker2"]).json()] == [theirs["id"]]
    assert len(client.get("/cases", headers=h["audit"]).json()) == 2
    assert act(client, h["audit"], mine, {"action": "arrive"}).status_code == 403
    assert client.get("/cases", headers=h["plan"]).status_code == 403
    # Steps belong to roles: a dispatcher does not report arrival, a team does not close, a worker does not dispatch.
    r = act(client, h["boss"], mine, {"action": "arrive"})
    assert r.status_code == 403 and "only members of the owning team TT1" in r.json()["detail"]
    assert act(client, h["worker1"], mine, {"action": "cancel", "reason": "x"}).status_code == 403
    assert table_counts(engine) == before


def test_grid_workers_cannot_edit_rules_or_boundaries_and_anonymous_calls_get_401(api: Api) -> None:
    client, h, engine = api
    matter = client.get("/matters", headers=h["worker1"]).json()[0]
    draft = client.post("/versions", json={"name": "planner's draft", "based_on": 2}, headers=h["plan"]).json()
    before = table_counts(engine)
    square = {"type": "Feature", "properties": {},
              "geometry": {"type": "Polygon", "coordinates": [[[115, 36], [115.1, 36], [115.1, 36.1], [115, 36]]]}}
    rule = {"code": "R-X", "priority": 1, "scope": {"type": "everywhere"}, "team_code": "TT1"}
    for who in ("worker1", "tt1", "boss", "audit"):
        assert client.put(f"/matters/{matter['code']}", json=matter, headers=h[who]).status_code == 403
        assert client.post("/versions", json={"name": "redraw"}, headers=h[who]).status_code == 403
        edits = [client.put(f"/versions/{draft['id']}/units/V1", params={"revision": 0}, json=square, headers=h[who]),
                 client.put(f"/versions/{draft['id']}/rules/R-X", params={"revision": 0}, json=rule, headers=h[who]),
                 client.put(f"/versions/{draft['id']}/delegations", params={"revision": 0}, json=[], headers=h[who]),
                 client.post(f"/versions/{draft['id']}/publish", json={"effective_from": "2099-01-01"},
                             params={"revision": 0}, headers=h[who])]
        assert [e.status_code for e in edits] == [403] * 4, who
    assert table_counts(engine) == before
    changed = {**matter, "time_limit": 2, "attributes": {"duplicate_m": 100}}
    assert client.put(f"/matters/{matter['code']}", json=changed, headers=h["plan"]).status_code == 200
    assert client.post("/versions", json={"name": "redraw", "based_on": 1}, headers=h["plan"]).status_code == 201
    bad = {**matter, "attributes": {"duplicate_m": -5}}
    r = client.put(f"/matters/{matter['code']}", json=bad, headers=h["plan"])
    assert r.status_code == 422 and "duplicate_m must be a number ≥ 0" in r.json()["detail"]
    for method, path in [("get", "/units"), ("get", "/rules"), ("get", "/teams"), ("get", "/cases"),
                         ("post", "/route"), ("post", "/reports"), ("get", "/matters"), ("post", "/cases/1/actions"),
                         ("get", "/jurisdictions/at?lat=36.1&lon=115.1")]:
        r = client.request(method, path, json={})
        assert r.status_code == 401 and "sign in first" in r.json()["detail"], (path, r.text)
    forged = {"Authorization": "Bearer " + "x" * 43}
    assert client.get("/cases", headers=forged).status_code == 401
    assert client.get("/health").status_code == 200  # liveness stays open


def test_stale_revision_and_illegal_steps_are_409_and_change_nothing(api: Api) -> None:
    client, h, engine = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    moved = ok(act(client, h["tt1"], case, {"action": "arrive"}))
    before = table_counts(engine)
    r = act(client, h["tt1"], case, {"action": "handle"})  # case is the old read: revision 2, now 3
    assert r.status_code == 409 and "it is at revision 3, you sent 2" in r.json()["detail"]
    r = act(client, h["tt1"], moved, {"action": "handle"}, {"action": "arrive"})  # second step illegal
    assert r.status_code == 409 and r.json()["where"] == "actions[1].action"
    assert "cannot arrive: case is handled" in r.json()["detail"]
    assert table_counts(engine) == before
    assert client.get(f"/cases/{case['id']}", headers=h["tt1"]).json()["status"] == "arrived"  # nothing half-done
    for step, status, message in [
        ({"action": "fly"}, 422, "unknown action 'fly'"),
        ({"action": "handle", "at": "yesterday"}, 422, "'at' must be an ISO 8601 date-time"),
        ({"action": "handle", "at": "2099-01-01T00:00:00"}, 422, "is in the future"),
        ({"action": "handle", "at": "2026-01-01T00:00:00"}, 422, "before the case's last change"),
        ({"action": "handle", "lon": "east", "lat": 1}, 422, "must both be finite numbers"),
        ({"action": "handle", "lon": 500, "lat": 1}, 422, "outside the world"),
        ({"action": "handle", "speed": 3}, 422, "speed: not a known field"),
    ]:
        r = client.post(f"/cases/{case['id']}/actions", json={"revision": moved["revision"], "actions": [step]},
                        headers=h["tt1"])
        assert r.status_code == status and message in r.text, (step, r.text)
    assert table_counts(engine) == before


def test_concurrent_steps_on_one_revision_one_wins(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(lambda _: act(client, h["tt1"], case, {"action": "arrive"}).status_code, range(6)))
    assert codes == [200] + [409] * 5
    history = client.get(f"/cases/{case['id']}/history", headers=h["tt1"]).json()
    assert [e["action"] for e in history].count("arrive") == 1


def test_transfer_reroutes_with_a_reason_and_the_new_explanation(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT, matter="M-STREET"), headers=h["worker1"]).json()
    r = act(client, h["boss"], case, {"action": "transfer", "matter": "M-LAND"})
    assert r.status_code == 422 and "transfer needs a reason" in r.json()["detail"]
    moved = ok(act(client, h["boss"], case, {"action": "transfer", "matter": "M-LAND", "reason": "实为非法占地"}))
    assert (moved["team"], moved["matter"], moved["procedure"], moved["status"]) == (
        "BUREAU", "M-LAND", "ordinary", "dispatched")
    event = moved["events"][0]
    assert event["reason"] == "实为非法占地" and event["detail"]["routing"]["team"] == "BUREAU"
    assert event["detail"]["override"] is False and "R-BUREAU" == event["detail"]["routing"]["rule"]
    assert moved["routing"]["winning_rule"]["code"] == "R-BUREAU" and moved["deadline"] == case["deadline"]
    # TT1 no longer sees it; an explicit team against the routing is recorded as an override.
    assert client.get(f"/cases/{case['id']}", headers=h["tt1"]).status_code == 404
    back = ok(act(client, h["boss"], moved, {"action": "transfer", "team": "TT1", "reason": "乡镇先行处置"}))
    assert back["team"] == "TT1" and back["events"][0]["detail"]["override"] is True
    r = act(client, h["boss"], back, {"action": "transfer", "team": "NOPE", "reason": "x"})
    assert r.status_code == 422 and "unknown team 'NOPE'" in r.json()["detail"]


def test_triage_waits_for_the_dispatcher_and_duplicates_need_one_to_become_cases(api: Api) -> None:
    client, h, _ = api
    disputed = client.post("/reports", json=report(115.10, 36.15, reported_at="2026-06-01T08:00:00"),
                           headers=h["worker1"]).json()
    assert (disputed["status"], disputed["triage"], disputed["allowed_actions"]) == (
        "reported", "dispute", ["register", "cancel"])
    assert act(client, h["tt2"], disputed, {"action": "arrive"}).status_code == 404  # with the platform: not theirs
    done = ok(act(client, h["boss"], disputed, {"action": "register"},
                  {"action": "dispatch", "team": "TT2", "note": "按2026年协议归东乡"}))
    assert (done["status"], done["team"]) == ("dispatched", "TT2")
    assert client.get("/cases", params={"triage": True}, headers=h["boss"]).json() == []
    first = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    dup = client.post("/reports", json=report(SEAT[0] + 0.0005, SEAT[1]), headers=h["worker2"]).json()
    assert (dup["status"], dup["linked_to"]) == ("duplicate", first["id"])
    r = act(client, h["tt1"], dup, {"action": "arrive"})  # nobody works a duplicate
    assert r.status_code == 409 and "allowed: register, cancel" in r.json()["detail"]
    own = ok(act(client, h["boss"], dup, {"action": "register"}, {"action": "dispatch"}))
    assert (own["status"], own["team"], own["linked_to"]) == ("dispatched", "TT1", first["id"])
    assert own["events"][0]["detail"]["registered_despite_link"] == first["id"]


def test_suspend_resume_extend_and_co_owners(api: Api) -> None:
    client, h, engine = api
    market = client.post("/reports", json=report(115.13, 36.05), headers=h["worker1"]).json()
    assert (market["team"], market["co_owners"]) == ("URBAN", ["MARKET"])
    market_member = add_member(engine, client, "market1", "MARKET")
    assert client.get(f"/cases/{market['id']}", headers=market_member).status_code == 200  # joint enforcement
    # Lists find co-owned cases in SQL on both backends: the case list, the wall and the OGC collection.
    assert [c["id"] for c in client.get("/cases", headers=market_member).json()] == [market["id"]]
    assert [c[0] for c in client.get("/wall/cases", headers=market_member).json()["cases"]] == [market["id"]]
    ogc = client.get("/ogc/collections/cases/items", headers=market_member).json()
    assert (ogc["numberMatched"], [f["id"] for f in ogc["features"]]) == (1, [market["id"]])
    env_member = add_member(engine, client, "env1", "ENV")
    assert client.get("/cases", headers=env_member).json() == []  # not yet a co-owner
    assert act(client, market_member, market, {"action": "arrive"}).status_code == 403  # the owner reports steps
    env = ok(act(client, h["boss"], market, {"action": "add_co_owner", "team": "ENV"}))
    assert env["co_owners"] == ["MARKET", "ENV"]
    r = act(client, h["boss"], env, {"action": "add_co_owner", "team": "ENV"})
    assert r.status_code == 409 and "already a co-owner" in r.json()["detail"]
    assert [c["id"] for c in client.get("/cases", headers=env_member).json()] == [market["id"]]
    case = client.post("/reports", json=report(*SEAT, reported_at="2026-11-20T09:00:00"), headers=h["worker1"]).json()
    paused = ok(act(client, h["boss"], case, {"action": "suspend", "reason": "等待产权认定",
                                               "at": "2026-11-20T10:00:00"}))
    assert paused["status"] == "suspended" and paused["deadline"] is None
    assert paused["events"][0]["detail"]["remaining_hours"] > 0
    resumed = ok(act(client, h["boss"], paused, {"action": "resume"}))
    assert resumed["status"] == "dispatched" and resumed["deadline"] > case["deadline"]  # the clock stopped
    longer = ok(act(client, h["boss"], resumed, {"action": "extend", "amount": 3, "unit": "working_days",
                                                  "reason": "需联合执法"}))
    assert longer["deadline"] > resumed["deadline"]
    assert longer["events"][0]["detail"]["deadline_was"] == resumed["deadline"]


# Every free text a person must write on a case or its dispute: (case, step or endpoint, field, the message in zh-CN).
# The case's steps say which step needs its reason; the dispute bodies (api.inputs.Text) name the field.
REQUIRED_TEXTS = [
    ("dispatched", {"action": "transfer", "team": "BUREAU"}, "reason", "移送须说明理由"),
    ("dispatched", {"action": "suspend"}, "reason", "挂起须说明理由"),
    ("dispatched", {"action": "extend", "amount": 1, "unit": "working_days"}, "reason", "延期须说明理由"),
    ("dispatched", {"action": "escalate", "level": 1}, "reason", "督办须说明理由"),
    ("disputed", {"action": "cancel"}, "reason", "撤销须说明理由"),
    ("fed_back", {"action": "check", "passed": False}, "reason", "核查不通过须说明理由"),
    ("disputed", "/disputes", "reason", "reason：请填写内容，不能为空或只有空格"),
    ("disputed", "/evidence", "text", "text：请填写内容，不能为空或只有空格"),
    ("disputed", "/dismiss", "reason", "reason：请填写内容，不能为空或只有空格"),
    ("disputed", "/ruling", "reason", "reason：请填写内容，不能为空或只有空格"),
    ("disputed", "/ruling", "legal_basis", "legal_basis：请填写内容，不能为空或只有空格"),
]


@pytest.mark.parametrize("blank", ["", "   ", "\t\n "], ids=["empty", "spaces", "tab-newline"])
def test_required_text_that_is_empty_or_only_spaces_is_422_naming_the_field_and_changes_nothing(
        api: Api, blank: str) -> None:
    client, h, engine = api
    dispatched = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    fed_back = ok(act(client, h["tt1"], client.post("/reports", json=report(*SEAT, matter="M-NOISE"),
                                                    headers=h["worker1"]).json(),
                      {"action": "arrive"}, {"action": "handle"}, {"action": "feedback"}))
    disputed = client.post("/reports", json=report(115.10, 36.15, reported_at="2026-06-01T08:00:00"),
                           headers=h["worker1"]).json()  # 北河村: claimed by two townships, held for the centre
    cases = {"dispatched": dispatched, "fed_back": fed_back, "disputed": disputed}
    (record,) = client.get("/disputes", headers=h["boss"]).json()
    bodies: dict[str, tuple[str, str, dict[str, Any]]] = {  # who sends it where, with every other field valid
        "/disputes": ("tt1", "/disputes", {"geometry": {"type": "Point", "coordinates": [115.10, 36.15]},
                                           "matter": "M-STREET", "at": "2026-06-01", "case": disputed["id"]}),
        "/evidence": ("tt2", f"/disputes/{record['id']}/evidence", {"revision": 0}),
        "/dismiss": ("boss", f"/disputes/{record['id']}/dismiss", {"revision": 0}),
        "/ruling": ("boss", f"/disputes/{record['id']}/ruling", {"revision": 0, "team": "TT2", "reason": "按协议",
                                                                "legal_basis": "县政府令"})}
    # A valid step first in the same batch: the refusal takes it back too.
    first = {"dispatched": {"action": "add_co_owner", "team": "ENV"}, "disputed": {"action": "register"}}
    before = table_counts(engine)
    logs = {n: client.get(f"/cases/{c['id']}/history", headers=h["boss"]).json() for n, c in cases.items()}
    for state, step, field, zh_message in REQUIRED_TEXTS:
        case = cases[state]
        if isinstance(step, dict):
            bad = {**step, field: blank}
            batches = [([bad], field)] + ([([first[state], bad], f"actions[1].{field}")] if state in first else [])
            sent = [(h["boss"], f"/cases/{case['id']}/actions", {"revision": case["revision"], "actions": steps},
                     where) for steps, where in batches]
        else:
            who, url, body = bodies[step]
            sent = [(h[who], url, {**body, field: blank}, field)]
        for headers, url, body, where in sent:
            r = client.post(url, json=body, headers={**headers, "Accept-Language": "zh-CN"})
            assert (r.status_code, r.json()["code"], r.json()["where"], r.json()["message"]) == (
                422, "invalid_input", where, zh_message), (url, body, r.text)
    assert table_counts(engine) == before
    for name, case in cases.items():  # no half-written state: the same revision, status and log
        now = client.get(f"/cases/{case['id']}", headers=h["boss"]).json()
        assert (now["revision"], now["status"]) == (case["revision"], case["status"]), name
        assert client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json() == logs[name], name
    now = client.get(f"/disputes/{record['id']}", headers=h["boss"]).json()
    assert (now["revision"], now["status"], now["evidence"]) == (0, "open", [])
    assert [d["id"] for d in client.get("/disputes", headers=h["boss"]).json()] == [record["id"]]


def test_reasons_and_notes_are_stored_without_the_spaces_around_them_and_a_blank_note_not_at_all(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    done = ok(act(client, h["boss"], case,
                  {"action": "escalate", "level": 1, "reason": "  逾期未处置\n", "note": " \t "},
                  {"action": "extend", "amount": 1, "unit": "working_days", "reason": "\t需联合执法 ",
                   "note": "  已电话催办  "}))
    history = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()
    assert history[-2:] == done["events"]
    (escalate, extend) = done["events"]
    assert (escalate["action"], escalate["reason"], "note" in escalate["detail"]) == ("escalate", "逾期未处置", False)
    assert (extend["action"], extend["reason"], extend["detail"]["note"]) == ("extend", "需联合执法", "已电话催办")
    filed = client.post("/disputes", json={"geometry": {"type": "Point", "coordinates": list(SEAT)},
                                           "matter": "M-STREET", "reason": "  界线不清 ", "case": case["id"]},
                        headers=h["tt1"])
    assert filed.status_code == 201 and filed.json()["reason"] == "界线不清", filed.text


def test_a_step_too_long_or_with_an_unknown_field_is_refused_in_the_readers_language(api: Api) -> None:
    # A step's reason is bounded like a note (4,000 characters); a field no step has is named. Both are refused
    # in the reader's language (the step is checked by its own model, not the request's), naming the field,
    # with nothing of the batch written.
    client, h, engine = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    long = "理" * 4001
    before, log = table_counts(engine), client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()
    refusals = [
        ({"action": "transfer", "team": "BUREAU", "reason": long}, "reason", "reason：最多 4000 个字符",
         "reason: at most 4000 characters"),
        ({"action": "suspend", "reason": long}, "reason", "reason：最多 4000 个字符",
         "reason: at most 4000 characters"),
        ({"action": "escalate", "level": 1, "reason": "逾期", "urgency": "high"}, "urgency",
         "urgency：不是可识别的字段", "urgency: not a known field"),
    ]
    for step, where, zh, en in refusals:
        for steps, at in (([step], where), ([{"action": "add_co_owner", "team": "ENV"}, step], f"actions[1].{where}")):
            body = {"revision": case["revision"], "actions": steps}
            for lang, message in (("zh-CN", zh), ("en", en)):
                r = client.post(f"/cases/{case['id']}/actions", json=body,
                                headers={**h["boss"], "Accept-Language": lang})
                assert (r.status_code, r.json()["where"], r.json()["message"]) == (422, at, message), r.text
    assert table_counts(engine) == before
    assert client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json() == log
    fits = ok(act(client, h["boss"], case, {"action": "suspend", "reason": "理" * 4000}))
    assert fits["status"] == "suspended" and fits["events"][0]["reason"] == "理" * 4000


def test_escalation_on_a_holiday_calendar_deadline(api: Api, database_url: str) -> None:
    client, h, _ = api
    noise = client.get("/matters", headers=h["plan"]).json()
    noise = next(m for m in noise if m["code"] == "M-NOISE")
    assert client.put("/matters/M-NOISE", json={**noise, "time_limit": 1, "time_unit": "working_days"},
                      headers=h["plan"]).status_code == 200
    # Wednesday 30 Sep 2026: 1–7 Oct are the National Day holidays (State Council notice for 2026), so one working
    # day later is Thursday 8 Oct, 17:00; the level-2 line is one more working day: Friday 9 Oct, 17:00.
    case = client.post("/reports", json=report(*SEAT, matter="M-NOISE", reported_at="2026-09-30T10:00:00"),
                       headers=h["worker1"]).json()
    assert (case["team"], case["deadline"]) == ("TT1", "2026-10-08T17:00:00+08:00")
    for at, expected in [("2026-10-05T12:00:00", "escalated=0"), ("2026-10-08T16:59:00", "escalated=0"),
                         ("2026-10-08T17:01:00", "escalated=1"), ("2026-10-09T16:00:00", "escalated=0"),
                         ("2026-10-09T17:30:00", "escalated=1"), ("2026-10-20T09:00:00", "escalated=0")]:
        out = gridgov(database_url, "tick", "--at", at)
        assert out.strip().endswith(expected), (at, out)
    seen = client.get(f"/cases/{case['id']}", headers=h["tt1"]).json()
    assert seen["escalation_level"] == 2 and seen["overdue"] is True
    events = [e for e in client.get(f"/cases/{case['id']}/history", headers=h["tt1"]).json()
              if e["action"] == "escalate"]
    assert [(e["actor"], e["detail"]["level"], e["at"]) for e in events] == [
        ("platform", 1, "2026-10-08T17:01:00+08:00"), ("platform", 2, "2026-10-09T17:30:00+08:00")]
    assert "乡镇督办" in events[0]["reason"] and "县级平台督办" in events[1]["reason"]
    # A make-up working day counts: 5 working days after Friday 9 Oct are Sat 10 (调休上班), Mon 12 … Thu 15.
    later = client.post("/reports", json=report(*EAST, matter="M-STREET", reported_at="2026-10-09T10:00:00"),
                        headers=h["worker2"]).json()
    assert (later["team"], later["deadline"]) == ("TT2", "2026-10-15T17:00:00+08:00")


def test_the_server_escalates_on_its_own(api: Api, database_url: str) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT, reported_at="2026-03-02T09:30:00"), headers=h["worker1"]).json()
    assert case["escalation_level"] == 0 and datetime.fromisoformat(case["deadline"]) < datetime.now(UTC)
    app = create_app(get_settings(database_url=database_url, tick_seconds=0.2))
    with TestClient(app) as live:  # the context runs the lifespan, and with it the scheduler
        deadline = time.monotonic() + 20
        level = 0
        while time.monotonic() < deadline and level < 2:
            time.sleep(0.2)
            level = live.get(f"/cases/{case['id']}", headers=h["boss"]).json()["escalation_level"]
    assert level == 2  # overdue by more than its whole time limit again: straight to the county platform


@pytest.mark.parametrize("bad", [{"revision": -1, "action": "arrive"}, {"actions": [{"action": "arrive"}]},
                                 {"revision": 0, "actions": []}])
def test_malformed_action_bodies(api: Api, bad: dict[str, Any]) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    r = client.post(f"/cases/{case['id']}/actions", json=bad, headers=h["tt1"])
    assert r.status_code == 422, r.text
