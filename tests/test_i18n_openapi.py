"""The OpenAPI document and /docs in the request's language (issue 13): words translated, machine parts unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.openapi import texts
from config import get_settings

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(get_settings(database_url=f"sqlite:///{tmp / 'x.sqlite'}", data_dir=tmp))
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def _machine(doc: dict[str, Any]) -> dict[str, Any]:
    """What a client program reads: paths, methods, parameters, bodies, answer codes and schemas."""
    ops = {(path, method): (op.get("operationId"), op.get("parameters"), op.get("requestBody"),
                            {code: answer.get("content") for code, answer in op.get("responses", {}).items()},
                            op.get("security"))
           for path, item in doc["paths"].items() for method, op in item.items()}
    return {"ops": ops, "schemas": doc["components"]["schemas"], "version": doc["openapi"]}


def test_the_document_is_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    zh = client.get("/openapi.json").json()
    en = client.get("/openapi.json", params={"lang": "en"}).json()
    assert client.get("/openapi.json", headers={"Accept-Language": "en-GB,en;q=0.9"}).json() == en
    assert client.get("/openapi.json", params={"lang": "xx"}).json() == zh  # unknown: the default, not an error
    assert _machine(zh) == _machine(en)  # the same API: paths, parameters, schemas and field names
    ops = [(path, method) for path, item in en["paths"].items() for method in item]
    assert len(ops) >= 50
    for path, method in ops:
        zh_op, en_op = zh["paths"][path][method], en["paths"][path][method]
        assert HAN.search(zh_op["summary"]) and zh_op["summary"] != en_op["summary"], (path, method)
        if en_op.get("description"):
            assert HAN.search(zh_op["description"]), (path, method)
        for code in en_op["responses"]:  # the answers' descriptions too ("wrong password" …)
            assert HAN.search(zh_op["responses"][code]["description"]), (path, method, code)
    assert zh["paths"]["/auth/token"]["post"]["summary"] == "登录：取得 Authorization 请求头使用的 Bearer 令牌"
    assert en["paths"]["/auth/token"]["post"]["summary"] == "Sign in: a bearer token for the Authorization header"
    assert sum(bool(HAN.search(en["paths"][p][m]["summary"])) for p, m in ops) <= 2  # names like 查询结果单 only
    assert HAN.search(zh["info"]["description"]) and not HAN.search(en["info"]["description"])
    assert set(texts(zh)).isdisjoint(texts(en))  # nothing left in English in the Chinese document


def test_docs_ask_for_the_document_in_their_language(client: TestClient) -> None:
    assert "/openapi.json?lang=en" in client.get("/docs", params={"lang": "en"}).text
    assert "/openapi.json?lang=en" in client.get("/docs", headers={"Accept-Language": "en"}).text
    page = client.get("/docs").text
    assert "/openapi.json?lang=zh-CN" in page and "接口文档" in page


def test_docs_load_nothing_from_another_host(client: TestClient) -> None:
    """Swagger UI is vendored: every script, style and icon /docs names is served by GridGov itself."""
    page = client.get("/docs").text
    assert not re.search(r"https?://", page), re.findall(r"https?://[^\s\"']+", page)
    assets = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 500, asset
