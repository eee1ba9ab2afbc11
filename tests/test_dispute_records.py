"""Dispute records: raised by routing or filed by a team, argued with evidence, ruled — a ruling becomes a rule."""

from __future__ import annotations

from datetime import timedelta

import httpx
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases import clock
from store.db import downgrade, schema_revision, upgrade
from tests.conftest import table_counts
from tests.test_intake import report
from tests.test_lifecycle import act, ok

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
NORTH = (115.10, 36.15)  # 北河村 V3: claimed by 城关镇 and, from 2026, by 东乡 at the same priority


def test_a_disputed_report_raises_a_record_that_a_ruling_settles_through_a_draft(api: Api) -> None:
    client, h, engine = api
    case = client.post("/reports", json=report(*NORTH, reported_at="2026-06-01T08:00:00"), headers=h["worker1"]).json()
    assert case["triage"] == "dispute"
    (record,) = client.get("/disputes", headers=h["boss"]).json()
    assert (record["kind"], record["status"], record["case"], record["candidates"]) == (
        "dispute", "open", case["id"], ["TT1", "TT2"])
    assert [d["id"] for d in client.get("/disputes", headers=h["tt2"]).json()] == [record["id"]]  # a party
    assert client.get("/disputes", headers=h["worker1"]).status_code == 403
    history = [e["action"] for e in client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()]
    assert history == ["report", "triage", "dispute_raised"]
    url = f"/disputes/{record['id']}"
    argued = client.post(f"{url}/evidence", json={"revision": 0, "text": "2026年协议第3条：北河村划归东乡"},
                         headers=h["tt2"]).json()
    assert argued["revision"] == 1 and argued["evidence"][0]["team"] == "TT2"
    before = table_counts(engine)
    r = client.post(f"{url}/evidence", json={"revision": 0, "text": "旧版本"}, headers=h["tt1"])
    assert r.status_code == 409 and "changed since you read it" in r.json()["detail"]
    r = client.post(f"{url}/ruling", json={"revision": 1, "team": "TT2", "reason": "按协议", "legal_basis": "县政府令",
                                           "as_rule": True, "unit": "V3"}, headers=h["tt2"])
    assert r.status_code == 403  # a party does not rule
    assert table_counts(engine) == before
    ruled = client.post(f"{url}/ruling", json={"revision": 1, "team": "TT2", "reason": "按2026年划转协议",
                                               "legal_basis": "县政府〔2026〕12号", "as_rule": True, "unit": "V3"},
                        headers=h["boss"]).json()
    assert ruled["status"] == "ruled" and ruled["ruling"]["rule"] == f"R-RULING-{record['id']}"
    ruling_event = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[-1]
    assert (ruling_event["action"], ruling_event["reason"], ruling_event["detail"]["team"]["code"]) == (
        "dispute_ruled", "按2026年划转协议", "TT2")
    draft = ruled["ruling"]["draft_version"]
    rules = {r["code"]: r for r in client.get("/rules", params={"version": draft}, headers=h["plan"]).json()}
    rule = rules[f"R-RULING-{record['id']}"]
    assert (rule["team_code"], rule["scope"], rule["legal_basis"]) == (
        "TT2", {"type": "unit", "unit_code": "V3", "cells": None, "layer": None}, "县政府〔2026〕12号")
    assert rule["priority"] > max(r["priority"] for c, r in rules.items() if c != rule["code"])
    r = client.post(f"{url}/evidence", json={"revision": ruled["revision"], "text": "再议"}, headers=h["tt1"])
    assert r.status_code == 409 and "ruled" in r.json()["detail"]
    # The planner publishes the draft like any redraw; from then on routing names 东乡 without a dispute.
    start = clock.today() + timedelta(days=7)
    revision = client.get(f"/versions/{draft}", headers=h["plan"]).json()["revision"]
    assert client.post(f"/versions/{draft}/publish", json={"effective_from": str(start)},
                       params={"revision": revision}, headers=h["plan"]).status_code == 200
    for day, team, status in [(start - timedelta(days=1), "BUREAU", "dispute"), (start, "TT2", "ok")]:
        d = client.post("/route", json={"lon": NORTH[0], "lat": NORTH[1], "matter": "M-STREET", "at": str(day)},
                        headers=h["boss"]).json()["decisions"][0]
        assert (d["team"], d["status"]) == (team, status), day
    assert d["winning_rule"]["code"] == rule["code"]


def test_a_team_files_an_area_dispute_and_the_command_centre_dismisses_it(api: Api) -> None:
    client, h, engine = api
    yard = shapely.geometry.mapping(shapely.box(115.19, 36.09, 115.21, 36.095))
    body = {"geometry": yard, "matter": "M-STREET", "at": "2026-05-01", "reason": "院子一半在东乡"}
    assert client.post("/disputes", json=body, headers=h["worker1"]).status_code == 403
    filed = client.post("/disputes", json=body, headers=h["tt1"])
    assert filed.status_code == 201, filed.text
    record = filed.json()
    assert (record["kind"], record["candidates"], record["raised_by"]) == ("filed", ["TT1", "TT2"], "tt1")
    assert client.get(f"/disputes/{record['id']}", headers=h["tt2"]).status_code == 200
    r = client.post(f"/disputes/{record['id']}/dismiss", json={"revision": 0, "reason": "x"}, headers=h["tt1"])
    assert r.status_code == 403
    done = client.post(f"/disputes/{record['id']}/dismiss", json={"revision": 0, "reason": "界线清楚，各管一半"},
                       headers=h["boss"]).json()
    assert done["status"] == "dismissed" and done["ruling"]["reason"] == "界线清楚，各管一半"
    for bad, text in [({**body, "geometry": {"type": "LineString", "coordinates": [[115, 36], [115.1, 36.1]]}},
                       "Point or a (Multi)Polygon"), ({**body, "matter": "M-NOPE"}, "M-NOPE"),
                      ({**body, "reason": ""}, "reason")]:
        r = client.post("/disputes", json=bad, headers=h["tt1"])
        assert r.status_code in (404, 422) and text in r.text, r.text


def test_the_command_centre_dismisses_a_raised_dispute_as_unfounded_and_the_case_keeps_its_routing(api: Api) -> None:
    """驳回: the record closes as dismissed with the reason; the case keeps the team routing proposed, its log says
    so; no reason, an id that is no dispute, a stale revision or a second dismissal are refused with nothing written."""
    client, h, engine = api
    case = client.post("/reports", json=report(*NORTH, reported_at="2026-06-01T08:00:00"), headers=h["worker1"]).json()
    (record,) = [d for d in client.get("/disputes", headers=h["boss"]).json() if d["case"] == case["id"]]
    url = f"/disputes/{record['id']}/dismiss"
    before = table_counts(engine)
    for body, who, status, words in [
            ({"revision": 0, "reason": "   "}, "boss", 422, "reason"),
            ({"revision": 0}, "boss", 422, "reason"),
            ({"revision": 3, "reason": "界线清楚"}, "boss", 409, "changed since you read it"),
            ({"revision": 0, "reason": "界线清楚"}, "tt1", 403, "command centre")]:
        r = client.post(url, json=body, headers=h[who])
        assert r.status_code == status and words in r.text, (body, r.text)
        assert r.json()["code"], r.text  # a stable code beside the message
    r = client.post(f"/disputes/{record['id'] + 999}/dismiss", json={"revision": 0, "reason": "界线清楚"},
                    headers=h["boss"])
    assert r.status_code == 404 and "no dispute" in r.text, r.text
    assert table_counts(engine) == before
    assert client.get(f"/disputes/{record['id']}", headers=h["boss"]).json()["status"] == "open"
    r = client.post(url, json={"revision": 0, "reason": "界线清楚，北河村仍属城关镇"}, headers=h["boss"])
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["ruling"]["reason"], r.json()["ruling"]["by"]) == (
        "dismissed", "界线清楚，北河村仍属城关镇", "boss")
    after = client.get(f"/cases/{case['id']}", headers=h["boss"]).json()
    assert (after["status"], after["team"], after["routing"]) == ("reported", case["team"], case["routing"])
    event = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[-1]
    assert (event["action"], event["actor"], event["reason"], event["detail"]) == (
        "dispute_dismissed", "boss", "界线清楚，北河村仍属城关镇",
        {"dispute": record["id"], "team": {"code": case["team"]}, "triage": {"from": "dispute", "to": "settled"}})
    before = table_counts(engine)
    r = client.post(url, json={"revision": 1, "reason": "再驳回"}, headers=h["boss"])
    assert r.status_code == 409 and "dismissed" in r.text, r.text  # a closed record takes no more changes
    assert table_counts(engine) == before


NEAR = (115.1998, 36.01)  # 18 m from the township line: with 50 m accuracy the case waits as near a boundary


def test_a_dispute_moves_its_case_to_the_dispute_queue_until_it_is_settled(api: Api) -> None:
    """Raised over a near-boundary case, the case is listed as a dispute (registered meanwhile, it stays there);
    settled, it waits where its state says: registered, with the cases awaiting dispatch, not in triage. A case has
    one dispute record: a second filing, while it is open or after, is a 409 naming it, with nothing written."""
    client, h, engine = api
    case = client.post("/reports", json=report(*NEAR, accuracy_m=50), headers=h["worker1"]).json()
    assert (case["status"], case["triage"]) == ("reported", "near_boundary")

    def queue(**params: object) -> dict[int, str | None]:
        return {c["id"]: c["triage"] for c in client.get("/cases", params=params, headers=h["boss"]).json()}

    def file(reason: str) -> httpx.Response:
        return client.post("/disputes", json={"geometry": {"type": "Point", "coordinates": list(NEAR)},
                                              "matter": "M-STREET", "at": "2026-03-02", "reason": reason,
                                              "case": case["id"]}, headers=h["boss"])

    r = file("城关镇与东乡均称不属本辖区")
    assert r.status_code == 201, r.text
    record = r.json()
    now = client.get(f"/cases/{case['id']}", headers=h["boss"]).json()
    assert (now["triage"], now["revision"]) == ("dispute", case["revision"])  # a queue move, not a workflow step
    assert queue(triage=True) == {case["id"]: "dispute"}
    raised = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[-1]
    assert (raised["action"], raised["detail"]) == (
        "dispute_raised", {"dispute": record["id"], "triage": {"from": "near_boundary", "to": "dispute"}})
    r = client.post(f"/cases/{case['id']}/actions", json={"revision": now["revision"], "action": "register"},
                    headers=h["boss"])
    assert r.status_code == 200, r.text
    assert queue(triage=True) == {case["id"]: "dispute"}  # registered, still waiting for the dispute
    before = table_counts(engine)
    r = file("东乡补充：该点在新划界线以东")
    assert (r.status_code, r.json()["code"]) == (409, "dispute_exists") and f"record {record['id']}" in r.text, r.text
    assert table_counts(engine) == before and len(client.get("/disputes", headers=h["boss"]).json()) == 1
    for blank in ({"reason": " \t "}, {"legal_basis": "  "}):  # a ruling must say why and on what basis
        body = {"revision": 0, "team": "TT1", "reason": "按界桩", "legal_basis": "县政府〔2026〕3号", **blank}
        r = client.post(f"/disputes/{record['id']}/ruling", json=body, headers=h["boss"])
        assert r.status_code == 422 and next(iter(blank)) in r.text, r.text
    assert table_counts(engine) == before
    r = client.post(f"/disputes/{record['id']}/ruling", json={"revision": 0, "team": "TT1", "reason": " 按界桩 ",
                                                             "legal_basis": "县政府〔2026〕3号"}, headers=h["boss"])
    assert r.status_code == 200, r.text
    assert r.json()["ruling"]["reason"] == "按界桩"  # the spaces around are not kept
    assert queue(triage=True) == {} and queue(status="registered") == {case["id"]: "settled"}
    ruled = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[-1]
    assert (ruled["action"], ruled["detail"]) == ("dispute_ruled", {
        "dispute": record["id"], "team": {"code": "TT1"}, "legal_basis": "县政府〔2026〕3号",
        "triage": {"from": "dispute", "to": "settled"}})
    listed = client.get("/disputes", params={"case": case["id"]}, headers=h["boss"]).json()
    assert [(d["id"], d["status"], d["ruling"]["by"]) for d in listed] == [(record["id"], "ruled", "boss")]
    assert client.get("/disputes", params={"case": case["id"] + 999}, headers=h["boss"]).json() == []
    for bad in ("0", "abc"):
        r = client.get("/disputes", params={"case": bad}, headers=h["boss"])
        assert r.status_code == 422 and "case" in r.text, r.text
    before = table_counts(engine)
    r = file("东乡再次提出异议")  # settled: still the one record
    assert (r.status_code, r.json()["code"]) == (409, "dispute_exists") and "ruled" in r.text, r.text
    assert table_counts(engine) == before and len(client.get("/disputes", headers=h["boss"]).json()) == 1
    assert queue(status="registered") == {case["id"]: "settled"}


def test_a_routing_dispute_ruled_through_the_api_alone_leaves_the_dispute_queue(api: Api) -> None:
    """Ruled without the console, a reported case leaves the dispute queue and waits only to be registered and
    dispatched (`settled`); a dispute over a dispatched case puts it in no queue, before or after its ruling."""
    client, h, _ = api
    case = client.post("/reports", json=report(*NORTH, reported_at="2026-06-01T08:00:00"), headers=h["worker1"]).json()
    (record,) = client.get("/disputes", params={"case": case["id"]}, headers=h["boss"]).json()
    r = client.post(f"/disputes/{record['id']}/ruling", json={"revision": 0, "team": "TT2", "reason": "按协议",
                                                             "legal_basis": "县政府〔2026〕12号"}, headers=h["boss"])
    assert r.status_code == 200, r.text
    now = client.get(f"/cases/{case['id']}", headers=h["boss"]).json()
    assert (now["status"], now["triage"]) == ("reported", "settled")
    assert now["labels"]["triage"] != "settled"  # a word for the reader, not the code
    queued = {c["id"]: c["triage"] for c in client.get("/cases", params={"triage": True}, headers=h["boss"]).json()}
    assert queued == {case["id"]: "settled"}
    clear = client.post("/reports", json=report(115.17, 36.09, accuracy_m=10), headers=h["worker1"]).json()
    assert (clear["status"], clear["triage"]) == ("dispatched", None)
    filed = client.post("/disputes", json={"geometry": {"type": "Point", "coordinates": [115.17, 36.09]},
                                           "matter": "M-STREET", "at": "2026-03-02", "reason": "应归邻镇",
                                           "case": clear["id"]}, headers=h["tt1"])
    assert filed.status_code == 201, filed.text
    assert client.get(f"/cases/{clear['id']}", headers=h["boss"]).json()["triage"] is None
    r = client.post(f"/disputes/{filed.json()['id']}/dismiss", json={"revision": 0, "reason": "界线清楚"},
                    headers=h["boss"])
    assert r.status_code == 200, r.text
    after = client.get(f"/cases/{clear['id']}", headers=h["boss"]).json()
    assert (after["status"], after["triage"]) == ("dispatched", None)
    assert clear["id"] not in {c["id"] for c in client.get("/cases", params={"triage": True},
                                                           headers=h["boss"]).json()}


def test_0014_moves_cases_settled_before_the_settled_kind_out_of_the_dispute_queue(api: Api) -> None:
    """A database written before `settled` existed kept `dispute` (or `gap`) on cases whose record was ruled or
    dismissed; 0014 gives them `settled`. A case whose record is still open, and one in another queue, keep theirs."""
    client, h, engine = api
    ids = {}
    for name, at in [("ruled", "2026-06-01T08:00:00"), ("dismissed", "2026-06-05T08:00:00"),  # days apart: no
                     ("gap_ruled", "2026-06-09T08:00:00"), ("open", "2026-06-13T08:00:00")]:  # duplicates
        case = client.post("/reports", json=report(*NORTH, reported_at=at, description=name),
                           headers=h["worker1"]).json()
        assert case["triage"] == "dispute", case
        ids[name] = case["id"]
    near = client.post("/reports", json=report(*NEAR, accuracy_m=50), headers=h["worker1"]).json()
    assert near["triage"] == "near_boundary"
    records = {d["case"]: d for d in client.get("/disputes", headers=h["boss"]).json()}
    for name in ("ruled", "gap_ruled"):
        r = client.post(f"/disputes/{records[ids[name]]['id']}/ruling", headers=h["boss"], json={
            "revision": 0, "team": "TT2", "reason": "按协议", "legal_basis": "县政府〔2026〕12号"})
        assert r.status_code == 200, r.text
    r = client.post(f"/disputes/{records[ids['dismissed']]['id']}/dismiss", headers=h["boss"],
                    json={"revision": 0, "reason": "界线清楚"})
    assert r.status_code == 200, r.text
    client.close()
    downgrade(engine, "0013")
    old = {"ruled": "dispute", "dismissed": "dispute", "gap_ruled": "gap", "open": "dispute"}
    with engine.begin() as conn:  # what the code before `settled` left behind
        for name, kind in old.items():
            conn.execute(sa.text("UPDATE case_record SET triage = :k WHERE id = :i"), {"k": kind, "i": ids[name]})
        revisions = dict(conn.execute(sa.text("SELECT id, revision FROM case_record")).all())
        events = conn.execute(sa.text("SELECT count(*) FROM case_event")).scalar_one()
    upgrade(engine)
    with engine.connect() as conn:
        kinds = dict(conn.execute(sa.text("SELECT id, triage FROM case_record")).all())
        assert dict(conn.execute(sa.text("SELECT id, revision FROM case_record")).all()) == revisions
        assert conn.execute(sa.text("SELECT count(*) FROM case_event")).scalar_one() == events
    assert {name: kinds[ids[name]] for name in old} == {
        "ruled": "settled", "dismissed": "settled", "gap_ruled": "settled", "open": "dispute"}
    assert kinds[near["id"]] == "near_boundary"
    current, head = schema_revision(engine)
    assert current == head and current is not None and current >= "0014"


def test_a_dispute_over_a_case_with_its_team_is_listed_and_a_ruling_for_another_team_transfers_it(api: Api) -> None:
    """The receiving team says "not ours": the case, dispatched, is listed with the open disputes (GET /cases?dispute=
    open); a ruling for another team transfers it in the same transaction (the ruling's reason, the deadline kept,
    the routing explanation renewed) and needs the case's revision: missing it is a 422, a stale one a 409 on
    `case_revision`, each with nothing of the ruling written. Ruled to the same team, or dismissed, the team stays."""
    client, h, engine = api
    places = [(115.17, 36.09), (115.172, 36.092), (115.168, 36.088)]  # inside 城关镇, far from any boundary
    cases = [client.post("/reports", json=report(*p, accuracy_m=10, reported_at=f"2026-03-0{i + 2}T09:30:00"),
                         headers=h["worker1"]).json() for i, p in enumerate(places)]
    assert [(c["status"], c["team"]) for c in cases] == [("dispatched", "TT1")] * 3
    cases[1] = ok(act(client, h["tt1"], cases[1], {"action": "arrive"}))
    records = []
    for case in cases:
        r = client.post("/disputes", json={"geometry": {"type": "Point", "coordinates": [case["lon"], case["lat"]]},
                                           "matter": "M-STREET", "reason": "不属本队管辖，应归东乡",
                                           "case": case["id"]}, headers=h["tt1"])
        assert r.status_code == 201, r.text
        records.append(r.json())

    def listed(**params: object) -> set[int]:
        return {c["id"] for c in client.get("/cases", params=params, headers=h["boss"]).json()}

    assert listed(dispute="open") == {c["id"] for c in cases} and listed(triage=True).isdisjoint(listed(dispute="open"))
    assert client.get("/cases", params={"dispute": "maybe"}, headers=h["boss"]).status_code == 422
    url = f"/disputes/{records[0]['id']}/ruling"
    ruling = {"revision": 0, "team": "TT2", "reason": "该点在东乡界内", "legal_basis": "县政府〔2026〕5号"}
    before = table_counts(engine)
    for body, status, where in [(ruling, 422, "case_revision"),
                                ({**ruling, "case_revision": cases[0]["revision"] - 1}, 409, "case_revision"),
                                ({**ruling, "revision": 1, "case_revision": cases[0]["revision"]}, 409, "revision")]:
        r = client.post(url, json=body, headers=h["boss"])
        assert (r.status_code, r.json()["where"]) == (status, where), r.text
        assert table_counts(engine) == before
        assert client.get(f"/disputes/{records[0]['id']}", headers=h["boss"]).json()["status"] == "open"
    assert "changed since you read it" in client.post(url, json={**ruling, "case_revision": 0},
                                                      headers=h["boss"]).json()["detail"]
    r = client.post(url, json={**ruling, "case_revision": cases[0]["revision"]}, headers=h["boss"])
    assert r.status_code == 200 and r.json()["status"] == "ruled", r.text
    now = client.get(f"/cases/{cases[0]['id']}", headers=h["boss"]).json()
    assert (now["status"], now["team"], now["deadline"], now["revision"]) == (
        "dispatched", "TT2", cases[0]["deadline"], cases[0]["revision"] + 1)
    ruled, moved = client.get(f"/cases/{cases[0]['id']}/history", headers=h["boss"]).json()[-2:]
    assert (ruled["action"], ruled["detail"]["team"]["code"]) == ("dispute_ruled", "TT2")
    assert (moved["action"], moved["reason"], moved["actor"], moved["from"]) == (
        "transfer", "该点在东乡界内", "boss", "dispatched"), moved
    detail = moved["detail"]
    assert (detail["from_team"], detail["to_team"], detail["override"]) == ("TT1", "TT2", True)
    assert detail["routing"]["team"] == "TT1" and str(records[0]["id"]) in detail["note"]
    assert cases[0]["id"] not in listed(dispute="open") and cases[0]["id"] in listed(dispute="ruled")
    assert client.get(f"/cases/{cases[0]['id']}", headers=h["tt1"]).status_code == 404  # no longer TT1's
    # Ruled to the team that holds it (arrived), and dismissed: the case is as it was, its log says why.
    for case, record, path, body, action in [
            (cases[1], records[1], "ruling", {**ruling, "team": "TT1", "reason": "属城关镇"}, "dispute_ruled"),
            (cases[2], records[2], "dismiss", {"revision": 0, "reason": "界线清楚"}, "dispute_dismissed")]:
        r = client.post(f"/disputes/{record['id']}/{path}", json=body, headers=h["boss"])
        assert r.status_code == 200, r.text
        now = client.get(f"/cases/{case['id']}", headers=h["boss"]).json()
        assert (now["status"], now["team"], now["revision"]) == (case["status"], "TT1", case["revision"])
        last = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[-1]
        assert (last["action"], last["detail"]["team"]["code"]) == (action, "TT1")
    assert listed(dispute="open") == set()
