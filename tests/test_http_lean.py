"""The lean HTTP path (issue 17.5): what `POST /route` and `POST /reports` no longer do per request, and that
their answers did not change.

- `Router.explain_json` keeps what points with the same covering regions share; every answer equals
  `explain(...).model_dump(mode="json")` (random points, unit vertices and edges, H3 cell vertices, points in two
  overlapping zones of one kind, outside the county; both languages; with and without GPS accuracy).
- `Regions.covering_one` (the scalar path) agrees with `covering` on all those points.
- `POST /route` on its `LeanRoute` answers byte for byte what FastAPI's dependency solver answers (forced by a
  dependency override), refusals and languages included, and never calls the solver.
- `POST /reports` makes one thread hop (the endpoint), not two (the role check is async).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import h3
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.deps import LeanRoute
from config import get_settings
from gis.model import Unit
from gis.routing import Router, RoutingData
from i18n import language
from store.db import session_factory, transaction
from store.users import Users
from tests import routing_scenario as sc

DAYS = (date(2026, 3, 1), date(2026, 8, 1))  # R-ENV ends 2026-07-01: two rule periods
ACCURACIES = (None, 0.0, 5.0, 40.0, 2000.0)


def _overlapping_router() -> Router:
    """The scenario with a second urban core overlapping the first (a tie-break inside, not only on edges)."""
    units = [*sc.units(), Unit(code="Z-URBAN2", name="老城区", layer="zone", kind="urban_core",
                               geometry=shapely.box(115.05, 36.05, 115.12, 36.12))]
    d = sc.data()
    return Router(RoutingData(version=d.version, units=units, rules=d.rules, delegations=d.delegations,
                              matters=d.matters, teams=d.teams))


def _points(router: Router, n_random: int) -> Iterator[tuple[float, float]]:
    """Random points over (and beyond) the county, every unit vertex, points along every edge (exactly on it
    and a hair off), and the vertices of the H3 cells the rules use."""
    rng = np.random.default_rng(1729)
    for x, y in zip(rng.uniform(114.98, 115.42, n_random), rng.uniform(35.98, 36.22, n_random), strict=True):
        yield float(x), float(y)
    for region in router.regions.regions:
        ring = np.asarray(shapely.get_coordinates(region.shape.boundary))
        for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:], strict=True):
            yield float(x0), float(y0)
            for t in (0.25, 0.5):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                yield float(x), float(y)
                yield float(x) + 1e-9, float(y) - 1e-9
    for cell in sc.MARKET:
        for lat, lon in h3.cell_to_boundary(cell):
            yield float(lon), float(lat)


def test_explain_json_is_explain_dumped_and_covering_one_is_covering() -> None:
    router = _overlapping_router()
    matters = [m.code for m in sc.MATTERS]
    checked = tie_broken = 0
    for k, (x, y) in enumerate(_points(router, 2500)):
        assert router.regions.covering_one(x, y) == router.regions.covering_lists(np.array([x]), np.array([y]))[0]
        matter, day, acc = matters[k % len(matters)], DAYS[k % 2], ACCURACIES[k % len(ACCURACIES)]
        with language("en" if k % 3 == 0 else "zh-CN"):
            want = router.explain(x, y, matter, day, acc).model_dump(mode="json")
            got = router.explain_json(x, y, matter, day, acc)
        assert json.dumps(got) == json.dumps(want), (x, y, matter, day, acc)  # same keys, order and values
        checked += 1
        tie_broken += got["on_boundary"] and got["distance_to_boundary_m"] > 0
    assert checked > 2800 and tie_broken > 0  # the overlap's inside reached: a tie-break away from any edge
    assert 0 < len(router._explained) < checked  # kept and shared, not one per point


def test_kept_explanations_follow_a_refreshed_version_label() -> None:
    """RouterCache refreshes a router's version label in place when a successor ends it (effective_to)."""
    router = Router(sc.data())
    first = router.explain_json(115.05, 36.05, "M-STREET", DAYS[0])
    assert first["version"]["effective_to"] is None
    router.version = router.version.model_copy(update={"effective_to": date(2027, 1, 1)})
    again = router.explain_json(115.05, 36.05, "M-STREET", DAYS[0])
    assert again["version"]["effective_to"] == "2027-01-01"
    assert again == router.explain(115.05, 36.05, "M-STREET", DAYS[0]).model_dump(mode="json")


def _requests(tokens: dict[str, str]) -> list[tuple[str, bytes, dict[str, str]]]:
    """POST /route requests: answers in both languages and shapes, and every kind of refusal."""
    ok = {"Authorization": f"Bearer {tokens['boss']}", "Content-Type": "application/json"}
    english = {**ok, "Authorization": f"Bearer {tokens['plan']}"}  # a user who prefers English
    rng = np.random.default_rng(7)
    out: list[tuple[str, bytes, dict[str, str]]] = []
    for k, (x, y) in enumerate(zip(rng.uniform(114.98, 115.42, 120), rng.uniform(35.98, 36.22, 120), strict=True)):
        body: dict[str, Any] = {"matter": ["M-STREET", "M-NOISE", "M-POLL", "M-LAND"][k % 4],
                                "at": ["2025-06-01", "2026-03-01", "2026-08-01T23:30:00"][k % 3]}
        if k % 3 == 0:
            body.update(lat=y, lon=x, accuracy_m=[None, 3, 50.5][k // 3 % 3])
        elif k % 3 == 1:
            body["points"] = [{"lat": y, "lon": x, "id": f"p{k}"}, {"lat": y + 0.01, "lon": x - 0.01}]
        else:
            body["geojson"] = {"type": "Feature", "id": k, "geometry": {"type": "Point", "coordinates": [x, y]}}
        body["crs"] = ["wgs84", "gcj02", "cgcs2000", "bd09"][k % 4]
        if k % 5 == 0:
            body["detail"] = "summary"
        headers = [ok, english, {**ok, "Accept-Language": "en"}, {**ok, "Accept-Encoding": "gzip"}][k % 4]
        out.append(("/route?lang=en" if k % 7 == 0 else "/route", json.dumps(body).encode(), headers))
    point = {"lat": 36.05, "lon": 115.05}
    refusals: list[tuple[str, Any, dict[str, str]]] = [
        ("/route", {**point, "matter": "M-STREET"}, {"Content-Type": "application/json"}),  # no token: 401
        ("/route", {**point, "matter": "M-STREET"}, {**ok, "Authorization": "Bearer not-a-token"}),  # 401
        ("/route?lang=%01", {**point, "matter": "M-STREET"}, ok),  # a control character in the query: 422
        ("/route", b"{", ok), ("/route", b"[1]", ok), ("/route", {"matter": "M-STREET"}, ok),
        ("/route", {**point, "matter": "NO-SUCH"}, ok), ("/route", {**point, "matter": "NO-SUCH"}, english),
        ("/route", {"lat": 95, "lon": 115, "matter": "M-STREET"}, ok), ("/route", b'{"lat": NaN}', ok),
        ("/route", {**point, "matter": "M-STREET", "crs": "utm"}, {**ok, "Accept-Language": "en"}),
        ("/route", {"points": [], "matter": "M-STREET"}, ok),
        ("/route", {"points": [point] * 31, "matter": "M-STREET"}, ok),  # over max_batch: 413
        ("/route", {"geojson": {"type": "Polygon"}, "matter": "M-STREET"}, ok),
        ("/route", b"x" * (2 * 2**20), ok),  # over the upload limit (1 MiB): 413
    ]
    for path, body, headers in refusals:
        out.append((path, body if isinstance(body, bytes) else json.dumps(body).encode(), headers))
    return out


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # no database on this path: one backend is enough
def test_route_answers_alike_on_the_lean_path_and_through_the_solver(loaded: Engine, database_url: str,
                                                                       tmp_path: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import fastapi.routing

    with transaction(session_factory(loaded)) as session:
        users = Users(session)
        users.add("boss", "correct horse battery", "dispatcher")
        users.add("plan", "correct horse battery", "planner")
        users.set_language("plan", "en")
        tokens = {name: users.device_token(name, "lean") for name in ("boss", "plan")}
    app = create_app(get_settings(database_url=database_url, data_dir=tmp_path, tick_seconds=0, max_batch=30,
                                  max_upload_mib=1))
    client = TestClient(app)
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)

    def answers() -> list[tuple[int, list[tuple[str, str]], bytes]]:
        out = []
        for path, body, headers in _requests(tokens):
            r = client.post(path, content=body, headers=headers)
            out.append((r.status_code, sorted(r.headers.items()), r.content))
        return out

    lean = answers()
    assert solved == [] and LeanRoute.lean_handlers > 0  # not once through the solver
    assert client.get("/health").status_code == 200 and solved == ["/health"]  # the probe works
    app.dependency_overrides[_unused] = _unused  # any override sends LeanRoute back to the solver
    general = answers()
    assert solved.count("/route") == len(general) - 1  # less the upload the body limit refused before routing
    assert lean == general
    statuses = {status for status, _, _ in lean}
    assert statuses == {200, 401, 413, 422}
    assert any(b'"message":"unknown matter' in body for _, _, body in lean)  # English for the one who asked
    assert any("未知" in body.decode() for status, _, body in lean if status == 422)  # Chinese by default
    assert any(("content-encoding", "gzip") in headers for _, headers, _ in lean)


def _unused() -> None:
    """A dependency no route uses: overriding it only marks the app as overriding."""


def test_a_report_makes_one_thread_hop(api: tuple[TestClient, dict[str, dict[str, str]], Engine],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio.to_thread

    client, headers, _ = api
    for name in ("worker1", "plan"):  # the first use of a token reads it on a thread; then the worker's memory
        assert client.get("/auth/me", headers=headers[name]).status_code == 200
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    body = {"idempotency_key": "lean-hops-0001", "matter": "M-STREET", "lat": 36.05, "lon": 115.05}
    made = client.post("/reports", json=body, headers=headers["worker1"])
    assert made.status_code == 201, made.text
    assert len(hops) == 1, hops  # the endpoint's; the role check runs on the event loop
    refused = client.post("/reports", json={**body, "idempotency_key": "lean-hops-0002"}, headers=headers["plan"])
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "planner" in refused.json()["detail"]
