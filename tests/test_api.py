"""The HTTP API over a store holding the real Qiu County import, on both backends."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from config import get_settings
from tests.conftest import signed_in
from tests.test_import import gridgov, load_qiu


@pytest.fixture
def client(database_url: str, engine: Engine) -> TestClient:
    load_qiu(database_url)
    return signed_in(TestClient(create_app(get_settings(database_url=database_url))), engine)


def test_units_are_served_as_geojson(client: TestClient) -> None:
    towns = client.get("/units", params={"layer": "township"}).json()
    assert towns["type"] == "FeatureCollection" and len(towns["features"]) == 7
    assert all(f["geometry"] is None and f["properties"]["to_be_drawn"] for f in towns["features"])
    county = client.get("/units/130430000000").json()
    shape = shapely.geometry.shape(county["geometry"])
    assert shape.geom_type == "MultiPolygon" and shape.is_valid
    assert county["properties"]["name"] == "邱县" and county["properties"]["version"] == 1


def test_versions_health_and_openapi(client: TestClient, database_url: str) -> None:
    assert [v["status"] for v in client.get("/versions").json()] == ["draft"]
    gridgov(database_url, "version", "publish", "1", "--effective-from", "2026-01-01", "--backdate")
    assert client.get("/versions/1").json()["effective_from"] == "2026-01-01"
    assert client.get("/ready").json()["counts"]["matter"] == 0
    assert "/units/{code}" in client.get("/openapi.json").json()["paths"]


def test_errors_are_4xx_with_actionable_messages(client: TestClient) -> None:
    missing = client.get("/units/999")
    assert missing.status_code == 404 and "no unit 999 in version 1" in missing.json()["detail"]
    bad = client.get("/units", params={"layer": "planet"})
    assert bad.status_code == 422 and "layer" in bad.json()["detail"]
    assert client.get("/versions/42").status_code == 404
    assert "gridgov version list" in client.get("/versions/42").json()["detail"]
