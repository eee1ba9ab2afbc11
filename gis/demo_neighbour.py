"""A second demo county to the east of the first, sharing its border exactly: several counties in one deployment.

The neighbour is the part of a frame around the demo county's eastern half that the county does not cover,
so the two share the county's own boundary vertices along the border (a point on it is in both, and the
tie-break picks one). Its townships are Voronoi cells of three seats clipped to it (`gis.derive`: an exact
partition); it has no villages, so routing there stops at the township. It gets its own bureau, township
teams, delegations and rules. With two counties in one version a rule scoped `everywhere` would apply in
both, so the first county's county-wide rules are re-scoped to that county's unit (the same places).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis import demo_catalogue as cat
from gis.derive import derive_townships
from gis.model import Delegation, MatterFilter, Rule, RuleScope, Team, Unit

NEIGHBOUR_CODE = "139901000000"  # like the demo's: no real prefecture
NEIGHBOUR_NAME = "邻县"
NEIGHBOUR_BUREAU = "T-N-BUREAU"
NEIGHBOUR_TOWNSHIPS = (("139901100000", "东阳镇"), ("139901101000", "清水镇"), ("139901200000", "新安乡"))


@dataclass(frozen=True)
class Neighbour:
    """The second county's units, teams, delegations and rules."""

    units: list[Unit]
    teams: list[Team]
    delegations: list[Delegation]
    rules: list[Rule]


def neighbour_outline(county: BaseGeometry) -> BaseGeometry:
    """The land east of the county's middle that the county does not cover, as one polygon."""
    minx, miny, maxx, maxy = county.bounds
    w, h = maxx - minx, maxy - miny
    frame = shapely.box(minx + 0.5 * w, miny - 0.08 * h, maxx + 0.7 * w, maxy + 0.08 * h)
    rest = shapely.get_parts(frame.difference(county))
    # The largest piece wraps the county's eastern side; small pockets in its bays are left to nobody.
    return max(rest, key=lambda g: g.area)


def build_neighbour(units: list[Unit]) -> Neighbour:
    """The second county beside the demo county whose units are given."""
    county = next(u for u in units if u.layer == "county" and u.code == cat.COUNTY_CODE)
    assert county.geometry is not None
    outline = neighbour_outline(county.geometry)
    minx, miny, maxx, maxy = outline.bounds
    # Seats spread along the east: inside the outline, away from the shared border.
    xs = np.linspace(maxx - 0.25 * (maxx - minx), maxx - 0.25 * (maxx - minx), 3)
    ys = np.linspace(miny + 0.2 * (maxy - miny), maxy - 0.2 * (maxy - miny), 3)
    seats = {code: (float(x), float(y)) for (code, _), x, y in zip(NEIGHBOUR_TOWNSHIPS, xs, ys, strict=True)}
    for code, (x, y) in list(seats.items()):
        if not outline.covers(shapely.Point(x, y)):
            p = outline.representative_point()
            seats[code] = (p.x + 1e-3 * len(seats), p.y)
    parts = derive_townships(outline, seats).polygons
    names = dict(NEIGHBOUR_TOWNSHIPS)
    out = [Unit(code=NEIGHBOUR_CODE, name=NEIGHBOUR_NAME, layer="county", geometry=outline, derived=True)]
    out += [Unit(code=code, name=names[code], layer="township", parent_code=NEIGHBOUR_CODE, geometry=geom,
                 derived=True, attributes={"seat": list(seats[code])}) for code, geom in sorted(parts.items())]
    bureau_name = f"{NEIGHBOUR_NAME}综合行政执法局"
    teams = [Team(code=NEIGHBOUR_BUREAU, name=bureau_name, kind="county_bureau", unit_code=NEIGHBOUR_CODE)]
    teams += [Team(code=f"T-N-TWP-{code}", name=f"{names[code]}综合行政执法队", kind="township_team",
                   parent_code=NEIGHBOUR_BUREAU, unit_code=code) for code in sorted(parts)]
    delegated = [m.code for m in cat.MATTERS if m.delegated]
    delegations = [Delegation(township_code=code, matter_code=m) for code in sorted(parts) for m in delegated]
    rules = [Rule(code="R-N-COUNTY", priority=10, scope=RuleScope(type="unit", unit_code=NEIGHBOUR_CODE),
                  matters=MatterFilter(type="not_delegated"), team_code=NEIGHBOUR_BUREAU,
                  effective_from=cat.RULES_FROM, description=f"未下放乡镇的事项，{NEIGHBOUR_NAME}全县由县局管辖")]
    rules += [Rule(code=f"R-N-TWP-{code}", priority=20, scope=RuleScope(type="unit", unit_code=code),
                   matters=MatterFilter(type="delegated"), team_code=f"T-N-TWP-{code}",
                   effective_from=cat.RULES_FROM, description=f"{names[code]}辖区内已赋权事项由乡镇执法队管辖")
              for code in sorted(parts)]
    return Neighbour(units=out, teams=teams, delegations=delegations, rules=rules)


def scope_to_county(rules: list[Rule], county_code: str) -> list[Rule]:
    """The rules with `everywhere` scopes narrowed to one county's unit (the same places while it is alone)."""
    unit = RuleScope(type="unit", unit_code=county_code)
    return [r.model_copy(update={"scope": unit}) if r.scope.type == "everywhere" else r for r in rules]
