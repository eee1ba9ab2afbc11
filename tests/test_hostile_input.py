"""Issue 15 (5, 8): bad input is a 4xx naming the field on both backends, never a 500, and nothing is written;
what the API answers is what its OpenAPI document says."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.conftest import table_counts

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
HUGE = "99999999999999999999"  # over int64: SQLite's driver overflowed
OVER_INT32 = str(2**31)  # over PostgreSQL's integer


def refused(r: Any, status: int, where: str) -> None:
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    body = r.json()
    assert body["where"] == where and body["error"] == "InvalidInput", body


def test_ids_beyond_the_database_integers_are_422_naming_the_parameter(api: Api) -> None:
    client, h, engine = api
    boss = h["boss"]
    before = table_counts(engine)
    for big in (HUGE, OVER_INT32):
        for path, params, where in [
            (f"/cases/{big}", {}, "case_id"), (f"/cases/{big}/history", {}, "case_id"),
            (f"/versions/{big}", {}, "version_id"), (f"/versions/{big}/topology", {}, "version_id"),
            (f"/disputes/{big}", {}, "dispute_id"), ("/units", {"version": big}, "version"),
            ("/rules", {"version": big}, "version"), ("/versions/diff", {"from": big, "to": 1}, "from"),
            ("/ogc/collections/village/items", {"version": big}, "version"),
            ("/ogc/collections/village/items", {"offset": big}, "offset"), ("/cells", {"version": big}, "version"),
        ]:
            refused(client.get(path, params=params, headers=h["audit"]), 422, where)
        r = client.post(f"/cases/{big}/actions", json={"revision": 0, "action": "arrive"}, headers=boss)
        refused(r, 422, "case_id")
        r = client.post("/cases/1/actions", json={"revision": int(big), "action": "arrive"}, headers=boss)
        refused(r, 422, "revision")
        # ids that are text in the path (OGC feature ids, Open311 request ids) are simply not found
        assert client.get(f"/ogc/collections/cases/items/{big}", headers=boss).status_code == 404
        r = client.get(f"/open311/v2/requests/{big}.json", headers=boss)
        assert r.status_code == 404 and r.json()[0]["code"] == 404, r.text
        r = client.get("/open311/v2/requests.json", params={"service_request_id": f"1,{big}"}, headers=boss)
        assert r.status_code == 400 and "service_request_id" in r.json()[0]["description"], r.text
        r = client.get("/open311/v2/requests.json", params={"page": big}, headers=boss)
        assert r.status_code == 400 and "page" in r.json()[0]["description"], r.text
    assert table_counts(engine) == before


def test_control_characters_are_refused_naming_the_field(api: Api) -> None:
    """PostgreSQL refuses NUL in text and JSONB (it was a 500 there); both backends now refuse it first."""
    client, h, engine = api
    worker, boss = h["worker1"], h["boss"]
    before = table_counts(engine)
    report = {"idempotency_key": "nul-test-0001", "matter": "M-STREET", "lat": 36.05, "lon": 115.05}
    refused(client.post("/reports", json={**report, "description": "堆放\u0000杂物"}, headers=worker), 422,
            "description")
    refused(client.post("/reports", json={**report, "idempotency_key": "nul-\u0000-0001"}, headers=worker), 422,
            "idempotency_key")
    refused(client.post("/reports", json={**report, "description": "bell\u0007"}, headers=worker), 422, "description")
    refused(client.get("/cases", params={"team": "TT1\u0000"}, headers=boss), 422, "team")
    refused(client.get("/cases", params={"status": "open\x1b"}, headers=boss), 422, "status")
    refused(client.get("/units/V1%00", headers=boss), 422, "code")
    r = client.get("/open311/v2/services.json", params={"jurisdiction_id": "C\u0000"})
    assert r.status_code == 400 and "jurisdiction_id" in r.json()[0]["description"], r.text
    form = {**worker, "content-type": "application/x-www-form-urlencoded"}
    r = client.post("/open311/v2/requests.json", headers=form,
                    content="service_code=M-STREET&lat=36.05&long=115.05&description=a%00b")
    assert r.status_code == 400 and "description" in r.json()[0]["description"], r.text
    assert table_counts(engine) == before
    # Notes may have several lines: tab, line feed and carriage return are text.
    r = client.post("/reports", json={**report, "description": "第一行\r\n第二行\t完"}, headers=worker)
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "第一行\r\n第二行\t完"


def test_malformed_geojson_batches_are_422_naming_the_member(api: Api) -> None:
    client, h, _ = api
    worker = h["worker1"]
    point = {"type": "Point", "coordinates": [115.05, 36.05]}
    for geojson, where in [
        ({"type": "FeatureCollection", "features": 5}, "geojson.features"),
        ({"type": "FeatureCollection", "features": [5]}, "geojson.features[0]"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": [115.05, 36.05]}]},
         "geojson.features[0].geometry"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": "POINT (115 36)"}]},
         "geojson.features[0].geometry"),
        ({"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": 5}}, "geojson.geometry.coordinates"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [115.05]}}, "geojson.geometry.coordinates"),
        ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": point}, []]},
         "geojson.features[1]"),
    ]:
        r = client.post("/route", json={"matter": "M-STREET", "geojson": geojson}, headers=worker)
        assert r.status_code == 422, (geojson, r.status_code, r.text)
        assert r.json()["where"] == where, (geojson, r.json())


def test_an_unclosed_ring_is_refused_naming_the_ring(api: Api) -> None:
    """RFC 7946 rings close; shapely closed an open one silently, storing a shape the sender may not have meant."""
    client, h, engine = api
    plan = h["plan"]
    draft = client.post("/versions", json={"name": "环", "based_on": 2}, headers=plan).json()
    before = table_counts(engine)
    open_ring = [[115.0, 36.0], [115.1, 36.0], [115.1, 36.1], [115.0, 36.1]]
    for geometry, where in [
        ({"type": "Polygon", "coordinates": [open_ring]}, "geometry.coordinates.0"),
        ({"type": "MultiPolygon", "coordinates": [[[*open_ring, open_ring[0]]], [open_ring]]},
         "geometry.coordinates.1.0"),
    ]:
        r = client.put(f"/versions/{draft['id']}/units/V1", params={"revision": draft["revision"]},
                       json={"type": "Feature", "geometry": geometry, "properties": {}}, headers=plan)
        assert r.status_code == 422, r.text
        assert r.json()["where"] == where and "not closed" in r.json()["detail"], r.json()
    r = client.post("/disputes/area", json={"matter": "M-STREET", "geometry": {"type": "Polygon",
                                                                              "coordinates": [open_ring]}},
                    headers=h["boss"])
    assert r.status_code == 422 and "not closed" in r.json()["detail"], r.text
    assert table_counts(engine) == before
    closed = {"type": "Polygon", "coordinates": [[*open_ring, open_ring[0]]]}
    r = client.put(f"/versions/{draft['id']}/units/V1", params={"revision": draft["revision"]},
                   json={"type": "Feature", "geometry": closed, "properties": {}}, headers=plan)
    assert r.status_code == 200, r.text


def test_dates_are_iso_text_never_a_number_read_as_unix_time(api: Api) -> None:
    client, h, _ = api
    boss = h["boss"]
    for path, name, where in [("/cases", "since", "since"), ("/stats", "from", "from"),
                              ("/wall/cases", "since", "since"), ("/units", "at", "at")]:
        refused(client.get(path, params={name: "0"}, headers=boss), 422, where)
    assert client.get("/cases", params={"since": "2026-01-01T00:00:00+08:00"}, headers=boss).status_code == 200


def test_every_answer_says_nosniff(api: Api) -> None:
    client, h, _ = api
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8"
                        "cfc0f01f0005000201a5f0c3ee0000000049454e44ae426082")
    up = client.post("/photos", content=png, headers={**h["worker1"], "content-type": "image/png"})
    assert up.status_code == 201, up.text
    got = client.get(up.json()["url"], headers=h["worker1"])
    assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff"
    for r in (client.get("/health"), client.get("/cases/1", headers=h["worker1"]), client.get("/no-such-page"),
              client.post("/reports", json={}, headers=h["worker1"])):
        assert r.headers.get("x-content-type-options") == "nosniff", (r.request.url, r.headers)


def test_open311_keys_401_when_missing_or_unknown_403_when_not_allowed(api: Api) -> None:
    client, h, _ = api
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = "service_code=M-STREET&lat=36.05&long=115.05"
    auditor = h["audit"]["Authorization"].split()[1]
    for r in (client.post("/open311/v2/requests.json", content=body, headers=form),
              client.post("/open311/v2/requests.json", content=f"api_key=not-a-key-at-all&{body}", headers=form),
              client.get("/open311/v2/requests.json"), client.get("/open311/v2/requests.json",
                                                                  params={"api_key": "not-a-key-at-all"})):
        assert r.status_code == 401 and r.json()[0]["code"] == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/open311/v2/requests.json", content=f"api_key={auditor}&{body}", headers=form)
    assert r.status_code == 403 and r.json()[0]["code"] == 403, r.text


def test_the_openapi_document_describes_the_error_bodies_sent(api: Api) -> None:
    client, h, _ = api
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Error"]["required"]) >= {"detail", "error"} and "where" in schemas["Error"]["properties"]
    assert set(schemas["Open311Error"]["required"]) == {"code", "description"}
    assert "HTTPValidationError" not in schemas  # FastAPI's shape, which no answer has
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "POST /auth/token, or a device token"}
    case = doc["paths"]["/cases/{case_id}"]["get"]
    assert {"401", "403", "404", "422"} <= set(case["responses"]) and case["security"] == [{"bearer": []}]
    assert case["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert doc["paths"]["/auth/token"]["post"]["responses"].keys() >= {"401", "422", "429"}
    assert "security" not in doc["paths"]["/health"]["get"]
    # Answers that are not JSON say so (schemathesis's stateful phase found OGC items undocumented as GeoJSON).
    for path, kind in [("/ogc/collections/{cid}/items", "application/geo+json"),
                       ("/ogc/collections/{cid}/items/{fid}", "application/geo+json"),
                       ("/versions/{version_id}/allowed-gaps", "application/geo+json"),
                       ("/photos/{sha256}", "image/png")]:
        assert kind in doc["paths"][path]["get"]["responses"]["200"]["content"], path
    post311 = doc["paths"]["/open311/v2/requests.{fmt}"]["post"]["responses"]
    assert "422" not in post311 and post311["401"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/Open311Error"}}
    # The answers have those shapes, the framework's own 404/405 included.
    for r in (client.get(f"/cases/{HUGE}", headers=h["boss"]), client.get("/cases/1"),
              client.get("/no/such/path"), client.delete("/cases", headers=h["boss"])):
        assert r.status_code in (401, 404, 405, 422), r.text
        assert set(r.json()) >= {"detail", "where", "error"}, r.json()
    assert client.delete("/cases", headers=h["boss"]).headers["allow"] == "GET"
