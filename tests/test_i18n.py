"""Chinese first, English on request (issue 13): language negotiation, error bodies, catalog completeness."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from i18n import T, accept_language, catalog, language, negotiate
from i18n.check import extracted, missing
from tests.conftest import signed_in


def test_every_marked_message_has_a_chinese_translation() -> None:
    assert len(extracted()) >= 25  # the check reads the code, not an empty list
    assert missing() == {}, "run `python -m i18n.check` and translate these in i18n/locales/zh_CN/*.po"


def test_translations_keep_every_named_field() -> None:
    """A translation that drops or renames a {field} would hide the value a person needs."""
    import string

    for msgid, text in catalog("zh-CN").items():
        fields = {f for _, f, _, _ in string.Formatter().parse(msgid) if f}
        assert {f for _, f, _, _ in string.Formatter().parse(text) if f} == fields, msgid


def test_language_negotiation_never_fails() -> None:
    assert negotiate() == "zh-CN"
    assert negotiate(query="en", accept="zh-CN") == "en"
    assert negotiate(query="fr", accept="en-US,en;q=0.8") == "en"  # unknown ?lang= falls through
    assert negotiate(query="fr") == "zh-CN"
    assert negotiate(accept="zh-TW,en;q=0.5") == "en"  # traditional Chinese is not what we have; English is
    assert negotiate(accept="fr;q=1.0, en;q=0.1, zh;q=0.5") == "zh-CN"  # by quality, not by order
    assert negotiate(accept=";;q=x,,,\x00garbage;q=2") == "zh-CN"  # malformed: ignored
    assert negotiate(preference="en", accept="zh-CN") == "en"
    assert accept_language("en;q=abc, zh") == ["zh-CN"]
    with language("en"):
        assert T("wrong username or password").render() == "wrong username or password"
    assert T("wrong username or password").render() == "用户名或密码错误"
    assert str(T("wrong username or password")) == "wrong username or password"  # logs stay English


def test_errors_speak_the_request_language_with_a_stable_code(engine: Engine, database_url: str) -> None:
    client = TestClient(create_app(get_settings(database_url=database_url)))
    names = iter(range(100))

    def bad_() -> dict[str, str]:  # a new name each time: five failures lock an account (issue 15.6)
        return {"username": f"nobody{next(names)}", "password": "wrong-password"}

    zh = client.post("/auth/token", json=bad_(), headers={"Accept-Language": "zh-CN"})
    en = client.post("/auth/token", json=bad_(), headers={"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 401
    assert (zh.json()["code"], zh.json()["message"]) == ("wrong_credentials", "用户名或密码错误")
    assert (en.json()["code"], en.json()["message"]) == ("wrong_credentials", "wrong username or password")
    assert zh.json()["detail"] == en.json()["detail"] == "wrong username or password"  # English for scripts
    assert client.post("/auth/token?lang=en", json=bad_(), headers={"Accept-Language": "zh"}).json()["message"] == \
        "wrong username or password"
    assert client.post("/auth/token?lang=xx", json=bad_()).json()["message"] == "用户名或密码错误"
    assert client.post("/auth/token", json=bad_(), headers={"Accept-Language": "q=;;,"}).json()["message"] == \
        "用户名或密码错误"  # the default, GRIDGOV_LANGUAGE=zh-CN
    english = TestClient(create_app(get_settings(database_url=database_url, language="en")))
    assert english.post("/auth/token", json=bad_()).json()["message"] == "wrong username or password"
    anonymous = client.get("/matters")
    assert (anonymous.json()["code"], anonymous.json()["message"][:4]) == ("not_signed_in", "请先登录")
    signed_in(client, engine, "dispatcher")
    r = client.post("/route", json={"lat": 91, "lon": 115.1, "matter": "M-X"})
    assert r.status_code == 422 and r.json()["message"] == "lat：不能大于 90" and r.json()["code"] == "invalid_input"
    assert client.get("/no/such/thing").json()["message"] == "没有这个页面或接口：/no/such/thing"


def test_no_message_is_translated_two_ways() -> None:
    """The .po files of one language are one catalog: an id in two files must read the same in both."""
    from babel.messages.pofile import read_po

    from i18n import LOCALES

    seen: dict[str, tuple[str, str]] = {}
    for path in sorted((LOCALES / "zh_CN").glob("*.po")):
        with path.open("rb") as f:
            for m in read_po(f):
                if m.id and m.string:
                    first = seen.setdefault(str(m.id), (str(m.string), path.name))
                    assert first[0] == m.string, f"{m.id!r}: {first[1]} says {first[0]!r}, {path.name} {m.string!r}"


def test_case_words_come_in_the_request_language(engine: Engine, database_url: str) -> None:
    from i18n.terms import TERMS, label

    assert [label("status", s) for s in ("reported", "registered", "dispatched", "arrived", "handled", "fed_back",
                                         "checked", "closed", "evaluated", "suspended", "cancelled")] == list(
        "上报 立案 派遣 到场 处置 反馈 核查 结案 评价 挂起 撤销".split())
    assert label("status", "fed_back", "en") == "fed back" and label("status", "no-such") == "no-such"
    with language("en"):
        assert label("triage", "near_boundary") == "near a boundary"
    assert all(catalog("zh-CN").get(english) for kind in TERMS.values() for english in kind.values())


def test_a_users_preferred_language_wins_over_the_browser(engine: Engine, database_url: str) -> None:
    client = signed_in(TestClient(create_app(get_settings(database_url=database_url))), engine, "dispatcher")
    assert client.get("/cases/999999").json()["message"].startswith("no case") is False  # zh-CN by default
    r = client.put("/auth/me/language", json={"language": "en"})
    assert r.status_code == 200 and r.json()["language"] == "en"
    assert client.get("/auth/me").json()["language"] == "en"
    zh_browser = {"Accept-Language": "zh-CN,zh;q=0.9"}
    assert client.get("/cases/999999", headers=zh_browser).json()["message"] == \
        client.get("/cases/999999", headers=zh_browser).json()["detail"]  # English, as the user prefers
    assert client.get("/cases/999999?lang=zh-CN").json()["message"] != client.get("/cases/999999").json()["message"]
    bad = client.put("/auth/me/language", json={"language": "fr"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_language"
    assert client.get("/auth/me").json()["language"] == "en"  # the refusal changed nothing
    assert client.put("/auth/me/language", json={"language": None}).json()["language"] is None
