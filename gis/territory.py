"""Each team's territory under a version: the ground it owns, for the impact preview of a redraw.

A team's territory is where it holds the highest-priority *area-scoped* rule in force on the day — a rule
scoped to a unit (township, village, grid, zone) or to a set of H3 cells — whatever that rule's matter
filter. So a township team owns its township minus the urban core and the development zone that the
squadrons' higher rules take; the squadrons own those zones. Where two teams' rules tie at the top
priority (a dispute, e.g. a contested village) the place counts for both. County-wide rules (`everywhere`,
whole-layer scopes: the bureau's non-delegated matters, the departments' kept matters) draw no territory:
they do not move with boundaries. Which team answers a given matter at a given point is routing's job;
this is the map of who holds the ground.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import shapely
from shapely.geometry.base import BaseGeometry

from gis.model import Rule, Unit, cells_to_geometry
from gis.routing.rules import rule_in_force


def team_territories(units: list[Unit], rules: list[Rule], day: date) -> dict[str, BaseGeometry]:
    """Each team's territory (see the module notes) as one geometry; teams without one are left out."""
    shapes = {u.code: u.shape() for u in units}
    levels: dict[int, list[tuple[str, BaseGeometry]]] = defaultdict(list)
    for r in rules:
        if not rule_in_force(r, day):
            continue
        area: BaseGeometry | None = None
        if r.scope.type == "unit" and r.scope.unit_code:
            area = shapes.get(r.scope.unit_code)
        elif r.scope.type == "cells" and r.scope.cells:
            area = cells_to_geometry(r.scope.cells)
        if area is not None and not area.is_empty:
            levels[r.priority].append((r.team_code, area))
    held: dict[str, list[BaseGeometry]] = defaultdict(list)
    taken: BaseGeometry = shapely.Polygon()
    for priority in sorted(levels, reverse=True):
        level = levels[priority]
        for team, area in level:
            held[team].append(shapely.difference(area, taken) if not taken.is_empty else area)
        taken = shapely.union_all([taken, *(a for _, a in level)])
    out = {}
    for team, parts in held.items():
        union = _polygonal(shapely.union_all(parts))
        if not union.is_empty:
            out[team] = union
    return out


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()
