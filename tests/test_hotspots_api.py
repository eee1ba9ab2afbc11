"""Hotspots over the store, on SQLite and PostGIS: the demo county (four months, six coal-slurry drying yards)
loaded as `gridgov demo` loads it, then GET /hotspots?mode=significance, /hotspots/emerging and
/hotspots/sites checked against the generator's ground truth and independent computations (geopandas for
villages, tests/independent.py for teams, analytics run on the generator's own incidents)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from analytics.hotspots import count_cells, hotspots, points_to_cells, study_area
from analytics.sites import iso_week
from api.app import create_app
from config import get_settings
from etl.demo import load_demo
from gis.demo import DemoCounty, build_demo_county
from gis.model import Matter
from store.db import session_factory, transaction
from store.repo import Repository
from tests.conftest import BACKENDS, add_accounts, bearer, fresh_engine, table_counts
from tests.independent import Reference
from tests.test_import import gridgov, gridgov_fails

COAL = "M-ENV-COAL"
UTM = "EPSG:32650"


@pytest.fixture(scope="module")
def demo() -> DemoCounty:
    return build_demo_county()


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, demo: DemoCounty, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[TestClient, Engine, str]]:
    """The demo county in a fresh database on each backend, and a dispatcher's client over it."""
    tmp = tmp_path_factory.mktemp("hotspots")
    engine = fresh_engine(request.param, tmp)
    with transaction(session_factory(engine)) as session:
        first = min(i.reported_at for i in demo.incidents).date()
        load_demo(Repository(session), demo, effective_from=first.replace(day=1))
    add_accounts(engine, [("boss", "dispatcher", None)])
    url = engine.url.render_as_string(hide_password=False)
    client = TestClient(create_app(get_settings(database_url=url, media_dir=tmp / "media")))
    client.headers.update(bearer(client, "boss"))
    yield client, engine, url
    engine.dispose()


def window(demo: DemoCounty) -> dict[str, str]:
    first = min(i.reported_at for i in demo.incidents).date()
    last = max(i.reported_at for i in demo.incidents).date() + timedelta(days=1)
    return {"from": datetime.combine(first, time()).isoformat(), "to": datetime.combine(last, time()).isoformat()}


def truth_sites(demo: DemoCounty) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for i in demo.incidents:
        if i.attributes.get("coal_site"):
            out.setdefault(int(i.attributes["coal_site"]), []).append(i)
    return out


def test_recurring_coal_sites_are_the_generators(served: tuple[TestClient, Engine, str], demo: DemoCounty) -> None:
    client, _, _ = served
    r = client.get("/hotspots/sites", params={"matter": COAL, **window(demo)})
    assert r.status_code == 200, r.text
    sites = r.json()["sites"]
    truth = truth_sites(demo)
    assert len(truth) == 6 and len(sites) == 6
    noise = [i for i in demo.incidents if i.matter_code == COAL and not i.attributes.get("coal_site")]
    assert noise  # the catalogue's own rural coal reports: scattered, never a site
    villages = gpd.GeoDataFrame({"code": [u.code for u in demo.units if u.layer == "village"],
                                 "parent": [u.parent_code for u in demo.units if u.layer == "village"]},
                                geometry=[u.geometry for u in demo.units if u.layer == "village"], crs="EPSG:4326")
    ref = Reference(demo.units, demo.rules, demo.delegations, demo.matters, demo.teams)
    last_day = datetime.fromisoformat(window(demo)["to"]).date() - timedelta(days=1)
    matched = set()
    for s in sites:
        # The yard whose reports' centre is nearest (metres, in UTM) is the one found, and all its reports are.
        centres = {k: np.mean([(i.lon, i.lat) for i in v], axis=0) for k, v in truth.items()}
        here = gpd.GeoSeries([shapely.Point(s["lon"], s["lat"])] + [shapely.Point(*c) for c in centres.values()],
                             crs="EPSG:4326").to_crs(UTM)
        dist = here.iloc[1:].distance(here.iloc[0]).to_numpy()
        k = list(centres)[int(np.argmin(dist))]
        assert dist.min() < 20 and k not in matched
        matched.add(k)
        reports = truth[k]
        assert s["reports"] == len(reports)  # every report of the yard, and no noise report
        assert s["first_week"] == iso_week(min(i.reported_at for i in reports).date())
        assert s["last_week"] == iso_week(max(i.reported_at for i in reports).date())
        assert s["active_weeks"] == len({iso_week(i.reported_at.date()) for i in reports})
        assert sum(s["weekly"]) == len(reports)
        assert s["pattern"] in ("persistent_hot", "intensifying_hot")  # the generator keeps every yard busy
        host = gpd.sjoin(gpd.GeoDataFrame(geometry=[shapely.Point(s["lon"], s["lat"])], crs="EPSG:4326"), villages,
                         predicate="within")
        assert s["village"] == host["code"].iloc[0] and s["township"] == host["parent"].iloc[0]
        assert s["village_name"] and s["township_name"] and s["team_name"]
        teams, _ = ref.route(ref.places(np.array([s["lon"]]), np.array([s["lat"]])), COAL, last_day)
        assert s["team"] == str(teams[0])
    assert [s["id"] for s in sites] == list(range(1, 7))
    # Parameters per request over the matter's: a 5 m radius leaves no yard dense enough.
    tight = client.get("/hotspots/sites", params={"matter": COAL, "eps_m": 5, **window(demo)}).json()
    assert tight["sites"] == [] and tight["eps_m"] == 5


def test_significance_mode_is_gi_star_of_the_reports(served: tuple[TestClient, Engine, str], demo: DemoCounty) -> None:
    client, _, _ = served
    res = 8
    r = client.get("/hotspots", params={"mode": "significance", "res": res, "matter": COAL, **window(demo)})
    assert r.status_code == 200, r.text
    got = r.json()
    # The same statistic on the generator's own incidents (not read back from the store).
    coal = [i for i in demo.incidents if i.matter_code == COAL]
    counts = count_cells(points_to_cells(np.array([i.lon for i in coal]), np.array([i.lat for i in coal]), res))
    county = [u.geometry for u in demo.units if u.layer == "county" and u.geometry is not None]
    cells = study_area(counts, county, res, 1)
    want = hotspots(cells, np.array([counts.get(c, 0) for c in cells], dtype=float))
    index = {c: i for i, c in enumerate(want.cells)}
    assert got["tested"] == len(cells) and got["total"] == len(coal)
    assert {c["h"] for c in got["cells"]} == {c for i, c in enumerate(want.cells) if want.counts[i] or want.bins[i]}
    for c in got["cells"]:
        i = index[c["h"]]
        assert abs(c["z"] - want.z[i]) < 1e-9 and c["bin"] == want.bins[i] and c["n"] == want.counts[i]
    assert got["bins"]["3"] >= 6  # every yard's cell, at least, is hot at 99 %
    yard_cells = {h3.latlng_to_cell(i.lat, i.lon, res) for v in truth_sites(demo).values() for i in v}
    assert all(c["bin"] == 3 for c in got["cells"] if c["h"] in yard_cells)
    # The raw counts stay the default.
    plain = client.get("/hotspots", params={"res": res, "matter": COAL, **window(demo)}).json()
    assert {c["h"]: c["n"] for c in plain["cells"]} == counts and "mode" not in plain


def test_emerging_patterns_over_the_store(served: tuple[TestClient, Engine, str], demo: DemoCounty) -> None:
    client, _, _ = served
    r = client.get("/hotspots/emerging", params={"matter": COAL, "res": 9, **window(demo)})
    assert r.status_code == 200, r.text
    got = r.json()
    assert len(got["steps"]) == 17 and sum(got["patterns"].values()) == got["tested"]
    by_cell = {c["h"]: c for c in got["cells"]}
    for reports in truth_sites(demo).values():
        centre = np.mean([(i.lon, i.lat) for i in reports], axis=0)
        cell = by_cell[h3.latlng_to_cell(centre[1], centre[0], 9)]
        assert cell["pattern"] in ("persistent_hot", "intensifying_hot") and cell["hot_steps"] >= 16
        assert len(cell["counts"]) == 17
    daily = client.get("/hotspots/emerging", params={"matter": COAL, "res": 7, "step": "day", **window(demo)}).json()
    assert len(daily["steps"]) == 123


def test_empty_answers_and_clear_refusals(served: tuple[TestClient, Engine, str], demo: DemoCounty) -> None:
    client, engine, _ = served
    with transaction(session_factory(engine)) as session:  # a matter whose free-form attributes are odd
        Repository(session).add_matters([Matter(code="M-ODD-SITES", name="odd", domain="test",
                                                attributes={"sites": {"eps_m": "far"}})])
    before = table_counts(engine)
    future = {"from": "2030-01-01T00:00:00", "to": "2030-03-01T00:00:00"}  # no report, no version in force
    empty = client.get("/hotspots/emerging", params=future).json()
    assert empty["cells"] == [] and empty["total"] == 0 and set(empty["patterns"]) >= {"none"}
    sig = client.get("/hotspots", params={"mode": "significance", **future}).json()
    assert sig["cells"] == [] and sig["total"] == 0
    assert client.get("/hotspots/sites", params={"matter": COAL, **future}).json()["sites"] == []
    one = {"from": window(demo)["from"], "to": (datetime.fromisoformat(window(demo)["from"])
                                                 + timedelta(hours=12)).isoformat()}
    for path, params, text in [
        ("/hotspots/emerging", one, "no whole week"),
        ("/hotspots/emerging", {"res": 4}, "res"), ("/hotspots/emerging", {"res": 12}, "res"),
        ("/hotspots/emerging", {"matter": "M-NOPE"}, "unknown matter code(s) M-NOPE"),
        ("/hotspots/emerging", {"days": 3, "from": "2026-05-01T00:00:00"}, "not both"),
        ("/hotspots/emerging", {"confidence": "0.5"}, "confidence"),
        ("/hotspots/emerging", {"step": "month"}, "step"),
        ("/hotspots/emerging", {"bbox": "1,2,3"}, "four numbers"),
        ("/hotspots", {"mode": "significance", "res": 4}, "resolution from 5 to 11"),
        ("/hotspots", {"mode": "nope"}, "mode"),
        ("/hotspots", {"mode": "significance", "res": 11}, "over 150000; lower res"),  # refused before the work
        ("/hotspots/emerging", {"res": 11}, "over 150000; lower res"),
        ("/hotspots/sites", {"matter": COAL, "res": 11}, "lower res"),
        ("/hotspots/sites", {}, "matter"), ("/hotspots/sites", {"matter": "M-NOPE"}, "unknown matter"),
        ("/hotspots/sites", {"matter": COAL, "eps_m": 0}, "eps_m"),
        ("/hotspots/sites", {"matter": "M-ODD-SITES"}, "eps_m must be a number"),
        ("/hotspots/sites", {"matter": COAL, "from": "2020-01-01T00:00:00"}, "at most 1830 days"),
        ("/hotspots/sites", {"matter": COAL, "to": "0001-01-02T00:00:00+00:00"}, "between 1970 and 2200"),
        ("/hotspots/emerging", {"from": "9999-12-30T00:00:00", "to": "9999-12-31T23:00:00-05:00"}, "between 1970"),
        ("/hotspots/sites", {"matter": COAL, "from": "2026-05-02T00:00:00", "to": "2026-05-01T00:00:00"},
         "window is empty")]:
        r = client.get(path, params=params, headers={"Accept-Language": "en"})
        assert r.status_code == (413 if "lower res" in text else 422) and text in r.text, (path, params, r.text)
    zh = client.get("/hotspots/emerging", params=one, headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 422 and "整周" in zh.json()["message"]  # in the reader's language
    assert client.get("/hotspots/sites", params={"matter": COAL}, headers={"Authorization": ""}).status_code == 401
    assert table_counts(engine) == before


def test_cli_lists_the_sites(served: tuple[TestClient, Engine, str], demo: DemoCounty) -> None:
    client, engine, url = served
    if engine.dialect.name != "sqlite":
        pytest.skip("the command reads the store through the same function as the API (checked on both above)")
    w = window(demo)
    out = gridgov(url, "sites", COAL, "--from", w["from"], "--to", w["to"], "--json")
    assert out.splitlines()[-1] == "sites matter=M-ENV-COAL n=6"
    api = client.get("/hotspots/sites", params={"matter": COAL, **w}).json()["sites"]
    assert [json.loads(line) for line in out.splitlines()[:-1]] == api  # the same sites, the same fields
    table = gridgov(url, "sites", COAL, "--from", w["from"], "--to", w["to"], "--min-weeks", "15")
    assert table.splitlines()[-1] == f"sites matter=M-ENV-COAL n={sum(s['active_weeks'] >= 15 for s in api)}"
    assert "露天晾晒煤泥" in table  # the table names the matter (its rows wrap at the runner's width)
    assert gridgov(url, "sites", COAL, "--from", "2030-01-01", "--to", "2030-02-01").splitlines()[-1].endswith("n=0")
    assert "unknown matter code(s) M-NOPE" in gridgov_fails(url, "sites", "M-NOPE")
    assert "window is empty" in gridgov_fails(url, "sites", COAL, "--from", "2026-05-02", "--to", "2026-05-01")
    assert "eps_m must lie between" in gridgov_fails(url, "sites", COAL, "--eps-m", "0")
