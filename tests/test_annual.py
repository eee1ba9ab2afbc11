"""`gridgov annual YEAR OUTDIR`: workbook, GeoPackage, HTML and PDF report with charts, no personal data."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
import openpyxl
import pyogrio
import pypdf
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app as cli
from store import annual_cases
from tests import routing_scenario
from tests.conftest import bearer, scenario_app
from tests.test_intake import report
from tests.test_lifecycle import EAST, SEAT

SECRET = "张三丰 13800138000"  # what a reporter might write into a description: must never be published


def test_annual_writes_workbook_geopackage_and_a_report_with_charts(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine, url = scenario_app(tmp_path, [("worker1", "grid_worker", "TT1"), ("audit", "auditor", None)],
                                       names={"worker1": "王小明"})
    engine.dispose()
    auth = bearer(client, "worker1")
    sent = [(SEAT, "2025-03-02T10:00:00+08:00"), (SEAT, "2025-03-09T10:00:00+08:00"),
            (EAST, "2025-07-01T10:00:00+08:00"), (SEAT, "2025-11-30T23:30:00+08:00")]
    for (lon, lat), at in sent:
        r = client.post("/reports", json=report(lon, lat, reported_at=at, description=SECRET,
                                                address="幸福路 8 号 3 单元"), headers=auth)
        assert r.status_code == 201, r.text
    # Case 3 as if rerouted under version 2 with other units: the GeoPackage places it under version 1, in force
    # on the day it was reported, by its point (checked with shapely against the scenario's own outlines).
    with engine.begin() as db:
        db.execute(sa.text("UPDATE case_record SET version_id = 2, township_code = 'T1', village_code = 'V1' "
                           "WHERE id = 3"))
    done = CliRunner().invoke(cli, ["annual", "2025", str(tmp_path / "out"), "--database-url", url])
    if done.exception and done.exit_code == 1:
        raise done.exception
    assert done.exit_code == 0, done.output
    assert "published year=2025 cases=4" in done.output
    out = tmp_path / "out"

    # The workbook: the county's row, months of the county clock, the outcome sheet.
    wb = openpyxl.load_workbook(out / "annual-2025.xlsx")
    assert wb["县"]["C2"].value == len(sent)
    months = {r[0]: r[2] for r in wb["按月统计案件"].iter_rows(min_row=2, values_only=True)}
    assert months == {"2025-03": 2, "2025-07": 1, "2025-11": 1}
    assert [r[1:] for r in wb["案件处置结果"].iter_rows(min_row=2, values_only=True)] == []  # none closed yet

    # The GeoPackage: one point per case under the version in force when reported, nothing personal in the file.
    frame = pyogrio.read_dataframe(out / "annual-2025.gpkg", layer="cases")
    assert len(frame) == len(sent) and set(frame["version"]) == {1}
    assert sorted(round(p.x, 6) for p in frame.geometry) == sorted(round(p[0][0], 6) for p in sent)
    assert not {"reporter", "description", "address", "party"} & set(frame.columns)
    moved = frame[frame["case_id"] == 3].iloc[0]
    units = {u.code: u.geometry for u in routing_scenario.units() if u.layer in ("township", "village")}
    want = sorted(c for c, g in units.items() if g is not None and g.covers(moved.geometry))
    assert sorted([moved["township"], moved["village"]]) == want and moved["township_name"] == "东乡"
    blob = (out / "annual-2025.gpkg").read_bytes()
    for secret in (SECRET, "13800138000", "王小明", "worker1", "幸福路"):
        assert secret.encode() not in blob, secret
    for name in ("annual-2025.html", "annual-2025.xlsx", "annual-2025.pdf"):
        data = (out / name).read_bytes()
        assert b"13800138000" not in data and "王小明".encode() not in data and b"worker1" not in data, name

    # The report: HTML with the four charts inline (nothing fetched), PDF that opens and holds them.
    html = (out / "annual-2025.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 4 and "http" not in re.sub(r"http://www\.w3\.org[^\"']*", "", html)
    pdf = pypdf.PdfReader(out / "annual-2025.pdf")
    assert len(pdf.pages) >= 2
    text = "".join(p.extract_text() for p in pdf.pages)
    for title in ("2025年各月受理案件趋势", "各乡镇按期结案率", "热点"):
        assert title in text, title
    ops = b"".join(p.get_contents().get_data() for p in pdf.pages)  # type: ignore[union-attr]
    assert len(re.findall(rb"\bre\b", ops)) >= 12  # the twelve months' bars (and the legends) as rectangles
    assert len(re.findall(rb"\bh\b|\bf\b|\bB\b", ops)) >= 5  # township and cell polygons, filled

    # The alias writes the same workbook contents.
    again = CliRunner().invoke(cli, ["publish-annual", "--year", "2025", "--out", str(tmp_path / "again"),
                                     "--database-url", url])
    assert again.exit_code == 0, again.output
    first = openpyxl.load_workbook(out / "annual-2025.xlsx")
    second = openpyxl.load_workbook(tmp_path / "again" / "annual-2025.xlsx")
    for sheet in first.sheetnames:
        if sheet != "说明":
            assert list(first[sheet].values) == list(second[sheet].values), sheet

    # The API gives auditors the same publication: the report as PDF and HTML with its charts, the GeoPackage.
    audit = bearer(client, "audit")
    def fetch(f: str) -> httpx.Response:
        return client.get("/publication/annual", params={"year": 2025, "format": f}, headers=audit)

    def no_geopackage(*_: object) -> None:
        raise AssertionError("a GeoPackage was written for another format")

    with monkeypatch.context() as m:  # each format makes only its own file: the report never writes a GeoPackage
        m.setattr(annual_cases, "write_gpkg", no_geopackage)
        got = {f: fetch(f) for f in ("pdf", "html", "xlsx")}
    got["gpkg"] = fetch("gpkg")
    assert all(r.status_code == 200 for r in got.values()), {f: r.text[:200] for f, r in got.items()}
    assert got["pdf"].headers["content-type"] == "application/pdf"
    served = pypdf.PdfReader(io.BytesIO(got["pdf"].content))
    stamp = re.compile(r"\d{2}:\d{2}:\d{2}")  # the generated-at time aside, the same report, charts and all
    assert stamp.sub("", "".join(p.extract_text() for p in served.pages)) == stamp.sub("", text)
    (tmp_path / "api.gpkg").write_bytes(got["gpkg"].content)
    api_frame = pyogrio.read_dataframe(tmp_path / "api.gpkg", layer="cases")
    assert api_frame.drop(columns="geometry").equals(frame.drop(columns="geometry"))
    assert got["html"].text.count("<svg") >= 4
    moment = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")  # the generated-at stamp aside, what the CLI wrote
    assert moment.sub("", got["html"].text) == moment.sub("", html)
    served_wb = openpyxl.load_workbook(io.BytesIO(got["xlsx"].content))
    for sheet in first.sheetnames:
        if sheet != "说明":
            assert list(first[sheet].values) == list(served_wb[sheet].values), sheet
    assert client.get("/publication/annual", params={"year": 2025, "format": "pdf"}, headers=auth).status_code == 403


def test_the_outcome_sheet_counts_every_recorded_outcome_including_no_penalty() -> None:
    """不予处罚 and the other outcomes the handling recorded, the closed cases with none as 'none recorded'."""
    from datetime import datetime

    from analytics.indicators import CaseFacts
    from analytics.publication import breakdown

    at = datetime.fromisoformat("2025-05-01T10:00:00+08:00")

    def fact(i: int, status: str, recorded: str | None) -> CaseFacts:
        return CaseFacts(id=i, status=status, team="T", township=None, village=None, grid=None, reporter="r",
                         reported_at=at, registered_at=at, deadline=None, closed_at=None, on_time=None,
                         recorded=recorded, matter="M", procedure="simple")

    facts = [fact(1, "closed", "no_penalty"), fact(2, "closed", "no_penalty"), fact(3, "closed", "penalty"),
             fact(4, "closed", None), fact(5, "dispatched", None), fact(6, "cancelled", "warning")]
    got = {code: (words, n) for code, words, n in breakdown(facts, {}, "zh-CN")["outcome"]}
    assert got == {"no_penalty": ("不予处罚", 2), "penalty": (got["penalty"][0], 1), "none": ("未记录", 1)}
    assert got["penalty"][0] != "penalty"  # labelled, not the code

