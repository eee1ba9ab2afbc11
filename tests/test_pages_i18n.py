"""The pages speak the reader's language from the server's catalogs (issue 13), checked without a browser.

The browser checks (every page in a zh-CN browser shows no English label; ?lang=en shows English) are in
tests/test_web.py; these are the quick ones: how a page's language is chosen, the catalog the page embeds and the
one served as JSON, and that the templates and scripts keep no label of their own outside t().
"""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config import get_settings
from i18n import catalog
from i18n.terms import TERMS
from web.pages import PAGES, STATIC, TEMPLATES, page_catalog, page_messages

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'empty.sqlite'}"  # the pages need no data
    return TestClient(create_app(get_settings(database_url=url)))


def embedded(html: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="gg-i18n">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html)
    assert found is not None
    return unescape(found.group(1))


def test_a_page_speaks_the_language_asked_for(client: TestClient) -> None:
    zh = client.get("/wall")  # no Accept-Language: GRIDGOV_LANGUAGE, zh-CN by default
    assert zh.status_code == 200 and '<html lang="zh-CN">' in zh.text and title(zh.text) == "指挥中心 · GridGov"
    assert "Accept-Language" in zh.headers["vary"]
    en = client.get("/wall", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in en.text and title(en.text) == "Command centre · GridGov"
    assert "Team backlogs" in en.text and "队伍积压" not in en.text
    planner = client.get("/planner?lang=en", headers={"Accept-Language": "zh-CN"})  # ?lang= before the browser's
    assert title(planner.text) == "Boundary planner · GridGov"
    assert title(client.get("/planner?lang=xx", headers={"Accept-Language": "fr, en;q=0.5"}).text).startswith("Bound")
    assert title(client.get("/dispute?lang=xx").text) == "权属查询 · GridGov"  # unknown: the default, never an error
    assert title(client.get("/phone", headers={"Accept-Language": ";;q=garbage"}).text) == "网格员上报 · GridGov"
    assert '"lang": "zh-CN"' in zh.text  # the page's own config says which language it speaks
    officer = client.get("/officer")  # the enforcement officer's page: Chinese labels, no English left in them
    assert title(officer.text) == "移动执法 · GridGov" and "报到" in officer.text and "首违清单" in officer.text
    assert not re.search(r">\s*(Report arrival|Record handling|Send feedback|Outcome)\s*<", officer.text)


def test_the_configured_language_is_the_pages_default(tmp_path: Path) -> None:
    english = TestClient(create_app(get_settings(database_url=f"sqlite:///{tmp_path / 'e.sqlite'}", language="en")))
    assert title(english.get("/phone").text) == "Grid worker's report · GridGov"
    assert title(english.get("/phone", headers={"Accept-Language": "zh-CN"}).text) == "网格员上报 · GridGov"


def test_the_embedded_catalog_is_the_served_one(client: TestClient) -> None:
    for lang in ("zh-CN", "en"):
        served = client.get(f"/i18n/{lang}.json")
        assert served.status_code == 200 and served.headers["content-language"] == lang
        page = embedded(client.get(f"/wall?lang={lang}").text)
        assert page["lang"] == lang and page["messages"] == served.json() == page_catalog(lang)
        assert page["terms"] == TERMS  # codes -> English ids, translated on the page through the messages
    zh = client.get("/i18n/zh-CN.json").json()
    # The pages' strings and the words for the API's codes, from the same catalogs as the server's answers.
    assert zh["Team backlogs"] == "队伍积压" and zh["Outbox"] == "发件箱"
    assert [zh[TERMS["status"][s]] for s in ("reported", "registered", "dispatched", "arrived", "handled",
                                             "fed_back", "checked", "closed", "evaluated", "suspended",
                                             "cancelled")] == \
        ["上报", "立案", "派遣", "到场", "处置", "反馈", "核查", "结案", "评价", "挂起", "撤销"]
    assert set(zh) == set(page_messages()) and all(zh[m] == catalog("zh-CN")[m] for m in zh)
    assert client.get("/i18n/en.json").json()["Outbox"] == "Outbox"
    assert client.get("/i18n/klingon.json").json() == zh


class _Text(HTMLParser):
    """Text a person reads in a template: text nodes and the title/placeholder/aria-label/alt attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in ("title", "placeholder", "aria-label", "alt") and v]

    def handle_data(self, data: str) -> None:
        self.found.append(data)


def test_templates_and_scripts_keep_no_label_of_their_own() -> None:
    """Every label goes through t(): a template rendered with empty translations reads nothing, and the scripts
    hold no Chinese (it lives in i18n/locales/zh_CN/pages.po) — the area unit 亩 and a data match aside."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    for page in PAGES:
        parser = _Text()
        parser.feed(env.get_template(f"{page}.html").render(t=lambda msgid, **_: "", lang="en"))
        left = [s.strip() for s in parser.found if re.search(r"[A-Za-z\u3400-\u9fff]", s)]
        assert left == [], f"{page}.html shows {left} outside t()"
    for script in sorted(STATIC.glob("*.js")):
        chinese = set(CJK.findall(script.read_text(encoding="utf-8"))) - {"亩", "煤泥"}
        assert not chinese, f"{script.name} keeps Chinese of its own: {chinese}"
    assert all(m in catalog("zh-CN") for m in page_messages())


def test_the_dispatch_console_speaks_the_language_asked_for(client: TestClient) -> None:
    """/console (issue 18) like the other pages: Chinese by default, English on request, its labels from the
    catalogs (the browser check that it shows no English word in zh-CN is in tests/test_console.py)."""
    zh = client.get("/console")
    assert zh.status_code == 200 and title(zh.text) == "调度台 · GridGov" and "键盘快捷键" in zh.text
    assert 'href="/wall"' in zh.text and 'href="/console"' in client.get("/wall").text  # linked both ways
    en = client.get("/console?lang=en")
    assert title(en.text) == "Dispatch console · GridGov" and "Keyboard shortcuts" in en.text and "键盘" not in en.text
    assert embedded(zh.text)["messages"] == page_catalog("zh-CN")
    assert page_catalog("zh-CN")["Register and dispatch"] == "立案并派遣"


def test_the_indicators_page_reads_in_chinese_in_a_real_browser(tmp_path: Path) -> None:
    """/indicators in headless Chromium with a zh-CN browser: Chinese title, headings and buttons, the API's rows in
    the table, a click on a heading sorts it, and the XLSX button downloads a workbook with Chinese headers."""
    import httpx
    import openpyxl
    from playwright import sync_api

    from store.db import make_engine, session_factory, transaction, upgrade
    from store.repo import Repository
    from store.users import Users
    from tests import routing_scenario
    from tests.live import ROOT, live_server, token
    from tests.test_intake import report
    from tests.test_web import CHROMIUM_FLAGS, chromium_path

    url = f"sqlite:///{tmp_path / 'ind.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    with transaction(session_factory(engine)) as session:
        routing_scenario.load(Repository(session))
        users = Users(session)
        users.add("boss", "correct horse battery", "dispatcher")
        users.add("worker1", "correct horse battery", "grid_worker", team_code="TT1")
    engine.dispose()
    with live_server(url, tmp_path) as base:
        worker = {"Authorization": f"Bearer {token(base, 'worker1', 'correct horse battery')}"}
        for lon, lat in ((115.17, 36.09), (115.12, 36.095), (115.30, 36.15)):
            body = {k: v for k, v in report(lon, lat).items() if k != "reported_at"}  # now: in the default period
            assert httpx.post(f"{base}/reports", json=body, headers=worker).status_code == 201
        boss = token(base, "boss", "correct horse battery")
        api = httpx.get(f"{base}/indicators", params={"level": "township"},
                        headers={"Authorization": f"Bearer {boss}"}).json()
        assert [r["reported"] for r in api["rows"]] == [2, 1]
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            context = browser.new_context(locale="zh-CN", accept_downloads=True,
                                          viewport={"width": 1920, "height": 1080})
            context.add_init_script(f"localStorage.setItem('gg.token', {boss!r});")
            page = context.new_page()
            errors: list[str] = []
            hosts: set[str] = set()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]) if r.url.startswith("http") else None)
            page.goto(f"{base}/indicators")
            page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            assert page.title() == "考核评价指标 · GridGov"
            heads = page.eval_on_selector_all("#in-table th", "els => els.map(e => e.textContent.trim())")
            # Names before codes: the first column is the name, its code after it in smaller type; no code column.
            assert heads[:3] == ["名称", "上报数", "立案数"] and "按期结案率" in heads and "等级" in heads
            assert "代码" not in heads
            text = page.inner_text("body")
            assert CJK.search(text) and "下载 XLSX" in text and "层级" in text
            for english in ("Download", "Level", "Reported", "On-time", "Evaluation", "Show"):
                assert english not in text, english
            codes = page.eval_on_selector_all("#in-table tbody tr td:first-child .in-code",
                                              "els => els.map(e => e.textContent)")
            assert codes == [r["code"] for r in api["rows"]] == ["T1", "T2"]
            first = page.eval_on_selector_all("#in-table tbody tr td:first-child", "els => els.map(e => e.innerText)")
            assert [f.split()[0] for f in first] == [r["name"] for r in api["rows"]], first
            assert page.evaluate("""(() => { const c = document.querySelector('#in-table tbody .in-code');
                return parseFloat(getComputedStyle(c).fontSize) < parseFloat(getComputedStyle(c.parentNode).fontSize);
            })()""")
            page.click("#in-table th[data-key=reported]")  # numbers sort largest first
            page.click("#in-table th[data-key=reported]")  # then smallest first
            codes = page.eval_on_selector_all("#in-table tbody tr td:first-child .in-code",
                                              "els => els.map(e => e.textContent)")
            assert codes == ["T2", "T1"]
            # All 22 columns fit a 1920 x 1080 screen without a horizontal scroll, in Chinese and in English, at
            # the levels with the longest names (teams, officers).
            for lang, level in (("zh-CN", "team"), ("zh-CN", "officer"), ("en", "team"), ("en", "township")):
                if lang == "en" and "lang=en" not in page.url:
                    page.goto(f"{base}/indicators?lang=en")
                    page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
                page.select_option("#in-level", level)
                page.evaluate("delete document.body.dataset.ready")
                page.click("#in-form button[type=submit]")
                page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
                assert page.eval_on_selector_all("#in-table th", "els => els.length") == 22
                widths = page.evaluate("""(() => { const d = document.scrollingElement, s = document.querySelector(
                    '.gg-scroll'); return [d.scrollWidth, d.clientWidth, s.scrollWidth, s.clientWidth]; })()""")
                assert widths[0] <= widths[1] and widths[2] <= widths[3], (lang, level, widths)
            page.goto(f"{base}/indicators")
            page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
            shots = ROOT / "artifacts" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "indicators-zh-CN.png"))
            with page.expect_download() as info:
                page.click("#in-xlsx")
            saved = tmp_path / "dl.xlsx"
            info.value.save_as(saved)
            sheet = openpyxl.load_workbook(saved).worksheets[0]
            assert sheet.title == "乡镇" and sheet["A1"].value == "代码" and sheet["C2"].value == 2
            assert errors == [] and hosts == {base.split("/")[2]}
            browser.close()
