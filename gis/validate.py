"""Checks on a set of units and rules before anything is stored: codes, parents, containment, references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput
from gis.layers import REGISTRY
from gis.model import Delegation, Rule, Team, Unit, cells_outside

# A unit may stick out of its parent by this share of its own area (digitising noise), no more.
DEFAULT_OUTSIDE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Problem:
    """One thing wrong, and where: a file line, a feature or a code."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def raise_problems(problems: list[Problem], what: str) -> None:
    """Raise one InvalidInput listing every problem (the first 20 in full)."""
    if not problems:
        return
    shown = "\n".join(f"  - {p}" for p in problems[:20])
    more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
    raise InvalidInput(f"{len(problems)} problem(s) in {what}; nothing was written:\n{shown}{more}",
                       where=problems[0].where)


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
            problems.append(Problem(where, f"duplicate code {unit.code} (first at {seen[unit.code]})"))
        elif unit.code in existing and not replace:
            problems.append(Problem(where, f"code {unit.code} already exists in this version"))
        seen.setdefault(unit.code, where)
        problems += [Problem(where, m) for m in REGISTRY[unit.layer].check(unit)]
    merged: dict[str, Unit] = dict(existing)
    merged.update({u.code: u for _, u in new})
    for where, unit in new:
        problems += _parent_problems(where, unit, merged, outside_tolerance)
    return problems


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
            return [Problem(where, f"a {unit.layer} needs a parent {spec.parent_layer}")]
        if unit.layer != "zone":
            return []
        # A zone may leave parent_code out, but not the county: a development zone drawn partly beyond it would
        # take land of a neighbour the platform does not govern. Checked against every county of the version.
        outer, codes = county_outline(units.values())
        if outer is None:
            return []
        label = f"the county {', '.join(codes)} (a zone without parent_code is checked against the county)"
    else:
        parent = units.get(unit.parent_code)
        if parent is None:
            return [Problem(where, f"unknown parent code {unit.parent_code}")]
        if spec.parent_layer is not None and parent.layer != spec.parent_layer:
            return [Problem(where, f"parent {parent.code} is a {parent.layer}, a {unit.layer} needs a "
                                   f"{spec.parent_layer}")]
        outer = parent.shape()
        if outer is None:
            return []
        label = f"its parent {parent.code}"
    if unit.cells is not None:
        outside_cells = cells_outside(unit.cells, outer)
        if outside_cells:
            return [Problem(where, f"{len(outside_cells)} of {len(unit.cells)} H3 cells of {unit.code} have their "
                                   f"centre outside {label} (first: {outside_cells[0]})")]
        return []
    child = unit.shape()
    if child is None:
        return []
    outside = shapely.difference(child, outer).area
    if outside > tolerance * child.area:
        share = 100 * outside / child.area
        return [Problem(where, f"{share:.2f}% of {unit.code} lies outside {label} "
                               f"(tolerance {100 * tolerance:g}%)")]
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
                problems.append(Problem(where, f"unknown team code {team}"))
        if rule.scope.type == "unit" and rule.scope.unit_code not in unit_layers:
            problems.append(Problem(where, f"unknown unit code {rule.scope.unit_code}"))
        for code in rule.matters.codes or []:
            if code not in matter_codes:
                problems.append(Problem(where, f"unknown matter code {code}"))
        if rule.matters.type == "domain" and rule.matters.domain not in domains:
            problems.append(Problem(where, f"unknown matter domain {rule.matters.domain}"))
    for d in delegations:
        where = f"delegation {d.township_code}/{d.matter_code}"
        if unit_layers.get(d.township_code) != "township":
            problems.append(Problem(where, f"{d.township_code} is not a township of this version"))
        if d.matter_code not in matter_codes:
            problems.append(Problem(where, f"unknown matter code {d.matter_code}"))
    return problems


def check_teams(teams: list[Team], existing_codes: set[str], unit_codes: set[str] | None = None) -> list[Problem]:
    """Duplicate team codes and unknown parent teams."""
    problems: list[Problem] = []
    codes = set(existing_codes)
    seen: set[str] = set()
    for team in teams:
        if team.code in seen or team.code in existing_codes:
            problems.append(Problem(f"team {team.code}", "duplicate team code"))
        seen.add(team.code)
    codes |= seen
    for team in teams:
        if team.parent_code and team.parent_code not in codes:
            problems.append(Problem(f"team {team.code}", f"unknown parent team {team.parent_code}"))
        if unit_codes is not None and team.unit_code and team.unit_code not in unit_codes:
            problems.append(Problem(f"team {team.code}", f"unknown unit code {team.unit_code}"))
    return problems
