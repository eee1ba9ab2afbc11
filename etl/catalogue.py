"""The catalogue workbook a county office keeps — its format: the sheets teams (队伍), matters (执法事项),
delegations (赋权清单) and rules (规则), their columns (Chinese headers first, English aliases accepted) and
closed lists, and the rows an export writes.

Each stored field has exactly one cell, and attributes no column holds travel as JSON in 其他属性, so
export → import → export is the same workbook. Reading and checking a filled workbook is
`etl/catalogue_check.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from etl.workbook import Column, Sheet
from gis.model import CODE_PATTERN, Delegation, Matter, Rule, Team

TEAM_KINDS = (("县综合行政执法局", "county_bureau"), ("中队", "squadron"), ("乡镇综合执法队", "township_team"),
              ("县直部门", "department"), ("网格员", "grid_worker"))
PROCEDURES = (("简易", "simple"), ("普通", "ordinary"))
TIME_UNITS = (("工作日", "working_days"), ("工作小时", "working_hours"))
FIRST_VIOLATION = (("无", "none"), ("不予处罚", "no_penalty"), ("责令改正前置", "correction_first"),
                   ("可单独警告", "warning_only"))
SITUATIONS = (("优先", "priority"), ("评估", "assessed"), ("暂缓", "deferred"), ("依法", "by_law"),
              ("整体下放", "wholesale"))
SCOPE_TYPES = (("单元", "unit"), ("图层", "layer"), ("H3单元格", "cells"), ("全域", "everywhere"))
MATTER_FILTERS = (("全部", "all"), ("领域", "domain"), ("已赋权", "delegated"), ("未赋权", "not_delegated"),
                  ("指定事项", "codes"))
LAYER_NAMES = {"county": "县", "township": "乡镇", "village": "村", "grid": "网格", "zone": "专区"}
# Accepted besides the labels above (the machine value is always accepted too).
SYNONYMS = {"简易程序": "simple", "普通程序": "ordinary", "优先赋权": "priority", "评估后赋权": "assessed",
            "暂缓赋权": "deferred", "依法赋权": "by_law"}

# Attribute keys a column holds; anything else in `attributes` goes to 其他属性 as JSON.
TEAM_KEYS = ("contact", "certified_officers", "also_serves")
MATTER_KEYS = ("legal_basis", "duplicate_m", "duplicate_h", "first_violation", "first_violation_months")

C = Column
TEAMS = Sheet("teams", "队伍", "teams", (
    C("code", "队伍编码", "code", "unique code: letters, digits, _ . : -", "code", required=True, width=22),
    C("name", "队伍名称", "name", "full name, e.g. 马头镇综合行政执法队", required=True, width=30),
    C("kind", "类型", "kind", "closed list", "choice", TEAM_KINDS, required=True, width=16),
    C("parent", "上级队伍", "parent", "code of the team above it (blank for the county bureau)", "code", width=22),
    C("units", "服务单位", "units", "unit code(s) it serves, separated by ; — the first is where it is based",
      "codes", width=26),
    C("contact", "联系方式", "contact", "telephone or other contact", width=18),
    C("officers", "持证人数", "certified officers", "number of officers holding an enforcement certificate",
      "int", width=10),
    C("attributes", "其他属性", "attributes", "other attributes as a JSON object (optional)", "json",
      optional_header=True, width=24),
), example={"code": "T-TWP-139900104000", "name": "马头镇综合行政执法队", "kind": "township_team",
            "parent": "T-BUREAU", "units": "139900104000", "contact": "0310-1234567", "officers": 12})
MATTERS = Sheet("matters", "执法事项", "matters", (
    C("code", "事项编码", "code", "unique code", "code", required=True, width=16),
    C("name", "事项名称", "name", "what the matter is", required=True, width=36),
    C("domain", "领域", "domain", "e.g. 市场监管, 自然资源", required=True, width=14),
    C("legal_basis", "法律依据", "legal basis", "laws and articles", width=40),
    C("procedure", "默认程序", "procedure", "简易 (simple) or 普通 (ordinary)", "choice", PROCEDURES, required=True,
      width=10),
    C("time_limit", "办理时限", "time limit", "a whole number > 0", "int", required=True, width=10),
    C("time_unit", "时限单位", "time unit", "工作日 or 工作小时", "choice", TIME_UNITS, required=True, width=10),
    C("duplicate_m", "查重半径(米)", "duplicate radius m", "reports this close are linked as duplicates (0: never; "
      "blank: the default)", "number", width=12),
    C("duplicate_h", "查重时窗(小时)", "duplicate window h", "…within this many hours (0: never; blank: the default)",
      "number", width=12),
    C("first_violation", "首违类别", "first violation", "无 / 不予处罚 / 责令改正前置 / 可单独警告 (blank: not "
      "classified)", "choice", FIRST_VIOLATION, width=14),
    C("first_violation_months", "首违回溯期(月)", "first violation months", "a party's earlier cases of the matter "
      "this many months back make it a repeat (1–120; blank: 12)", "int", optional_header=True, width=12),
    C("attributes", "其他属性", "attributes", "other attributes as a JSON object (optional)", "json",
      optional_header=True, width=24),
), example={"code": "M-ENV-COAL", "name": "露天晾晒煤泥污染环境", "domain": "生态环境",
            "legal_basis": "《中华人民共和国大气污染防治法》第一百一十七条", "procedure": "ordinary",
            "time_limit": 5, "time_unit": "working_days", "duplicate_m": 100, "duplicate_h": 72,
            "first_violation": "correction_first", "first_violation_months": 12})
DELEGATIONS = Sheet("delegations", "赋权清单", "delegations", (
    C("township", "乡镇编码", "township", "code of the township (a unit of the version)", "code", required=True,
      width=18),
    C("township_name", "乡镇名称", "township name", "for reading; when filled it must be the township's name",
      optional_header=True, width=14),
    C("matter", "事项编码", "matter", "code of the matter it holds", "code", required=True, width=16),
    C("matter_name", "事项名称", "matter name", "for reading; when filled it must be the matter's name",
      optional_header=True, width=30),
    C("batch", "批次", "batch", "e.g. 第一批", width=12),
    C("effective_from", "生效日期", "effective from", "date of the delegation, e.g. 2026-01-01", "date", width=12),
    C("situation", "赋权情形", "situation", "优先 / 评估 / 暂缓 / 依法 / 整体下放", "choice", SITUATIONS, width=12),
    C("note", "备注", "note", "free text", width=30),
), example={"township": "139900104000", "township_name": "马头镇", "matter": "M-ENV-COAL",
            "matter_name": "露天晾晒煤泥污染环境", "batch": "第一批",
            "effective_from": date(2026, 1, 1), "situation": "priority", "note": "成熟一批、赋予一批"})
RULES = Sheet("rules", "规则", "rules", (
    C("code", "规则编码", "code", "unique code within the version", "code", required=True, width=22),
    C("priority", "优先级", "priority", "0–10000; the highest matching rule wins", "int", required=True, width=8),
    C("scope_type", "范围类型", "scope type", "单元 (one unit) / 图层 (a whole layer) / H3单元格 / 全域 (everywhere)",
      "choice", SCOPE_TYPES, required=True, width=10),
    C("scope", "范围", "scope", "the unit code, the layer (县/乡镇/村/网格/专区), or H3 cells separated by ;",
      width=22),
    C("matter_filter", "事项范围", "matter filter", "全部 / 领域 / 已赋权 / 未赋权 / 指定事项", "choice",
      MATTER_FILTERS, required=True, width=10),
    C("matters", "事项", "matters", "the domain, or matter codes separated by ;", width=22),
    C("team", "负责队伍", "team", "code of the team that takes the case", "code", required=True, width=22),
    C("co_owners", "协办队伍", "co-owners", "team codes separated by ;", "codes", width=18),
    C("effective_from", "生效日期", "effective from", "first day (blank: always)", "date", width=12),
    C("effective_to", "失效日期", "effective to", "first day it no longer applies (blank: open)", "date", width=12),
    C("legal_basis", "法律依据", "legal basis", "laws, decisions, announcements", width=40),
    C("description", "说明", "description", "what the rule means, in words", width=40),
), example={"code": "R-TWP-139900104000", "priority": 20, "scope_type": "unit", "scope": "139900104000",
            "matter_filter": "delegated", "team": "T-TWP-139900104000", "effective_from": date(2026, 1, 1),
            "legal_basis": "《中华人民共和国行政处罚法》第二十四条",
            "description": "镇内已赋权事项由镇综合行政执法队管辖"})
del C
SHEETS = (TEAMS, MATTERS, DELEGATIONS, RULES)

CODE_RE = re.compile(CODE_PATTERN)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # PostgreSQL refuses NUL; none belongs in a catalogue
SEPARATORS = re.compile(r"[;；,，、\s]+")
DATE_FORMS = [re.compile(p) for p in (
    r"^(\d{4})-(\d{1,2})-(\d{1,2})$", r"^(\d{4})/(\d{1,2})/(\d{1,2})$", r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$",
    r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")]


def notes() -> list[list[str]]:
    """The 说明 sheet: what each sheet and closed list means."""
    lines = [["GridGov 目录工作簿", "队伍、执法事项、赋权清单、规则。第一行为表头（中文，亦可用英文名）；黄色列必填。"
              "导入时全部检查，任何问题按工作表、行、列列出，一处有误则全部不写入。"],
             ["日期", "可写 2026-01-01、2026/1/1、2026.1.1、2026年1月1日，或 Excel 日期。"],
             ["多个编码", "用 ; 分隔（服务单位、协办队伍、事项、H3单元格）。"],
             ["编码", "只用半角字母、数字和 _ . : -（全角字符会被拒绝）。"]]
    for spec in SHEETS:
        for c in spec.columns:
            if c.choices:
                lines.append([f"{spec.zh}·{c.zh}", "、".join(f"{lab}（{v}）" for lab, v in c.choices)])
    return lines


# -- writing ----------------------------------------------------------------------------------------


def _codes(values: Iterable[str]) -> str:
    return ";".join(values)


def team_attribute_problems(attributes: dict[str, Any]) -> list[str]:
    """What is wrong with the attributes the 队伍 sheet's columns hold (PUT /teams checks them as import does)."""
    out = []
    contact, officers, serves = (attributes.get(k) for k in TEAM_KEYS)
    if contact is not None and not isinstance(contact, str):
        out.append("attributes.contact must be text")
    if officers is not None and (isinstance(officers, bool) or not isinstance(officers, int) or officers < 0):
        out.append("attributes.certified_officers must be a whole number ≥ 0")
    if serves is not None and not (isinstance(serves, list) and serves
                                   and all(isinstance(c, str) and CODE_RE.match(c) for c in serves)):
        out.append("attributes.also_serves must be a list of unit codes")
    return out


def team_row(t: Team) -> dict[str, Any]:
    a = dict(t.attributes)
    units = [t.unit_code] if t.unit_code else []
    units += list(a.pop("also_serves", []))
    contact, officers = a.pop("contact", None), a.pop("certified_officers", None)
    return {"code": t.code, "name": t.name, "kind": TEAMS.column("kind").label(t.kind), "parent": t.parent_code,
            "units": _codes(units), "contact": contact, "officers": officers, "attributes": _json(a)}


def matter_row(m: Matter) -> dict[str, Any]:
    a = dict(m.attributes)
    fv = a.pop("first_violation", None)
    return {"code": m.code, "name": m.name, "domain": m.domain, "legal_basis": a.pop("legal_basis", None),
            "procedure": MATTERS.column("procedure").label(m.procedure), "time_limit": m.time_limit,
            "time_unit": MATTERS.column("time_unit").label(m.time_unit), "duplicate_m": a.pop("duplicate_m", None),
            "duplicate_h": a.pop("duplicate_h", None),
            "first_violation": MATTERS.column("first_violation").label(fv) if fv else None,
            "first_violation_months": a.pop("first_violation_months", None), "attributes": _json(a)}


def delegation_row(d: Delegation, names: dict[str, str] | None = None) -> dict[str, Any]:
    names = names or {}
    return {"township": d.township_code, "township_name": names.get(d.township_code), "matter": d.matter_code,
            "matter_name": names.get(d.matter_code), "batch": d.batch,
            "effective_from": d.effective_from, "note": d.note,
            "situation": DELEGATIONS.column("situation").label(d.situation) if d.situation else None}


def rule_row(r: Rule) -> dict[str, Any]:
    scope = {"unit": r.scope.unit_code, "layer": LAYER_NAMES.get(r.scope.layer or "", r.scope.layer),
             "cells": _codes(r.scope.cells or []), "everywhere": None}[r.scope.type]
    matters = {"domain": r.matters.domain, "codes": _codes(r.matters.codes or [])}.get(r.matters.type)
    return {"code": r.code, "priority": r.priority, "scope_type": RULES.column("scope_type").label(r.scope.type),
            "scope": scope, "matter_filter": RULES.column("matter_filter").label(r.matters.type), "matters": matters,
            "team": r.team_code, "co_owners": _codes(r.co_owner_codes), "effective_from": r.effective_from,
            "effective_to": r.effective_to, "legal_basis": r.legal_basis, "description": r.description}


def _json(a: dict[str, Any]) -> str | None:
    return json.dumps(a, ensure_ascii=False, sort_keys=True) if a else None


def catalogue_rows(teams: list[Team], matters: list[Matter], delegations: list[Delegation],
                   rules: list[Rule], unit_names: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows of each sheet, in a stable order (by code; rules highest priority first); the delegation list
    names each township (from `unit_names`) and matter beside its code, for the people reading it."""
    names = (unit_names or {}) | {m.code: m.name for m in matters}
    return {"teams": [team_row(t) for t in sorted(teams, key=lambda t: t.code)],
            "matters": [matter_row(m) for m in sorted(matters, key=lambda m: m.code)],
            "delegations": [delegation_row(d, names) for d in sorted(delegations, key=lambda d: (d.township_code,
                                                                                                d.matter_code))],
            "rules": [rule_row(r) for r in sorted(rules, key=lambda r: (-r.priority, r.code))]}


def template_rows() -> dict[str, list[dict[str, Any]]]:
    """One example row per sheet, closed lists shown by their labels."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in SHEETS:
        row = {k: spec.column(k).label(v) if spec.column(k).choices else v for k, v in spec.example.items()}
        out[spec.key] = [row]
    return out
