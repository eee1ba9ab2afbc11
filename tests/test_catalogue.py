"""The catalogue workbook (issue 16.1): template, import of a workbook a county office filled in by hand (written
here with plain openpyxl, not with our writer), every kind of bad input refused by sheet/row/column with
nothing written, exact round trips (.xlsx and CSV), the demo county's catalogue routing 10^5 points exactly as
the demo does, and the planner API (upload, download, PUT/DELETE teams, audit) on SQLite and PostGIS."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cases import clock
from cli.main import app
from gis.model import Delegation, Matter, Team, Unit
from gis.routing import Router
from store.db import session_factory, transaction, upgrade
from store.repo import Repository
from store.routers import load_routing_data
from tests import routing_scenario as sc
from tests.conftest import _reset_postgres, table_counts
from tests.independent import Reference

runner = CliRunner(env={"GRIDGOV_LANGUAGE": "en"})  # the English these tests read (zh-CN: test_i18n_cli)
BASIS = "《乡镇综合行政执法事项目录》"
TEAM_HEADERS = ["队伍编码", "队伍名称", "类型", "上级队伍", "服务单位", "联系方式", "持证人数"]
TEAM_ROWS = [
    ["BUREAU", "县综合行政执法局", "县综合行政执法局", None, "C", "0310-7000001", 30],
    ["URBAN", "城区中队", "中队", "BUREAU", "Z-URBAN；V1", "0310-7000002", 8],  # full-width ； separator is fine
    ["DEVSQ", "开发区中队", "squadron", "BUREAU", "Z-DEV", None, 6],  # the English value is accepted too
    ["TT1", "城关镇综合执法队", "乡镇综合执法队", "BUREAU", "T1", "13800000001", 12],
    ["TT2", "东乡综合执法队", "乡镇综合执法队", "BUREAU", "T2", None, None],
    ["ENV", "生态环境分局", "县直部门", None, None, None, "4"],
    ["MARKET", "市场监管所", "县直部门", None, None, None, 3.0],
]
MATTER_HEADERS = ["事项编码", "事项名称", "领域", "法律依据", "默认程序", "办理时限", "时限单位", "查重半径(米)",
                  "查重时窗(小时)", "首违类别", "首违回溯期(月)"]
MATTER_ROWS = [
    ["M-STREET", "占道经营", "城市管理", "《城市市容和环境卫生管理条例》第十七条", "简易", 2, "工作小时", 50, 24,
     "责令改正前置", None],
    ["M-LAND", "非法占地", "自然资源", "《土地管理法》第七十七条", "普通", 10, "工作日", None, None, "不予处罚", 24],
    ["M-POLL", "露天焚烧", "生态环境", None, "普通程序", 5, "工作日", 0, 0, "可单独警告"],
    ["M-NOISE", "噪声扰民", "城市管理", None, "普通", 5, "工作日", 100.5, None, "无"],
]
DELEGATION_HEADERS = ["乡镇编码", "事项编码", "批次", "生效日期", "赋权情形", "备注"]
DELEGATION_ROWS = [
    ["T1", "M-STREET", "第一批", datetime(2026, 1, 1), "优先", None],  # a real Excel date
    ["T2", "M-STREET", "第一批", "2026/1/1", "评估", "评估后赋权"],
    ["T1", "M-NOISE", "第二批", "2026.3.1", "依法", "成熟一批、赋予一批"],
]
RULE_HEADERS = ["规则编码", "优先级", "范围类型", "范围", "事项范围", "事项", "负责队伍", "协办队伍", "生效日期",
                "失效日期", "法律依据", "说明"]
RULE_ROWS = [
    ["R-BUREAU", 10, "全域", None, "未赋权", None, "BUREAU", None, None, None, BASIS, None],
    ["R-T1", 20, "单元", "T1", "已赋权", None, "TT1", None, None, None, BASIS, None],
    ["R-T2", 20, "单元", "T2", "已赋权", None, "TT2", None, None, None, BASIS, None],
    ["R-V3-CLAIM", 20, "单元", "V3", "已赋权", None, "TT2", None, None, None, None, "东乡 claims 北河村"],
    ["R-URBAN", 30, "单元", "Z-URBAN", "已赋权", None, "URBAN", None, None, None, None, None],
    ["R-MARKET", 35, "H3单元格", "、".join(sc.MARKET), "领域", "城市管理", "URBAN", "MARKET", None, None, None, None],
    ["R-DEV", 40, "单元", "Z-DEV", "全部", None, "DEVSQ", None, None, None, None, None],
    ["R-ENV", 50, "全域", None, "指定事项", "M-POLL", "ENV", None, None, "2026年7月1日", None,
     "until the environment matters moved to the bureau"],
]
SHEET_DATA = {"队伍": (TEAM_HEADERS, TEAM_ROWS), "执法事项": (MATTER_HEADERS, MATTER_ROWS),
              "赋权清单": (DELEGATION_HEADERS, DELEGATION_ROWS), "规则": (RULE_HEADERS, RULE_ROWS)}


def filled_workbook(path: Path) -> Path:
    """The scenario county's catalogue as an office would type it: labels, text dates, mixed number types."""
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for name, (headers, rows) in SHEET_DATA.items():
        ws = wb.create_sheet(name)
        ws.append(headers)
        for row in rows:
            ws.append(row)
        ws.append(["  "])  # a line with nothing but spaces is ignored
    wb.save(path)
    return path


def gridgov(database_url: str, *args: str | Path) -> str:
    result = runner.invoke(app, [*map(str, args), "--database-url", database_url])
    assert result.exit_code == 0, f"{result.output}\n{result.stderr if result.stderr_bytes else ''}"
    return result.stdout


def gridgov_fails(database_url: str, *args: str | Path) -> str:
    result = runner.invoke(app, [*map(str, args), "--database-url", database_url])
    assert result.exit_code == 2, result.output
    return result.stderr


def summary(output: str, verb: str) -> dict[str, str]:
    line = [ln for ln in output.splitlines() if ln.startswith(verb + " ")][-1]
    return dict(re.findall(r"(\w+)=(\S+)", line))


def with_units(engine: Engine, *, neighbour: bool = False) -> int:
    """A draft holding the scenario's units (with `neighbour`, a second county C9 beside it, township T9), and
    another draft after it holding a county C2; the first's id."""
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        v = repo.create_version("catalogue")
        assert v.id is not None
        c9 = shapely.box(115.4, 36.0, 115.6, 36.2)
        repo.add_units(v.id, sc.units() + ([Unit(code="C9", name="邻县", layer="county", geometry=c9),
                                            Unit(code="T9", name="邻镇", layer="township", parent_code="C9",
                                                 geometry=c9)] if neighbour else []))
        other = repo.create_version("邻县")
        assert other.id is not None
        repo.add_units(other.id, [Unit(code="C2", name="邻县", layer="county", geometry=sc.T2)])
    return v.id


def empty(engine: Engine) -> None:
    """Make the test database empty again (a new county's database)."""
    if engine.dialect.name == "postgresql":
        _reset_postgres(engine)
    else:
        with engine.begin() as conn:
            names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table' "
                                                        "AND name NOT LIKE 'sqlite_%'")]
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE "{name}"')
        engine.dispose()
    upgrade(engine)


def sheet_values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every cell value of every sheet."""
    wb = load_workbook(path)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM audit_event")).scalar_one())


# -- template ---------------------------------------------------------------------------------------


def test_template_has_headers_drop_downs_and_one_example_per_sheet(tmp_path: Path) -> None:
    path = tmp_path / "模板.xlsx"
    out = runner.invoke(app, ["catalogue", "template", str(path)])
    assert out.exit_code == 0, out.output
    assert summary(out.stdout, "template") == {"sheets": "4", "path": str(path)}
    wb = load_workbook(path)
    assert wb.sheetnames[:4] == ["队伍", "执法事项", "赋权清单", "规则"]
    for name, (headers, _) in SHEET_DATA.items():
        ws = wb[name]
        row1 = [c.value for c in ws[1]]
        if name == "赋权清单":
            row1 = [h for h in row1 if h not in ("乡镇名称", "事项名称")]  # names for reading, optional: below
        assert row1[:len(headers)] == headers, name
        assert ws.max_row == 2 and any(c.value not in (None, "") for c in ws[2]), f"{name}: one example row"
    assert [c.value for c in wb["赋权清单"][1]] == ["乡镇编码", "乡镇名称", "事项编码", "事项名称", "批次", "生效日期",
                                                "赋权情形", "备注"]
    lists = {name: {str(dv.sqref).split(":")[0]: dv.formula1 for dv in wb[name].data_validations.dataValidation
                    if dv.type == "list"} for name in SHEET_DATA}
    assert lists["队伍"]["C2"] == '"县综合行政执法局,中队,乡镇综合执法队,县直部门,网格员"'
    assert lists["执法事项"]["E2"] == '"简易,普通"'
    assert lists["执法事项"]["J2"] == '"无,不予处罚,责令改正前置,可单独警告"'
    assert lists["赋权清单"]["G2"] == '"优先,评估,暂缓,依法,整体下放"'
    assert lists["规则"]["C2"] == '"单元,图层,H3单元格,全域"'
    assert lists["规则"]["E2"] == '"全部,领域,已赋权,未赋权,指定事项"'
    dates = [dv for dv in wb["赋权清单"].data_validations.dataValidation if dv.type == "date"]
    assert [str(d.sqref) for d in dates] == ["F2:F1048576"]
    assert isinstance(wb["赋权清单"]["F2"].value, datetime)  # the example date is a real Excel date
    # the example rows are read back without a structural problem: only their codes are unknown here
    bad = runner.invoke(app, ["catalogue", "import", str(path), "--database-url",
                              f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert bad.exit_code == 2
    assert "unknown unit 139900104000" in bad.stderr and "header" not in bad.stderr


# -- import -----------------------------------------------------------------------------------------


def test_import_a_filled_workbook_routes_like_the_scenario(engine: Engine, database_url: str,
                                                             tmp_path: Path) -> None:
    vid = with_units(engine)
    out = gridgov(database_url, "catalogue", "import", filled_workbook(tmp_path / "县目录.xlsx"), "--version", vid)
    s = summary(out, "imported")
    assert (s["team"], s["matter"], s["delegation"], s["rule"], s["teams_new"], s["version"]) == (
        "7", "4", "3", "8", "7", str(vid))
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        teams = {t.code: t for t in repo.teams()}
        matters = {m.code: m for m in repo.matters()}
        delegations = repo.delegations(vid)
        rules = repo.rules(vid)
        data = load_routing_data(repo, repo.version(vid))
    assert teams["URBAN"] == Team(code="URBAN", name="城区中队", kind="squadron", parent_code="BUREAU",
                                  unit_code="Z-URBAN", attributes={"contact": "0310-7000002",
                                                                   "certified_officers": 8, "also_serves": ["V1"]})
    assert teams["DEVSQ"].kind == "squadron" and teams["TT2"].attributes == {}
    assert teams["ENV"].attributes == {"certified_officers": 4}  # typed as text "4"
    assert teams["MARKET"].attributes == {"certified_officers": 3}  # typed as 3.0
    street = matters["M-STREET"]
    assert (street.procedure, street.time_limit, street.time_unit) == ("simple", 2, "working_hours")
    assert street.attributes == {"legal_basis": "《城市市容和环境卫生管理条例》第十七条", "duplicate_m": 50,
                                 "duplicate_h": 24, "first_violation": "correction_first"}
    assert matters["M-POLL"].procedure == "ordinary" and matters["M-POLL"].attributes == {
        "duplicate_m": 0, "duplicate_h": 0, "first_violation": "warning_only"}
    assert matters["M-NOISE"].attributes == {"duplicate_m": 100.5, "first_violation": "none"}
    assert matters["M-LAND"].attributes["first_violation"] == "no_penalty"
    assert matters["M-LAND"].attributes["first_violation_months"] == 24  # the look-back window (首违回溯期)
    assert sorted(delegations, key=lambda d: (d.township_code, d.matter_code)) == [
        Delegation(township_code="T1", matter_code="M-NOISE", batch="第二批", effective_from=date(2026, 3, 1),
                   situation="by_law", note="成熟一批、赋予一批"),
        Delegation(township_code="T1", matter_code="M-STREET", batch="第一批", effective_from=date(2026, 1, 1),
                   situation="priority"),
        Delegation(township_code="T2", matter_code="M-STREET", batch="第一批", effective_from=date(2026, 1, 1),
                   situation="assessed", note="评估后赋权")]
    assert sorted(rules, key=lambda r: r.code) == sorted(sc.rules(), key=lambda r: r.code)
    # the imported catalogue routes every point and matter as the scenario's hand-written one does
    ours, theirs = Router(data), Router(sc.data())
    rng = np.random.default_rng(16)
    lon, lat = rng.uniform(114.95, 115.45, 20_000), rng.uniform(35.95, 36.25, 20_000)
    for day in (date(2026, 3, 1), date(2026, 8, 1)):
        for m in ("M-STREET", "M-LAND", "M-POLL", "M-NOISE"):
            assert ours.route_many(lon, lat, m, day) == theirs.route_many(lon, lat, m, day), (m, day)
    assert audit_count(engine) == 1


def test_a_title_row_and_a_serial_number_column_as_offices_keep_them(engine: Engine, database_url: str,
                                                                     tmp_path: Path) -> None:
    """某县…目录 merged across the top and 序号 first: read as they are; rows and columns named as in the file."""
    vid = with_units(engine)
    path = filled_workbook(tmp_path / "目录.xlsx")
    wb = load_workbook(path)
    for ws in wb.worksheets:
        ws.insert_cols(1)
        ws.insert_rows(1)
        ws["A1"] = f"演示县{ws.title}（2026年版）"
        ws.merge_cells(f"A1:{ws.cell(row=1, column=ws.max_column).column_letter}1")
        ws["A2"] = "序号"
        for n in range(3, ws.max_row):
            ws.cell(row=n, column=1, value=n - 2)
    wb["规则"]["H4"] = "NOPE"  # R-T1's team: row 3 column G before the title row and the 序号 column
    wb.save(path)
    stderr = gridgov_fails(database_url, "catalogue", "import", path, "--version", vid)
    assert [line for line in stderr.splitlines() if line.startswith("problem ")] == [
        "problem sheet 规则, row 4, column H (负责队伍): unknown team NOPE"]
    wb["规则"]["H4"] = "TT1"
    wb.save(path)
    s = summary(gridgov(database_url, "catalogue", "import", path, "--version", vid), "imported")
    assert (s["team"], s["matter"], s["delegation"], s["rule"]) == ("7", "4", "3", "8")


def test_a_deferred_delegation_is_listed_but_not_held(engine: Engine, database_url: str, tmp_path: Path) -> None:
    """暂缓 (deferred): the township keeps the row in its list, but the matter is not handed over yet."""
    vid = with_units(engine)
    path = filled_workbook(tmp_path / "目录.xlsx")
    wb = load_workbook(path)
    wb["赋权清单"]["E3"] = "暂缓"  # T2 / M-STREET
    wb.save(path)
    gridgov(database_url, "catalogue", "import", path, "--version", vid)
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        data = load_routing_data(repo, repo.version(vid))
    assert [d.situation for d in data.delegations if d.township_code == "T2"] == ["deferred"]
    router, day = Router(data), date(2026, 3, 1)
    assert router.owner(115.3, 36.15, "M-STREET", day) == "BUREAU"  # T2: not delegated yet → the bureau's rule
    assert router.owner(115.12, 36.09, "M-STREET", day) == "TT1"  # T1 holds it (优先)
    reference = Reference(data.units, data.rules, data.delegations, data.matters, data.teams)
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(114.95, 115.45, 5000), rng.uniform(35.95, 36.25, 5000)
    teams, statuses = reference.route(reference.places(lon, lat), "M-STREET", day)
    assert router.route_many(lon, lat, "M-STREET", day) == (teams.tolist(), statuses.tolist())
    assert "BUREAU" in teams.tolist() and "TT2" not in teams.tolist()


# -- bad input --------------------------------------------------------------------------------------

Edit = Callable[[Workbook], None]


def _set(sheet: str, cell: str, value: Any) -> Edit:
    def edit(wb: Workbook) -> None:
        wb[sheet][cell] = value
    return edit


def _append(sheet: str, row: list[Any]) -> Edit:
    def edit(wb: Workbook) -> None:
        ws = wb[sheet]
        ws.delete_rows(ws.max_row)  # the trailing line of spaces
        ws.append(row)
    return edit


def _all(*edits: Edit) -> Edit:
    def edit(wb: Workbook) -> None:
        for e in edits:
            e(wb)
    return edit


def _merge(wb: Workbook) -> None:
    wb["执法事项"].merge_cells("C2:C3")


def _drop_sheet(wb: Workbook) -> None:
    del wb["赋权清单"]


BAD: dict[str, tuple[Edit, list[str]]] = {
    "unknown team": (_set("规则", "G3", "NOPE"), ["sheet 规则, row 3, column G (负责队伍): unknown team NOPE"]),
    "unknown co-owner": (_set("规则", "H7", "MARKET;NOBODY"),
                         ["sheet 规则, row 7, column H (协办队伍): unknown team NOBODY"]),
    "unknown unit": (_set("队伍", "E5", "T8"), ["sheet 队伍, row 5, column E (服务单位): unknown unit T8"]),
    "another county's unit": (_set("规则", "D3", "T9"),
                              ["sheet 规则, row 3, column D (范围): T9 lies in county C9, but team TT1 is based in "
                               "county C"]),
    "another version's unit": (_set("规则", "D3", "C2"),
                               ["sheet 规则, row 3, column D (范围): unknown unit C2 (not in this version)"]),
    "control character": (_all(_set("队伍", "H1", "其他属性"), _set("队伍", "H2", '{"note": "a\\u0000b"}')),
                          ["sheet 队伍, row 2, column H (其他属性): a control character"]),
    "delegation to a village": (_set("赋权清单", "A2", "V1"),
                                ["sheet 赋权清单, row 2, column A (乡镇编码): V1 is a village, not a township"]),
    "duplicate code": (_append("执法事项", ["M-LAND", "非法占地", "自然资源", None, "普通", 5, "工作日"]),
                       ["sheet 执法事项, row 6, column A (事项编码): duplicate matter code M-LAND (first at row 3)"]),
    "duplicate row": (_append("赋权清单", ["T1", "M-STREET"]),
                      ["sheet 赋权清单, row 5, column B (事项编码): duplicate row: T1 already holds M-STREET (row 2)"]),
    "bad dates": (_all(_set("赋权清单", "D3", "2026-02-30"), _set("赋权清单", "D4", "01/03/2026"),
                       _set("规则", "I2", 45000), _set("规则", "J9", "2026年13月1日")),
                  ["sheet 赋权清单, row 3, column D (生效日期): '2026-02-30': no such day",
                   "sheet 赋权清单, row 4, column D (生效日期): '01/03/2026' is not a date",
                   "sheet 规则, row 2, column I (生效日期): 45000 is not a date",
                   "sheet 规则, row 9, column J (失效日期): '2026年13月1日': no such day"]),
    "date with a time": (_set("赋权清单", "D2", datetime(2026, 1, 1, 9, 30)),
                         ["sheet 赋权清单, row 2, column D (生效日期): 2026-01-01 09:30:00 has a time of day"]),
    "names beside codes that do not match": (
        _all(_set("赋权清单", "G1", "乡镇名称"), _set("赋权清单", "H1", "事项名称"), _set("赋权清单", "G2", "东乡"),
             _set("赋权清单", "H3", "非法占地"), _set("赋权清单", "G4", "城关镇"), _set("赋权清单", "H4", "噪声扰民")),
        ["sheet 赋权清单, row 2, column G (乡镇名称): 东乡 is not the name of T1 (城关镇); is the row shifted?",
         "sheet 赋权清单, row 3, column H (事项名称): 非法占地 is not the name of M-STREET (占道经营)"]),
    "rule names a missing matter": (_set("规则", "F9", "M-POLL;M-NONE"),
                                    ["sheet 规则, row 9, column F (事项): unknown matter M-NONE"]),
    "missing domain": (_set("规则", "F7", "城市管理局"),
                       ["sheet 规则, row 7, column F (事项): no matter is in the domain '城市管理局'"]),
    "team is its own parent": (_set("队伍", "D2", "BUREAU"),
                               ["sheet 队伍, row 2, column D (上级队伍): team BUREAU is its own parent"]),
    "parent cycle": (_all(_set("队伍", "D2", "TT1")),
                     ["sheet 队伍, row 2, column D (上级队伍): parent cycle BUREAU → TT1 → BUREAU",
                      "sheet 队伍, row 5, column D (上级队伍): parent cycle TT1 → BUREAU → TT1"]),
    "full-width code": (_set("规则", "G4", "ＴＴ2"),
                        ["sheet 规则, row 4, column G (负责队伍): full-width character 'Ｔ' in code 'ＴＴ2'; "
                         "type the half-width 'T'"]),
    "merged cells": (_merge, ["sheet 执法事项, row 2, column C: merged cells C2:C3; unmerge them"]),
    "formula": (_set("执法事项", "F3", "=5*2"), ["sheet 执法事项, row 3, column F (办理时限): a formula (=5*2)"]),
    "missing sheet": (_drop_sheet, ["sheet 赋权清单: missing sheet 赋权清单 (delegations)"]),
    "renamed header": (_set("队伍", "G1", "持证数"),
                       ["sheet 队伍, row 1, column G (持证数): unknown column header '持证数'",
                        "sheet 队伍, row 1, column 持证人数: missing column 持证人数 (certified officers)"]),
    "closed list": (_set("队伍", "C3", "大队"),
                    ["sheet 队伍, row 3, column C (类型): '大队' is not one of 县综合行政执法局"]),
    "not a number": (_set("队伍", "G2", "三十"),
                     ["sheet 队伍, row 2, column G (持证人数): '三十' is not a whole number"]),
    "required cell": (_set("执法事项", "C4", None), ["sheet 执法事项, row 4, column C (领域): must be filled in"]),
    "bad H3 cell": (_set("规则", "D7", f"{sc.MARKET[0]};notacell"),
                    ["sheet 规则, row 7, column D (范围): not H3 cells: notacell"]),
    "problems in every sheet": (
        _all(_append("队伍", ["MARKET", "市场监管所", "县直部门"]), _set("执法事项", "F2", 0),
             _set("赋权清单", "B3", "M-XX"), _set("规则", "B2", 10_001)),
        ["sheet 队伍, row 9, column A (队伍编码): duplicate team code MARKET (first at row 8)",
         "sheet 执法事项, row 2, column F (办理时限): 0 is out of range",
         "sheet 赋权清单, row 3, column B (事项编码): unknown matter M-XX",
         "sheet 规则, row 2, column B (优先级): 10001 is out of range", "4 problem(s)"]),
    "one mistake is reported once": (_set("队伍", "C6", "大队"), ["1 problem(s)"]),  # rules still name TT2
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_named_by_sheet_row_and_column_and_nothing_is_written(
        case: str, engine: Engine, database_url: str, tmp_path: Path) -> None:
    vid = with_units(engine, neighbour=True)
    edit, expected = BAD[case]
    path = filled_workbook(tmp_path / "目录.xlsx")
    wb = load_workbook(path)
    edit(wb)
    wb.save(path)
    before = table_counts(engine)
    with engine.connect() as conn:
        revision = conn.execute(sa.text(f"SELECT revision FROM boundary_version WHERE id = {vid}")).scalar_one()
    stderr = gridgov_fails(database_url, "catalogue", "import", path, "--version", vid)
    for text in expected:
        assert text in stderr, f"{text!r} not in:\n{stderr}"
    listed = [line for line in stderr.splitlines() if line.startswith("problem ")]
    if any(t.startswith("sheet ") for t in expected):  # each problem once, no echo of it elsewhere
        assert len(listed) == sum(t.startswith("sheet ") for t in expected), stderr
    assert "nothing was written" in stderr
    assert table_counts(engine) == before and audit_count(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT revision FROM boundary_version WHERE id = {vid}")).scalar_one() == revision


def test_a_csv_folder_with_a_nul_is_refused(engine: Engine, database_url: str, tmp_path: Path) -> None:
    vid = with_units(engine)
    gridgov(database_url, "catalogue", "import", filled_workbook(tmp_path / "目录.xlsx"), "--version", vid)
    gridgov(database_url, "catalogue", "export", tmp_path / "csv", "--version", vid)
    teams = tmp_path / "csv" / "队伍.csv"
    teams.write_text(teams.read_text(encoding="utf-8-sig").replace("城区中队", "城区\x00中队"), encoding="utf-8")
    before = table_counts(engine)
    stderr = gridgov_fails(database_url, "catalogue", "import", tmp_path / "csv", "--version", vid)
    # exported by code: URBAN is the last team, row 8
    assert "sheet 队伍, row 8, column B (队伍名称): control character U+0000 at position 2" in stderr
    assert table_counts(engine) == before and audit_count(engine) == 1


def test_a_published_version_or_a_stale_revision_is_refused(engine: Engine, database_url: str,
                                                            tmp_path: Path) -> None:
    vid = with_units(engine)
    path = filled_workbook(tmp_path / "目录.xlsx")
    assert "changed since revision 0" in gridgov_fails(database_url, "catalogue", "import", path, "--version", vid,
                                                       "--revision", "0")
    gridgov(database_url, "catalogue", "import", path, "--version", vid, "--revision", "1")
    with transaction(session_factory(engine)) as session:
        Repository(session).publish(vid, date(2026, 1, 1))
    assert "is published and cannot change" in gridgov_fails(database_url, "catalogue", "import", path,
                                                             "--version", vid)


# -- round trips ------------------------------------------------------------------------------------


def test_export_import_export_is_exact_as_xlsx_and_csv(engine: Engine, database_url: str, tmp_path: Path) -> None:
    vid = with_units(engine)
    gridgov(database_url, "catalogue", "import", filled_workbook(tmp_path / "in.xlsx"), "--version", vid)
    with transaction(session_factory(engine)) as session:  # an attribute no column holds travels as JSON
        Repository(session).put_matter(Matter(code="M-EXTRA", name="其他", domain="城市管理",
                                                 attributes={"title": "对其他的行政处罚", "tags": [1, "二"]}))
    first = tmp_path / "first.xlsx"
    assert summary(gridgov(database_url, "catalogue", "export", first, "--version", vid), "exported") == {
        "team": "7", "matter": "5", "delegation": "3", "rule": "8", "version": str(vid), "path": str(first)}
    gridgov(database_url, "catalogue", "export", tmp_path / "csv", "--version", vid)
    # Excel on Chinese Windows saves CSV as GB18030: the folder import reads that too
    rules_csv = tmp_path / "csv" / "规则.csv"
    rules_csv.write_bytes(rules_csv.read_text(encoding="utf-8-sig").encode("gb18030"))
    for source in (first, tmp_path / "csv"):
        empty(engine)
        vid = with_units(engine)
        gridgov(database_url, "catalogue", "import", source, "--version", vid)
        again = tmp_path / f"again-{source.stem}.xlsx"
        gridgov(database_url, "catalogue", "export", again, "--version", vid)
        assert sheet_values(again) == sheet_values(first), source
    values = sheet_values(first)
    extra = next(r for r in values["执法事项"] if r[0] == "M-EXTRA")
    assert extra[-1] == '{"tags": [1, "二"], "title": "对其他的行政处罚"}'
    # names beside the codes for the people reading the list (checked when imported back), a real Excel date
    assert next(r for r in values["赋权清单"] if r[0] == "T1" and r[2] == "M-NOISE")[:6] == (
        "T1", "城关镇", "M-NOISE", "噪声扰民", "第二批", datetime(2026, 3, 1))


def test_the_demo_catalogue_round_trips_and_routes_10_5_points_like_the_demo(
        engine: Engine, database_url: str, tmp_path: Path) -> None:
    from etl.demo import load_demo
    from gis.demo import build_demo_county

    demo = build_demo_county()
    with transaction(session_factory(engine)) as session:
        load_demo(Repository(session), demo, effective_from=date(2025, 1, 1))
    gridgov(database_url, "catalogue", "export", tmp_path / "demo.xlsx", "--version", "1")
    gridgov(database_url, "export", tmp_path / "units.gpkg", "--version", "1")
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        before = Router(load_routing_data(repo, repo.version(1)))
    empty(engine)
    for layer in ("county", "township", "village", "grid", "zone"):
        gridgov(database_url, "import", tmp_path / "units.gpkg", "--source-layer", layer)
    out = gridgov(database_url, "catalogue", "import", tmp_path / "demo.xlsx")
    s = summary(out, "imported")
    assert (s["team"], s["matter"], s["delegation"], s["rule"]) == ("214", "74", "233", "15")
    gridgov(database_url, "catalogue", "export", tmp_path / "again.xlsx")  # default: the newest version
    assert sheet_values(tmp_path / "again.xlsx") == sheet_values(tmp_path / "demo.xlsx")
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        after = Router(load_routing_data(repo, repo.version(int(s["version"]))))
    county = next(u for u in demo.units if u.layer == "county").geometry
    assert county is not None
    x0, y0, x1, y1 = county.bounds
    rng = np.random.default_rng(161)
    lon, lat = rng.uniform(x0 - 0.01, x1 + 0.01, 100_000), rng.uniform(y0 - 0.01, y1 + 0.01, 100_000)
    day = clock.today()
    differences = 0
    for matter in before.matter_codes:
        a, b = before.route_many(lon, lat, matter, day), after.route_many(lon, lat, matter, day)
        differences += sum(x != y for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True))
    assert after.matter_codes == before.matter_codes and len(before.matter_codes) == 74
    assert differences == 0


# -- API --------------------------------------------------------------------------------------------

Api = tuple[TestClient, dict[str, dict[str, str]], Engine]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _draft(client: TestClient, plan: dict[str, str]) -> dict[str, Any]:
    r = client.post("/versions", json={"name": "目录", "based_on": 2}, headers=plan)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_api_upload_download_and_audit(api: Api, tmp_path: Path) -> None:
    client, h, engine = api
    plan = h["plan"]
    draft = _draft(client, plan)
    body = filled_workbook(tmp_path / "目录.xlsx").read_bytes()
    url = f"/catalogue?version={draft['id']}&revision={draft['revision']}"
    for who in ("boss", "audit", "tt1", "worker1"):
        assert client.post(url, content=body, headers={**h[who], "content-type": XLSX}).status_code == 403
    r = client.post(url, content=body, headers={**plan, "content-type": XLSX})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"team": 7, "matter": 4, "delegation": 3, "rule": 8}
    assert r.json()["revision"] == draft["revision"] + 1
    assert sorted(r.json()["teams_changed"]) == ["BUREAU", "DEVSQ", "ENV", "MARKET", "TT1", "URBAN"]  # TT2 is as was
    assert sorted(r.json()["matters_changed"]) == ["M-LAND", "M-NOISE", "M-POLL", "M-STREET"]
    assert client.post(url, content=body, headers={**plan, "content-type": XLSX}).status_code == 409  # stale
    wb = load_workbook(io.BytesIO(body))
    wb["规则"]["G3"] = "NOPE"
    wb["执法事项"]["F3"] = "=1+1"
    buffer = io.BytesIO()
    wb.save(buffer)
    before = table_counts(engine)
    current = f"/catalogue?version={draft['id']}&revision={r.json()['revision']}"
    bad = client.post(current, content=buffer.getvalue(), headers={**plan, "content-type": XLSX})
    assert bad.status_code == 422, bad.text
    assert sorted((p["sheet"], p["row"], p["column"]) for p in bad.json()["problems"]) == [
        ("执法事项", 3, "F"), ("规则", 3, "G")]
    assert table_counts(engine) == before
    junk = client.post(current, content=b"not a workbook", headers={**plan, "content-type": XLSX})
    assert junk.status_code == 422 and "cannot read it as an .xlsx workbook" in junk.json()["detail"]
    assert client.post(current, content=body, headers={**plan, "content-type": "multipart/form-data; boundary=x"}
                       ).status_code == 415
    assert table_counts(engine) == before
    got = client.get(f"/catalogue.xlsx?version={draft['id']}", headers=h["worker1"])
    assert got.status_code == 200 and got.headers["content-type"] == XLSX
    values = {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)]
              for ws in load_workbook(io.BytesIO(got.content)).worksheets}
    assert [r[0] for r in values["规则"][1:]] == ["R-ENV", "R-DEV", "R-MARKET", "R-URBAN", "R-T1", "R-T2", "R-V3-CLAIM",
                                                 "R-BUREAU"]
    assert client.get("/audit", headers=h["boss"]).status_code == 403
    log = client.get("/audit", headers=h["audit"]).json()
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [("plan", "catalogue.import",
                                                                      f"version {draft['id']}")]
    assert len(log[0]["detail"]["sha256"]) == 64 and log[0]["detail"]["counts"]["rule"] == 8


def test_api_put_and_delete_teams(api: Api) -> None:
    client, h, engine = api
    plan = h["plan"]
    team = {"code": "T-NEW", "name": "新队", "kind": "squadron", "parent_code": "BUREAU", "unit_code": "V4",
            "attributes": {"contact": "0310-1", "certified_officers": 5}}
    for who in ("boss", "audit", "tt1", "worker1"):
        assert client.put("/teams/T-NEW", json=team, headers=h[who]).status_code == 403
        assert client.delete("/teams/TT2", headers=h[who]).status_code == 403
    assert client.put("/teams/T-NEW", json=team, headers=plan).status_code == 201
    assert client.put("/teams/T-NEW", json=team, headers=plan).status_code == 200
    assert next(t for t in client.get("/teams", headers=plan).json() if t["code"] == "T-NEW") == team
    renamed = {**team, "name": "新中队"}
    assert client.put("/teams/T-NEW", json=renamed, headers=plan).status_code == 200
    for body, where in (({**team, "parent_code": "T-NEW"}, "own parent"), ({**team, "parent_code": "NONE"}, "NONE"),
                        ({**team, "unit_code": "V9"}, "V9"), ({**team, "code": "OTHER"}, "differs"),
                        ({**team, "attributes": {"certified_officers": -1}}, "certified_officers"),
                        ({**team, "attributes": {"also_serves": "V1"}}, "also_serves")):
        r = client.put("/teams/T-NEW", json=body, headers=plan)
        assert r.status_code == 422 and where in r.json()["detail"], r.text
    r = client.put("/teams/BUREAU", json={"code": "BUREAU", "name": "县局", "kind": "county_bureau",
                                          "parent_code": "URBAN"}, headers=plan)
    assert r.status_code == 422 and "parent cycle BUREAU → URBAN → BUREAU" in r.json()["detail"]
    # a team that rules, cases or users still name cannot go; the 409 names them
    case = client.post("/reports", json={"idempotency_key": "catalogue-0001", "matter": "M-STREET", "lat": 36.15,
                                         "lon": 115.3}, headers=h["worker2"])
    assert case.status_code in (200, 201), case.text
    r = client.delete("/teams/TT2", headers=plan)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert "rule(s): R-T2 (version 1), R-T2 (version 2), R-V3-CLAIM (version 2)" in detail
    assert f"case(s): #{case.json()['id']}" in detail and "user(s): tt2, worker2" in detail
    assert client.delete("/teams/BUREAU", headers=plan).json()["detail"].count("child team(s)") == 1
    assert client.delete("/teams/NOBODY", headers=plan).status_code == 404
    assert client.delete("/teams/T-NEW", headers=plan).status_code == 200
    assert "T-NEW" not in {t["code"] for t in client.get("/teams", headers=plan).json()}
    log = client.get("/audit", params={"action": "team."}, headers=plan).json()
    assert [(e["action"], e["target"], e["actor"]) for e in log] == [
        ("team.delete", "T-NEW", "plan"), ("team.put", "T-NEW", "plan"), ("team.put", "T-NEW", "plan")]
    assert log[1]["detail"]["before"]["name"] == "新队" and log[1]["detail"]["after"]["name"] == "新中队"
