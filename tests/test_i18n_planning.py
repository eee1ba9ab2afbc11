"""Chinese first, English on request (issue 13.1–13.2) for what planners, dispatchers and officials read: topology,
validate and publish refusals, the case lifecycle's refusals and escalation notes; names before codes, areas in
m²/km² with 亩, distances in m/km, dates as 2026年11月29日 in prose. Machine fields never change with the language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cases import clock
from cases.calendar import bundled_calendar
from gis.topology import check_topology
from i18n import T, language
from i18n.units import area, day, distance, listing, moment, term
from store.cases import escalate_overdue
from store.db import session_factory
from tests import routing_scenario as sc
from tests.test_intake import report

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
SEAT = (115.17, 36.09)  # 城关镇 T1: M-STREET → TT1 (a township team)


def test_areas_distances_and_days_checked_by_hand() -> None:
    # 7,561,305 m² = 7.561305 km²; / (10,000 / 15) m² per 亩 = 11,341.96 亩.
    assert area(7_561_305).render("zh-CN") == "7.56 km²（11,342 亩）"
    assert area(7_561_305).render("en") == str(area(7_561_305)) == "7.56 km² (11,342 mu)"
    assert area(1_000_000).render("zh-CN") == "1.00 km²（1,500 亩）"  # 1 km² = 1,500 亩 exactly
    assert area(3_605).render("zh-CN") == "3,605 m²（5.4 亩）"  # 3,605 / 666.67 = 5.41
    assert area(666.67).render("en") == "667 m² (1.0 mu)"
    assert area(12.34).render("zh-CN") == "12.3 m²（0.02 亩）"  # 0.0185 亩
    assert [distance(m).render(lang) for m, lang in [(4.3, "zh-CN"), (850, "zh-CN"), (3_240, "en"),
                                                    (123_456, "zh-CN")]] == ["4.3 m", "850 m", "3.2 km", "123 km"]
    assert day(date(2026, 11, 29)).render("zh-CN") == "2026年11月29日" and str(day(date(2026, 11, 29))) == "2026-11-29"
    assert day(date(2026, 1, 5)).render("zh-CN") == "2026年1月5日"  # no leading zeros in prose
    at = datetime(2026, 10, 8, 17, 0, tzinfo=clock.zone())
    assert (moment(at).render("zh-CN"), str(moment(at))) == ("2026年10月8日 17:00", "2026-10-08 17:00")
    assert (listing(["甲", "乙", "丙"], limit=2).render("zh-CN"), str(listing(["a", "b"]))) == ("甲、乙、…", "a, b")
    assert (listing(["甲", "乙"], clauses=True).render("zh-CN"), str(listing(["a", "b"], clauses=True))) == (
        "甲；乙", "a; b")
    assert (term("status", "fed_back").render("zh-CN"), str(term("status", "fed_back"))) == ("反馈", "fed_back")
    # Inside a message the quantities follow the message's language.
    text = T("{unit} is in {n} separate parts: {area} apart from its main part, up to {distance} away (an exclave, "
             "or a unit moved to a parent it does not touch?)", unit="马头镇 (139900104000)", n=2,
             area=area(7_561_305), distance=distance(3_240))
    assert text.render("zh-CN").startswith("马头镇 (139900104000)由 2 个互不相连的部分组成："
                                           "7.56 km²（11,342 亩）与主体分离，"
                                           "最远相距 3.2 km")
    assert str(text).startswith("马头镇 (139900104000) is in 2 separate parts: 7.56 km² (11,342 mu) apart from its")


def test_a_problem_keeps_its_text_and_reads_in_each_language() -> None:
    units = [u if u.code != "T2" else u.model_copy(update={"geometry": shapely.MultiPolygon(
        [shapely.box(115.18, 36.0, 115.4, 36.2)])}) for u in sc.units()]
    (overlap,) = [p for p in check_topology(units) if p.check == "overlap"]
    assert overlap.message.startswith("城关镇 (T1) and 东乡 (T2) overlap by ")  # English: logs and tests
    zh = overlap.feature()["properties"]
    with language("en"):
        en = overlap.feature()["properties"]
    assert zh["message"].startswith("城关镇（T1）与东乡（T2）重叠 ") and "亩）（容差 1 m²）" in zh["message"]
    assert en["message"] == overlap.message and "mu) (tolerance 1 m²)" in en["message"]
    assert {k: v for k, v in zh.items() if k != "message"} == {k: v for k, v in en.items() if k != "message"}


def _overlapping_draft(client: TestClient, plan: dict[str, str]) -> dict[str, Any]:
    draft = client.post("/versions", json={"name": "东乡西扩", "based_on": 2}, headers=plan).json()
    body = {"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(115.18, 36.0, 115.4, 36.2)),
            "properties": {}}
    r = client.put(f"/versions/{draft['id']}/units/T2", params={"revision": draft["revision"]}, json=body,
                   headers=plan)
    assert r.status_code == 200, r.text
    return dict(r.json()["version"])


def test_topology_and_publish_refusals_in_the_readers_language(api: Api) -> None:
    client, h, _ = api
    plan = h["plan"]
    version = _overlapping_draft(client, plan)
    url = f"/versions/{version['id']}/topology"

    def overlap(r: Any) -> dict[str, Any]:
        assert r.status_code == 200, r.text
        (found,) = [f["properties"] for f in r.json()["features"] if f["properties"]["check"] == "overlap"]
        return dict(found)

    # The answer is cached per revision; each language is rendered from the same problems, in any order.
    zh, en, en_header, zh_again = (overlap(client.get(url, headers=plan)), overlap(client.get(f"{url}?lang=en",
                                   headers=plan)), overlap(client.get(url, headers={**plan, "Accept-Language": "en"})),
                                   overlap(client.get(url, headers=plan)))
    strip = zh["area_m2"]  # the strip 115.18–115.2 moved into 东乡: about 1.8 km × 22.2 km
    assert 35e6 < strip < 45e6
    by_hand = f"{strip / 1e6:,.2f} km²（{strip * 15 / 10_000:,.0f} 亩）"
    assert zh["message"] == f"城关镇（T1）与东乡（T2）重叠 {by_hand}（容差 1 m²）" == zh_again["message"]
    assert en["message"] == en_header["message"] == (f"城关镇 (T1) and 东乡 (T2) overlap by {strip / 1e6:,.2f} km² "
                                                     f"({strip * 15 / 10_000:,.0f} mu) (tolerance 1 m²)")
    for machine in ("check", "severity", "codes", "area_m2"):
        assert zh[machine] == en[machine] == zh_again[machine]
    validated = client.post(f"/versions/{version['id']}/validate", params={"revision": version["revision"]},
                            headers=plan).json()
    assert validated["errors"] == 2 and validated["version"]["status"] == "draft"  # the overlap, and 东乡's new land
    assert [f["properties"]["message"] for f in validated["features"]][1] == zh["message"]  # that no village holds

    # A publish refused: Chinese by default, English with ?lang=en; `detail` and `code` the same in both.
    version = validated["version"]
    publish = f"/versions/{version['id']}/publish"
    later = {"effective_from": (clock.today() + timedelta(days=10)).isoformat()}
    refused = client.post(publish, params={"revision": version["revision"]}, json=later, headers=plan)
    english = client.post(publish, params={"revision": version["revision"], "lang": "en"}, json=later, headers=plan)
    assert refused.status_code == english.status_code == 409
    zh_body, en_body = refused.json(), english.json()
    assert zh_body["message"].startswith("仍有 2 个拓扑错误，不能发布（东乡（T2）有 ")
    assert f"不属于任何村（社区）（容差 1 m²）；{zh['message']}）" in zh_body["message"]
    assert zh_body["message"].endswith(f"；GET /versions/{version['id']}/topology 可定位这些错误")
    assert en_body["message"] == en_body["detail"] == zh_body["detail"]
    assert en_body["detail"].startswith("publishing is refused while 2 topology error(s) remain (")
    assert f"belong to no village (tolerance 1 m²); {en['message']})" in en_body["detail"]
    assert (zh_body["code"], zh_body["where"], zh_body["error"]) == (en_body["code"], en_body["where"],
                                                                      en_body["error"]) == ("conflict", "topology",
                                                                                            "Conflict")
    # A back-dated publish names the days as prose: 2020年1月1日 in Chinese, ISO in English.
    past = client.post(publish, params={"revision": version["revision"]}, json={"effective_from": "2020-01-01"},
                       headers=plan).json()
    assert past["message"].startswith("自2020年1月1日起发布早于今天（") and "2020-01-01" in past["detail"]
    assert past["where"] == "effective_from"


def test_an_illegal_case_action_names_the_allowed_ones_in_the_readers_words(api: Api) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    assert (case["status"], case["team"]) == ("dispatched", "TT1")
    step = {"revision": case["revision"], "actions": [{"action": "close"}]}
    zh = client.post(f"/cases/{case['id']}/actions", json=step, headers=h["boss"])
    en = client.post(f"/cases/{case['id']}/actions?lang=en", json=step, headers=h["boss"])
    assert zh.status_code == en.status_code == 409
    assert zh.json()["message"] == ("不能结案：案件当前为“派遣”；"
                                    "现在可以：到场、移送、联合执法（增加协办队伍）、挂起、延期、督办")
    assert en.json()["message"] == en.json()["detail"] == zh.json()["detail"] == (
        "cannot close: case is dispatched; allowed: arrive, transfer, add_co_owner, suspend, extend, escalate")
    assert (zh.json()["code"], zh.json()["where"]) == (en.json()["code"], en.json()["where"]) == ("conflict", "action")
    no_reason = {"revision": case["revision"], "actions": [{"action": "transfer", "team": "TT2"}]}
    zh = client.post(f"/cases/{case['id']}/actions", json=no_reason, headers=h["boss"])
    en = client.post(f"/cases/{case['id']}/actions", json=no_reason, headers={**h["boss"], "Accept-Language": "en"})
    assert (zh.status_code, zh.json()["message"], zh.json()["code"]) == (422, "移送须说明理由", "invalid_input")
    assert (en.status_code, en.json()["message"], en.json()["code"]) == (422, "transfer needs a reason",
                                                                        "invalid_input")
    forbidden = client.post(f"/cases/{case['id']}/actions", json=step, headers=h["tt1"])
    assert forbidden.status_code == 403
    assert forbidden.json()["message"] == "只有调度员可以对案件执行“结案”；您是执法队员"


def test_escalation_notes_are_stored_in_the_deployments_language(api: Api) -> None:
    client, h, engine = api
    case = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    deadline = datetime.fromisoformat(case["deadline"])
    sessions, calendar = session_factory(engine), bundled_calendar("cn")
    first = escalate_overdue(sessions, calendar, deadline + timedelta(minutes=1))  # the default: zh-CN
    # The level-2 line lies one full time limit later; an English deployment writes its note in English.
    second = escalate_overdue(sessions, calendar, (deadline + timedelta(days=60)).astimezone(UTC), "en")
    assert [e["level"] for e in first + second] == [1, 2]
    notes = [e["reason"] for e in client.get(f"/cases/{case['id']}/history?lang=en", headers=h["boss"]).json()
             if e["action"] == "escalate"]
    when = moment(deadline).render("zh-CN")
    assert notes == [f"自{when}起超期：乡镇督办",
                     f"overdue since {deadline:%Y-%m-%d %H:%M}: county platform supervision (县级平台督办)"]
