"""The enforcement officer's part of a case (issue 18.2): arrival with its distance, handling with the party and
the first-violation outcome (proposal, record, history, statistics), replay-safe steps; on SQLite and PostGIS."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy.engine import Engine

from cases import clock
from cases.first_violation import (
    USCC_ALPHABET,
    Party,
    months_before,
    normalize_id_card,
    normalize_uscc,
    parse_party,
    propose,
)
from gis.errors import InvalidInput
from store.db import session_factory, transaction
from store.schema import MatterRow
from tests.conftest import table_counts
from tests.test_intake import report
from tests.test_lifecycle import SEAT, act, ok
from tests.test_photos import png

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
ID_EXAMPLE = "11010519491231002X"  # the worked example of GB 11643-1999


def id_check(body: str) -> str:
    """ISO 7064 MOD 11-2 written the other way round from the code: weights 2^(17-i) mod 11, check (12 - s) mod 11."""
    s = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body)) % 11
    return "0123456789X"[(12 - s) % 11]


def uscc_check(body: str) -> str:
    """GB 32100 with its weights as powers of 3 mod 31 (the code lists them)."""
    s = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return USCC_ALPHABET[(31 - s % 31) % 31]


def person_id(seed: int) -> str:
    rng = random.Random(seed)
    body = "330203" + f"{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" + \
        f"{rng.randint(0, 999):03d}"
    return body + id_check(body)


def credit_code(seed: int) -> str:
    rng = random.Random(seed)
    body = "91" + "330203" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check(body)


def test_party_numbers_checked_against_an_independent_formula_and_only_masked() -> None:
    assert normalize_id_card(ID_EXAMPLE.lower()) == ID_EXAMPLE and id_check(ID_EXAMPLE[:17]) == "X"
    for seed in range(200):
        number, code = person_id(seed), credit_code(seed)
        assert normalize_id_card(number) == number and normalize_uscc(code.lower()) == code
        wrong = number[:17] + "0123456789X"[("0123456789X".index(number[17]) + 1) % 11]
        with pytest.raises(InvalidInput) as bad:
            normalize_id_card(wrong)
        assert bad.value.code == "bad_id_number"
        other = code[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(code[17]) + 1) % 31]
        with pytest.raises(InvalidInput):
            normalize_uscc(other)
    # a first-generation 15-digit ID is the same person as its 18-digit form: the same hash
    old = "110105491231002"
    assert normalize_id_card(old) == ID_EXAMPLE
    a, b = parse_party({"kind": "person", "id_number": old}), parse_party({"kind": "person", "id_number": ID_EXAMPLE})
    assert a.digest("s") == b.digest("s") != b.digest("t")
    with pytest.raises(InvalidInput):
        normalize_id_card("110105194902300021")  # 30 February
    p = Party("person", "id_card", ID_EXAMPLE, "张三丰")
    assert (p.masked(), p.masked_name()) == ("110***********002X", "张**")
    assert ID_EXAMPLE not in p.masked() and len(p.digest("salt")) == 64


def test_an_id_number_of_a_wrong_length_is_told_both_accepted_lengths() -> None:
    """16 digits is neither form: the message names 18 characters and the old card's 15 digits, in both languages."""
    with pytest.raises(InvalidInput) as bad:
        normalize_id_card(ID_EXAMPLE[:16])
    assert (bad.value.code, bad.value.where) == ("bad_id_number", "party.id_number")
    english, chinese = bad.value.localized("en"), bad.value.localized("zh-CN")
    assert "18 characters" in english and "15 digits" in english, english
    assert "18 位" in chinese and "15 位" in chinese and "18 characters" not in chinese, chinese


def test_proposal_first_and_repeat_for_each_list_and_the_look_back_window() -> None:
    for klass, first in [("no_penalty", "no_penalty"), ("correction_first", "correction_order"),
                         ("warning_only", "warning")]:
        assert propose(klass, 12, (), "simple").outcome == first
        repeat = propose(klass, 12, (7,), "ordinary")
        assert (repeat.outcome, repeat.first) == ("penalty", False) and "#7" in str(repeat.basis)
    assert propose("none", 12, (), "simple").outcome == "penalty"
    assert months_before(datetime(2026, 3, 31, 9), 1) == datetime(2026, 2, 28, 9)
    assert months_before(datetime(2026, 1, 15), 13) == datetime(2024, 12, 15)


def set_list(engine: Engine, matter: str, klass: str, months: int) -> None:
    with transaction(session_factory(engine)) as session:
        row = session.scalars(sa.select(MatterRow).where(MatterRow.code == matter)).one()
        row.attributes = {**row.attributes, "first_violation": klass, "first_violation_months": months}


def handled(client: TestClient, h: dict[str, dict[str, str]], day: str, party: dict[str, Any],
            outcome: str | None, case: dict[str, Any] | None = None) -> dict[str, Any]:
    """A street-vending case in 城关镇 reported on `day`, arrived at and handled by TT1 on the same day."""
    case = case or client.post("/reports", json=report(*SEAT, reported_at=f"{day}T08:00:00"),
                               headers=h["worker1"]).json()
    assert (case["team"], case["status"]) == ("TT1", "dispatched")
    case = ok(act(client, h["tt1"], case, {"action": "arrive", "lon": SEAT[0], "lat": SEAT[1], "accuracy_m": 8,
                                           "at": f"{day}T09:00:00"}))
    step: dict[str, Any] = {"action": "handle", "party": party, "at": f"{day}T10:00:00", "procedure": "simple"}
    if outcome:
        step["outcome"] = outcome
    return ok(act(client, h["tt1"], case, step))


def raw_text(engine: Engine) -> str:
    """Everything the tables that a handled case touches hold, as text."""
    with engine.connect() as conn:
        return " ".join(str(r) for t in ("case_record", "case_event", "case_party", "action_key", "audit_event")
                        for r in conn.execute(sa.text(f"SELECT * FROM {t}")))


def test_first_violation_proposed_recorded_counted_and_the_number_never_stored(api: Api) -> None:
    client, h, engine = api
    set_list(engine, "M-STREET", "no_penalty", 2)
    number = person_id(1)
    party = {"kind": "person", "id_number": number, "name": "李四"}
    first = handled(client, h, "2026-03-03", party, "no_penalty")
    assert (first["outcome"], first["labels"]["outcome"]) == ("no_penalty", "不予处罚")
    detail = first["outcome_detail"]
    assert (detail["list"], detail["proposed"], detail["first"], detail["follows_proposal"]) == (
        "no_penalty", "no_penalty", True, True)
    assert detail["party"] == {"kind": "person", "id_type": "id_card", "masked_id": number[:3] + "*" * 11 + number[-4:],
                               "name": "李*"}
    # a month later the same party again: the page is offered a penalty, naming the earlier case
    case = client.post("/reports", json=report(*SEAT, reported_at="2026-04-01T08:00:00"), headers=h["worker1"]).json()
    asked = client.post(f"/cases/{case['id']}/first-violation", headers=h["tt1"],
                        json={"party": party, "at": "2026-04-01T10:00:00"})
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert (body["list"], body["window_months"], body["proposal"]["outcome"], body["proposal"]["first"]) == (
        "no_penalty", 2, "penalty", False)
    assert [e["case"] for e in body["earlier"]] == [first["id"]] and body["labels"]["list"] == "首违不罚"
    second = handled(client, h, "2026-04-01", party, "penalty", case)
    assert second["outcome_detail"]["earlier_cases"] == [first["id"]]
    # another party the same day is a first violation; the first party past the window is one again
    org = {"kind": "organisation", "id_number": credit_code(2), "name": "宁波某餐饮有限公司"}
    third = handled(client, h, "2026-04-05", org, None)  # the party alone: no outcome chosen yet
    assert third["outcome"] is None and third["outcome_detail"] is None
    late = handled(client, h, "2026-06-10", {**party, "id_number": number.lower()}, "no_penalty")
    assert (late["outcome_detail"]["first"], late["outcome_detail"]["proposed"]) == (True, "no_penalty")
    history = client.get(f"/cases/{second['id']}/history", headers=h["audit"]).json()
    handle = next(e for e in history if e["action"] == "handle")
    assert handle["detail"]["outcome"]["outcome"] == "penalty" and f"#{first['id']}" in handle["detail"]["outcome"][
        "basis"]
    stats = client.get("/stats", params={"from": "2026-01-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"},
                       headers=h["boss"]).json()
    assert stats["total"]["outcomes"] == {"no_penalty": 2, "correction_order": 0, "warning": 0, "penalty": 1}
    assert stats["by_team"]["TT1"]["outcomes"]["penalty"] == 1
    text = raw_text(engine)
    assert number not in text and number.lower() not in text and credit_code(2) not in text
    assert "李四" not in text and number[-4:] in text  # masked forms only
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM case_party")).scalar_one() == 4
    # What the officer's phone keeps for offline: the team's parties within the window (2 months back from now:
    # the spring cases are out), keyed by the same salted hash a lookup answers with; for officers only.
    day = (clock.today() - timedelta(days=1)).isoformat()
    recent = handled(client, h, day, party, "penalty")
    open_one = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    asked = ok(client.post(f"/cases/{open_one['id']}/first-violation", headers=h["tt1"], json={"party": party}))
    kept = ok(client.get("/first-violation/team", headers=h["tt1"]))
    assert kept["team"] == "TT1" and kept["matters"]["M-STREET"] == {"list": "no_penalty", "window_months": 2}
    assert [(o["case"], o["party_hash"], o["outcome"], o["masked_id"]) for o in kept["outcomes"]] == [
        (recent["id"], asked["party"]["party_hash"], "penalty", number[:3] + "*" * 11 + number[-4:])]
    assert [e["case"] for e in asked["earlier"]] == [recent["id"]] and asked["as_of"]
    assert number not in str(kept) and len(asked["party"]["party_hash"]) == 64
    assert ok(client.get("/first-violation/team", headers=h["tt2"]))["outcomes"] == []  # another team's parties
    r = client.get("/first-violation/team", headers=h["boss"])
    assert r.status_code == 403 and "officers" in r.json()["detail"], r.text


def test_a_bad_check_digit_is_a_422_in_chinese_and_writes_nothing(api: Api) -> None:
    client, h, engine = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    case = ok(act(client, h["tt1"], case, {"action": "arrive"}))
    number = person_id(3)
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    before = table_counts(engine)
    for how in ("handle", "ask"):
        if how == "handle":
            r = act(client, h["tt1"], case, {"action": "handle", "party": {"kind": "person", "id_number": bad},
                                             "outcome": "no_penalty"})
        else:
            r = client.post(f"/cases/{case['id']}/first-violation", headers=h["tt1"],
                            json={"party": {"kind": "person", "id_number": bad}})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "bad_id_number" and "校验码" in r.json()["message"]
    r = client.post(f"/cases/{case['id']}/first-violation", headers=h["tt1"],
                    json={"party": {"kind": "person", "id_number": number[:16]}})  # neither 18 nor 15 digits
    assert r.status_code == 422 and r.json()["code"] == "bad_id_number", r.text
    assert "18 位" in r.json()["message"] and "15 位" in r.json()["message"], r.text
    r = act(client, h["tt1"], case, {"action": "handle", "party": {"kind": "organisation", "id_number": "12345"}})
    assert r.status_code == 422 and "统一社会信用代码" in r.json()["message"]
    r = act(client, h["tt1"], case, {"action": "handle", "outcome": "fine"})
    assert r.status_code == 422 and r.json()["where"] == "outcome"
    assert table_counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM case_party")).scalar_one() == 0
    assert client.get(f"/cases/{case['id']}", headers=h["tt1"]).json()["revision"] == case["revision"]


def test_arrival_far_from_the_case_is_warned_and_a_retried_step_applies_once(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    far = (SEAT[0] + 0.01, SEAT[1])  # ≈ 900 m east, past the default 250 m radius
    body = {"revision": case["revision"], "idempotency_key": "arrive-0001",
            "actions": [{"action": "arrive", "lon": far[0], "lat": far[1], "accuracy_m": 15}]}
    r = client.post(f"/cases/{case['id']}/actions", json=body, headers=h["tt1"])
    arrived = ok(r)
    detail = arrived["events"][0]["detail"]
    assert detail["far"] is True and detail["accuracy_m"] == 15 and detail["radius_m"] == 250
    assert detail["distance_m"] == pytest.approx(Geod(ellps="WGS84").inv(*SEAT, *far)[2], rel=0.005)
    assert "250 m" in detail["warning"] and "超出" in detail["warning"]
    again = ok(client.post(f"/cases/{case['id']}/actions", json=body, headers=h["tt1"]))  # the answer was lost
    assert again["replayed"] is True and again["revision"] == arrived["revision"]
    other = {**body, "actions": [{"action": "handle"}]}
    assert client.post(f"/cases/{case['id']}/actions", json=other, headers=h["tt1"]).status_code == 409
    shas = [client.post("/photos", content=png(seed=n), headers={**h["tt1"], "content-type": "image/png"}).json()[
        "sha256"] for n in (1, 2)]
    r = act(client, h["tt1"], arrived, {"action": "handle", "photos_after": ["0" * 64]})
    assert r.status_code == 422 and r.json()["where"] == "photos_after"  # not uploaded: refused, nothing written
    done = ok(act(client, h["tt1"], arrived, {"action": "handle", "procedure": "ordinary",
                                              "photos_before": shas[:1], "photos_after": shas[1:]}))
    history = client.get(f"/cases/{case['id']}/history", headers=h["audit"]).json()
    assert [e["action"] for e in history].count("arrive") == 1 and done["status"] == "handled"
    handle = history[-1]["detail"]
    assert (handle["photos_before"], handle["photos_after"], handle["procedure"]) == (shas[:1], shas[1:], "ordinary")
    assert set(shas) <= set(done["photos"]) and done["procedure"] == "ordinary"  # 普通: checked before closing
    assert client.get(f"/photos/{shas[1]}", headers=h["boss"]).status_code == 200  # the dispatcher sees them


def test_handling_again_after_a_failed_check_updates_the_party_record(api: Api) -> None:
    client, h, engine = api
    set_list(engine, "M-STREET", "warning_only", 12)
    party = {"kind": "organisation", "id_number": credit_code(5), "name": "某商店"}
    case = handled(client, h, "2026-05-06", party, "warning")
    assert case["outcome_detail"]["proposed"] == "warning"
    case = ok(act(client, h["tt1"], case, {"action": "feedback", "at": "2026-05-06T11:00:00"}))
    case = ok(act(client, h["boss"], case, {"action": "check", "passed": False, "reason": "摊位仍在",
                                            "at": "2026-05-06T12:00:00"}))
    case = ok(act(client, h["tt1"], case, {"action": "arrive", "at": "2026-05-07T09:00:00"},
                  {"action": "handle", "party": party, "outcome": "penalty", "at": "2026-05-07T10:00:00"}))
    # the same case is no earlier case of its own party: still a first violation, the officer chose otherwise
    detail = case["outcome_detail"]
    assert (case["outcome"], detail["proposed"], detail["first"], detail["follows_proposal"]) == (
        "penalty", "warning", True, False)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT outcome, first FROM case_party")).all()
    assert [(r[0], bool(r[1])) for r in rows] == [("penalty", True)]


def test_party_numbers_in_other_scripts_and_control_characters_are_refused() -> None:
    with pytest.raises(InvalidInput):
        normalize_id_card("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")  # Arabic-Indic digits are digits to str.isdigit, not here
    with pytest.raises(InvalidInput) as bad:
        parse_party({"kind": "person", "id_number": ID_EXAMPLE, "name": "张\x00三"})
    assert bad.value.where == "party.name"
