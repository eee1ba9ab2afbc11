"""Bad input to the analytics (issue 14): empty windows, a single event, a category with no reports, windows
longer than the data, a resolution outside 5–11, a year with no version in force — over hotspots, emerging hot
spots, sites, indicators and the annual publication. Each answer is an empty result or a 4xx saying why; never a
500, never NaN or Infinity in JSON, and nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer, scenario_app, table_counts
from tests.test_intake import report
from tests.test_lifecycle import SEAT

ONE = {"from": "2025-06-01T00:00:00", "to": "2025-07-01T00:00:00"}  # holds the single report
EMPTY = {"from": "2025-06-02T10:00:00", "to": "2025-06-02T10:00:00"}
LONG = {"from": "2025-01-01T00:00:00", "to": "2026-01-01T00:00:00"}  # a year around one report
NONE_IN_FORCE = {"from": "2024-03-01T00:00:00", "to": "2024-05-01T00:00:00"}  # before any version


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], Any]]:
    client, engine, _ = scenario_app(tmp_path_factory.mktemp("bad"), [("worker1", "grid_worker", "TT1"),
                                                                      ("audit", "auditor", None)])
    english = {"Accept-Language": "en"}
    r = client.post("/reports", json=report(*SEAT, reported_at="2025-06-02T10:00:00+08:00"),
                    headers=bearer(client, "worker1") | english)
    assert r.status_code == 201, r.text
    yield client, bearer(client, "audit") | english, engine
    engine.dispose()


def _strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON")
    return json.loads(text, parse_constant=refuse)


CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (name, path, params, status, what the answer says or holds)
    ("hotspots empty window", "/hotspots", {"mode": "significance", **EMPTY}, 422, "empty"),
    ("hotspots single event", "/hotspots", {"mode": "significance", **ONE}, 200, "cells"),
    ("hotspots no report of the matter", "/hotspots", {"mode": "significance", "matter": "M-NOISE", **ONE}, 200,
     "cells"),
    ("hotspots window longer than the data", "/hotspots", {"mode": "significance", **LONG}, 200, "cells"),
    ("hotspots res 4", "/hotspots", {"mode": "significance", "res": 4, **ONE}, 422, "5 to 11"),
    ("hotspots res 12", "/hotspots", {"mode": "significance", "res": 12, **ONE}, 422, "at most 11"),
    ("hotspots no version in force", "/hotspots", {"mode": "significance", **NONE_IN_FORCE}, 200, "cells"),
    ("emerging empty window", "/hotspots/emerging", EMPTY, 422, "empty"),
    ("emerging single event", "/hotspots/emerging", ONE, 200, "patterns"),
    ("emerging no report of the matter", "/hotspots/emerging", {"matter": "M-NOISE", **ONE}, 200, "patterns"),
    ("emerging window longer than the data", "/hotspots/emerging", LONG, 200, "patterns"),
    ("emerging res 4", "/hotspots/emerging", {"res": 4, **ONE}, 422, "res"),
    ("emerging res 12", "/hotspots/emerging", {"res": 12, **ONE}, 422, "res"),
    ("emerging no version in force", "/hotspots/emerging", NONE_IN_FORCE, 200, "patterns"),
    ("sites empty window", "/hotspots/sites", {"matter": "M-STREET", **EMPTY}, 422, "empty"),
    ("sites single event", "/hotspots/sites", {"matter": "M-STREET", **ONE}, 200, "sites"),
    ("sites no report of the matter", "/hotspots/sites", {"matter": "M-NOISE", **ONE}, 200, "sites"),
    ("sites window longer than the data", "/hotspots/sites", {"matter": "M-STREET", **LONG}, 200, "sites"),
    ("sites res 4", "/hotspots/sites", {"matter": "M-STREET", "res": 4, **ONE}, 422, "res"),
    ("sites no version in force", "/hotspots/sites", {"matter": "M-STREET", **NONE_IN_FORCE}, 200, "sites"),
    ("indicators empty window", "/indicators", {"level": "township", **EMPTY}, 422, "empty"),
    ("indicators single event", "/indicators", {"level": "township", **ONE}, 200, "rows"),
    ("indicators window longer than the data", "/indicators", {"level": "team", **LONG}, 200, "rows"),
    ("indicators no version in force", "/indicators", {"level": "village", **NONE_IN_FORCE}, 200, "rows"),
    ("indicators unknown level", "/indicators", {"level": "planet", **ONE}, 422, "level"),
    ("annual single event", "/publication/annual", {"year": 2025, "format": "json"}, 200, "levels"),
    ("annual year with no version in force", "/publication/annual", {"year": 2024, "format": "json"}, 422,
     "no boundary version was in force"),
    ("annual year not begun", "/publication/annual", {"year": 2099, "format": "json"}, 422, "2099"),
]


@pytest.mark.parametrize(("name", "path", "params", "status", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_an_empty_answer_or_a_4xx_saying_why(api: tuple[TestClient, dict[str, str], Any], name: str,
                                                            path: str, params: dict[str, Any], status: int,
                                                            says: str) -> None:
    client, auditor, engine = api
    before = table_counts(engine)
    r = client.get(path, params=params, headers=auditor)
    assert r.status_code == status, (name, r.status_code, r.text[:400])
    body = _strict(r.text)
    if status == 200:
        assert says in body, (name, list(body))
        if "empty" not in name and name.endswith(("no report of the matter", "no version in force")):
            assert not body.get("total") and not body.get("sites")  # nothing there, said as empty
    else:
        assert says in r.text, (name, r.text[:400])
    assert table_counts(engine) == before
