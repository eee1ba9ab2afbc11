"""Report intake: idempotent retries, routing on arrival, triage, duplicates, scope and the audit log."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from gis.crs import from_wgs84
from tests.conftest import table_counts


def report(lon: float, lat: float, matter: str = "M-STREET", **extra: object) -> dict[str, object]:
    return {"idempotency_key": str(uuid.uuid4()), "matter": matter, "lon": lon, "lat": lat,
            "reported_at": "2026-03-02T09:30:00", "description": "占道经营", **extra}


def test_report_is_routed_on_arrival_and_kept_raw(api: tuple) -> None:  # type: ignore[type-arg]
    client, h, _ = api
    gx, gy = from_wgs84(115.17, 36.09, "gcj02")
    r = client.post("/reports", json=report(gx, gy, crs="gcj02", accuracy_m=10), headers=h["worker1"])
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["team"], case["status"], case["triage"], case["township"], case["village"]) == (
        "TT1", "dispatched", None, "T1", "V2")  # clearly routed: registered and dispatched by the platform
    assert case["input"] == {"lon": gx, "lat": gy, "crs": "gcj02", "x": gx, "y": gy}
    assert abs(case["lon"] - 115.17) < 1e-9 and case["routing"]["winning_rule"]["code"] == "R-T1"
    history = client.get(f"/cases/{case['id']}/history", headers=h["worker1"]).json()
    assert [(e["action"], e["actor"]) for e in history] == [
        ("report", "worker1"), ("register", "platform"), ("dispatch", "platform")]
    assert history[2]["detail"]["team"] == "TT1" and case["deadline"] == history[1]["detail"]["deadline"]
    assert abs(history[0]["lon"] - 115.17) < 1e-9


def test_retries_never_make_a_second_case(api: tuple) -> None:  # type: ignore[type-arg]
    client, h, engine = api
    body = report(115.17, 36.09)
    first = client.post("/reports", json=body, headers=h["worker1"])
    again = client.post("/reports", json=body, headers=h["worker1"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    before = table_counts(engine)
    clash = client.post("/reports", json={**body, "description": "别的事"}, headers=h["worker1"])
    assert clash.status_code == 409 and "already used for a different report" in clash.json()["detail"]
    assert table_counts(engine) == before
    racers = report(115.16, 36.08)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: client.post("/reports", json=racers, headers=h["worker1"]), range(8)))
    assert sorted(c.status_code for c in codes) == [200] * 7 + [201]
    assert len({c.json()["id"] for c in codes}) == 1


def test_idempotency_keys_belong_to_their_account(api: tuple) -> None:  # type: ignore[type-arg]
    """A second worker who happens to send the first worker's key gets a case of their own (issue 15.3)."""
    client, h, engine = api
    body = report(115.17, 36.09)
    first = client.post("/reports", json=body, headers=h["worker1"])
    other = client.post("/reports", json={**body, "description": "别人的报告"}, headers=h["worker2"])
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["id"] != first.json()["id"] and other.json()["reporter"] == "worker2"
    same = client.post("/reports", json=body, headers=h["worker2"])  # same body as worker1's, worker2's key space
    assert same.status_code == 409 and f"(case {other.json()['id']})" in same.json()["detail"]
    assert f"(case {first.json()['id']})" not in same.json()["detail"]  # never names another account's case
    retry = client.post("/reports", json={**body, "description": "别人的报告"}, headers=h["worker2"])
    assert (retry.status_code, retry.json()["id"]) == (200, other.json()["id"])
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT reporter, case_id FROM report_key WHERE idempotency_key = :k"),
                            {"k": body["idempotency_key"]}).all()
    assert sorted(keys) == [("worker1", first.json()["id"]), ("worker2", other.json()["id"])]
    # Racing retries of one key by two accounts: exactly one case each.
    racers = report(115.16, 36.08)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: client.post("/reports", json=racers, headers=h[f"worker{1 + i % 2}"]),
                              range(8)))
    assert sorted(c.status_code for c in codes) == [200] * 6 + [201] * 2
    assert len({c.json()["id"] for c in codes}) == 2


def test_duplicates_are_linked_not_lost(api: tuple) -> None:  # type: ignore[type-arg]
    client, h, _ = api
    first = client.post("/reports", json=report(115.17, 36.09), headers=h["worker1"]).json()
    near = client.post("/reports", json=report(115.1715, 36.0905), headers=h["worker2"]).json()  # ~70 m away
    assert (near["status"], near["linked_to"]) == ("duplicate", first["id"])
    far = client.post("/reports", json=report(115.175, 36.095), headers=h["worker1"]).json()  # ~700 m away
    other = client.post("/reports", json=report(115.17, 36.09, matter="M-LAND"), headers=h["worker1"]).json()
    later = client.post("/reports", json=report(115.17, 36.09, reported_at="2026-03-06T09:30:00"),
                        headers=h["worker1"]).json()  # beyond 72 h
    assert [c["status"] for c in (far, other, later)] == ["dispatched"] * 3
    original = [e["action"] for e in client.get(f"/cases/{first['id']}/history", headers=h["boss"]).json()]
    assert original == ["report", "register", "dispatch", "duplicate_reported"]
    linked = client.get(f"/cases/{near['id']}/history", headers=h["boss"]).json()
    assert [e["action"] for e in linked] == ["report", "link_duplicate"] and linked[1]["detail"]["case"] == first["id"]


@pytest.mark.parametrize(
    ("lon", "lat", "extra", "triage", "team"),
    [
        (116.0, 36.1, {}, "gap", "BUREAU"),  # outside the county: accepted, routed to the fallback
        (115.10, 36.15, {"reported_at": "2026-06-01T08:00:00"}, "dispute", "BUREAU"),  # V3 claimed twice in 2026
        (115.1998, 36.01, {"accuracy_m": 50}, "near_boundary", "TT1"),  # 18 m from the township line
    ],
)
def test_uncertain_decisions_go_to_triage(api: tuple, lon: float, lat: float, extra: dict, triage: str,  # type: ignore[type-arg]
                                          team: str) -> None:
    client, h, _ = api
    case = client.post("/reports", json=report(lon, lat, **extra), headers=h["worker1"]).json()
    assert (case["triage"], case["team"]) == (triage, team)
    queue = client.get("/cases", params={"triage": True}, headers=h["boss"]).json()
    assert [c["id"] for c in queue] == [case["id"]]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"matter": "M-NOPE"}, 422, "unknown category 'M-NOPE'"),
        ({"lat": None}, 422, "lat"),
        ({"lat": 95}, 422, "lat: Input should be less than or equal to 90"),
        ({"crs": "mars"}, 422, "crs"),
        ({"idempotency_key": "short"}, 422, "idempotency_key"),
    ],
)
def test_bad_reports_are_refused_and_leave_nothing(api: tuple, change: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    client, h, engine = api
    before = table_counts(engine)
    r = client.post("/reports", json={**report(115.17, 36.09), **change}, headers=h["worker1"])
    assert r.status_code == status and message in r.json()["detail"]
    assert table_counts(engine) == before


def test_roles_and_jurisdiction_scope(api: tuple) -> None:  # type: ignore[type-arg]
    client, h, _ = api
    assert client.post("/reports", json=report(115.17, 36.09)).status_code == 401
    planner = client.post("/reports", json=report(115.17, 36.09), headers=h["plan"])
    assert planner.status_code == 403 and "a planner may not do this" in planner.json()["detail"]
    mine = client.post("/reports", json=report(115.17, 36.09), headers=h["worker1"]).json()
    theirs = client.post("/reports", json=report(115.30, 36.15), headers=h["worker2"]).json()
    assert (mine["team"], theirs["team"]) == ("TT1", "TT2")
    denied = client.get(f"/cases/{mine['id']}", headers=h["tt2"])
    assert denied.status_code == 404 and denied.json()["detail"] == f"no case {mine['id']} in your scope"
    assert client.get(f"/cases/{mine['id']}/history", headers=h["tt2"]).status_code == 404  # ids cannot be probed
    assert [c["id"] for c in client.get("/cases", headers=h["tt1"]).json()] == [mine["id"]]
    assert [c["id"] for c in client.get("/cases", headers=h["tt2"]).json()] == [theirs["id"]]
    assert [c["id"] for c in client.get("/cases", headers=h["worker2"]).json()] == [theirs["id"]]
    assert {c["id"] for c in client.get("/cases", headers=h["audit"]).json()} == {mine["id"], theirs["id"]}
    assert client.get("/cases", headers=h["plan"]).status_code == 403
    assert client.get("/cases/999", headers=h["boss"]).status_code == 404


def test_events_are_append_only_in_the_database(api: tuple) -> None:  # type: ignore[type-arg]
    client, h, engine = api
    client.post("/reports", json=report(115.17, 36.09), headers=h["worker1"])
    for statement in ("UPDATE case_event SET reason = 'rewritten'", "DELETE FROM case_event"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM case_event")).scalar_one() == 3  # report, register, dispatch
