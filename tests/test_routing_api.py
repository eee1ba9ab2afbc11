"""`POST /route`, `GET /jurisdictions/at` and `gridgov route(-file)` over a real store, on both backends."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from gis.crs import from_wgs84
from store.db import session_factory, transaction
from store.repo import Repository
from tests import routing_scenario as sc
from tests.conftest import signed_in
from tests.test_import import gridgov, gridgov_fails, summary


@pytest.fixture
def client(loaded: Engine, database_url: str) -> TestClient:
    return signed_in(TestClient(create_app(get_settings(database_url=database_url, max_batch=500))), loaded)


def test_route_uses_the_version_in_force_on_the_date(client: TestClient) -> None:
    body = {"lat": 36.15, "lon": 115.10, "matter": "M-STREET"}
    before = client.post("/route", json={**body, "at": "2025-06-01"}).json()
    after = client.post("/route", json={**body, "at": "2026-06-01T10:00:00"}).json()
    assert before["version"]["id"] == 1 and after["version"]["id"] == 2
    assert (before["decisions"][0]["team"], before["decisions"][0]["status"]) == ("TT1", "ok")
    d = after["decisions"][0]
    assert (d["team"], d["status"], d["candidates"]) == ("BUREAU", "dispute", ["TT1", "TT2"])
    assert d["version"] == {"id": 2, "name": "2026", "effective_from": "2026-01-01", "effective_to": None}


def test_phone_coordinates_are_converted_once_and_kept(client: TestClient) -> None:
    lon, lat = 115.05, 36.05  # V1, the urban community
    gx, gy = from_wgs84(lon, lat, "gcj02")
    r = client.post("/route", json={"lat": gy, "lon": gx, "crs": "gcj02", "matter": "M-STREET", "accuracy_m": 8,
                                    "at": "2026-03-01"})
    assert r.status_code == 200
    d = r.json()["decisions"][0]
    assert d["input"] == {"lon": gx, "lat": gy, "crs": "gcj02"}
    assert abs(d["lon"] - lon) < 1e-9 and abs(d["lat"] - lat) < 1e-9
    assert d["team"] == "URBAN" and d["winning_rule"]["code"] == "R-URBAN" and d["accuracy_m"] == 8
    assert {u["code"] for u in d["units"] if u["selected"]} == {"C", "T1", "V1", "Z-URBAN"}
    unconverted = client.post("/route", json={"lat": gy, "lon": gx, "matter": "M-STREET", "at": "2026-03-01"})
    assert unconverted.json()["decisions"][0]["lon"] == gx  # wgs84 input is taken as it is


def test_batches_and_geojson(client: TestClient) -> None:
    points = [{"id": "a", "lat": 36.05, "lon": 115.05}, {"id": "b", "lat": 36.05, "lon": 115.16},
              {"id": "c", "lat": 36.10, "lon": 116.0, "accuracy_m": 5}]
    summary_body = {"points": points, "matter": "M-STREET", "detail": "summary", "at": "2026-03-01"}
    rows = client.post("/route", json=summary_body).json()["results"]
    assert [(r["id"], r["team"], r["status"]) for r in rows] == [
        ("a", "URBAN", "ok"), ("b", "DEVSQ", "ok"), ("c", "BUREAU", "gap")]
    assert rows[0]["rule"] == "R-URBAN" and rows[2]["rule"] == ""
    full = client.post("/route", json={**summary_body, "detail": "full"}).json()["decisions"]
    assert [d["team"] for d in full] == [r["team"] for r in rows]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": p["id"], "properties": {},
         "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]}} for p in points]}
    geo = client.post("/route", json={"geojson": fc, "matter": "M-STREET", "at": "2026-03-01"}).json()["decisions"]
    assert [(d["id"], d["team"]) for d in geo] == [(d["id"], d["team"]) for d in full]


def test_jurisdictions_at_lists_every_level_with_version(client: TestClient) -> None:
    r = client.get("/jurisdictions/at", params={"lat": 36.1, "lon": 115.1, "at": "2025-05-05"}).json()
    assert r["version"]["id"] == 1
    assert {u["code"] for u in r["units"]} == {"C", "T1", "V1", "V2", "V3", "Z-URBAN"}
    assert {u["code"] for u in r["units"] if u["selected"]} == {"C", "T1", "V1", "Z-URBAN"}
    assert r["on_boundary"] and r["distance_to_boundary_m"] < 0.01
    assert client.get("/jurisdictions/at", params={"lat": 10, "lon": 10, "at": "2026-05-05"}).json()["units"] == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"lat": 91, "lon": 115.1, "matter": "M-STREET"}, 422, "lat: Input should be less than or equal to 90"),
        ({"lat": 36.1, "lon": 181, "matter": "M-STREET"}, 422, "lon: Input should be less than or equal to 180"),
        ({"lat": 36.1, "lon": 115.1, "matter": "M-STREET", "crs": "mars"}, 422, "crs: Input should be"),
        ({"lat": 36.1, "lon": 115.1, "matter": "M-NOPE", "at": "2026-03-01"}, 422, "unknown matter code 'M-NOPE'"),
        ({"points": [], "matter": "M-STREET", "at": "2026-03-01"}, 422, "the batch is empty"),
        ({"points": [{"lat": 36.1, "lon": 115.1}] * 501, "matter": "M-STREET", "detail": "summary"}, 413,
         "501 points is over the limit of 500"),
        ({"lat": 36.1, "lon": 115.1, "matter": "M-STREET", "at": "2024-12-31"}, 404,
         "no boundary version was in force on 2024-12-31; the first starts on 2025-01-01"),
        ({"lat": 36.1, "matter": "M-STREET"}, 422, "give both lat and lon"),
        ({"lat": 36.1, "lon": 115.1, "points": [], "matter": "M-STREET"}, 422, "give exactly one of"),
        ({"geojson": {"type": "LineString", "coordinates": [[115, 36], [115.1, 36]]}, "matter": "M-STREET",
          "at": "2026-03-01"}, 422, "GeoJSON type 'LineString' is not a point"),
        ({"geojson": {"type": "Point", "coordinates": [500000, 4000000]}, "matter": "M-STREET", "at": "2026-03-01"},
         422, "point 0: lat: Input should be less than or equal to 90; lon: Input should be less than or equal to 180"),
        # An oversized batch is refused on its count, before any point is validated (issue 15.4): point 3 is junk.
        ({"points": [{"lat": 36.1, "lon": 115.1}] * 3 + ["junk"] + [{"lat": 36.1, "lon": 115.1}] * 497,
          "matter": "M-STREET", "detail": "summary"}, 413, "501 points is over the limit of 500"),
        ({"geojson": {"type": "MultiPoint", "coordinates": [[115.1, 36.1]] * 501}, "matter": "M-STREET",
          "detail": "summary"}, 413, "501 points is over the limit of 500"),
        ({"geojson": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[115.1, 36.1]] * 300}}] * 2},
          "matter": "M-STREET", "detail": "summary"}, 413, "600 points is over the limit of 500"),
        # Malformed GeoJSON is a 422 naming the member, never a 500 (issue 15.5).
        ({"geojson": {"type": "FeatureCollection", "features": 5}, "matter": "M-STREET"}, 422,
         "a FeatureCollection needs a list of features"),
        ({"geojson": {"type": "FeatureCollection", "features": [5]}, "matter": "M-STREET"}, 422,
         "must be a GeoJSON object, got int"),
        ({"geojson": {"type": "Feature", "geometry": [115.1, 36.1]}, "matter": "M-STREET"}, 422,
         "must be a GeoJSON object, got list"),
        ({"geojson": {"type": "Feature", "geometry": "POINT (115.1 36.1)"}, "matter": "M-STREET"}, 422,
         "must be a GeoJSON object, got str"),
        ({"geojson": {"type": "MultiPoint", "coordinates": [115.1, 36.1]}, "matter": "M-STREET"}, 422,
         "a position is a list [lon, lat]"),
        ({"points": {"lat": 36.1}, "matter": "M-STREET"}, 422, "points must be a list"),
    ],
)
def test_bad_requests_get_actionable_4xx(client: TestClient, body: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    r = client.post("/route", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_nan_and_oversized_bodies(client: TestClient, database_url: str) -> None:
    r = client.post("/route", content=b'{"lat": NaN, "lon": 115.1, "matter": "M-STREET"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "lat: Input should be a finite number" in r.json()["detail"]
    for junk, message in ((b'{"lat": 36.1,', "the body is not valid JSON"), (b"[1, 2]", "must be a JSON object")):
        r = client.post("/route", content=junk, headers={"content-type": "application/json"})
        assert r.status_code == 422 and message in r.json()["detail"] and r.json()["where"] == "body"
    small = TestClient(create_app(get_settings(database_url=database_url, max_upload_mib=0)),
                       headers={"Authorization": client.headers["Authorization"]})
    r = small.post("/route", json={"lat": 36.1, "lon": 115.1, "matter": "M-STREET"})
    assert r.status_code == 413 and "over the limit of 0 bytes" in r.json()["detail"]


def test_openapi_documents_routing(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/route" in paths and "/jurisdictions/at" in paths
    assert "requestBody" in paths["/route"]["post"]


def test_cli_route_and_route_file(loaded: Engine, database_url: str, tmp_path: Path) -> None:
    out = gridgov(database_url, "route", "--lat", "36.15", "--lon", "115.10", "--matter", "M-STREET",
                  "--at", "2026-06-01")
    assert "BUREAU" in out and "dispute" in out and "R-V3-CLAIM" in out
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "lat", "lon", "matter", "accuracy_m"])
        w.writerows([[1, 36.05, 115.05, "M-STREET", 5], [2, 36.15, 115.1999, "M-LAND", 50],
                     [3, 36.1, 116.0, "M-STREET", ""]])
    counts = summary(gridgov(database_url, "route-file", src, tmp_path / "out.csv", "--at", "2025-06-01"), "routed")
    assert counts == {"rows": "3", "ok": "2", "dispute": "0", "gap": "1", "near_boundary": "1", "version": "1"}
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [(r["id"], r["team"], r["rule"], r["near_boundary"]) for r in rows] == [
        ("1", "URBAN", "R-URBAN", "False"), ("2", "BUREAU", "R-BUREAU", "True"), ("3", "BUREAU", "", "False")]
    assert "unknown matter code 'M-X'" in gridgov_fails(
        database_url, "route", "--lat", "36.1", "--lon", "115.1", "--matter", "M-X", "--at", "2026-01-01")
    assert "out of range" in gridgov_fails(
        database_url, "route", "--lat", "95", "--lon", "115.1", "--matter", "M-STREET")
    bad = tmp_path / "bad.csv"
    bad.write_text("lat,lon,matter\n36.1,115.1,M-STREET\nabc,115.1,M-STREET\n")
    assert "bad.csv:3" in gridgov_fails(database_url, "route-file", bad, tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_catalogue_change_rebuilds_the_router(client: TestClient, loaded: Engine) -> None:
    body = {"lat": 36.15, "lon": 115.3, "matter": "M-NEW", "at": "2026-06-01"}
    assert client.post("/route", json=body).status_code == 422
    with transaction(session_factory(loaded)) as session:
        Repository(session).add_matters([sc.Matter(code="M-NEW", name="新事项", domain="自然资源")])
    r = client.post("/route", json=body)
    assert r.status_code == 200 and r.json()["decisions"][0]["team"] == "BUREAU"


def test_routers_are_built_ahead_for_current_and_future_versions(loaded: Engine) -> None:
    from store.routers import RouterCache

    with transaction(session_factory(loaded)) as session:
        repo = Repository(session)
        cache = RouterCache()
        assert cache.warm(repo, date(2026, 6, 1)) == [2]  # version 1 ended on 2026-01-01
        built = cache.router(repo, repo.version(2))
        assert cache.router_at(repo, date(2026, 6, 1)) is built  # served from the cache, not rebuilt
        assert cache.warm(repo, date(2025, 6, 1)) == [1, 2]
        repo.add_matters([sc.Matter(code="M-LATE", name="后加事项", domain="自然资源")])
        assert cache.router(repo, repo.version(2)) is not built  # the catalogue changed: a fresh build
