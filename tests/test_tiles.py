"""Vector tiles (OGC API – Tiles, Mapbox Vector Tiles from PostGIS), decoded by GDAL's own MVT driver
(ogr2ogr from gdal-bin) and checked against shapely on the generator's data; cases scoped per user."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pyproj
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from etl.demo import load_demo
from gis.demo import build_demo_county
from gis.model import Unit
from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository
from store.users import Users
from tests.conftest import _require_postgres, _reset_postgres
from tests.test_ogc import gdal

HALF = 20037508.342789244  # half the Web Mercator world width, metres
MVT = "application/vnd.mapbox-vector-tile"
TO_LONLAT = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
LAYERS = ("county", "township", "village", "grid", "zone")
PASSWORD = "correct horse battery"


def tile_box_3857(z: int, x: int, y: int, buffer_px: float = 0.0) -> shapely.Polygon:
    """The tile's square in EPSG:3857 (WebMercatorQuad: origin top left, y down), grown by buffer pixels of 4096."""
    size = 2 * HALF / 2**z
    pad = size * buffer_px / 4096
    return shapely.box(-HALF + x * size - pad, HALF - (y + 1) * size - pad, -HALF + (x + 1) * size + pad,
                       HALF - y * size + pad)


def tile_box_lonlat(z: int, x: int, y: int) -> shapely.Polygon:
    """The same square in lon/lat through PROJ (Mercator keeps it a lon/lat rectangle)."""
    w, s, e, n = tile_box_3857(z, x, y).bounds
    (x0, x1), (y0, y1) = TO_LONLAT.transform([w, e], [s, n])
    return shapely.box(x0, y0, x1, y1)


def covering_tiles(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """Every tile at zoom z touching a lon/lat box (the slippy-map formula, written out here)."""
    def col(lon: float) -> int:
        return int((lon + 180) / 360 * 2**z)

    def row(lat: float) -> int:
        return int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2**z)

    w, s, e, n = bounds
    return [(x, y) for x in range(col(w), col(e) + 1) for y in range(row(n), row(s) + 1)]


def decode(data: bytes, z: int, x: int, y: int, tmp: Path) -> gpd.GeoDataFrame:
    """A tile decoded by GDAL's MVT driver into EPSG:3857 features."""
    src, out = tmp / f"{z}-{x}-{y}.mvt", tmp / f"{z}-{x}-{y}.geojson"
    src.write_bytes(data)
    out.unlink(missing_ok=True)
    gdal("ogr2ogr", "-f", "GeoJSON", "-lco", "RFC7946=NO", "-lco", "WRITE_NAME=NO", str(out), str(src),
         "-oo", f"X={x}", "-oo", f"Y={y}", "-oo", f"Z={z}", "-oo", "CLIP=NO")
    features = json.loads(out.read_text(encoding="utf-8"))["features"]
    return gpd.GeoDataFrame.from_features(features, crs=3857) if features else gpd.GeoDataFrame(
        {"code": []}, geometry=[], crs=3857)


def unit_shape(u: Unit) -> Any:
    if u.geometry is not None:
        return u.geometry
    return shapely.union_all([shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
                              for c in u.cells or []])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo county on PostGIS behind the app, with accounts per role and cases reported across it."""
    url = _require_postgres()
    engine = make_engine(url)
    _reset_postgres(engine)
    upgrade(engine)
    county = build_demo_county(seed=7, months=1)
    with transaction(session_factory(engine)) as session:
        load_demo(Repository(session), county, effective_from=date(2020, 1, 1))
        users = Users(session)
        teams = {t.code: t for t in Repository(session).teams()}
        townships = sorted(c for c, t in teams.items() if t.kind == "township_team")
        villages = sorted(c for c, t in teams.items() if t.kind == "grid_worker")
        users.add("boss", PASSWORD, "dispatcher")
        users.add("plan", PASSWORD, "planner")
        users.add("w1", PASSWORD, "grid_worker", team_code=villages[0])
        users.add("w2", PASSWORD, "grid_worker", team_code=villages[1])
        for code in townships:
            users.add(f"tm-{code}", PASSWORD, "team_member", team_code=code)
        tokens = {u: users.device_token(u, "tests") for u in ["boss", "plan", "w1", "w2"] +
                  [f"tm-{c}" for c in townships]}
    client = TestClient(create_app(get_settings(database_url=url, media_dir=tmp_path_factory.mktemp("m"),
                                                tick_seconds=0)))
    heads = {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()}
    # Reports spread over the county (a delegated matter: they go to township teams and squadrons), some
    # reported long ago so they are overdue now.
    outline = next(u.geometry for u in county.units if u.layer == "county")
    rng = np.random.default_rng(3)
    points: list[tuple[float, float]] = []
    w, s, e, n = outline.bounds
    while len(points) < 48:
        p = (float(rng.uniform(w, e)), float(rng.uniform(s, n)))
        if outline.contains(shapely.Point(p)) and all(abs(p[0] - q[0]) + abs(p[1] - q[1]) > 0.02 for q in points):
            points.append(p)
    for i, (lon, lat) in enumerate(points):
        when = (datetime.now() - timedelta(days=30 if i % 3 == 0 else 0)).replace(microsecond=0)
        r = client.post("/reports", headers=heads["w1" if i % 2 else "w2"], json={
            "idempotency_key": f"tile-{i:03d}", "matter": "M-ENV-COAL", "lon": lon, "lat": lat,
            "reported_at": when.isoformat()})
        assert r.status_code == 201, r.text
    yield {"client": client, "h": heads, "county": county, "engine": engine, "townships": townships}
    engine.dispose()


def test_unit_tiles_hold_exactly_the_units_touching_them(demo: dict[str, Any], tmp_path: Path) -> None:
    client, h, county = demo["client"], demo["h"]["boss"], demo["county"]
    meta = client.get("/ogc/collections/village/tiles/WebMercatorQuad", headers=h).json()
    assert meta["tilejson"] == "3.0.0" and (meta["minzoom"], meta["maxzoom"]) == (0, 22)
    assert meta["tiles"] == ["http://testserver/ogc/collections/village/tiles/WebMercatorQuad/{z}/{x}/{y}"]
    villages = [u for u in county.units if u.layer == "village"]
    assert meta["bounds"] == pytest.approx(shapely.union_all([u.geometry for u in villages]).bounds, abs=1e-9)
    links = client.get("/ogc/collections/village", headers=h).json()["links"]
    tiles_link = next(link for link in links if link["rel"].endswith("tilesets-vector"))
    listed = client.get(tiles_link["href"].removeprefix("http://testserver"), headers=h).json()
    assert listed["tilesets"][0]["tileMatrixSetURI"].endswith("WebMercatorQuad")
    teams_of: dict[str, set[str]] = {}
    for r in county.rules:
        if r.scope.type == "unit" and r.scope.unit_code:
            teams_of.setdefault(r.scope.unit_code, set()).add(r.team_code)
    bounds = shapely.union_all([unit_shape(u) for u in county.units if u.layer == "county"]).bounds
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    plan = [(8, covering_tiles(bounds, 8)), (10, covering_tiles(bounds, 10)),
            (12, covering_tiles((cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05), 12)[:3]),
            (14, covering_tiles((cx, cy, cx, cy), 14))]
    checked = 0
    for layer in LAYERS:
        units = [u for u in county.units if u.layer == layer]
        shapes = gpd.GeoSeries([unit_shape(u) for u in units], index=[u.code for u in units], crs=4326)
        in_3857 = shapes.to_crs(3857)
        for z, tiles in plan:
            for x, y in tiles[:4] if layer != "village" else tiles:
                r = client.get(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=h)
                want = set(shapes.index[shapes.intersects(tile_box_lonlat(z, x, y))])
                if not want:
                    assert r.status_code == 204 and r.content == b"", (layer, z, x, y)
                    continue
                assert r.status_code == 200 and r.headers["content-type"] == MVT, (layer, z, x, y, r.text)
                got = decode(r.content, z, x, y, tmp_path)
                assert sorted(got["code"]) == sorted(want), (layer, z, x, y)
                outer = tile_box_3857(z, x, y, buffer_px=64.5)
                assert got.geometry.within(outer).all(), (layer, z, x, y)
                # The decoded shape is the unit clipped to the buffered tile, up to the 1/4096 grid: it adds
                # nothing beyond 1.5 pixels of it and loses nothing wider than 3 pixels (MVT encoders drop
                # parts thinner than a pixel).
                tol = 1.5 * 2 * HALF / 2**z / 4096
                for code, geom in zip(got["code"], got.geometry, strict=True):
                    truth = in_3857[code].intersection(tile_box_3857(z, x, y, buffer_px=64))
                    assert geom.difference(truth.buffer(tol)).area < tol**2 / 100, (layer, z, x, y, code)
                    assert truth.buffer(-tol).difference(geom.buffer(tol)).area < tol**2 / 100, (layer, z, x, y, code)
                    assert geom.area == pytest.approx(truth.area, rel=0.02, abs=20 * tol**2), (layer, z, x, y, code)
                for code, name, team in zip(got["code"], got["name"], got.get("team", [None] * len(got)),
                                            strict=True):
                    assert name == next(u.name for u in units if u.code == code)
                    expected = ",".join(sorted(teams_of[code])) if code in teams_of else None
                    assert (team if isinstance(team, str) else None) == expected
                checked += 1
    assert checked >= 30


def test_cases_tiles_follow_the_callers_scope(demo: dict[str, Any], tmp_path: Path) -> None:
    client, h = demo["client"], demo["h"]
    everything = client.get("/cases", params={"limit": 10000}, headers=h["boss"]).json()
    assert len(everything) == 48 and {c["overdue"] for c in everything} == {True, False}
    by_id = {c["id"]: c for c in everything}
    bounds = (min(c["lon"] for c in everything), min(c["lat"] for c in everything),
              max(c["lon"] for c in everything), max(c["lat"] for c in everything))
    owners = {c["team"] for c in everything}
    busy = max((t for t in demo["townships"]), key=lambda t: sum(c["team"] == t for c in everything))
    viewers = {"boss": lambda c: True, f"tm-{busy}": lambda c: c["team"] == busy or busy in (c["co_owners"] or []),
               "w1": lambda c: c["reporter"] == "w1"}
    assert len(owners) > 2
    for z in (9, 11):
        for x, y in covering_tiles(bounds, z):
            box = tile_box_lonlat(z, x, y)
            for who, sees in viewers.items():
                r = client.get(f"/ogc/collections/cases/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=h[who])
                want = {c["id"] for c in everything if sees(c) and box.covers(shapely.Point(c["lon"], c["lat"]))}
                if not want:
                    assert r.status_code == 204, (who, z, x, y)
                    continue
                got = decode(r.content, z, x, y, tmp_path)
                assert set(got["id"].astype(int)) == want, (who, z, x, y)
                for _, f in got.iterrows():
                    case = by_id[int(f["id"])]
                    assert (f["status"], f["matter"], f["team"], bool(f["overdue"]), int(f["escalation_level"])) == (
                        case["status"], case["matter"], case["team"], case["overdue"], case["escalation_level"])
                    lon, lat = TO_LONLAT.transform(f.geometry.x, f.geometry.y)
                    assert (lon, lat) == pytest.approx((case["lon"], case["lat"]), abs=2 * 360 / 2**z / 4096)
    # Without a token: 401; a planner has no cases collection (404), as with /items.
    assert client.get("/ogc/collections/cases/tiles/WebMercatorQuad/9/0/0").status_code == 401
    assert client.get("/ogc/collections/cases/tiles/WebMercatorQuad/9/0/0", headers=h["plan"]).status_code == 404
    assert client.get("/ogc/collections/village/tiles/WebMercatorQuad/9/0/0").status_code == 401


def test_tile_requests_out_of_range_etags_and_versions(demo: dict[str, Any]) -> None:
    client, h, county = demo["client"], demo["h"]["boss"], demo["county"]
    base = "/ogc/collections/village/tiles/WebMercatorQuad"
    for path, status, text in [
        (f"{base}/23/0/0", 422, "zoom 23 is outside 0–22"),
        (f"{base}/-1/0/0", 422, "zoom -1"),
        (f"{base}/3/8/0", 422, "x=8 is outside the tile matrix: at zoom 3, x and y run 0–7"),
        (f"{base}/3/0/-1", 422, "y=-1"),
        (f"{base}/3/a/0", 422, "x"),
        ("/ogc/collections/rivers/tiles/WebMercatorQuad/3/0/0", 404, "no collection 'rivers'"),
        ("/ogc/collections/village/tiles/WorldCRS84Quad/3/0/0", 404, "WebMercatorQuad only"),
        ("/ogc/collections/rivers/tiles", 404, "no collection"),
        (f"{base}/8/0/0?version=999", 404, "no boundary version 999"),
    ]:
        r = client.get(path, headers=h)
        assert r.status_code == status and text in r.json()["detail"], (path, r.text)
    assert client.get(f"{base}/8/0/0", headers=h).status_code == 204  # a valid tile far from the county
    (x, y), *_ = covering_tiles(next(u.geometry for u in county.units if u.layer == "county").bounds, 10)
    first = client.get(f"{base}/10/{x}/{y}", headers=h)
    again = client.get(f"{base}/10/{x}/{y}", headers=h)
    assert first.status_code == 200 and first.content == again.content
    assert first.headers["etag"] == again.headers["etag"]
    assert client.get(f"{base}/10/{x}/{y}", headers={**h, "If-None-Match": first.headers["etag"]}).status_code == 304
    # Weak (gzipped or plain, the same tile), compared weakly; a changed tile is a 200 again.
    assert first.headers["etag"].startswith('W/"') and "Accept-Encoding" in first.headers["vary"]
    strong = first.headers["etag"].removeprefix("W/")
    assert client.get(f"{base}/10/{x}/{y}", headers={**h, "If-None-Match": f'"x", {strong}'}).status_code == 304
    assert client.get(f"{base}/10/{x}/{y}", headers={**h, "If-None-Match": '"stale"'}).status_code == 200
    other = client.get(f"/ogc/collections/township/tiles/WebMercatorQuad/10/{x}/{y}", headers=h)
    assert other.headers["etag"] != first.headers["etag"]
    conformance = client.get("/ogc/conformance", headers=h).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
    with demo["engine"].connect() as conn:  # the tile was built by PostGIS from the stored version
        version = conn.execute(sa.text("SELECT max(id) FROM boundary_version")).scalar_one()
    assert client.get(f"{base}/10/{x}/{y}?version={version}", headers=h).content == first.content


def test_tiles_on_sqlite_say_they_need_postgis_and_on_postgis_follow_the_version(
        api: tuple[TestClient, dict[str, dict[str, str]], Engine], tmp_path: Path) -> None:
    client, h, engine = api
    links = client.get("/ogc/collections/village", headers=h["boss"]).json()["links"]
    conformance = client.get("/ogc/conformance", headers=h["boss"]).json()["conformsTo"]
    if engine.dialect.name == "sqlite":
        for path in ("/ogc/collections/village/tiles/WebMercatorQuad/8/209/99", "/ogc/collections/village/tiles",
                     "/ogc/collections/cases/tiles/WebMercatorQuad",
                     "/ogc/collections/cases/tiles/WebMercatorQuad/8/0/0"):
            r = client.get(path, headers=h["boss"])
            assert r.status_code == 404, path  # no tiles here (a 501 read as a broken server)
            assert "PostGIS" in r.json()["detail"] and "/items?bbox=" in r.json()["detail"]
        assert not any(link["rel"].endswith("tilesets-vector") for link in links)
        assert not any("ogcapi-tiles" in c for c in conformance)
        return
    assert any(link["rel"].endswith("tilesets-vector") for link in links)
    # A draft moves a strip of 南关村 V2 into 城东社区 V1: its tiles show the draft, the default the version in force.
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "改", "based_on": 2}, headers=plan).json()
    for code, box in (("V2", (115.12, 36.0, 115.2, 36.1)), ("V1", (115.0, 36.0, 115.12, 36.1))):
        r = client.put(f"/versions/{draft['id']}/units/{code}", params={"revision": draft["revision"]}, headers=plan,
                       json={"type": "Feature", "geometry": shapely.geometry.mapping(shapely.box(*box)),
                             "properties": {}})
        assert r.status_code == 200, r.text
        draft = r.json()["version"]
    z = 12
    (x, y), *_ = covering_tiles((115.11, 36.05, 115.11, 36.05), z)  # a tile around the moved strip
    now = decode(client.get(f"/ogc/collections/village/tiles/WebMercatorQuad/{z}/{x}/{y}", headers=plan).content,
                 z, x, y, tmp_path)
    then = decode(client.get(f"/ogc/collections/village/tiles/WebMercatorQuad/{z}/{x}/{y}",
                             params={"version": draft["id"]}, headers=plan).content, z, x, y, tmp_path)
    sc_v1 = gpd.GeoSeries([shapely.box(115.0, 36.0, 115.1, 36.1), shapely.box(115.0, 36.0, 115.12, 36.1)], crs=4326)
    areas = sc_v1.to_crs(3857).intersection(tile_box_3857(z, x, y, buffer_px=64)).area
    assert areas.iloc[1] > 1.1 * areas.iloc[0]
    v1_now, v1_then = (float(g.geometry[g["code"] == "V1"].area.sum()) for g in (now, then))
    assert v1_now == pytest.approx(areas.iloc[0], rel=0.01) and v1_then == pytest.approx(areas.iloc[1], rel=0.01)
    # The team property: the teams unit-scoped rules name (version 2: 东乡's claim on 北河村 V3).
    (x, y), = covering_tiles((115.2, 36.1, 115.2, 36.1), 8)
    teams = {}
    for layer in ("township", "village", "zone"):
        got = decode(client.get(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/8/{x}/{y}", headers=plan).content,
                     8, x, y, tmp_path)
        teams.update(zip(got["code"], got["team"] if "team" in got else [None] * len(got), strict=True))
    assert {c: t for c, t in teams.items() if isinstance(t, str)} == {
        "T1": "TT1", "T2": "TT2", "V3": "TT2", "Z-URBAN": "URBAN", "Z-DEV": "DEVSQ"}
    assert set(teams) == {"T1", "T2", "V1", "V2", "V3", "V4", "Z-URBAN", "Z-DEV"}
