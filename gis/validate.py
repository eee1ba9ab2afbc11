"""Checks on a set of units and rules before anything is stored: codes, parents, containment, references.

Each problem's message is marked for translation (`i18n.T`) and rendered in the reader's language when the
refusal is written; names come before codes where the unit is at hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput
from gis.layers import REGISTRY
from gis.model import Delegation, Rule, Team, Unit, cells_outside
from gis.topology import named
from i18n import T, Text
from i18n.units import listing, term

# A unit may stick out of its parent by this share of its own area (digitising noise), no more.
DEFAULT_OUTSIDE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and where: a file line, a feature or a code. `text` is for a person (in the reader's
    language when read), `message` its English; `label`, when known, says where as a person reads it (the unit's
    layer word and name, its code second) while `where` stays the stable label (`unit V4`)."""

    where: str
    text: str | Text
    label: str | Text | None = None

    @property
    def message(self) -> str:
        return str(self.text)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def line(self) -> Text:
        """The problem as one line of a listing, in the reader's language."""
        return T("  - {where}: {problem}", where=self.label or self.where, problem=self.text)


def raise_problems(problems: list[Problem], what: str | Text) -> None:
    """Raise one InvalidInput listing every problem (the first 20 in full)."""
    if not problems:
        return
    shown = listing([p.line() for p in problems[:20]], sep="\n")
    more = T("\n  … and {n} more", n=len(problems) - 20) if len(problems) > 20 else ""
    raise InvalidInput(T("{n} problem(s) in {what}; nothing was written:\n{problems}{more}", n=len(problems),
                         what=what, problems=shown, more=more), where=problems[0].where)


def check_units(
    new: list[tuple[str, Unit]],
    existing: Mapping[str, Unit],
    *,
    outside_tolerance: float = DEFAULT_OUTSIDE_TOLERANCE,
    replace: bool = False,
) -> list[Problem]:
    """Problems with `new` (pairs of where-label and unit) given the units already in the version.

    With `replace`, a new unit whose code exists updates it instead of clashing.
    """
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for where, unit in new:
        if unit.code in seen:
            problems.append(Problem(where, T("duplicate code {code} (first at {first})", code=unit.code,
                                             first=seen[unit.code])))
        elif unit.code in existing and not replace:
            problems.append(Problem(where, T("code {code} already exists in this version",
                                             code=named(existing[unit.code], unit.code))))
        seen.setdefault(unit.code, where)
        problems += [Problem(where, m) for m in REGISTRY[unit.layer].check(unit)]
    merged: dict[str, Unit] = dict(existing)
    merged.update({u.code: u for _, u in new})
    for where, unit in new:
        problems += _parent_problems(where, unit, merged, outside_tolerance)
    places = {f"unit {u.code}": place(u) for _, u in new}  # the label stores give a unit (store/repo.add_units)
    return [dataclasses.replace(p, label=places[p.where]) if p.where in places and p.label is None else p
            for p in problems]


def place(unit: Unit) -> Text:
    """A unit as a person finds it in a listing: its layer's word, its name, its code second (村 东庄村（V4）)."""
    word = term("zone", unit.kind) if unit.layer == "zone" and unit.kind else term("layer", unit.layer)
    return T("{layer} {unit}", layer=word, unit=named(unit, unit.code))


def county_outline(units: Iterable[Unit]) -> tuple[BaseGeometry | None, list[str]]:
    """The union of the counties' areas and their codes: what a zone without a parent must lie in."""
    counties = [(u.code, g) for u in units if u.layer == "county" and (g := u.shape()) is not None]
    if not counties:
        return None, []
    return shapely.union_all([g for _, g in counties]), [c for c, _ in counties]


def _parent_problems(where: str, unit: Unit, units: Mapping[str, Unit], tolerance: float) -> list[Problem]:
    spec = REGISTRY[unit.layer]
    if unit.parent_code is None:
        if spec.parent_layer is not None and unit.layer != "zone":
            return [Problem(where, T("a {layer} needs a parent {parent_layer}", layer=term("layer", unit.layer),
                                     parent_layer=term("layer", spec.parent_layer)))]
        if unit.layer != "zone":
            return []
        # A zone may leave parent_code out, but not the county: a development zone drawn partly beyond it would
        # take land of a neighbour the platform does not govern. Checked against every county of the version.
        outer, codes = county_outline(units.values())
        if outer is None:
            return []
        label: Text = T("the county {county} (a zone without parent_code is checked against the county)",
                        county=listing([named(units.get(c), c) for c in codes]))
    else:
        parent = units.get(unit.parent_code)
        if parent is None:
            return [Problem(where, T("unknown parent code {code}", code=unit.parent_code))]
        if spec.parent_layer is not None and parent.layer != spec.parent_layer:
            return [Problem(where, T("parent {parent} is a {parent_layer}, a {layer} needs a {needed}",
                                     parent=named(parent, parent.code), parent_layer=term("layer", parent.layer),
                                     layer=term("layer", unit.layer), needed=term("layer", spec.parent_layer)))]
        outer = parent.shape()
        if outer is None:
            return []
        label = T("its parent {parent}", parent=named(parent, parent.code))
    if unit.cells is not None:
        outside_cells = cells_outside(unit.cells, outer)
        if outside_cells:
            return [Problem(where, T("{n} of {total} H3 cells of {unit} have their centre outside {outer} (first: "
                                     "{cell})", n=len(outside_cells), total=len(unit.cells),
                                     unit=named(unit, unit.code), outer=label, cell=outside_cells[0]))]
        return []
    child = unit.shape()
    if child is None:
        return []
    outside = shapely.difference(child, outer).area
    if outside > tolerance * child.area:
        share = 100 * outside / child.area
        return [Problem(where, T("{share}% of {unit} lies outside {outer} (tolerance {tolerance}%)",
                                 share=format(share, ".2f"), unit=named(unit, unit.code), outer=label,
                                 tolerance=format(100 * tolerance, "g")))]
    return []


def check_references(
    rules: Iterable[Rule],
    delegations: Iterable[Delegation],
    *,
    unit_layers: Mapping[str, str],
    team_codes: set[str],
    matter_codes: set[str],
    domains: set[str],
) -> list[Problem]:
    """Every code a rule or delegation names must exist (units of this version, teams, matters)."""
    problems: list[Problem] = []
    for rule in rules:
        where = f"rule {rule.code}"
        for team in [rule.team_code, *rule.co_owner_codes]:
            if team not in team_codes:
                problems.append(Problem(where, T("unknown team code {code}", code=team)))
        if rule.scope.type == "unit" and rule.scope.unit_code not in unit_layers:
            problems.append(Problem(where, T("unknown unit code {code}", code=rule.scope.unit_code)))
        for code in rule.matters.codes or []:
            if code not in matter_codes:
                problems.append(Problem(where, T("unknown matter code {code}", code=code)))
        if rule.matters.type == "domain" and rule.matters.domain not in domains:
            problems.append(Problem(where, T("unknown matter domain {domain}", domain=rule.matters.domain)))
    for d in delegations:
        where = f"delegation {d.township_code}/{d.matter_code}"
        if unit_layers.get(d.township_code) != "township":
            problems.append(Problem(where, T("{code} is not a township of this version", code=d.township_code)))
        if d.matter_code not in matter_codes:
            problems.append(Problem(where, T("unknown matter code {code}", code=d.matter_code)))
    return problems


def check_teams(teams: list[Team], existing_codes: set[str], unit_codes: set[str] | None = None) -> list[Problem]:
    """Duplicate team codes and unknown parent teams."""
    problems: list[Problem] = []
    codes = set(existing_codes)
    seen: set[str] = set()
    for team in teams:
        if team.code in seen or team.code in existing_codes:
            problems.append(Problem(f"team {team.code}", T("duplicate team code")))
        seen.add(team.code)
    codes |= seen
    for team in teams:
        if team.parent_code and team.parent_code not in codes:
            problems.append(Problem(f"team {team.code}", T("unknown parent team {code}", code=team.parent_code)))
        if unit_codes is not None and team.unit_code and team.unit_code not in unit_codes:
            problems.append(Problem(f"team {team.code}", T("unknown unit code {code}", code=team.unit_code)))
    return problems
