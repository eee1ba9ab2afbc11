"""Open311 GeoReport v2: the spec's own examples (http://wiki.open311.org/GeoReport_v2) against this server."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store.db import session_factory, transaction
from store.users import Users
from tests.conftest import table_counts

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
V2 = "/open311/v2"
# The spec's service-definition example (DMV66 / WHISHETN), plus the two attributes its POST example answers.
SPEC_ATTRIBUTES = [
    {"variable": True, "code": "WHISHETN", "datatype": "singlevaluelist", "required": True,
     "datatype_description": None, "order": 1, "description": "What is the ticket/tag/DL number?",
     "values": [{"key": 123, "name": "Ford"}, {"key": 124, "name": "Chrysler"}]},
    {"variable": True, "code": "WHISPAWN", "datatype": "string", "required": False, "datatype_description": None,
     "order": 2, "description": "Pawn ticket", "values": []},
    {"variable": True, "code": "WHISDORN", "datatype": "string", "required": False, "datatype_description": None,
     "order": 3, "description": "Door number", "values": []},
]
# The spec's POST example body, verbatim but for api_key, jurisdiction_id, service_code and our required answer.
SPEC_POST = ("api_key={key}&jurisdiction_id=C&service_code=M-NOISE&lat=37.76524078&long=-122.4212043"
             "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456"
             "&first_name=john&last_name=smith&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
             "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
             "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001&attribute[WHISHETN]=124")
FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


def device_key(engine: Engine, username: str) -> str:
    with transaction(session_factory(engine)) as session:
        return Users(session).device_token(username, "open311 client")


def with_spec_definition(client: TestClient, h: dict[str, dict[str, str]]) -> None:
    noise = next(m for m in client.get("/matters", headers=h["plan"]).json() if m["code"] == "M-NOISE")
    noise["attributes"] = {"open311_attributes": SPEC_ATTRIBUTES}
    assert client.put("/matters/M-NOISE", json=noise, headers=h["plan"]).status_code == 200


def post(client: TestClient, body: str) -> Any:
    return client.post(f"{V2}/requests.json", content=body.encode(), headers=FORM)


def test_services_and_the_spec_definition_example(api: Api) -> None:
    client, h, _ = api
    with_spec_definition(client, h)
    services = client.get(f"{V2}/services.json", params={"jurisdiction_id": "C"}).json()
    assert {s["service_code"] for s in services} == {"M-STREET", "M-LAND", "M-POLL", "M-NOISE"}
    assert all(set(s) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
               for s in services)
    noise = next(s for s in services if s["service_code"] == "M-NOISE")
    assert (noise["metadata"], noise["type"], noise["group"]) == (True, "realtime", "城市管理")
    assert next(s for s in services if s["service_code"] == "M-LAND")["metadata"] is False
    definition = client.get(f"{V2}/services/M-NOISE.json").json()
    assert definition == {"service_code": "M-NOISE", "attributes": SPEC_ATTRIBUTES}
    for path, code, text in [(f"{V2}/services/NOPE.json", 404, "service_code 'NOPE' was not found"),
                             (f"{V2}/services.json?jurisdiction_id=sfgov.org", 404, "jurisdiction_id 'sfgov.org'"),
                             (f"{V2}/services.xml", 400, "use .json")]:
        r = client.get(path)
        assert r.status_code == code and r.json()[0]["code"] == code and text in r.json()[0]["description"]


def test_the_spec_post_example_creates_a_request_outside_the_county_as_a_gap(api: Api) -> None:
    client, h, engine = api
    with_spec_definition(client, h)
    key = device_key(engine, "worker1")
    r = post(client, SPEC_POST.format(key=key))
    assert r.status_code == 201, r.text
    (created,) = r.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"} and created["account_id"] is None
    assert "held for the command centre (gap)" in created["service_notice"]  # San Francisco is not our county
    case = client.get(f"/cases/{created['service_request_id']}", headers=h["boss"]).json()
    assert (case["triage"], case["team"], case["address"]) == ("gap", "BUREAU", "1234 5th street")
    report = client.get(f"/cases/{case['id']}/history", headers=h["boss"]).json()[0]
    assert report["detail"]["attributes"] == {"WHISHETN": "124", "WHISPAWN": "123456", "WHISDORN": "COISL001"}
    assert report["detail"]["media_url"].startswith("http://farm3.static.flickr.com/")
    assert "smit333" not in str(report) and "111111111" not in str(report)  # personal fields are not kept
    (got,) = client.get(f"{V2}/requests/{case['id']}.json", params={"api_key": key}).json()
    assert set(got) == REQUEST_FIELDS
    assert (got["status"], got["service_code"], got["lat"], got["long"], got["agency_responsible"]) == (
        "open", "M-NOISE", 37.76524078, -122.4212043, "县综合行政执法局")
    assert got["requested_datetime"][-6] in "+-" or got["requested_datetime"].endswith("Z")  # w3, with an offset


def test_post_errors_follow_the_spec(api: Api) -> None:
    client, h, engine = api
    with_spec_definition(client, h)
    key = device_key(engine, "worker1")
    auditor = device_key(engine, "audit")
    base = f"api_key={key}&service_code=M-STREET&lat=36.09&long=115.17"
    before = table_counts(engine)
    for body, code, text in [
        ("service_code=M-STREET&lat=36.09&long=115.17", 401, "api_key is required"),
        ("api_key=forged-key-forged-key&service_code=M-STREET&lat=36.09&long=115.17", 401, "invalid api_key"),
        (f"api_key={auditor}&service_code=M-STREET&lat=36.09&long=115.17", 403, "auditor may not submit"),
        (f"api_key={key}&lat=36.09&long=115.17", 400, "service_code was not provided"),
        (f"api_key={key}&service_code=M-NOPE&lat=36.09&long=115.17", 404, "service_code 'M-NOPE' was not found"),
        (f"{base}&jurisdiction_id=sfgov.org", 404, "jurisdiction_id 'sfgov.org' was not found"),
        (f"api_key={key}&service_code=M-STREET", 400, "a location is required"),
        (f"api_key={key}&service_code=M-STREET&lat=36.09", 400, "lat and long must be sent together"),
        (f"api_key={key}&service_code=M-STREET&lat=96&long=115.17", 400, "lat must be a finite number in"),
        (f"api_key={key}&service_code=M-STREET&lat=nan&long=115.17", 400, "lat must be a finite number"),
        (f"api_key={key}&service_code=M-NOISE&lat=36.09&long=115.17", 400, "attribute 'WHISHETN' is required"),
        (f"api_key={key}&service_code=M-NOISE&lat=36.09&long=115.17&attribute[WHISHETN]=999", 400, "takes one of"),
        (f"{base}&attribute[COLOUR]=red", 400, "'COLOUR' is not part of this service"),
        (f"{base}&description=" + "x" * 4001, 400, "limit is 4000"),
        (f"{base}&requested_datetime=yesterday", 400, "requested_datetime must be a w3 date-time"),
        (f"{base}&crs=mars", 400, "mars"),
    ]:
        r = post(client, body)
        assert r.status_code == code and text in r.json()[0]["description"], (body[:60], r.text)
        assert r.json()[0]["code"] == code
    assert table_counts(engine) == before
    r = client.post(f"{V2}/requests.xml", content=base.encode(), headers=FORM)
    assert r.status_code == 400 and "JSON only" in r.json()[0]["description"]


def test_address_only_requests_wait_to_be_located_and_tokens_resolve(api: Api) -> None:
    client, h, engine = api
    key = device_key(engine, "worker1")
    body = f"api_key={key}&service_code=M-STREET&address_string=城关镇南关村东口&idempotency_key=phone-0001-retry"
    first, again = post(client, body), post(client, body)
    assert (first.status_code, again.status_code) == (201, 200)
    request_id = first.json()[0]["service_request_id"]
    assert again.json()[0]["service_request_id"] == request_id  # a retry is the same request
    assert client.get(f"{V2}/tokens/phone-0001-retry.json", params={"api_key": key}).json() == [
        {"service_request_id": request_id, "token": "phone-0001-retry"}]
    assert client.get(f"{V2}/tokens/other-token.json", params={"api_key": key}).status_code == 404
    case = client.get(f"/cases/{request_id}", headers=h["boss"]).json()
    assert (case["triage"], case["lon"], case["township"]) == ("unlocated", None, None)
    placed = client.post(f"/cases/{request_id}/actions", headers=h["boss"], json={
        "revision": case["revision"], "actions": [{"action": "locate", "lon": 115.17, "lat": 36.09},
                                                  {"action": "register"}, {"action": "dispatch"}]}).json()
    assert (placed["team"], placed["township"], placed["status"]) == ("TT1", "T1", "dispatched")
    assert placed["routing"]["winning_rule"]["code"] == "R-T1"


def test_get_requests_filters_bbox_and_scope(api: Api) -> None:
    client, h, engine = api
    key = device_key(engine, "boss")
    made = {}
    for name, (lon, lat, code, when) in {
        "seat": (115.17, 36.09, "M-STREET", "2026-03-02T09:30:00+08:00"),
        "east": (115.30, 36.15, "M-STREET", "2026-03-03T09:30:00+08:00"),
        "land": (115.17, 36.09, "M-LAND", "2026-04-20T09:30:00+08:00"),
    }.items():
        r = post(client, f"api_key={key}&service_code={code}&lat={lat}&long={lon}&requested_datetime={when}"
                         .replace("+", "%2B"))
        assert r.status_code == 201, r.text
        made[name] = r.json()[0]["service_request_id"]

    def ids(**params: Any) -> list[int]:
        r = client.get(f"{V2}/requests.json", params={"api_key": key, **params})
        assert r.status_code == 200, r.text
        return sorted(x["service_request_id"] for x in r.json())

    window = {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}
    assert ids(**window) == sorted(made.values())
    assert ids(**window, service_code="M-LAND") == [made["land"]]
    assert ids(**window, service_code="M-LAND,M-STREET") == sorted(made.values())
    assert ids(**window, bbox="115.25,36.1,115.35,36.2") == [made["east"]]
    assert ids(**window, status="closed") == [] and ids(**window, status="open") == sorted(made.values())
    assert ids(start_date="2026-03-02T12:00:00Z", end_date="2026-03-31T00:00:00Z") == [made["east"]]
    assert ids(service_request_id=f"{made['seat']},{made['land']}", service_code="M-NOPE") == sorted(
        [made["seat"], made["land"]])  # service_request_id overrides every other argument
    assert ids(**window, page_size=2, page=2) == [made["seat"]]  # newest first, pages of two
    for params, text in [({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
                         ({"bbox": "1,2,3"}, "bbox must be"), ({"status": "pending"}, "status must be open"),
                         ({"start_date": "last week"}, "start_date must be a w3 date-time")]:
        r = client.get(f"{V2}/requests.json", params={"api_key": key, **params})
        assert r.status_code == 400 and text in r.json()[0]["description"], r.text
    assert client.get(f"{V2}/requests.json").status_code == 401  # no key: 401, as the README says
    tt2 = device_key(engine, "tt2")
    seen = client.get(f"{V2}/requests.json", params={"api_key": tt2, **window}).json()
    assert [x["service_request_id"] for x in seen] == [made["east"]]  # a township team sees its own
    r = client.get(f"{V2}/requests/{made['seat']}.json", params={"api_key": tt2})
    assert r.status_code == 404 and r.json()[0]["code"] == 404  # outside its scope: as if missing
    assert client.get(f"{V2}/requests/999999.json", params={"api_key": key}).status_code == 404
