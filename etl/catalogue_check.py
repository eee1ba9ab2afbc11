"""Reading the catalogue workbook: every cell to a domain object, then every reference checked.

All or nothing: every cell is checked (codes, numbers, dates, closed lists, JSON), then every reference across
the sheets and against the database (`Known`), and every problem is reported with its sheet, row and column.
A row refused for one problem still counts as known where other rows name it, so each mistake is told once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import h3
from pydantic import BaseModel, ValidationError

from etl.catalogue import (
    CODE_RE,
    CONTROL,
    DATE_FORMS,
    DELEGATIONS,
    LAYER_NAMES,
    MATTER_KEYS,
    MATTERS,
    RULES,
    SEPARATORS,
    SHEETS,
    SYNONYMS,
    TEAM_KEYS,
    TEAMS,
)
from etl.workbook import RawRow, RawSheet, Sheet, SheetProblem
from gis.model import LAYERS, Delegation, Matter, Rule, Team
from i18n import T, Text


@dataclass
class Known:
    """What the database already holds that the workbook may name."""

    unit_layers: dict[str, str] = field(default_factory=dict)  # units of the target version
    unit_names: dict[str, str] = field(default_factory=dict)
    unit_parents: dict[str, str | None] = field(default_factory=dict)
    team_parents: dict[str, str | None] = field(default_factory=dict)  # stored teams
    team_units: dict[str, str | None] = field(default_factory=dict)
    matter_domains: dict[str, str] = field(default_factory=dict)  # stored matters
    matter_names: dict[str, str] = field(default_factory=dict)


@dataclass
class Catalogue:
    """The four sheets as domain objects, each with the row it came from."""

    teams: list[tuple[int, Team]] = field(default_factory=list)
    matters: list[tuple[int, Matter]] = field(default_factory=list)
    delegations: list[tuple[int, Delegation]] = field(default_factory=list)
    rules: list[tuple[int, Rule]] = field(default_factory=list)
    # Codes (and domains) of team and matter rows refused for another problem: still "known" when other rows
    # name them, so one mistake is reported once and not again at every reference.
    refused_teams: set[str] = field(default_factory=set)
    refused_matters: dict[str, str] = field(default_factory=dict)
    # The names a delegation row gives beside its codes (for reading), by row: checked against the codes.
    delegation_names: dict[int, tuple[str, str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"team": len(self.teams), "matter": len(self.matters), "delegation": len(self.delegations),
                "rule": len(self.rules)}


class _Row:
    """Typed reads of one raw row; each failure is a problem at its cell, and `ok` turns false."""

    def __init__(self, sheet: RawSheet, row: RawRow, problems: list[SheetProblem]) -> None:
        self.sheet, self.row, self.problems = sheet, row, problems
        self.ok = True

    def problem(self, key: str, message: str | Text) -> None:
        self.ok = False
        column = self.sheet.spec.column(key)
        self.problems.append(SheetProblem(self.sheet.spec.zh, self.row.number, self.sheet.letters.get(key),
                                          column.zh, message))

    def raw(self, key: str) -> Any:
        if key in self.row.refused:
            self.ok = False
            return None
        value = self.row.values.get(key)
        if isinstance(value, str) and (bad := CONTROL.search(value)):
            self.problem(key, T("control character U+{ord} at position {start}; type plain text",
                                ord=format(ord(bad.group()), "04X"), start=bad.start()))
            self.row.refused.add(key)  # reported once, whichever reads it next
            return None
        if value is None and self.sheet.spec.column(key).required:
            self.problem(key, T("must be filled in"))
        return value

    def text(self, key: str) -> str:
        value = self.raw(key)
        if value is None:
            return ""
        if isinstance(value, datetime | date):
            return value.isoformat()[:10]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def code(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        return self._one_code(key, _code_text(value))

    def _one_code(self, key: str, text: str) -> str | None:
        wide = [ch for ch in text if "\uff01" <= ch <= "\uff5e" or ch == "\u3000"]
        if wide:
            ch = wide[0]
            half = " " if ch == "\u3000" else chr(ord(ch) - 0xFEE0)
            self.problem(key, T("full-width character {ch} in code {text}; type the half-width {half}",
                                ch=repr(ch), text=repr(text), half=repr(half)))
            return None
        if not CODE_RE.match(text):
            self.problem(key, T("{text} is not a code: 1–64 letters, digits or _ . : -", text=repr(text)))
            return None
        return text

    def codes(self, key: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return []
        parts = [p for p in SEPARATORS.split(_code_text(value)) if p]
        out = [self._one_code(key, p) for p in parts]
        good = [c for c in out if c is not None]
        dupes = sorted({c for c in good if good.count(c) > 1})
        if dupes:
            self.problem(key, T("lists {items} twice", items=', '.join(dupes)))
        return good

    def integer(self, key: str, low: int, high: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
            number = int(value)
        if number is None:
            self.problem(key, T("{value} is not a whole number", value=repr(value)))
        elif number < low or (high is not None and number > high):
            self.problem(key, T("{number} is out of range ({low}–{high})",
                                number=number, low=low, high=high if high is not None else '…'))
            number = None
        return number

    def number(self, key: str) -> int | float | None:
        value = self.raw(key)
        if value is None:
            return None
        number: int | float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value) if re.fullmatch(r"[+-]?\d+", value) else float(value)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or number < 0:
            self.problem(key, T("{value} is not a number ≥ 0", value=repr(value)))
            return None
        return number

    def day(self, key: str) -> date | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.time() != datetime.min.time():
                self.problem(key, T("{value} has a time of day; a date is wanted", value=value))
                return None
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            for form in DATE_FORMS:
                m = form.match(value)
                if m:
                    try:
                        return date(int(m[1]), int(m[2]), int(m[3]))
                    except ValueError:
                        self.problem(key, T("{value}: no such day", value=repr(value)))
                        return None
        self.problem(key, T("{value} is not a date; type 2026-01-01, 2026/1/1, 2026.1.1 or 2026年1月1日, or format "
                            "the cell as a date", value=repr(value)))
        return None

    def choice(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        column = self.sheet.spec.column(key)
        text = str(value)
        allowed = {lab: v for lab, v in column.choices} | {v: v for _, v in column.choices}
        folded = {k.casefold(): v for k, v in allowed.items()}
        chosen = allowed.get(text) or folded.get(text.casefold())
        if chosen is None and text in SYNONYMS and SYNONYMS[text] in allowed.values():
            chosen = SYNONYMS[text]
        if chosen is None:
            self.problem(key, T("{text} is not one of {items}",
                                text=repr(text), items='、'.join(lab for lab, _ in column.choices)))
        return chosen

    def json_object(self, key: str, reserved: tuple[str, ...]) -> dict[str, Any]:
        value = self.raw(key)
        if value is None:
            return {}
        try:
            parsed = json.loads(str(value))
        except json.JSONDecodeError as exc:
            self.problem(key, T("not JSON ({msg} at character {pos})", msg=exc.msg, pos=exc.pos))
            return {}
        if _has_control(parsed):
            self.problem(key, T("a control character (\\u0000 …) in the JSON; type plain text"))
            return {}
        if not isinstance(parsed, dict):
            self.problem(key, T("must be a JSON object like {{\"key\": \"value\"}}"))
            return {}
        clash = sorted(set(parsed) & set(reserved))
        if clash:
            self.problem(key, T("{items} belong(s) in their own column", items=', '.join(clash)))
            return {}
        return parsed

    def build(self, model: type[BaseModel], data: dict[str, Any], fields: dict[str, str]) -> Any:
        """The model, or None with its validation errors placed on the columns they concern."""
        if not self.ok:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(p) for p in err["loc"]]
                key = next((fields[p] for p in loc if p in fields), next(iter(fields.values())))
                self.problem(key, str(err["msg"]).removeprefix("Value error, "))
            return None


def _has_control(value: Any) -> bool:
    if isinstance(value, str):
        return CONTROL.search(value) is not None
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


def _code_text(value: Any) -> str:
    """A code cell as text: Excel users type numeric codes (139900104000) as numbers."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows(sheets: dict[str, RawSheet], key: str, problems: list[SheetProblem]) -> Iterable[_Row]:
    sheet = sheets.get(key)
    if sheet is not None:
        for row in sheet.rows:
            yield _Row(sheet, row, problems)


def parse(sheets: dict[str, RawSheet], problems: list[SheetProblem]) -> Catalogue:
    """Every row as a domain object (rows with a problem are left out and the problem recorded)."""
    cat = Catalogue()
    for r in _rows(sheets, "teams", problems):
        units = r.codes("units")
        attributes = r.json_object("attributes", TEAM_KEYS)
        contact, officers = r.text("contact"), r.integer("officers", 0, 100_000)
        attributes |= {k: v for k, v in (("contact", contact), ("certified_officers", officers),
                                         ("also_serves", units[1:])) if v not in (None, "", [])}
        code = r.code("code")
        team = r.build(Team, {"code": code, "name": r.text("name"), "kind": r.choice("kind"),
                              "parent_code": r.code("parent"), "unit_code": units[0] if units else None,
                              "attributes": attributes},
                       {"code": "code", "name": "name", "kind": "kind", "parent_code": "parent"})
        if team is not None:
            cat.teams.append((r.row.number, team))
        elif code is not None:
            cat.refused_teams.add(code)
    for r in _rows(sheets, "matters", problems):
        attributes = r.json_object("attributes", MATTER_KEYS)
        extra = {"legal_basis": r.text("legal_basis"), "duplicate_m": r.number("duplicate_m"),
                 "duplicate_h": r.number("duplicate_h"), "first_violation": r.choice("first_violation"),
                 "first_violation_months": r.integer("first_violation_months", 1, 120)}
        attributes |= {k: v for k, v in extra.items() if v not in (None, "")}
        code, domain = r.code("code"), r.text("domain")
        matter = r.build(Matter, {"code": code, "name": r.text("name"), "domain": domain,
                                  "procedure": r.choice("procedure"), "time_limit": r.integer("time_limit", 1),
                                  "time_unit": r.choice("time_unit"), "attributes": attributes},
                         {"code": "code", "name": "name", "domain": "domain", "time_limit": "time_limit"})
        if matter is not None:
            cat.matters.append((r.row.number, matter))
        elif code is not None:
            cat.refused_matters[code] = domain
    for r in _rows(sheets, "delegations", problems):
        d = r.build(Delegation, {"township_code": r.code("township"), "matter_code": r.code("matter"),
                                 "batch": r.text("batch"), "effective_from": r.day("effective_from"),
                                 "situation": r.choice("situation"), "note": r.text("note")},
                    {"township_code": "township", "matter_code": "matter", "batch": "batch", "note": "note"})
        if d is not None:
            cat.delegations.append((r.row.number, d))
            cat.delegation_names[r.row.number] = (r.text("township_name"), r.text("matter_name"))
    for r in _rows(sheets, "rules", problems):
        rule = _parse_rule(r)
        if rule is not None:
            cat.rules.append((r.row.number, rule))
    return cat


def _parse_rule(r: _Row) -> Rule | None:
    scope_type, filter_type = r.choice("scope_type"), r.choice("matter_filter")
    scope_text, matters_text = r.text("scope"), r.text("matters")
    scope: dict[str, Any] = {"type": scope_type}
    if scope_type == "unit":
        scope["unit_code"] = r._one_code("scope", _code_text(scope_text)) if scope_text else None
    elif scope_type == "layer":
        layer = {v: k for k, v in LAYER_NAMES.items()}.get(scope_text, scope_text.lower())
        if layer not in LAYERS:
            r.problem("scope", T("{scope_text} is not a layer: {items}",
                                 scope_text=repr(scope_text), items='、'.join(LAYER_NAMES.values())))
        scope["layer"] = layer
    elif scope_type == "cells":
        cells = [c.lower() for c in SEPARATORS.split(scope_text) if c]
        bad = [c for c in cells if not h3.is_valid_cell(c)]
        if bad:
            r.problem("scope", T("not H3 cells: {items}", items=', '.join(bad[:5])))
        scope["cells"] = sorted(set(cells))
    elif scope_type == "everywhere" and scope_text:
        r.problem("scope", T("a rule for everywhere (全域) names no scope; leave it blank"))
    if scope_type in ("unit", "layer", "cells") and not scope_text:
        r.problem("scope", T("scope type {label} needs the unit, layer or cells here",
                             label=r.sheet.spec.column('scope_type').label(scope_type)))
    matters: dict[str, Any] = {"type": filter_type}
    if filter_type == "domain":
        matters["domain"] = matters_text
    elif filter_type == "codes":
        matters["codes"] = r.codes("matters")
    elif matters_text and filter_type is not None:
        r.problem("matters", T("matter filter {label} names no matters; leave it blank",
                               label=r.sheet.spec.column('matter_filter').label(filter_type)))
    if filter_type in ("domain", "codes") and not matters_text:
        r.problem("matters", T("name the domain or the matter codes here"))
    data = {"code": r.code("code"), "priority": r.integer("priority", 0, 10_000), "scope": scope,
            "matters": matters, "team_code": r.code("team"), "co_owner_codes": r.codes("co_owners"),
            "effective_from": r.day("effective_from"), "effective_to": r.day("effective_to"),
            "legal_basis": r.text("legal_basis"), "description": r.text("description")}
    fields = {"code": "code", "priority": "priority", "scope": "scope", "matters": "matters",
              "team_code": "team", "co_owner_codes": "co_owners", "effective_to": "effective_to",
              "effective_from": "effective_from"}
    rule: Rule | None = r.build(Rule, data, fields)
    return rule


def check(cat: Catalogue, known: Known) -> list[SheetProblem]:
    """Every reference across the sheets and to what is stored: duplicates, unknown codes, parent cycles."""
    problems: list[SheetProblem] = []

    def add(sheet: Sheet, row: int, key: str, message: str | Text, letters: dict[str, str]) -> None:
        problems.append(SheetProblem(sheet.zh, row, letters.get(key), sheet.column(key).zh, message))

    letters = {s.key: {c.key: _letter(s, c.key) for c in s.columns} for s in SHEETS}
    teams = {t.code: (n, t) for n, t in reversed(cat.teams)}  # first row wins
    matters = {m.code: (n, m) for n, m in reversed(cat.matters)}
    team_parents = (dict(known.team_parents) | {c: None for c in cat.refused_teams}
                    | {t.code: t.parent_code for _, t in cat.teams})
    matter_domains = dict(known.matter_domains) | cat.refused_matters | {m.code: m.domain for _, m in cat.matters}
    matter_names = dict(known.matter_names) | {m.code: m.name for _, m in cat.matters}
    lt, lm, ld, lr = (letters[k] for k in ("teams", "matters", "delegations", "rules"))  # column letters
    for n, t in cat.teams:
        if teams[t.code][0] != n:
            add(TEAMS, n, "code", T("duplicate team code {code} (first at row {teams})",
                                    code=t.code, teams=teams[t.code][0]), lt)
        if t.parent_code and t.parent_code not in team_parents:
            add(TEAMS, n, "parent", T("unknown team {parent_code}", parent_code=t.parent_code), lt)
        for unit in [t.unit_code, *t.attributes.get("also_serves", [])]:
            if unit and unit not in known.unit_layers:
                add(TEAMS, n, "units", T("unknown unit {unit} (not in this version)", unit=unit), lt)
    for n, t in cat.teams:
        cycle = _cycle(t.code, team_parents)
        if cycle and teams[t.code][0] == n:
            text = "itself" if len(cycle) == 1 else " → ".join([*cycle, cycle[0]])
            add(TEAMS, n, "parent", T("team {code} is its own parent", code=t.code) if len(cycle) == 1
                else T("parent cycle {text}", text=text), lt)
    for n, m in cat.matters:
        if matters[m.code][0] != n:
            add(MATTERS, n, "code", T("duplicate matter code {code} (first at row {matters})",
                                      code=m.code, matters=matters[m.code][0]), lm)
    seen: dict[tuple[str, str], int] = {}
    for n, d in cat.delegations:
        pair = (d.township_code, d.matter_code)
        if pair in seen:
            add(DELEGATIONS, n, "matter", T("duplicate row: {township_code} already holds {matter_code} (row {seen})",
                                            township_code=d.township_code, matter_code=d.matter_code,
                                            seen=seen[pair]), ld)
        seen.setdefault(pair, n)
        layer = known.unit_layers.get(d.township_code)
        if layer != "township":
            add(DELEGATIONS, n, "township", T("unknown unit {code}", code=d.township_code) if layer is None else
                T("{code} is a {layer}, not a township", code=d.township_code, layer=layer), ld)
        if d.matter_code not in matter_domains:
            add(DELEGATIONS, n, "matter", T("unknown matter {matter_code}", matter_code=d.matter_code), ld)
        township_name, matter_name = cat.delegation_names.get(n, ("", ""))
        named = known.unit_names.get(d.township_code)
        if township_name and layer == "township" and named is not None and township_name != named:
            add(DELEGATIONS, n, "township_name", T("{township_name} is not the name of {township_code} "
                                                   "({named}); is the row shifted?", township_name=township_name,
                                                   township_code=d.township_code, named=named), ld)
        named = matter_names.get(d.matter_code)
        if matter_name and named is not None and matter_name != named:
            add(DELEGATIONS, n, "matter_name", T("{matter_name} is not the name of {matter_code} ({named}); is "
                                                 "the row shifted?",
                                                 matter_name=matter_name, matter_code=d.matter_code, named=named), ld)
    rules: dict[str, int] = {}
    domains = set(matter_domains.values())
    team_units = dict(known.team_units) | {t.code: t.unit_code for _, t in cat.teams}

    def county(unit: str | None) -> str | None:
        seen: set[str] = set()
        while unit is not None and unit not in seen and known.unit_layers.get(unit) != "county":
            seen.add(unit)
            unit = known.unit_parents.get(unit)
        return unit if unit is not None and known.unit_layers.get(unit) == "county" else None

    for n, rule in cat.rules:
        if rule.code in rules:
            add(RULES, n, "code", T("duplicate rule code {code} (first at row {rules})",
                                    code=rule.code, rules=rules[rule.code]), lr)
        rules.setdefault(rule.code, n)
        if rule.team_code not in team_parents:
            add(RULES, n, "team", T("unknown team {team_code}", team_code=rule.team_code), lr)
        for co in rule.co_owner_codes:
            if co not in team_parents:
                add(RULES, n, "co_owners", T("unknown team {co}", co=co), lr)
        if rule.scope.type == "unit" and rule.scope.unit_code not in known.unit_layers:
            add(RULES, n, "scope", T("unknown unit {unit_code} (not in this version)",
                                     unit_code=rule.scope.unit_code), lr)
        elif rule.scope.type == "unit":
            # Several counties in one version: a county's team does not take another county's unit.
            home, there = county(team_units.get(rule.team_code)), county(rule.scope.unit_code)
            if home is not None and there is not None and home != there:
                add(RULES, n, "scope", T("{unit_code} lies in county {there}, but team {team_code} is based in "
                                         "county {home}", unit_code=rule.scope.unit_code, there=there,
                                         team_code=rule.team_code, home=home), lr)
        for code in rule.matters.codes or []:
            if code not in matter_domains:
                add(RULES, n, "matters", T("unknown matter {code}", code=code), lr)
        if rule.matters.type == "domain" and rule.matters.domain not in domains:
            add(RULES, n, "matters", T("no matter is in the domain {domain}", domain=repr(rule.matters.domain)), lr)
    return problems


def _letter(sheet: Sheet, key: str) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(next(i for i, c in enumerate(sheet.columns, start=1) if c.key == key))


def _cycle(start: str, parents: dict[str, str | None]) -> list[str]:
    """The cycle `start` sits on when following parents, or []."""
    path: list[str] = []
    code: str | None = start
    while code is not None and code not in path:
        path.append(code)
        code = parents.get(code)
    return path[path.index(code):] if code is not None and code == start else []


def placed(problems: list[SheetProblem], sheets: dict[str, RawSheet]) -> list[SheetProblem]:
    """Problems with the column letters of the file as read (the workbook's columns may be in any order)."""
    by_zh = {s.spec.zh: s for s in sheets.values()}
    out = []
    for p in problems:
        sheet = by_zh.get(p.sheet)
        key = next((c.key for c in sheet.spec.columns if c.zh == p.header), None) if sheet else None
        letter = sheet.letters.get(key) if sheet and key else p.column
        out.append(replace(p, column=letter))
    return sorted(out, key=lambda p: ([s.zh for s in SHEETS].index(p.sheet) if p.sheet in
                                      [s.zh for s in SHEETS] else 9, p.row or 0, p.column or ""))
