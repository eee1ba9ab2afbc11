"""The dispatch console (/console) in a real browser: a dispatcher works the triage queue from the page.

The server and browser helpers are tests/test_web.py's (one demo server for this module). Each test drives the
page as a dispatcher would — clicks and keys — and checks the stored case through the API: a triage case
registered and dispatched to another team with a reason, a bulk dispatch (one case changed meanwhile is reported,
the others done), a case changed by someone else between reading and acting (409: nothing is done, the page
reloads it and says what changed), and the page in a zh-CN browser shows no English label.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from shapely.geometry import shape

from tests import test_web
from tests.live import token
from tests.test_web import (
    CJK,
    PASSWORD,
    VISIBLE_TEXT,
    Watched,
    api,
    click_at,
    data_names,
    english_words,
    latin_words,
)

# The other pages' fixtures, shared: one demo server and one browser for this module.
server, browser, watch = test_web.server, test_web.browser, test_web.watch

SIZE = (1920, 1080)


@pytest.fixture(scope="module")
def places(server: str) -> list[tuple[float, float]]:
    """A point well inside each township (far apart, so no two reports are duplicates of each other)."""
    with api(server, "dispatcher") as client:
        fc = client.get("/units", params={"layer": "township"}).json()
    out = []
    for f in sorted(fc["features"], key=lambda f: f["properties"]["code"]):
        g = shape(f["geometry"])
        p = g.buffer(-0.003).representative_point() if not g.buffer(-0.003).is_empty else g.representative_point()
        out.append((p.x, p.y))
    return out


def triage_case(server: str, lon: float, lat: float, matter: str, note: str) -> dict[str, Any]:
    """A grid worker's report whose GPS accuracy (100 km) is wider than the distance to any boundary: it waits in
    the triage queue as near a boundary, with the team routing proposes."""
    with api(server, "worker") as client:
        r = client.post("/reports", json={"idempotency_key": f"console-{note}", "matter": matter, "lon": lon,
                                          "lat": lat, "accuracy_m": 100_000, "description": note})
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    assert (case["status"], case["triage"]) == ("reported", "near_boundary"), case
    return case


def stored(server: str, case_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with api(server, "dispatcher") as client:
        return client.get(f"/cases/{case_id}").json(), client.get(f"/cases/{case_id}/history").json()


def open_console(w: Watched) -> Any:
    page = w.open("/console")
    w.until("document.body.dataset.queue")
    return page


def pick(w: Watched, case_id: int) -> None:
    """Click a case in the queue (after the queue has been read again) and wait for its panel."""
    w.js("GG.consoleState.reload()")
    if case_id not in w.js("GG.consoleState.shown()"):
        w.page.click('#cq-tabs button[data-kind="all"]')
    w.page.click(f'#cq-list li[data-case-id="{case_id}"] span')
    w.page.wait_for_selector(f'#cc-case[data-case-id="{case_id}"]')


def test_console_works_a_triage_case_register_and_dispatch_with_a_reason(
        watch: Callable[..., Watched], server: str, places: list[tuple[float, float]]) -> None:
    case = triage_case(server, *places[1], "M-ENV-COAL", "console-one")
    w = watch(*SIZE)
    page = open_console(w)
    # Loads clean, speaks to no other host, fits the desk screen with its two panels beside the map.
    assert w.errors == [] and w.other_hosts() == set()
    assert w.js("document.scrollingElement.scrollWidth") <= SIZE[0]
    boxes = w.js("""Array.from(document.querySelectorAll('.gg-panel, .folium-map')).map(e => {
        const r = e.getBoundingClientRect(); return [r.left, r.right]; }).sort((a, b) => a[0] - b[0])""")
    assert len(boxes) == 3 and all(a[1] <= b[0] + 1 for a, b in zip(boxes, boxes[1:], strict=False)), boxes
    pick(w, case["id"])
    # The proposed team is chosen by default; another team needs a reason, and nothing is sent without one.
    assert page.input_value("#cc-team") == case["team"]
    with api(server, "dispatcher") as client:
        teams = [t for t in client.get("/teams").json() if t["kind"] == "township_team" and t["code"] != case["team"]]
    other = teams[0]
    page.select_option("#cc-team", other["code"])
    page.click("#cc-dispatch")
    w.until("document.querySelector('#gg-status').dataset.kind === 'error'")
    assert stored(server, case["id"])[0]["status"] == "reported"
    page.fill("#cc-reason", "属地协调：由相邻乡镇先行处置")
    page.click("#cc-dispatch")
    w.until(f"document.body.dataset.revision === '{case['revision'] + 2}'")
    after, history = stored(server, case["id"])
    assert (after["status"], after["team"]) == ("dispatched", other["code"])
    dispatch = next(e for e in history if e["action"] == "dispatch")
    assert (dispatch["actor"], dispatch["detail"]["note"]) == ("dispatcher", "属地协调：由相邻乡镇先行处置")
    assert other["name"] in page.inner_text("#cc-body")  # names before codes
    assert "属地协调" in page.inner_text("#cc-history")
    # It left the triage queue.
    w.js("GG.consoleState.reload()")
    assert case["id"] not in w.js("GG.consoleState.queue()")
    w.shot("console-1920x1080")
    assert w.errors == []


def test_console_bulk_dispatch_reports_the_case_changed_meanwhile(
        watch: Callable[..., Watched], server: str, places: list[tuple[float, float]]) -> None:
    cases = [triage_case(server, *places[k], matter, f"console-bulk-{k}")
             for k, matter in ((2, "M-ENV-COAL"), (3, "M-ENV-COAL"), (4, "M-ENV-COAL"))]
    w = watch(*SIZE, locale="zh-CN")
    page = open_console(w)
    w.js("GG.consoleState.reload()")
    for c in cases:
        page.check(f'#cq-list li[data-case-id="{c["id"]}"] input[type=checkbox]')
    assert "3" in page.inner_text("#cq-selected")
    with api(server, "dispatcher") as client:  # someone else registers the last one meanwhile
        r = client.post(f"/cases/{cases[2]['id']}/actions", json={"revision": cases[2]["revision"],
                                                                  "action": "register"})
        assert r.status_code == 200, r.text
    page.click("#cq-bulk-dispatch")
    w.until("!document.body.dataset.busy && /2/.test(document.querySelector('#gg-status').textContent)")
    status = page.inner_text("#gg-status")
    assert f"#{cases[2]['id']}" in status and "更改" in status, status  # the changed one is named, undone
    for c in cases[:2]:
        now = stored(server, c["id"])[0]
        assert (now["status"], now["team"]) == ("dispatched", c["team"])  # each to its proposed team
    assert stored(server, cases[2]["id"])[0]["status"] == "registered"
    # The registered one now waits in "awaiting dispatch".
    page.click('#cq-tabs button[data-kind="registered"]')
    assert cases[2]["id"] in w.js("GG.consoleState.shown()")
    assert all("409" in e for e in w.errors), w.errors  # the browser logs the refused one's status, nothing else


def test_console_keys_and_a_stale_revision_reload_the_case_and_say_what_changed(
        watch: Callable[..., Watched], server: str, places: list[tuple[float, float]]) -> None:
    case = triage_case(server, *places[5], "M-ENV-COAL", "console-stale")
    w = watch(*SIZE, locale="zh-CN")
    page = open_console(w)
    w.js("GG.consoleState.reload()")
    # Keyboard: 2 is the near-boundary tab, j the first case in it, j again the next, k back.
    page.keyboard.press("2")
    shown = w.js("GG.consoleState.shown()")
    assert case["id"] in shown and len(shown) >= 2
    page.keyboard.press("j")
    w.until(f"document.body.dataset.caseId === '{shown[0]}'")
    page.keyboard.press("j")
    w.until(f"document.body.dataset.caseId === '{shown[1]}'")
    page.keyboard.press("k")
    w.until(f"document.body.dataset.caseId === '{shown[0]}'")
    page.keyboard.press("?")
    assert page.is_visible('#cq-help kbd[data-k="j"]') and "立案" in page.inner_text("#cq-help")  # documented
    page.keyboard.press("Escape")
    assert not page.is_visible("#cq-help")
    pick(w, case["id"])
    read = int(w.js("document.body.dataset.revision"))
    with api(server, "dispatcher") as client:  # between the read and the action, someone registers it
        r = client.post(f"/cases/{case['id']}/actions", json={"revision": read, "action": "register"})
        assert r.status_code == 200, r.text
    page.keyboard.press("d")  # register and dispatch, sent with the revision read: refused
    page.wait_for_selector("#cc-notice:not([hidden])")
    notice = page.inner_text("#cc-notice")
    assert f"修订 {read} → {read + 1}" in notice and "上报 → 立案" in notice and "dispatcher" in notice, notice
    assert stored(server, case["id"])[0]["status"] == "registered"  # nothing of the refused action was done
    assert int(w.js("document.body.dataset.revision")) == read + 1  # the page holds the case as it is now
    page.keyboard.press("d")  # decided again on the new revision: dispatched to the proposed team
    w.until(f"document.body.dataset.revision === '{read + 2}'")
    after = stored(server, case["id"])[0]
    assert (after["status"], after["team"]) == ("dispatched", case["team"])
    assert len(w.errors) == 1 and "409" in w.errors[0], w.errors


def test_console_speaks_chinese_to_a_chinese_browser(watch: Callable[..., Watched], server: str) -> None:
    english, names = english_words(), data_names(server)
    w = watch(*SIZE, locale="zh-CN")
    page = open_console(w)
    texts = []
    for kind in ("near_boundary", "late"):  # a triage case and an escalated one: their panels and actions
        page.click(f'#cq-tabs button[data-kind="{kind}"]')
        page.keyboard.press("j")
        page.wait_for_selector("#cc-case:not([hidden])")
        w.until("!document.body.dataset.busy")
        page.wait_for_timeout(300)
        texts.append(str(w.js(VISIBLE_TEXT)))
    page.keyboard.press("?")
    texts.append(str(w.js(VISIBLE_TEXT)))
    text = "\n".join(texts)
    for n in names:
        text = text.replace(n, " ")
    left = latin_words(text) & english
    where = [line for line in text.splitlines() if latin_words(line) & left][:8]
    assert not left, f"/console shows English words {sorted(left)} in a zh-CN browser: {where}"
    assert w.js("document.documentElement.lang") == "zh-CN" and CJK.search(w.js("document.title"))
    assert "调度台" in w.js("document.title") and "督办" in text
    assert w.errors == []
    en = httpx.get(f"{server}/console?lang=en").text
    assert "Dispatch console" in en and re.search(r"<title>Dispatch console", en)


def test_console_locates_an_address_only_case_links_a_duplicate_and_extends_a_deadline(
        watch: Callable[..., Watched], server: str, places: list[tuple[float, float]]) -> None:
    worker = token(server, "worker", PASSWORD)
    r = httpx.post(f"{server}/open311/v2/requests.json", data={
        "api_key": worker, "service_code": "M-ENV-COAL", "address_string": "城关镇南关村东口",
        "description": "console-address-only"})
    assert r.status_code == 201, r.text
    case_id = int(r.json()[0]["service_request_id"])
    w = watch(*SIZE, locale="zh-CN")
    page = open_console(w)
    w.js("GG.consoleState.reload()")
    page.click('#cq-tabs button[data-kind="unlocated"]')
    pick(w, case_id)
    # p puts a pin where the map is clicked; the pin is dragged elsewhere; the preview follows; confirm routes it.
    page.keyboard.press("p")
    w.until("document.body.dataset.placing")
    a, b = places[0], places[6]
    w.js(f"void GG.map.fitBounds([[{min(a[1], b[1])}, {min(a[0], b[0])}], [{max(a[1], b[1])}, {max(a[0], b[0])}]], "
         "{animate: false, padding: [40, 40]})")
    click_at(w, *a)
    w.until("document.body.dataset.pinned && document.querySelector('#cc-pin-info').textContent.length > 3")
    icon = w.page.locator(".leaflet-marker-icon").bounding_box()
    box = w.page.locator(".folium-map").bounding_box()
    x, y = w.js(f"(() => {{ const p = GG.map.latLngToContainerPoint([{b[1]}, {b[0]}]); return [p.x, p.y]; }})()")
    # Grab the icon where its tip is (its anchor) and drop it on b.
    tip = (icon["x"] + icon["width"] / 2, icon["y"] + icon["height"] - 2)
    w.page.mouse.move(*tip)
    w.page.mouse.down()
    w.page.mouse.move(box["x"] + x, box["y"] + y - 2, steps=12)
    w.page.mouse.up()
    with api(server, "dispatcher") as client:
        routed = client.post("/route", json={"lon": b[0], "lat": b[1], "matter": "M-ENV-COAL"}).json()["decisions"][0]
    w.until(f"document.querySelector('#cc-pin-info').textContent.includes({routed['team_name']!r})")
    page.click("#cc-pin-ok")
    w.until("document.body.dataset.revision === '1'")
    placed, history = stored(server, case_id)
    assert abs(placed["lon"] - b[0]) < 0.0005 and abs(placed["lat"] - b[1]) < 0.0005, (placed["lon"], placed["lat"])
    assert placed["team"] == routed["team"] and history[-1]["action"] == "locate"
    page.keyboard.press("d")  # register and dispatch to the team the place gives
    w.until("document.body.dataset.revision === '3'")
    assert (stored(server, case_id)[0]["status"], stored(server, case_id)[0]["team"]) == ("dispatched", routed["team"])
    # Another report of the same thing is linked to it as a duplicate, from the page.
    dup = triage_case(server, *places[0], "M-ENV-COAL", "console-dup")
    pick(w, dup["id"])
    page.keyboard.press("l")
    page.keyboard.type(str(case_id))
    page.click("#cc-link")
    w.until(f"document.body.dataset.revision === '{dup['revision'] + 1}'")
    linked, history = stored(server, dup["id"])
    assert (linked["status"], linked["linked_to"], history[-1]["action"]) == ("duplicate", case_id, "link_duplicate")
    # The dispatched case's deadline is extended by two working days, with a reason.
    w.js(f"GG.consoleState.select({case_id})")
    w.until(f"document.body.dataset.caseId === '{case_id}' && document.querySelector('#cc-extend')")
    before = stored(server, case_id)[0]
    page.fill("#cc-ext-amount", "2")
    page.fill("#cc-ext-reason", "需协调煤场清运")
    page.click("#cc-extend")
    w.until(f"document.body.dataset.revision === '{before['revision'] + 1}'")
    after, history = stored(server, case_id)
    assert after["deadline"] > before["deadline"] and history[-1]["reason"] == "需协调煤场清运"
    assert w.errors == []


def rule_on_page(page: Any, team: str, reason: str, basis: str) -> None:
    """Fill the console's ruling box and send it."""
    page.select_option("#cc-rule-team", team)
    page.fill("#cc-rule-reason", reason)
    page.fill("#cc-rule-basis", basis)
    page.click("#cc-rule")


def test_console_raises_rules_and_dismisses_disputes_then_escalates_shares_and_transfers(
        watch: Callable[..., Watched], server: str, places: list[tuple[float, float]]) -> None:
    """The dispute and overdue panels' actions from the page, each checked in the API: a dispute raised over a
    near-boundary case moves it to the dispute tab; its ruling refused while someone added evidence (the page says
    so), then done: the case goes to the ruled team and the page shows the ruling instead of offering a new dispute;
    another dispute dismissed as unfounded (驳回): the case keeps its routing; a third ruled through the API alone
    leaves the dispute tab for "awaiting dispatch", and the page dispatches it to the ruled team; then the ruled case
    escalated, a co-owner added, and a transfer refused when someone extended the case meanwhile, then done; last a
    dispatched case its team disputes, listed under disputes and ruled from the page to another team, which transfers
    it (refused once: the case was extended meanwhile)."""
    with api(server, "dispatcher") as client:
        matter = next(m["code"] for m in client.get("/matters").json() if m["code"] != "M-ENV-COAL")
        teams = [t["code"] for t in client.get("/teams").json() if t["kind"] == "township_team"]
    # Other matters than the other tests' at the same places: no duplicate links between them.
    a = triage_case(server, *places[1], matter, "console-dispute-rule")
    b = triage_case(server, *places[3], matter, "console-dispute-dismiss")
    c = triage_case(server, *places[0], matter, "console-dispute-api")
    w = watch(*SIZE, locale="zh-CN")
    page = open_console(w)

    def dispute_of(case_id: int) -> dict[str, Any]:
        with api(server, "dispatcher") as client:
            (record,) = [d for d in client.get("/disputes").json() if d["case"] == case_id]
        return record

    def raise_dispute(case_id: int, reason: str) -> dict[str, Any]:
        pick(w, case_id)
        page.click("#cc-dispute")  # no reason: refused in the page, nothing filed
        w.until("document.querySelector('#gg-status').dataset.kind === 'error'")
        with api(server, "dispatcher") as client:
            assert [d for d in client.get("/disputes").json() if d["case"] == case_id] == []
        page.fill("#cc-dispute-reason", reason)
        page.click("#cc-dispute")
        page.wait_for_selector("#cc-rule-box")
        record = dispute_of(case_id)
        assert (record["status"], record["raised_by"], record["reason"]) == ("open", "dispatcher", reason)
        assert stored(server, case_id)[1][-1]["action"] == "dispute_raised"
        assert_tab(case_id, "dispute")  # it left the near-boundary tab for the dispute tab
        return record

    def assert_tab(case_id: int, kind: str | None) -> None:
        """The queue, read again, lists the case under `kind` only (None: in no queue of the command centre's)."""
        w.js("GG.consoleState.reload()")
        if kind is None:
            assert case_id not in w.js("GG.consoleState.queue()")
            return
        page.click(f'#cq-tabs button[data-kind="{kind}"]')
        assert case_id in w.js("GG.consoleState.shown()")
        assert page.get_attribute(f'#cq-list li[data-case-id="{case_id}"]', "data-kind") == kind
        page.click('#cq-tabs button[data-kind="near_boundary"]')
        assert case_id not in w.js("GG.consoleState.shown()")

    def assert_settled(status: str, *words: str) -> None:
        """The selected case shows its settled record, and offers neither a ruling nor a new dispute."""
        page.wait_for_selector(f'#cc-settled[data-status="{status}"]')
        shown = page.inner_text("#cc-settled")
        assert all(word in shown for word in words), (words, shown)
        assert page.query_selector("#cc-dispute") is None and page.query_selector("#cc-rule-box") is None

    # Raised, then ruled: someone adds evidence between the page's read and the ruling, which is refused.
    record = raise_dispute(a["id"], "两镇均称该点不属本辖区")
    ruled_to = next(code for code in teams if code != a["team"])
    with api(server, "dispatcher") as client:
        r = client.post(f"/disputes/{record['id']}/evidence", json={"revision": 0, "text": "现场照片显示在河东"})
        assert r.status_code == 200, r.text

    def rule() -> None:
        rule_on_page(page, ruled_to, "按河道中心线划界", "县政府〔2026〕7号")

    rule()
    page.wait_for_selector("#cc-notice:not([hidden])")
    notice = page.inner_text("#cc-notice")
    assert f"#{record['id']}" in notice and "修订 0 → 1" in notice and "现场照片显示在河东" in notice, notice
    assert dispute_of(a["id"])["status"] == "open" and stored(server, a["id"])[0]["status"] == "reported"
    rule()  # decided again on what is there now
    w.until(f"document.body.dataset.revision === '{a['revision'] + 2}'")
    case, history = stored(server, a["id"])
    assert (case["status"], case["team"]) == ("dispatched", ruled_to)
    ruled = dispute_of(a["id"])
    assert (ruled["status"], ruled["ruling"]["team"], ruled["ruling"]["legal_basis"]) == (
        "ruled", ruled_to, "县政府〔2026〕7号")
    assert [e["action"] for e in history][-4:] == ["dispute_raised", "dispute_ruled", "register", "dispatch"]
    assert "按河道中心线划界" in history[-1]["detail"]["note"]
    assert_settled("ruled", "已裁定", "dispatcher", "按河道中心线划界", "县政府〔2026〕7号")
    assert_tab(a["id"], None)  # dispatched, on time: in no queue

    # Raised, then dismissed as unfounded: a reason is needed; the case goes to the team routing proposed.
    record = raise_dispute(b["id"], "网格员认为应归邻镇")
    page.locator("#cc-dismiss-box").scroll_into_view_if_needed()
    w.shot("console-dispute-1920x1080")
    page.click("#cc-dismiss")
    w.until("document.querySelector('#gg-status').dataset.kind === 'error'")
    assert dispute_of(b["id"])["status"] == "open"
    page.fill("#cc-dismiss-reason", "点位在本镇界内，争议不成立")
    page.click("#cc-dismiss")
    w.until(f"document.body.dataset.revision === '{b['revision'] + 2}'")
    case, history = stored(server, b["id"])
    assert (case["status"], case["team"]) == ("dispatched", b["team"])
    dismissed = dispute_of(b["id"])
    assert (dismissed["status"], dismissed["ruling"]["reason"]) == ("dismissed", "点位在本镇界内，争议不成立")
    event = next(e for e in history if e["action"] == "dispute_dismissed")
    assert (event["reason"], event["detail"]["team"]["code"]) == ("点位在本镇界内，争议不成立", b["team"])
    shown = page.inner_text("#cc-history")
    assert "争议不成立（驳回）" in shown and "点位在本镇界内" in shown, shown
    assert_settled("dismissed", "驳回", "点位在本镇界内，争议不成立", "网格员认为应归邻镇")

    # Raised and ruled through the API alone: the case leaves the dispute tab and waits for dispatch; the page
    # shows the ruling, proposes the ruled team and dispatches to it without another reason.
    ruled_c = next(code for code in teams if code != c["team"])
    with api(server, "dispatcher") as client:
        r = client.post("/disputes", json={"geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                                           "matter": matter, "reason": "两队互相推诿", "case": c["id"]})
        assert r.status_code == 201, r.text
        record = r.json()
        assert_tab(c["id"], "dispute")
        r = client.post(f"/disputes/{record['id']}/ruling", json={
            "revision": 0, "team": ruled_c, "reason": "按村界协议", "legal_basis": "县政府〔2026〕9号"})
        assert r.status_code == 200, r.text
    assert_tab(c["id"], "registered")
    pick(w, c["id"])
    assert_settled("ruled", "按村界协议", "两队互相推诿")
    page.locator("#cc-settled").scroll_into_view_if_needed()
    w.shot("console-dispute-settled-1920x1080")
    assert page.input_value("#cc-team") == ruled_c
    page.keyboard.press("d")
    w.until(f"document.body.dataset.revision === '{c['revision'] + 2}'")
    case, history = stored(server, c["id"])
    assert (case["status"], case["team"], case["triage"]) == ("dispatched", ruled_c, "settled")
    assert "按村界协议" in history[-1]["detail"]["note"]
    assert_tab(c["id"], None)

    # The ruled case: escalated, a co-owner added, then transferred (refused once: extended meanwhile).
    w.js(f"GG.consoleState.select({a['id']})")
    w.until(f"document.body.dataset.caseId === '{a['id']}' && document.querySelector('#cc-escalate')")
    read = int(w.js("document.body.dataset.revision"))
    page.fill("#cc-esc-reason", "群众多次投诉")
    page.click("#cc-escalate")
    w.until(f"document.body.dataset.revision === '{read + 1}'")
    case, history = stored(server, a["id"])
    assert (case["escalation_level"], history[-1]["action"], history[-1]["reason"]) == (1, "escalate", "群众多次投诉")
    partner, target = [code for code in teams if code != ruled_to][:2]
    page.select_option("#cc-other-team", partner)
    page.click("#cc-coowner")
    w.until(f"document.body.dataset.revision === '{read + 2}'")
    assert stored(server, a["id"])[0]["co_owners"] == [partner]
    with api(server, "dispatcher") as client:
        r = client.post(f"/cases/{a['id']}/actions", json={"revision": read + 2, "action": "extend", "amount": 1,
                                                          "unit": "working_days", "reason": "等待勘界"})
        assert r.status_code == 200, r.text

    def transfer() -> None:
        page.select_option("#cc-other-team", target)
        page.fill("#cc-transfer-reason", "属邻镇管辖")
        page.click("#cc-transfer")

    transfer()
    page.wait_for_selector("#cc-notice:not([hidden])")
    notice = page.inner_text("#cc-notice")
    assert f"修订 {read + 2} → {read + 3}" in notice and "等待勘界" in notice, notice
    assert stored(server, a["id"])[0]["team"] == ruled_to  # nothing of the refused transfer was done
    transfer()
    w.until(f"document.body.dataset.revision === '{read + 4}'")
    case, history = stored(server, a["id"])
    assert (case["team"], history[-1]["action"], history[-1]["reason"]) == (target, "transfer", "属邻镇管辖")

    # A dispatched case whose team says "not ours": listed under disputes; ruled from the page to another team
    # (refused once: the case was extended meanwhile, and the page says so), which transfers it, deadline kept.
    with api(server, "dispatcher") as client:
        other_matter = next(m["code"] for m in client.get("/matters").json()
                            if m["code"] not in ("M-ENV-COAL", matter))
    with api(server, "team") as client:
        holder = client.get("/auth/me").json()["team_code"]
    held = triage_case(server, *places[2], other_matter, "console-dispute-team")
    with api(server, "dispatcher") as client:
        r = client.post(f"/cases/{held['id']}/actions", json={"revision": held["revision"], "actions": [
            {"action": "register"}, {"action": "dispatch", "team": holder, "note": "就近派遣"}]})
        assert r.status_code == 200, r.text
    with api(server, "team") as client:
        point = {"type": "Point", "coordinates": [held["lon"], held["lat"]]}
        r = client.post("/disputes", json={"geometry": point, "matter": other_matter, "reason": "该点不属本镇，请改派",
                                           "case": held["id"]})
        assert r.status_code == 201, r.text
    assert_tab(held["id"], "dispute")  # with its team, yet in the dispute tab until it is ruled or dismissed
    pick(w, held["id"])
    page.wait_for_selector('#cc-rule-box[data-with-team="1"]')
    assert page.query_selector("#cc-dismiss-box") is not None
    page.locator("#cc-rule-box").scroll_into_view_if_needed()
    w.shot("console-dispute-with-team-1920x1080")
    read = int(w.js("document.body.dataset.revision"))
    ruled_e = next(code for code in teams if code != holder)
    with api(server, "dispatcher") as client:
        r = client.post(f"/cases/{held['id']}/actions", json={"revision": read, "action": "extend", "amount": 1,
                                                          "unit": "working_days", "reason": "等待裁定"})
        assert r.status_code == 200, r.text
    extended = stored(server, held["id"])[0]

    def rule_e() -> None:
        rule_on_page(page, ruled_e, "按镇界协议归邻镇", "县政府〔2026〕11号")

    rule_e()
    page.wait_for_selector("#cc-notice:not([hidden])")
    notice = page.inner_text("#cc-notice")
    assert f"修订 {read} → {read + 1}" in notice and "等待裁定" in notice, notice
    assert dispute_of(held["id"])["status"] == "open" and stored(server, held["id"])[0]["team"] == holder
    rule_e()
    w.until(f"document.body.dataset.revision === '{read + 2}'")
    case, history = stored(server, held["id"])
    assert (case["status"], case["team"], case["deadline"]) == ("dispatched", ruled_e, extended["deadline"])
    assert [x["action"] for x in history][-2:] == ["dispute_ruled", "transfer"]
    assert history[-1]["reason"] == "按镇界协议归邻镇"
    assert dispute_of(held["id"])["ruling"]["team"] == ruled_e
    assert_settled("ruled", "按镇界协议归邻镇", "该点不属本镇，请改派")
    assert_tab(held["id"], None)
    assert all("409" in e for e in w.errors), w.errors  # the three refusals, nothing else
