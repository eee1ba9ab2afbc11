"""Planners rename and delete their drafts; published versions are the record (409), and a stale delete is refused."""

from __future__ import annotations

import shapely
from shapely.geometry import shape

from tests.conftest import table_counts
from tests.test_redraw import Api


def test_rename_and_delete_a_draft_but_never_a_published_version(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    published = [v for v in client.get("/versions", headers=plan).json() if v["status"] == "published"]
    # A new draft's name and note are stored without the spaces around them; a name of only spaces is a 422
    # naming it (nothing made), and a note of only spaces gives way to the default ("drafted by …").
    before = table_counts(engine)
    for name in ("", "   ", "\t\n "):
        r = client.post("/versions", json={"name": name}, headers={**plan, "Accept-Language": "zh-CN"})
        assert r.status_code == 422 and r.json()["where"] == "name" and "空格" in r.json()["message"], r.text
    assert table_counts(engine) == before
    spaced = client.post("/versions", json={"name": "  草稿  ", "note": "   ", "based_on": published[-1]["id"]},
                         headers=plan)
    assert spaced.status_code == 201, spaced.text
    draft = spaced.json()
    assert draft["name"] == "草稿" and draft["note"] == "drafted by plan"
    units = client.get("/units", params={"version": draft["id"]}, headers=plan).json()["features"]
    assert units  # a copy with content, which the delete must take with it

    # Rename: the name changes, the revision (and so a validation or a preview of it) does not.
    validated = client.post(f"/versions/{draft['id']}/validate", params={"revision": draft["revision"]}, headers=plan)
    assert validated.status_code == 200 and validated.json()["version"]["status"] == "validated"
    r = client.patch(f"/versions/{draft['id']}", json={"name": "  东乡西扩方案  "}, headers=plan)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "东乡西扩方案" and r.json()["status"] == "validated"
    assert r.json()["revision"] == validated.json()["version"]["revision"]
    assert client.get(f"/versions/{draft['id']}", headers=plan).json()["name"] == "东乡西扩方案"
    blank = client.patch(f"/versions/{draft['id']}", json={"name": "   "}, headers=plan)
    assert blank.status_code == 422
    assert client.patch(f"/versions/{draft['id']}", json={"name": "x"}, headers=h["boss"]).status_code == 403

    # A published version keeps its name and stays: 409 with a reason, in the reader's language.
    old = published[-1]
    zh = {**plan, "Accept-Language": "zh-CN"}
    refused = client.patch(f"/versions/{old['id']}", json={"name": "改名"}, headers=zh)
    assert refused.status_code == 409 and refused.json()["code"] == "published_version"
    assert "已发布" in refused.json()["message"]
    before = table_counts(engine)
    gone = client.delete(f"/versions/{old['id']}", params={"revision": old["revision"]}, headers=plan)
    assert gone.status_code == 409 and gone.json()["code"] == "published_version"
    assert client.get(f"/versions/{old['id']}", headers=plan).json()["name"] == old["name"]

    # A draft another draft is based on waits for that one; a stale revision is refused; nothing half-deleted.
    child = client.post("/versions", json={"name": "子稿", "based_on": draft["id"]}, headers=plan).json()
    at = validated.json()["version"]["revision"]
    in_use = client.delete(f"/versions/{draft['id']}", params={"revision": at}, headers=plan)
    assert in_use.status_code == 409 and in_use.json()["code"] == "version_in_use"
    assert f"#{child['id']}" in in_use.json()["message"]
    stale = client.delete(f"/versions/{child['id']}", params={"revision": child["revision"] + 1}, headers=plan)
    assert stale.status_code == 409 and stale.json()["where"] == "revision"
    assert client.delete(f"/versions/{child['id']}", headers=plan).status_code == 422  # says where to read it
    assert table_counts(engine)["unit"] == before["unit"] + len(units)  # the child's copy is still there
    ok = client.delete(f"/versions/{child['id']}", params={"revision": child["revision"]}, headers=plan)
    assert ok.status_code == 200 and ok.json() == {"deleted": child["id"]}
    ok = client.delete(f"/versions/{draft['id']}", params={"revision": at}, headers=plan)
    assert ok.status_code == 200, ok.text
    after = table_counts(engine)
    assert after["boundary_version"] == before["boundary_version"] - 1  # before counted draft, not yet child
    assert after["unit"] == before["unit"] - len(units) and after["rule"] < before["rule"]
    assert client.get(f"/versions/{draft['id']}", headers=plan).status_code == 404
    assert client.delete(f"/versions/{draft['id']}", params={"revision": 0}, headers=plan).status_code == 404


def test_a_deleted_drafts_id_given_again_is_checked_afresh(api: Api) -> None:
    """SQLite may give the newest deleted id to the next draft: a cached answer about the old one must not come
    back for the new one (same id, same revision 0, other content)."""
    client, h, _engine = api
    plan = h["plan"]
    published = [v for v in client.get("/versions", headers=plan).json() if v["status"] == "published"]
    # A draft with an overlap in it (one township grown over its neighbours), to copy from.
    broken = client.post("/versions", json={"name": "有重叠", "based_on": published[-1]["id"]}, headers=plan).json()
    township = client.get("/units", params={"version": broken["id"], "layer": "township"},
                          headers=plan).json()["features"][0]
    county = client.get("/units", params={"version": broken["id"], "layer": "county"}, headers=plan).json()
    inside = shape(county["features"][0]["geometry"])
    grown = shapely.geometry.mapping(shape(township["geometry"]).buffer(0.01).intersection(inside))
    r = client.put(f"/versions/{broken['id']}/units/{township['id']}", params={"revision": broken["revision"]},
                   json={"type": "Feature", "geometry": grown, "properties": {}}, headers=plan)
    assert r.status_code == 200, r.text
    # The layer read before the edit (the answer is kept per worker) now shows the edit: the revision moved.
    edited = client.get("/units", params={"version": broken["id"], "layer": "township"}, headers=plan).json()
    mine = next(f for f in edited["features"] if f["id"] == township["id"])
    assert shape(mine["geometry"]).equals(shape(grown)) and not shape(mine["geometry"]).equals(
        shape(township["geometry"]))
    empty = client.post("/versions", json={"name": "空"}, headers=plan).json()
    assert client.get(f"/versions/{empty['id']}/topology", headers=plan).json()["errors"] == 0  # cached: clean
    assert client.get("/units", params={"version": empty["id"], "layer": "township"},
                      headers=plan).json()["features"] == []  # kept too: an empty draft has no township
    assert client.delete(f"/versions/{empty['id']}", params={"revision": 0}, headers=plan).status_code == 200
    again = client.post("/versions", json={"name": "副本", "based_on": broken["id"]}, headers=plan).json()
    assert again["revision"] == 0
    assert client.get(f"/versions/{again['id']}/topology", headers=plan).json()["errors"] > 0  # its own answer
    copied = client.get("/units", params={"version": again["id"], "layer": "township"}, headers=plan).json()
    assert {f["properties"]["code"] for f in copied["features"]} == {
        f["properties"]["code"] for f in edited["features"]}  # its own townships, not the deleted draft's none
