"""OGC API – Features read by GDAL itself (ogrinfo, ogr2ogr from gdal-bin) from a running server."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from etl.demo import load_demo
from gis.demo import build_demo_county
from store.db import session_factory, transaction
from store.repo import Repository
from store.users import Users
from tests.live import live_server

LAYERS = ("county", "township", "village", "grid", "zone")
SERVER_TZ = "Asia/Shanghai"


def gdal(*args: str) -> str:
    exe = shutil.which(args[0])
    if exe is None:
        raise RuntimeError(f"{args[0]} is missing: install gdal-bin (scripts/test.sh does)")
    done = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def served(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The demo county behind a real `gridgov serve`; yields the base URL, a token and a GDAL header file."""
    with transaction(session_factory(engine)) as session:
        load_demo(Repository(session), build_demo_county(seed=7, months=1), effective_from=date(2020, 1, 1))
        users = Users(session)
        users.add("gis", "correct horse battery", "dispatcher")
        token = users.device_token("gis", "qgis")
    headers = tmp_path / "headers.txt"
    headers.write_text(f"Authorization: Bearer {token}\n")
    # On China time, as deployed: naive times are the server's local time, instants are converted to it.
    with live_server(database_url, tmp_path, TZ=SERVER_TZ) as base:
        yield base, token, headers


def expected(layer: str) -> tuple[int, tuple[float, float, float, float]]:
    """Counts and extents from the generator, independently of the server (H3 cells via h3 itself)."""
    units = [u for u in build_demo_county(seed=7, months=1).units if u.layer == layer]
    shapes = [u.geometry if u.geometry is not None else
              shapely.MultiPolygon([shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)])
                                    for c in u.cells or []]) for u in units]
    return len(units), shapely.union_all(shapes).bounds


def report_cases(base: str, token: str, n: int) -> list[tuple[float, float]]:
    """n reports at random places in the demo county, a day apart; their points."""
    county = next(u for u in build_demo_county(seed=7, months=1).units if u.layer == "county").geometry
    assert county is not None
    rng = np.random.default_rng(3)
    points: list[tuple[float, float]] = []
    w, s, e, n_ = county.bounds
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        matter = client.get("/matters").json()[0]["code"]
        while len(points) < n:
            x, y = round(float(rng.uniform(w, e)), 6), round(float(rng.uniform(s, n_)), 6)
            if not county.buffer(-0.01).contains(shapely.Point(x, y)):
                continue
            r = client.post("/reports", json={"idempotency_key": f"ogc-{len(points):04d}", "matter": matter,
                                              "lon": x, "lat": y,
                                              "reported_at": f"2026-03-{len(points) % 28 + 1:02d}T09:00:00"})
            assert r.status_code == 201, r.text
            points.append((x, y))
    return points


def test_ogrinfo_and_ogr2ogr_read_every_collection(served: tuple[str, str, Path], tmp_path: Path) -> None:
    base, token, headers = served
    points = report_cases(base, token, 23)
    config = ["--config", "GDAL_HTTP_HEADER_FILE", str(headers)]
    listing = gdal("ogrinfo", "-ro", *config, f"OAPIF:{base}/ogc")
    for layer in (*LAYERS, "cases"):
        assert re.search(rf"^\d+: {layer}\b", listing, re.M), listing
    for layer in LAYERS:
        count, (w, s, e, n) = expected(layer)
        info = gdal("ogrinfo", "-ro", "-so", *config, f"OAPIF:{base}/ogc", layer)
        got = int(re.search(r"Feature Count: (\d+)", info).group(1))  # type: ignore[union-attr]
        ext = [float(v) for v in re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)",
                                           info).groups()]  # type: ignore[union-attr]
        assert got == count, (layer, info)
        assert ext == pytest.approx([w, s, e, n], abs=1e-6), layer
        out = tmp_path / f"{layer}.gpkg"
        gdal("ogr2ogr", *config, "-f", "GPKG", str(out), f"OAPIF:{base}/ogc", layer)
        frame = pyogrio.read_dataframe(out)
        assert len(frame) == count and tuple(frame.total_bounds) == pytest.approx((w, s, e, n), abs=1e-6)
    # Cases: counted and bounded like the points reported; ogr2ogr walks the next links 5 at a time.
    info = gdal("ogrinfo", "-ro", "-so", *config, f"OAPIF:{base}/ogc", "cases")
    assert int(re.search(r"Feature Count: (\d+)", info).group(1)) == len(points)  # type: ignore[union-attr]
    ext = [float(v) for v in re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)",
                                       info).groups()]  # type: ignore[union-attr]
    assert ext == pytest.approx(list(shapely.MultiPoint(points).bounds), abs=1e-6)
    out = tmp_path / "cases.gpkg"
    gdal("ogr2ogr", *config, "-oo", "PAGE_SIZE=5", "-f", "GPKG", str(out), f"OAPIF:{base}/ogc", "cases")
    frame = pyogrio.read_dataframe(out)
    got = sorted((round(g.x, 6), round(g.y, 6)) for g in frame.geometry)
    assert got == sorted(points)
    anonymous = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", "county"],
                               capture_output=True, text=True, timeout=120)
    assert anonymous.returncode != 0 and "Feature Count" not in anonymous.stdout  # no token, no data


def test_items_paging_bbox_and_cases(served: tuple[str, str, Path]) -> None:
    base, token, headers = served
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    landing = client.get("/ogc").json()
    assert {link["rel"] for link in landing["links"]} >= {"self", "conformance", "data", "service-desc"}
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in client.get(
        "/ogc/conformance").json()["conformsTo"]
    seen, url = [], "/ogc/collections/village/items?limit=37"
    while url:
        page = client.get(url)
        assert page.headers["content-type"].startswith("application/geo+json")
        body = page.json()
        assert body["numberMatched"] == 200 and body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
    assert len(seen) == len(set(seen)) == 200
    box = (115.1, 36.7, 115.2, 36.8)
    hits = client.get("/ogc/collections/village/items", params={"bbox": ",".join(map(str, box)),
                                                                 "limit": 1000}).json()
    demo = [u for u in build_demo_county(seed=7, months=1).units if u.layer == "village"]
    want = sorted(u.code for u in demo if u.geometry is not None and u.geometry.intersects(shapely.box(*box)))
    assert sorted(f["id"] for f in hits["features"]) == want
    one = client.get(f"/ogc/collections/village/items/{want[0]}").json()
    assert one["id"] == want[0] and one["geometry"]["type"] == "MultiPolygon"
    assert client.get("/ogc/collections/village/items/NOPE").status_code == 404
    assert client.get("/ogc/collections/rivers").status_code == 404
    assert client.get("/ogc/collections/village/items", params={"bbox": "1,2,3"}).status_code == 422
    assert httpx.get(f"{base}/ogc/collections", timeout=30).status_code == 401
    # Cases are a collection too, scoped like GET /cases.
    county = client.get("/ogc/collections/county/items").json()["features"][0]
    lon, lat = shapely.geometry.shape(county["geometry"]).representative_point().coords[0]
    matter = client.get("/matters").json()[0]["code"]
    r = client.post("/reports", json={"idempotency_key": "ogc-case-0001", "matter": matter, "lon": lon, "lat": lat})
    assert r.status_code == 201, r.text
    cases = client.get("/ogc/collections/cases/items").json()
    assert cases["numberMatched"] == len(client.get("/cases", params={"limit": 10000}).json()) == 1
    (case,) = cases["features"]
    assert case["id"] == r.json()["id"] and case["geometry"]["coordinates"] == pytest.approx([lon, lat])

    # datetime: a boundary layer as of a date (the version then in force), cases by their report time.
    village = client.get("/ogc/collections/village", params={"datetime": "2020-06-01"}).json()
    # In force from 2020-01-01 at midnight, China time: 16:00 the day before in UTC.
    assert village["extent"]["temporal"]["interval"][0] == ["2019-12-31T16:00:00Z", None]
    as_of = client.get("/ogc/collections/village/items", params={"datetime": "2020-06-01", "limit": 1}).json()
    assert as_of["numberMatched"] == 200 and "datetime=2020-06-01" in next(
        link["href"] for link in as_of["links"] if link["rel"] == "next")
    vid = as_of["features"][0]["properties"]["version"]  # the collection's links (tiles too) name that version
    assert village["links"] and all(link["href"].endswith(f"?version={vid}") for link in village["links"])
    before = client.get("/ogc/collections/village/items", params={"datetime": "2019-12-31"})
    assert before.status_code == 404 and "no boundary version was in force on 2019-12-31" in before.json()["detail"]
    for bad, words in [({"datetime": "2020-01-01/2020-02-01"}, "one date"), ({"datetime": "2020-06-01", "version": 1},
                       "not both"), ({"datetime": "last spring"}, "RFC 3339")]:
        r = client.get("/ogc/collections/village/items", params=bad)
        assert r.status_code == 422 and words in r.json()["detail"], (bad, r.text)
    ids = {}
    for day, (x, y) in zip(("01", "05", "10"), ((0.01, 0.01), (-0.01, 0.01), (0.01, -0.01)), strict=True):
        r = client.post("/reports", json={"idempotency_key": f"ogc-when-{day}", "matter": matter, "lon": lon + x,
                                          "lat": lat + y, "reported_at": f"2026-03-{day}T09:00:00"})
        ids[day] = r.json()["id"]
    now_id = case["id"]
    at = datetime(2026, 3, 5, 9, tzinfo=ZoneInfo(SERVER_TZ)).astimezone(UTC)  # the server's 09:00 is 01:00Z

    def z(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    for when, want in [("2026-03-05", [ids["05"]]), ("2026-03-01/2026-03-05", [ids["01"], ids["05"]]),
                       ("../2026-03-09", [ids["01"], ids["05"]]), ("2026-03-06/..", [now_id, ids["10"]]),
                       ("2026-03-05T09:00:00/2026-03-05T09:00:00", [ids["05"]]),
                       (f"{z(at - timedelta(hours=2))}/{z(at - timedelta(seconds=1))}", []),  # UTC, converted
                       (f"{z(at - timedelta(seconds=1))}/{z(at)}", [ids["05"]])]:
        got = client.get("/ogc/collections/cases/items", params={"datetime": when}).json()
        assert (got["numberMatched"], sorted(f["id"] for f in got["features"])) == (len(want), sorted(want)), when
    assert client.get("/ogc/collections/cases/items", params={"datetime": "2026-03-10/2026-03-01"}).status_code == 422
    # Paged in SQL: one at a time, in id order, each case once.
    seen, url = [], "/ogc/collections/cases/items?limit=1"
    while url:
        body = client.get(url).json()
        assert body["numberMatched"] == 4 and body["numberReturned"] == 1
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
    assert seen == sorted(seen) == sorted({now_id, *ids.values()})


def test_ogc_app_in_process_lists_the_collections(engine: Engine, database_url: str, tmp_path: Path) -> None:
    with transaction(session_factory(engine)) as session:
        load_demo(Repository(session), build_demo_county(seed=7, months=1), effective_from=date(2020, 1, 1))
        Users(session).add("p", "correct horse battery", "planner")
        token = Users(session).device_token("p", "t")
    client = TestClient(create_app(get_settings(database_url=database_url, media_dir=tmp_path / "m")),
                        headers={"Authorization": f"Bearer {token}"})
    ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert ids == list(LAYERS)  # a planner does not see cases
