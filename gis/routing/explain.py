"""The routing decision in words a township official reads: names first, codes second, in the reader's language.

"马头镇综合行政执法队（T-TWP-…）负责：该点位于马头镇东马头村；露天晾晒煤泥属已赋权乡镇的事项，依据规则
R-TWP-…（适用于马头镇，优先级 20）；依据：《……》". The sentence is built from translatable pieces (`i18n.T`), so
the same decision reads in English on request; the machine fields of the decision (team, rules, units) are
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from gis.model import Matter, Rule
from gis.routing.regions import Region
from gis.routing.rules import DISPUTE, GAP, Outcome
from i18n import T, Text, join
from i18n.terms import TERMS


def named(names: Mapping[str, str], code: str) -> Text:
    """A name with its code second: 马头镇（139900104000）."""
    name = names.get(code)
    return T("{name} ({code})", name=name, code=code) if name and name != code else T("{code}", code=code)


def _place(selected: list[Region], unit_names: Mapping[str, str]) -> Text:
    """Where the point lies: township and village (or grid) names, zones after them."""
    admin = [r for r in selected if r.is_unit and r.layer in ("township", "village", "grid")]
    zones = [r for r in selected if r.is_unit and r.layer == "zone"]
    parts = "".join(unit_names.get(r.code, r.code) for r in admin) or "".join(
        unit_names.get(r.code, r.code) for r in selected if r.is_unit and r.layer == "county")
    if not parts:
        return T("an area of the version")
    if zones:
        return T("{place}, within {zones}", place=parts, zones=join([unit_names.get(z.code, z.code) for z in zones]))
    return T("{place}", place=parts)


def _filter(rule: Rule, matter: Matter) -> Text:
    f = rule.matters
    if f.type == "delegated":
        return T("{matter} is a matter delegated to the township", matter=matter.name)
    if f.type == "not_delegated":
        return T("{matter} is a matter not delegated to the township, kept at county level", matter=matter.name)
    if f.type == "domain":
        return T("{matter} belongs to the domain {domain}", matter=matter.name, domain=f.domain or "")
    if f.type == "codes":
        return T("{matter} is among the matters the rule lists", matter=matter.name)
    return T("all matters here, {matter} included", matter=matter.name)


def _scope(rule: Rule, unit_names: Mapping[str, str]) -> Text:
    s = rule.scope
    if s.type == "unit" and s.unit_code:
        return T("applies in {unit}", unit=unit_names.get(s.unit_code, s.unit_code))
    if s.type == "layer" and s.layer:
        return T("applies in every {layer}", layer=T(TERMS["layer"].get(s.layer, s.layer)))
    if s.type == "cells":
        return T("applies in {n} H3 cells", n=len(s.cells or []))
    return T("applies throughout the county")


def reason(outcome: Outcome, selected: list[Region], matter: Matter, team_names: Mapping[str, str],
           unit_names: Mapping[str, str]) -> Text:
    """Why this team: the winning rule and what it outranks, or why it is a gap or a dispute."""
    team = named(team_names, outcome.team)
    if outcome.status == GAP:
        if not selected:
            return T("{team} takes it as the fallback team: the point lies outside every unit of the version",
                     team=team)
        return T("{team} takes it as the fallback team: no rule covers {matter} in {place} (a gap)", team=team,
                 matter=matter.name, place=_place(selected, unit_names))
    if outcome.status == DISPUTE:
        rules = join([r.code for r in outcome.winners])
        teams = join([named(team_names, c).render() for c in sorted({r.team_code for r in outcome.winners})])
        return T("{team} takes it as the fallback team: rules {rules} at the same priority {priority} give {matter} "
                 "in {place} to different teams ({teams}), a dispute", team=team, rules=rules,
                 priority=outcome.winners[0].priority, matter=matter.name, place=_place(selected, unit_names),
                 teams=teams)
    rule = outcome.winners[0]
    text = T("{team} is responsible: the point lies in {place}; {why}, under rule {rule} ({scope}, priority "
             "{priority})", team=team, place=_place(selected, unit_names), why=_filter(rule, matter), rule=rule.code,
             scope=_scope(rule, unit_names), priority=rule.priority)
    beaten = [r for r in outcome.matched if r.priority < rule.priority]
    if beaten:
        text = T("{text}; it outranks {rules}", text=text,
                 rules=join([f"{r.code} ({r.priority})" for r in beaten]))
    if rule.legal_basis:
        text = T("{text}; basis: {basis}", text=text, basis=rule.legal_basis)
    return text
