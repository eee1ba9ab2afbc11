"""The API step the dispatch console needed and did not have: a dispatcher links a report as a duplicate.

Every other console action is an existing step of `POST /cases/{id}/actions` or a dispute endpoint (tested in
test_lifecycle.py and test_dispute_records.py); this one is new, so here it is on both backends: the link, both
logs, the triage queue it leaves, and every refusal (clear 4xx, nothing written).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import table_counts
from tests.test_intake import report
from tests.test_lifecycle import Api, act, ok

SEAT = (115.17, 36.09)  # 城关镇 T1: M-STREET → TT1, clearly routed


def test_a_dispatcher_links_a_triage_report_as_a_duplicate(api: Api) -> None:
    client, h, engine = api
    first = client.post("/reports", json=report(*SEAT), headers=h["worker1"]).json()
    disputed = client.post("/reports", json=report(115.10, 36.15, reported_at="2026-06-01T08:00:00"),
                           headers=h["worker2"]).json()
    assert (disputed["status"], disputed["triage"]) == ("reported", "dispute")
    queue = [c["id"] for c in client.get("/cases", params={"triage": True}, headers=h["boss"]).json()]
    assert disputed["id"] in queue

    def link(case: dict[str, Any], target: Any, who: str = "boss", **extra: Any) -> Any:
        return act(client, h[who], case, {"action": "link_duplicate", "case": target, **extra})

    # Refusals first: each a clear 4xx naming the field, nothing written.
    before = table_counts(engine)
    for target, status, words in ((disputed["id"], 422, "itself"), (999_999, 422, "no case 999999"),
                                  ("7", 422, "number of the open case"), (True, 422, "number of the open case")):
        r = link(disputed, target)
        assert r.status_code == status and words in r.json()["detail"] and r.json()["where"] == "case", r.text
    r = link(disputed, first["id"], who="tt1")  # a team member sees it not, a worker may not direct
    assert r.status_code == 404
    r = link(disputed, first["id"], who="worker2")
    assert r.status_code == 403
    r = link(disputed, first["id"], team="TT1")
    assert r.status_code == 422 and "not team" in r.json()["detail"]
    r = link(first, disputed["id"])  # the first is dispatched already: only a report not yet registered links
    assert r.status_code == 409 and "not yet registered" in r.json()["detail"]
    assert table_counts(engine) == before

    linked = ok(link(disputed, first["id"], note="同一摊位"))
    assert (linked["status"], linked["linked_to"], linked["revision"]) == ("duplicate", first["id"],
                                                                            disputed["revision"] + 1)
    event = linked["events"][-1]
    assert (event["action"], event["actor"], event["reason"], event["detail"]["case"]) == (
        "link_duplicate", "boss", "同一摊位", first["id"])
    assert disputed["id"] not in [c["id"] for c in client.get("/cases", params={"triage": True},
                                                              headers=h["boss"]).json()]
    dups = client.get("/cases", params={"status": "duplicate"}, headers=h["boss"]).json()
    assert disputed["id"] in [c["id"] for c in dups]
    original = client.get(f"/cases/{first['id']}/history", headers=h["boss"]).json()
    assert (original[-1]["action"], original[-1]["detail"]["case"]) == ("duplicate_reported", disputed["id"])
    assert act(client, h["boss"], disputed, {"action": "register"}).status_code == 409  # the revision it read

    # A duplicate of a duplicate is refused, naming the original to link to; a closed case takes no link.
    third = client.post("/reports", json=report(115.10, 36.15, reported_at="2026-06-01T09:00:00"),
                        headers=h["worker2"]).json()
    r = link(third, disputed["id"])
    assert r.status_code == 422 and f"link to case {first['id']}" in r.json()["detail"]
    # The linked report still becomes a case of its own when a dispatcher registers it.
    own = ok(act(client, h["boss"], linked, {"action": "register"}, {"action": "dispatch", "team": "TT2"}))
    assert (own["status"], own["team"], own["linked_to"]) == ("dispatched", "TT2", first["id"])
    gone = client.post("/reports", json=report(115.10, 36.15, reported_at="2026-06-01T09:30:00"),
                       headers=h["worker1"]).json()
    gone = ok(act(client, h["boss"], gone, {"action": "cancel", "reason": "误报"}))
    r = link(third, gone["id"])
    assert r.status_code == 409 and "open case" in r.json()["detail"] and r.json()["where"] == "case"
    r = link(third, first["id"], at="2026-06-01T10:00:00")
    assert ok(r)["linked_to"] == first["id"]
    zh = act(client, {**h["boss"], "Accept-Language": "zh-CN"}, third, {"action": "link_duplicate", "case": 5})
    assert zh.status_code == 409 and "修订" in zh.json()["message"]  # the reader's language


def test_a_dispute_raised_over_a_case_is_recorded_on_the_case(api: Api) -> None:
    """The console's "raise a dispute" for a case near a boundary: the record names the case, the case's log the
    record; a case outside the filer's scope is a 404 (the words of a missing one) and nothing is written."""
    client, h, engine = api
    near = client.post("/reports", json=report(*SEAT, accuracy_m=100_000), headers=h["worker1"]).json()
    assert (near["status"], near["triage"]) == ("reported", "near_boundary")
    body = {"geometry": {"type": "Point", "coordinates": [near["lon"], near["lat"]]}, "matter": near["matter"],
            "reason": "紧邻乡界，双方均称不属本辖区"}
    before = table_counts(engine)
    for who, case_id in (("tt2", near["id"]), ("boss", 999_999)):
        r = client.post("/disputes", json={**body, "case": case_id}, headers=h[who])
        assert r.status_code == 404 and f"no case {case_id} in your scope" in r.json()["detail"], r.text
    assert table_counts(engine) == before
    r = client.post("/disputes", json={**body, "case": near["id"]}, headers=h["boss"])
    assert r.status_code == 201, r.text
    record = r.json()
    assert (record["case"], record["kind"], record["raised_by"]) == (near["id"], "filed", "boss")
    last = client.get(f"/cases/{near['id']}/history", headers=h["boss"]).json()[-1]
    assert (last["action"], last["actor"], last["detail"]["dispute"]) == ("dispute_raised", "boss", record["id"])
    assert client.get(f"/cases/{near['id']}", headers=h["boss"]).json()["revision"] == near["revision"]
    plain = client.post("/disputes", json=body, headers=h["tt1"])  # without a case, as before
    assert plain.status_code == 201 and plain.json()["case"] is None
