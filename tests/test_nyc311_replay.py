"""Replay of a real service-request stream (NYC 311, Jan–Feb 2025) through the Open311 intake and the lifecycle.

Every record goes in once (some are sent twice, as a phone on a bad network would), keeps its timestamps, and
the statistics the API computes equal the same statistics computed here independently from the CSV, with
pandas, numpy's business-day calendar and shapely.

The county is built for the stream: its outline is the records' extent, four test townships split it at
lines no record lies on, one team per agency (each complaint type has exactly one agency), one matter per
complaint type. Duplicate linking is off for these matters (`duplicate_m: 0`): 311 already decided what
is one request.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from analytics.indicators import COLUMNS, headers
from api.app import create_app
from cases import clock
from cases.first_violation import OUTCOMES
from config import get_settings
from gis.model import Matter, MatterFilter, Rule, RuleScope, Team, Unit
from store.cases import escalate_overdue
from store.db import session_factory, transaction
from store.repo import Repository
from store.users import Users
from tests.conftest import NYC311

HOLIDAYS = ["2025-01-01", "2025-01-20", "2025-02-17"]  # US federal holidays in the period
LIMITS = {"Animal-Abuse": 1, "Dead Animal": 2, "Animal in a Park": 3}  # working days; the rest 5
TICK = datetime(2025, 3, 15, 12, 0)
FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


def code_of(complaint: str) -> str:
    return "NYC-" + re.sub(r"[^A-Za-z0-9]+", "-", complaint).strip("-").upper()


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    df = pd.read_csv(NYC311 / "nyc311_animals_2025_jan_feb.csv")
    df["created"] = pd.to_datetime(df["Created Date"], format="%m/%d/%Y %H:%M")
    df["closed"] = pd.to_datetime(df["Closed Date"], format="%m/%d/%Y %H:%M")
    df["matter"] = df["Complaint Type"].map(code_of)
    return df.sort_values(["created", "Unique Key"]).reset_index(drop=True)


def split_line(values: pd.Series) -> float:
    """A line near the median that no record lies within 1e-5° of."""
    line = float(values.median())
    while (np.abs(values.dropna() - line) < 1e-5).any():
        line += 3.7e-5
    return line


def build_county(engine: Engine, df: pd.DataFrame) -> dict[str, shapely.Polygon]:
    lon, lat = df["Longitude"].dropna(), df["Latitude"].dropna()
    w, s, e, n = lon.min() - 0.05, lat.min() - 0.05, lon.max() + 0.05, lat.max() + 0.05
    x0, y0 = split_line(df["Longitude"]), split_line(df["Latitude"])
    towns = {"T-SW": shapely.box(w, s, x0, y0), "T-SE": shapely.box(x0, s, e, y0),
             "T-NW": shapely.box(w, y0, x0, n), "T-NE": shapely.box(x0, y0, e, n)}
    agencies = df.groupby("matter")["Agency"].agg(lambda a: a.unique().tolist())
    assert all(len(a) == 1 for a in agencies)  # the data's promise: one agency per complaint type
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        v = repo.create_version("NYC 2025")
        assert v.id is not None
        repo.add_units(v.id, [Unit(code="NYC", name="New York City", layer="county", geometry=shapely.box(w, s, e, n)),
                              *(Unit(code=c, name=c, layer="township", parent_code="NYC", geometry=g)
                                for c, g in towns.items())])
        repo.add_teams([Team(code="NYC-311", name="311 command centre", kind="county_bureau"),
                        *(Team(code=a, name=a, kind="department") for a in sorted(df["Agency"].unique()))])
        repo.add_matters([Matter(code=code_of(c), name=c, domain="animals", procedure="simple",
                                 time_limit=LIMITS.get(c, 5), attributes={"duplicate_m": 0})
                          for c in sorted(df["Complaint Type"].unique())])
        repo.add_rules_and_delegations(v.id, [
            Rule(code=f"R-{a}", priority=10, scope=RuleScope(type="everywhere"),
                 matters=MatterFilter(type="codes", codes=sorted(df.loc[df["Agency"] == a, "matter"].unique())),
                 team_code=a) for a in sorted(df["Agency"].unique())], [])
        repo.publish(v.id, date(2024, 1, 1))
        users = Users(session)
        users.add("importer", "correct horse battery", "dispatcher")
        users.add("auditor", "correct horse battery", "auditor")
        for a in sorted(df["Agency"].unique()):
            users.add(f"crew-{a}", "correct horse battery", "team_member", team_code=a)
    return towns


def expected_stats(df: pd.DataFrame, towns: dict[str, shapely.Polygon]) -> dict[str, Any]:
    """The statistics from the CSV alone."""
    holidays = np.array(HOLIDAYS, dtype="datetime64[D]")
    days = df["Complaint Type"].map(lambda c: LIMITS.get(c, 5)).to_numpy()
    due = np.busday_offset(df["created"].to_numpy().astype("datetime64[D]"), days, roll="backward",
                           holidays=holidays)
    deadline = pd.to_datetime(due) + pd.Timedelta(hours=17)
    closed = df["Status"] == "Closed"
    located = df["Longitude"].notna()
    points = shapely.points(df["Longitude"].fillna(0), df["Latitude"].fillna(0))
    town = pd.Series("(none)", index=df.index)
    for code, poly in towns.items():
        town[located & shapely.covers(poly, points)] = code
    frame = pd.DataFrame({
        "team": df["Agency"], "township": town, "state": np.where(closed, "closed", "dispatched"),
        "closed": closed, "on_time": closed & (df["closed"] <= deadline),
        "hours": (df["closed"] - df["created"]).dt.total_seconds() / 3600,
        "escalated": ~closed & (deadline < TICK)})

    def block(g: pd.DataFrame) -> dict[str, Any]:
        n_closed = int(g["closed"].sum())
        return {"cases": len(g), "by_state": {k: int(v) for k, v in sorted(g["state"].value_counts().items())},
                "closed": n_closed, "closed_on_time": int(g["on_time"].sum()),
                "on_time_rate": g["on_time"].sum() / n_closed if n_closed else None,
                "mean_hours_to_close": g.loc[g["closed"], "hours"].mean() if n_closed else None,
                "procedure": {"simple": len(g), "ordinary": 0},
                "escalated": int(g["escalated"].sum()), "escalated_to_county": int(g["escalated"].sum()),
                "outcomes": dict.fromkeys(OUTCOMES, 0)}  # the crews handle without recording an outcome

    return {"total": block(frame), "by_team": {k: block(g) for k, g in frame.groupby("team")},
            "by_township": {k: block(g) for k, g in frame.groupby("township")}}


def same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-4), key
        else:
            assert got[key] == value, key


def test_replay_keeps_every_record_once_and_the_statistics_match(engine: Engine, database_url: str,
                                                                 stream: pd.DataFrame, tmp_path: Path) -> None:
    towns = build_county(engine, stream)
    calendar = tmp_path / "nyc.json"
    calendar.write_text(json.dumps({"holidays": HOLIDAYS, "day_start": "09:00", "day_end": "17:00", "lunch": None,
                                    "years": [2025]}))
    app = create_app(get_settings(database_url=database_url, calendar=str(calendar), media_dir=tmp_path / "media",
                                  tick_seconds=0))
    with TestClient(app) as client:  # one event loop for the whole replay
        replay(client, stream, towns)


def replay(client: TestClient, stream: pd.DataFrame, towns: dict[str, shapely.Polygon]) -> None:

    def bearer(name: str) -> dict[str, str]:
        r = client.post("/auth/token", json={"username": name, "password": "correct horse battery"})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    importer = bearer("importer")
    crews = {a: bearer(f"crew-{a}") for a in stream["Agency"].unique()}
    key = importer["Authorization"].split()[1]
    ids: dict[int, int] = {}
    for i, rec in enumerate(stream.itertuples(index=False)):
        form = {"api_key": key, "service_code": rec.matter, "requested_datetime": rec.created.isoformat(),
                "external_id": str(rec[0]), "idempotency_key": f"nyc311-{rec[0]}",
                "description": "" if pd.isna(rec.Descriptor) else rec.Descriptor}
        if pd.isna(rec.Longitude):
            street = rec[9] if isinstance(rec[9], str) else rec[10] if isinstance(rec[10], str) else ""
            form["address_string"] = f"{street}, {rec.Borough}".strip(", ")
        else:
            form["lat"], form["long"] = repr(rec.Latitude), repr(rec.Longitude)
        for attempt in range(2 if i % 50 == 0 else 1):  # every 50th is retried: a lost acknowledgement
            r = client.post("/open311/v2/requests.json", data=form, headers=FORM)
            assert r.status_code == (201 if attempt == 0 else 200), r.text
        case_id = r.json()[0]["service_request_id"]
        ids[rec[0]] = case_id
        case = client.get(f"/cases/{case_id}", headers=importer).json()
        if case["status"] == "reported":  # address only: the command centre dispatches to the agency
            assert case["triage"] == "unlocated" and pd.isna(rec.Longitude)
            case = client.post(f"/cases/{case_id}/actions", headers=importer, json={
                "revision": case["revision"], "actions": [
                    {"action": "register", "at": rec.created.isoformat()},
                    {"action": "dispatch", "team": rec.Agency, "at": rec.created.isoformat()}]}).json()
        assert (case["status"], case["team"]) == ("dispatched", rec.Agency), case
        if rec.Status == "Closed":
            at = rec.closed.isoformat()
            case = client.post(f"/cases/{case_id}/actions", headers=crews[rec.Agency], json={
                "revision": case["revision"], "actions": [{"action": s, "at": at}
                                                          for s in ("arrive", "handle", "feedback")]}).json()
            r = client.post(f"/cases/{case_id}/actions", headers=importer,
                            json={"revision": case["revision"], "action": "close", "at": at})
            assert r.status_code == 200 and r.json()["status"] == "closed", r.text

    state = client.app.state  # type: ignore[attr-defined]
    escalate_overdue(state.sessions, state.calendar, TICK)  # the scheduler's own step, at a fixed moment

    # Every record once, with its own timestamps.
    auditor = bearer("auditor")
    cases = client.get("/cases", params={"limit": 10_000}, headers=auditor).json()
    assert len(cases) == len(stream) == len(set(ids.values()))
    by_external = {int(c["external_id"]): c for c in cases}
    assert set(by_external) == set(stream["Unique Key"])
    for rec in stream.itertuples(index=False):
        c = by_external[rec[0]]
        # Sent without an offset: the county's wall clock, written back with its offset.
        assert c["reported_at"] == clock.iso(rec.created.to_pydatetime())
        assert c["closed_at"] == (None if pd.isna(rec.closed) else clock.iso(rec.closed.to_pydatetime()))
    # Open311 readers page through the same records.
    seen = []
    for page in range(1, 6):
        r = client.get("/open311/v2/requests.json", params={
            "api_key": key, "start_date": "2025-01-01T00:00:00", "end_date": "2025-03-01T00:00:00",
            "page": page, "page_size": 1000})
        seen += [x["service_request_id"] for x in r.json()]
    assert sorted(seen) == sorted(ids.values())

    got = client.get("/stats", params={"from": "2025-01-01T00:00:00", "to": "2025-03-01T00:00:00"},
                     headers=auditor).json()
    want = expected_stats(stream, towns)
    same(got["total"], want["total"])
    assert set(got["by_team"]) == set(want["by_team"]) and set(got["by_township"]) == set(want["by_township"])
    for team, block in want["by_team"].items():
        same(got["by_team"][team], block)
    for town, block in want["by_township"].items():
        same(got["by_township"][town], block)
    assert want["total"]["escalated"] > 0 and 0 < want["total"]["closed_on_time"] < want["total"]["closed"]
    # A crew sees its own agency's figures only.
    mine = client.get("/stats", params={"from": "2025-01-01T00:00:00", "to": "2025-03-01T00:00:00"},
                      headers=crews["DPR"]).json()
    assert set(mine["by_team"]) == {"DPR"}
    same(mine["total"], want["by_team"]["DPR"])

    indicators_match(client, auditor, stream, towns)
    workbook_matches(client, auditor, stream, towns)


def working_hours(a: pd.Timestamp, b: pd.Timestamp) -> float:
    """Hours inside 09:00–17:00 on numpy's business days (the replay's calendar: no lunch break) from a to b."""
    total = 0.0
    for day in pd.date_range(a.normalize(), b.normalize(), freq="D"):
        if np.is_busday(day.to_datetime64().astype("datetime64[D]"), holidays=np.array(HOLIDAYS, "datetime64[D]")):
            lo, hi = max(a, day + pd.Timedelta(hours=9)), min(b, day + pd.Timedelta(hours=17))
            total += max((hi - lo).total_seconds(), 0) / 3600
    return total


def indicators_match(client: TestClient, auditor: dict[str, str], df: pd.DataFrame,
                     towns: dict[str, shapely.Polygon]) -> None:
    """GET /indicators per team and township equals pandas on the CSV, judged as of 16 March (after the tick)."""
    as_of = pd.Timestamp("2025-03-16")
    holidays = np.array(HOLIDAYS, dtype="datetime64[D]")
    days = df["Complaint Type"].map(lambda c: LIMITS.get(c, 5)).to_numpy()
    deadline = pd.to_datetime(np.busday_offset(df["created"].to_numpy().astype("datetime64[D]"), days,
                                               roll="backward", holidays=holidays)) + pd.Timedelta(hours=17)
    closed = (df["Status"] == "Closed") & (df["closed"] <= as_of)
    points = shapely.points(df["Longitude"].fillna(0), df["Latitude"].fillna(0))
    town = pd.Series("(none)", index=df.index)
    for code, poly in towns.items():
        town[df["Longitude"].notna() & shapely.covers(poly, points)] = code
    due = closed | (deadline <= as_of)
    on_time = closed & (df["closed"] <= deadline)
    hours = pd.Series([working_hours(a, b) if c else 0.0 for a, b, c in zip(df["created"], df["closed"], closed,
                                                                             strict=True)], index=df.index)
    frame = pd.DataFrame({"team": df["Agency"], "township": town, "closed": closed, "due": due, "on_time": on_time,
                          "hours": hours, "escalated": (df["Status"] != "Closed") & (deadline < TICK)})
    for level in ("team", "township"):
        r = client.get("/indicators", params={"from": "2025-01-01T00:00:00", "to": "2025-03-16T00:00:00",
                                              "level": level}, headers=auditor)
        assert r.status_code == 200, r.text
        rows = {row["code"]: row for row in r.json()["rows"]}
        groups = dict(iter(frame.groupby(level)))
        assert set(rows) == set(groups)
        for code, g in groups.items():
            row, n_closed, n_due = rows[code], int(g["closed"].sum()), int(g["due"].sum())
            assert (row["reported"], row["registered"], row["closed"], row["due"]) == (len(g), len(g), n_closed, n_due)
            assert row["closed_on_time"] == int(g["on_time"].sum()) and row["escalated"] == int(g["escalated"].sum())
            assert row["on_time_rate"] == (pytest.approx(g["on_time"].sum() / n_due, abs=1e-6) if n_due else None)
            assert row["mean_hours_to_close"] == (pytest.approx(g.loc[g["closed"], "hours"].mean(), abs=1e-3)
                                                  if n_closed else None)
            assert row["rework_rate"] is None and row["suspended"] == 0  # no check, no suspension in the stream
    assert frame["escalated"].sum() > 0 and 0 < frame["on_time"].sum() < frame["closed"].sum()


def workbook_matches(client: TestClient, auditor: dict[str, str], df: pd.DataFrame,
                     towns: dict[str, shapely.Polygon]) -> None:
    """The annual workbook of 2025 (GET /publication/annual) totals equal pandas on the CSV: the county's, each
    team's and township's reported, closed, due, on time, escalated and mean working hours; cases per matter and per
    month. 2025 is over, so its figures are as of 2026-01-01 (the tick at 15 March escalated the open overdue ones)."""
    r = client.get("/publication/annual", params={"year": 2025}, headers=auditor)
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"), r.text[:200]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    keys = [k for k, _ in COLUMNS]

    def sheet(name: str) -> dict[str, dict[str, Any]]:
        rows = list(wb[name].iter_rows(values_only=True))
        assert list(rows[0]) == headers("zh-CN")
        return {str(row[0]): dict(zip(keys, row, strict=True)) for row in rows[1:]}

    holidays = np.array(HOLIDAYS, dtype="datetime64[D]")
    days = df["Complaint Type"].map(lambda c: LIMITS.get(c, 5)).to_numpy()
    deadline = pd.to_datetime(np.busday_offset(df["created"].to_numpy().astype("datetime64[D]"), days,
                                               roll="backward", holidays=holidays)) + pd.Timedelta(hours=17)
    closed = (df["Status"] == "Closed") & (df["closed"] < pd.Timestamp("2026-01-01"))
    points = shapely.points(df["Longitude"].fillna(0), df["Latitude"].fillna(0))
    town = pd.Series("(none)", index=df.index)
    for code, poly in towns.items():
        town[df["Longitude"].notna() & shapely.covers(poly, points)] = code
    hours = pd.Series([working_hours(a, b) if c else np.nan for a, b, c in zip(df["created"], df["closed"], closed,
                                                                                strict=True)], index=df.index)
    # An address-only case has no county (no place), as no township: the county level names it "(none)".
    county = pd.Series(np.where(df["Longitude"].notna(), "NYC", "(none)"), index=df.index)
    frame = pd.DataFrame({"county": county, "team": df["Agency"], "township": town, "closed": closed,
                          "on_time": closed & (df["closed"] <= deadline), "hours": hours,
                          "escalated": (df["Status"] != "Closed") & (deadline < TICK)})
    for level, name in (("county", "县"), ("team", "队伍"), ("township", "乡镇")):
        got = sheet(name)
        want = {code: {"reported": len(g), "registered": len(g), "closed": int(g["closed"].sum()),
                       "due": len(g), "closed_on_time": int(g["on_time"].sum()),
                       "escalated": int(g["escalated"].sum()), "hours": g["hours"].mean()}
                for code, g in frame.groupby(level)}
        assert set(got) == set(want), level
        for code, w in want.items():
            row = got[code]
            for key in ("reported", "registered", "closed", "due", "closed_on_time", "escalated"):
                assert row[key] == w[key], (level, code, key)
            assert row["on_time_rate"] == pytest.approx(w["closed_on_time"] / w["due"], abs=1e-6)
            assert row["mean_hours_to_close"] == (pytest.approx(w["hours"], abs=1e-3) if w["closed"] else None)
    matters = {str(row[0]): row[2] for row in wb["按事项统计案件"].iter_rows(min_row=2, values_only=True)}
    assert matters == df["matter"].value_counts().to_dict()
    months = {str(row[0]): row[2] for row in wb["按月统计案件"].iter_rows(min_row=2, values_only=True)}
    assert months == df["created"].dt.strftime("%Y-%m").value_counts().to_dict()
    assert sum(matters.values()) == len(df) and frame["closed"].sum() > 0

