"""A case walked through the pages (issue 18, "Must show"), in real headless Chromium, the API only for set-up
and for checking: a grid worker locates herself on /phone near a township boundary and reports; the case waits in
the dispatch console's near-boundary triage (/console), where the dispatcher dispatches it to the proposed team; the
officer of that team finds it on /officer, arrives, checks the party (a first violation of a 不予处罚 matter: the
page proposes 不予处罚), records the handling and the feedback while offline, and both go when the phone is online
again; the dispatcher checks and closes it on /console; the big screen (/screen) counts the report and the closure
and names them in its ticker within one refresh. Every page speaks Chinese to a Chinese browser.

The server and browser are tests/test_web.py's (one demo server for this module).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from cases import clock
from cases.first_violation import normalize_id_card
from gis.demo import DemoCounty
from gis.errors import InvalidInput
from tests import test_web
from tests.test_officer import person_id
from tests.test_web import REFRESH_S, Watched, api, expected_team, tiles

# The other pages' fixtures, shared: one demo server and one browser for this module.
server, browser, watch, demo = test_web.server, test_web.browser, test_web.watch, test_web.demo

MATTER = "M-URB-001"  # 占道经营: on the demo's 不予处罚 (no-penalty) first-violation list
ACCURACY_M = 80.0  # the phone's GPS accuracy: wider than the distance to the boundary, so a person must confirm
INSIDE_M = 25.0  # how far inside the officer's township the worker stands
ONE_REFRESH_S = REFRESH_S + 4.0  # one refresh interval, plus the requests' time


def near_boundary_spot(demo: DemoCounty, team: str) -> tuple[float, float]:
    """A point INSIDE_M inside the township of `team`, on its edge with a neighbour, that the rules (read
    independently) give to `team` for MATTER."""
    townships = {u.code: u.geometry for u in demo.units if u.layer == "township" and u.geometry is not None}
    mine = townships[team.removeprefix("T-TWP-")]
    metre = 1 / 111_320  # degrees of latitude per metre; longitude is wider here, so the point is a bit closer
    inner = mine.buffer(-INSIDE_M * metre)
    for code, other in sorted(townships.items()):
        edge = mine.boundary.intersection(other.boundary)
        if code == team.removeprefix("T-TWP-") or edge.length == 0:
            continue
        for fraction in (0.5, 0.3, 0.7):
            on_edge = shapely.line_interpolate_point(shapely.line_merge(edge), fraction, normalized=True)
            spot = nearest_points(inner.boundary, on_edge)[0]
            assert mine.contains(spot) and not other.contains(spot)
            if mine.boundary.distance(spot) / metre < ACCURACY_M / 2 and \
                    expected_team(demo, spot.x, spot.y, MATTER, clock.today()) == team:
                return spot.x, spot.y
    raise AssertionError(f"no spot near the edge of {team}'s township routes {MATTER} to it")


def case_of(server: str, case_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with api(server, "dispatcher") as client:
        return client.get(f"/cases/{case_id}").json(), client.get(f"/cases/{case_id}/history").json()


def screen_changed(w: Watched, since: float, **want: int) -> float:
    """Wait until the big screen's figures are `want`; the seconds it took from `since`."""
    w.until(" && ".join(f"GG.screenState.kpi().{k} === {v}" for k, v in want.items()), timeout=ONE_REFRESH_S * 3)
    return time.monotonic() - since


def test_a_case_walks_from_the_phone_through_console_and_officer_to_the_big_screen(
        watch: Callable[..., Watched], server: str, demo: DemoCounty) -> None:
    with api(server, "team") as officer:
        team = officer.get("/auth/me").json()["team_code"]
    lon, lat = near_boundary_spot(demo, team)
    with api(server, "dispatcher") as client:
        team_name = next(t["name"] for t in client.get("/teams").json() if t["code"] == team)

    # The big screen, watching all along.
    screen = watch(1920, 1080, who="dispatcher", locale="zh-CN")
    screen.open(f"/screen?refresh={REFRESH_S:g}")
    screen.until("GG.screenState.kpi()")
    before = screen.js("GG.screenState.kpi()")

    # 1. The grid worker locates herself (GPS ±80 m, 25 m from the boundary) and reports on /phone.
    phone = watch(390, 844, who="worker", locale="zh-CN")
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": ACCURACY_M})
    page = phone.open("/phone")
    page.select_option("#ph-matter", MATTER)
    page.click("#ph-locate")
    page.wait_for_selector("#ph-route[data-team]")
    assert page.get_attribute("#ph-route", "data-near-boundary") == "true"
    assert page.get_attribute("#ph-route", "data-kind") == "warn" and team_name in page.inner_text("#ph-route")
    note = f"路口占道摆摊 {uuid.uuid4().hex[:8]}"
    page.fill("#ph-note", note)
    page.click("#ph-send")
    page.wait_for_selector("#ph-outbox li[data-state=sent]")
    sent_at = time.monotonic()
    shown = re.search(r"#(\d+)", page.inner_text("#ph-outbox li[data-state=sent]"))
    assert shown is not None
    case_id = int(shown.group(1))
    case, _ = case_of(server, case_id)
    assert (case["description"], case["status"], case["triage"], case["team"]) == (
        note, "reported", "near_boundary", team)
    phone.shot("walk-phone-sent-390x844")
    assert phone.errors == []
    phone.close()
    # The screen counts the report within one refresh.
    took = screen_changed(screen, sent_at, reported_today=before["reported_today"] + 1)
    assert took <= ONE_REFRESH_S, took
    assert tiles(screen)["reported_today"] == f"{before['reported_today'] + 1:,}"

    # 2. It waits in the console's near-boundary triage; the dispatcher dispatches it to the proposed team.
    desk = watch(1920, 1080, who="dispatcher", locale="zh-CN")
    page = desk.open("/console")
    desk.until("document.body.dataset.queue")
    page.click('#cq-tabs button[data-kind="near_boundary"]')
    item = page.locator(f'#cq-list li[data-case-id="{case_id}"]')
    assert "临近边界" in item.inner_text() and case_id in desk.js("GG.consoleState.shown()")
    item.locator("span").first.click()
    page.wait_for_selector(f'#cc-case[data-case-id="{case_id}"]')
    assert page.input_value("#cc-team") == team and team_name in page.inner_text("#cc-body")
    page.click("#cc-dispatch")
    desk.until(f"document.body.dataset.revision === '{case['revision'] + 2}'")
    assert "派遣" in page.inner_text("#cc-history")
    desk.until(f"!GG.consoleState.queue().includes({case_id})")  # it left the triage queue
    assert case_of(server, case_id)[0]["status"] == "dispatched"

    # 3. The officer sees it, arrives (at the place), checks the party: a first violation, 不予处罚 proposed.
    field = watch(390, 844, who="team", locale="zh-CN")
    field.context.grant_permissions(["geolocation"])
    field.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 10})
    page = field.open("/officer")
    page.click(f'#of-cases li[data-id="{case_id}"]')
    page.wait_for_selector(f'body[data-case-id="{case_id}"]', state="attached")
    assert page.get_attribute("#of-list", "data-list") == "no_penalty" and "首违不罚" in page.inner_text("#of-list")
    page.click("#of-arrive")
    field.until("document.body.dataset.caseStatus === 'arrived' && document.body.dataset.queued === '0'")
    assert page.get_attribute("#of-warning", "data-kind") != "warn"  # at the place: no distance warning
    number = person_id(uuid.uuid4().int % 10**9)  # a party never seen before
    page.select_option("#of-party-kind", "person")
    page.fill("#of-party-name", "赵六")
    page.fill("#of-party-id", number)
    page.click("#of-check")
    page.wait_for_selector("#of-proposal[data-proposal]")
    assert page.get_attribute("#of-proposal", "data-proposal") == "no_penalty"
    assert "不予处罚" in page.inner_text("#of-proposal") and page.input_value("#of-outcome") == "no_penalty"
    # Handling and feedback while offline: both wait in the outbox, nothing reaches the server.
    field.context.set_offline(True)
    page.click("#of-handle-send")
    field.until("document.body.dataset.caseStatus === 'handled'")
    page.fill("#of-feedback-note", "已劝离，首违不予处罚，现场恢复")
    page.click("#of-feedback-send")
    field.until("document.querySelectorAll('#of-outbox li[data-state=queued]').length === 2")
    assert field.js("document.body.dataset.queued") == "2"
    assert case_of(server, case_id)[0]["status"] == "arrived"
    field.context.set_offline(False)  # online again: both go, in order, once
    field.until("document.body.dataset.queued === '0' && !document.querySelector('#of-outbox li[data-state=queued]')",
                timeout=30)
    fed, _ = case_of(server, case_id)
    assert (fed["status"], fed["outcome"]) == ("fed_back", "no_penalty")
    assert [e for e in field.errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
    field.close()

    # 4. Back on the console: the case waits under "to check and close"; the dispatcher checks and closes it.
    desk.until(f"GG.consoleState.queue().includes({case_id})", timeout=ONE_REFRESH_S * 3)
    page = desk.page
    page.click('#cq-tabs button[data-kind="review"]')
    page.locator(f'#cq-list li[data-case-id="{case_id}"] span').first.click()
    desk.until(f"document.body.dataset.caseId === '{case_id}' && document.body.dataset.revision === "
               f"'{fed['revision']}' && document.querySelector('#cc-check-pass')")
    assert "不予处罚" in page.inner_text("#cc-body") and "已劝离" in page.inner_text("#cc-history")
    desk.shot("walk-console-check-1920x1080")
    page.click("#cc-check-pass")
    desk.until(f"document.body.dataset.revision === '{fed['revision'] + 1}' && document.querySelector('#cc-close')")
    page.click("#cc-close")
    desk.until(f"document.body.dataset.revision === '{fed['revision'] + 2}'")
    closed_at = time.monotonic()
    assert "结案" in page.inner_text("#cc-body") and "核查" in page.inner_text("#cc-history")
    desk.until(f"!GG.consoleState.queue().includes({case_id})")  # and the queue to check
    assert desk.errors == []

    # 5. The big screen: one more registered and closed today, as many open as before, the closure in the ticker.
    took = screen_changed(screen, closed_at, reported_today=before["reported_today"] + 1,
                          registered_today=before["registered_today"] + 1,
                          closed_today=before["closed_today"] + 1, open=before["open"])
    assert took <= ONE_REFRESH_S, took
    now = tiles(screen)
    for key in ("reported_today", "registered_today", "closed_today"):
        assert now[key] == f"{before[key] + 1:,}", key
    assert now["open"] == f"{before['open']:,}"
    ticker = screen.page.inner_text("#sc-ticker")
    first = ticker.splitlines()[0]
    assert f"#{case_id} " in first and "结案" in first, ticker
    assert screen.js("document.querySelectorAll('#sc-ticker li.sc-new').length") >= 1
    screen.shot("walk-screen-closed-1920x1080")
    assert screen.errors == []

    # The stored case and its history, read independently through the API.
    final, history = case_of(server, case_id)
    assert (final["status"], final["team"], final["outcome"]) == ("closed", team, "no_penalty")
    detail = final["outcome_detail"]
    assert (detail["list"], detail["proposed"], detail["first"], detail["follows_proposal"]) == (
        "no_penalty", "no_penalty", True, True)
    assert detail["party"]["masked_id"] == number[:3] + "*" * 11 + number[-4:]
    walked = [(e["action"], e["actor"]) for e in history]
    assert walked == [("report", "worker"), ("triage", "platform"), ("register", "dispatcher"),
                      ("dispatch", "dispatcher"), ("arrive", "team"), ("handle", "team"), ("feedback", "team"),
                      ("check", "dispatcher"), ("close", "dispatcher")], walked
    step = {e["action"]: e for e in history}
    assert step["arrive"]["detail"]["far"] is False and step["arrive"]["detail"]["accuracy_m"] == 10
    assert step["handle"]["detail"]["outcome"]["outcome"] == "no_penalty"
    assert step["feedback"]["detail"]["note"] == "已劝离，首违不予处罚，现场恢复"
    assert step["check"]["detail"]["passed"] is True
    assert Point(final["lon"], final["lat"]).distance(Point(lon, lat)) < 1e-6


def team_spots(demo: DemoCounty, team: str, count: int) -> list[tuple[float, float]]:
    """Points well inside the team's township, more than the duplicate radius apart, that the rules (read
    independently) give to the team for MATTER."""
    township = next(u.geometry for u in demo.units if u.layer == "township" and u.code == team.removeprefix("T-TWP-"))
    inner = township.buffer(-0.004)
    x0, y0, x1, y1 = inner.bounds
    spots: list[tuple[float, float]] = []
    for i in range(1, 30):
        for j in range(1, 30):
            p = Point(x0 + (x1 - x0) * i / 30, y0 + (y1 - y0) * j / 30)
            if inner.contains(p) and all(p.distance(Point(s)) > 0.006 for s in spots) and \
                    expected_team(demo, p.x, p.y, MATTER, clock.today()) == team:
                spots.append((p.x, p.y))
    assert len(spots) >= count, f"only {len(spots)} spots in {team}'s township"
    return spots


def test_the_officer_page_answers_first_violation_lists_offline_from_its_copy_and_the_server_decides(
        watch: Callable[..., Watched], server: str, demo: DemoCounty) -> None:
    """Online, the officer looks a party up (the page keeps the answer and the team's recorded parties);
    offline, the page lists that party's earlier cases — including one a colleague recorded after the lookup — and
    says as of when and that the list may be incomplete, with a provisional proposal; a party never looked up is
    said to be unknown. Handled offline on the provisional proposal, the step is checked again by the server when
    it is sent, and the page says the server proposes otherwise."""
    with api(server, "team") as officer:
        team = officer.get("/auth/me").json()["team_code"]
    spots = iter(team_spots(demo, team, 8))
    tag = uuid.uuid4().int % 10**9
    p_party = {"kind": "person", "id_number": person_id(tag), "name": "钱七"}
    q_party = {"kind": "person", "id_number": person_id(tag + 1), "name": "孙八"}

    def dispatched(note: str) -> dict[str, Any]:
        """A report of MATTER at the next free spot, routed and dispatched to the team (not a duplicate)."""
        with api(server, "worker") as worker:
            for lon, lat in spots:
                r = worker.post("/reports", json={"idempotency_key": f"fv-offline-{tag}-{note}", "matter": MATTER,
                                                  "lon": lon, "lat": lat, "accuracy_m": 5, "description": note})
                assert r.status_code == 201, r.text
                if r.json()["status"] == "dispatched":
                    assert r.json()["team"] == team
                    return dict(r.json())
                note += "+"
        raise AssertionError("no free spot")

    def arrived(note: str) -> dict[str, Any]:
        case = dispatched(note)
        with api(server, "team") as officer:
            r = officer.post(f"/cases/{case['id']}/actions", json={"revision": case["revision"], "actions": [
                {"action": "arrive", "lon": case["lon"], "lat": case["lat"], "accuracy_m": 5}]})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def handled(note: str, party: dict[str, str], outcome: str) -> int:
        case = arrived(note)
        with api(server, "team") as officer:
            r = officer.post(f"/cases/{case['id']}/actions", json={"revision": case["revision"], "actions": [
                {"action": "handle", "procedure": "simple", "party": party, "outcome": outcome}]})
        assert r.status_code == 200, r.text
        return int(case["id"])

    earlier_p = handled("E", p_party, "no_penalty")  # P's first violation
    earlier_q = handled("G", q_party, "no_penalty")  # Q's, never looked up on the phone
    a, b = dispatched("A"), arrived("B")
    w = watch(390, 844, who="team", locale="zh-CN")
    page = w.open("/officer")
    page.click(f'#of-cases li[data-id="{a["id"]}"]')
    page.wait_for_selector(f'body[data-case-id="{a["id"]}"]', state="attached")

    def check(party: dict[str, str]) -> None:
        w.js("(() => { const o = document.querySelector('#of-proposal'); delete o.dataset.proposal; })()")
        page.select_option("#of-party-kind", party["kind"])
        page.fill("#of-party-name", party["name"])
        page.fill("#of-party-id", party["id_number"])
        page.click("#of-check")
        page.wait_for_selector("#of-proposal[data-proposal]")

    check(p_party)  # online: the server answers, a repeat: penalty
    assert page.get_attribute("#of-proposal", "data-proposal") == "penalty"
    assert page.get_attribute("#of-proposal", "data-provisional") is None and f"#{earlier_p}" in page.inner_text(
        "#of-proposal")
    # A colleague records P again after the lookup; the page's next load keeps the team's parties.
    later_p = handled("F", p_party, "penalty")
    page = w.open("/officer")
    w.until(f"(JSON.parse(localStorage.getItem('gg.officer.fv.team')) || {{team: {{outcomes: []}}}}).team.outcomes"
            f".some((o) => o.case === {later_p})")
    kept = str(w.js("JSON.stringify(localStorage)"))
    assert p_party["id_number"] not in kept and q_party["id_number"] not in kept  # the numbers are not kept

    w.context.set_offline(True)
    page.click(f'#of-cases li[data-id="{b["id"]}"]')
    page.wait_for_selector(f'body[data-case-id="{b["id"]}"]', state="attached")
    check(p_party)  # offline: from the copy, both earlier cases, as of the copy's time, provisional
    text = page.inner_text("#of-proposal")
    as_of = w.js("document.querySelector('#of-proposal').dataset.asOf")
    assert as_of and str(w.js(f"GG.fmtTime({as_of!r})")) in text and "可能不完整" in text, text
    assert f"#{earlier_p}" in text and f"#{later_p}" in text and "暂定" in text, text
    assert page.get_attribute("#of-proposal", "data-provisional") == "1"
    assert page.get_attribute("#of-proposal", "data-proposal") == "penalty"
    page.locator("#of-proposal").scroll_into_view_if_needed()
    w.shot("officer-offline-first-violation-390x844")
    # The same card typed as its old 15-digit number: the page widens it as the server does (checked against the
    # server's own function and Python's SHA-256), so offline it is the same party with the same earlier cases.
    number = p_party["id_number"]
    old = number[:6] + number[8:17]
    for typed in (old, number, f" {old} "):
        assert w.js(f"GG.officer.normalizeNumber('person', {typed!r}).id") == normalize_id_card(typed) == number
    bad = old[:8] + "13" + old[10:]  # month 13
    with pytest.raises(InvalidInput):
        normalize_id_card(bad)
    assert "13" in str(w.js(f"GG.officer.normalizeNumber('person', {bad!r}).error"))
    salt = w.js("JSON.parse(localStorage.getItem('gg.officer.fv.' + GG.user().username)).salt")
    keys = {w.js(f"GG.officer.partyKey({{kind: 'person', id_number: GG.officer.normalizeNumber('person', {t!r}).id}})")
            for t in (old, number)}
    assert keys == {hashlib.sha256(f"{salt}:person:{number}".encode()).hexdigest()}
    check({**p_party, "id_number": old})
    text = page.inner_text("#of-proposal")
    assert f"#{earlier_p}" in text and f"#{later_p}" in text and page.get_attribute(
        "#of-proposal", "data-proposal") == "penalty", text
    check(q_party)  # never looked up here: its earlier case cannot be known offline, and the page says so
    text = page.inner_text("#of-proposal")
    assert "未在本机" in text and f"#{earlier_q}" not in text and "可能不完整" in text, text
    assert page.get_attribute("#of-proposal", "data-proposal") == "no_penalty"
    assert page.input_value("#of-outcome") == "no_penalty"
    page.click("#of-handle-send")  # handled on the provisional proposal, while offline
    w.until("document.body.dataset.caseStatus === 'handled' && document.body.dataset.queued === '1'")
    assert case_of(server, b["id"])[0]["status"] == "arrived"

    w.context.set_offline(False)  # the step goes; the server checks Q's earlier cases and proposes otherwise
    w.until("document.body.dataset.queued === '0' && document.querySelector('#of-outbox .of-recheck')", timeout=30)
    stored, _ = case_of(server, b["id"])
    detail = stored["outcome_detail"]
    assert (stored["outcome"], detail["proposed"], detail["first"], detail["earlier_cases"], detail[
        "follows_proposal"]) == ("no_penalty", "penalty", False, [earlier_q], False)
    recheck = page.inner_text("#of-outbox .of-recheck")
    assert "服务器" in recheck and "处罚" in recheck and f"#{earlier_q}" in recheck, recheck
    assert "服务器" in page.inner_text("#of-warning")
    assert [e for e in w.errors if "ERR_INTERNET_DISCONNECTED" not in e] == [], w.errors
