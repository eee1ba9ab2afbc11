"""Rule gaps: places inside the county where some matter has no rule in force, located for the planner.

Routing sends a report from such a place to the fallback team and marks it a gap (`gis/routing/rules.py`),
so nothing is dropped — but a draft that *creates* gaps (a split whose new township no rule names, a zone
whose squadron's rule was forgotten) passed validation although every report there would be a gap. This
check reads the rule table the way the router does, over areas instead of points:

- a place is a township's area inside the county (its delegation list decides `delegated` /
  `not_delegated` filters there), or the county's area no township covers (nothing is delegated there);
- for a matter, the rules in force on a day whose matter filter takes it (`RuleBook.matter_matches`, the
  router's own reading) cover the union of their scopes: a unit's area (polygon, or its H3 cells), a
  layer's units, a cell set, or the whole county (`everywhere`);
- what of the place those scopes leave uncovered — less the allowed gaps (water) — is a rule gap for
  that matter. Matters with the same domain, the same explicit-code rules and the same delegation in a
  township are read once, so a catalogue of 1,241 matters costs a few dozen overlays, not 1,241.

Why overlays and not the compiled router (`gis/routing`): its lookup grid answers points, and a gap must be
located as an area a planner can see; sampling points would miss a gap thinner than the sample spacing.
The overlays are few (see above) and exact: on the demo county (7 townships, 200 villages, 74 matters,
15 rules) the check takes 0.13 s beside the topology check's 0.7 s.

Exact up to measure zero: routing's tie-break (which unit a point on a shared edge belongs to) only
decides points on edges, which have no area; overlapping units of one layer are reported as overlaps.
Parts smaller than the topology tolerance are digitising noise and left out, as for layer gaps.

Severity: an **error**. A gap is not a boundary problem but it is a routing one: every report there goes to
the fallback team by default, which is what a planner publishing a split or a new zone almost never
means. Water and other places no one need cover are stored as allowed gaps and are not checked. The one
exception is a version with no rules at all (boundaries imported before the catalogue): that is a single
**warning** at the county, because everything is a gap there and saying it once is enough.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

import shapely
from shapely.geometry.base import BaseGeometry

from gis.model import Delegation, Matter, Rule, Unit, cells_to_geometry
from gis.routing.rules import RuleBook, rule_in_force
from gis.topology import TopologyProblem, m2_per_deg2, named
from i18n import T
from i18n.units import area as area_text
from i18n.units import day as day_text
from i18n.units import listing

_SHOWN_MATTERS = 50  # matters listed in one problem's properties (all are counted)


def rule_gaps(units: list[Unit], rules: list[Rule], delegations: list[Delegation], matters: list[Matter],
              days: Iterable[date], *, tolerance_m2: float = 1.0,
              allowed_gaps: tuple[BaseGeometry, ...] = ()) -> list[TopologyProblem]:
    """Every place inside the county where some matter has no rule in force on one of `days` (see the notes)."""
    shapes = {u.code: g for u in units if (g := _shape(u)) is not None}
    counties = [u.code for u in units if u.layer == "county" and u.code in shapes]
    if not counties or not matters:
        return []
    county = shapely.union_all([shapes[c] for c in counties])
    if not rules:
        return [TopologyProblem("rule_gap", "warning", tuple(counties),
                                T("version has no rules yet: every one of the {n} matters routes to the fallback "
                                  "team everywhere in the county", n=len(matters)), county,
                                m2_per_deg2(units) * county.area,
                                {"matters": [m.code for m in matters[:_SHOWN_MATTERS]], "n_matters": len(matters)})]
    k = m2_per_deg2(units)
    allowed = shapely.union_all(list(allowed_gaps)) if allowed_gaps else None
    by_code = {u.code: u for u in units}
    matter_names = {m.code: m.name for m in matters}
    places = _places(units, shapes, county, counties)
    area_of = _ScopeAreas(units, shapes, county)
    book = RuleBook(rules, delegations, matters, fallback_team="")
    codes_of: dict[str, list[int]] = defaultdict(list)  # matter → rules naming it explicitly
    for i, r in enumerate(book.rules):
        if r.matters.type == "codes":
            for code in r.matters.codes or ():
                codes_of[code].append(i)

    # (place, part, its matters) → the days it is a gap: one problem per part and matter set, with its days.
    found: dict[tuple[str, bytes, tuple[str, ...]], tuple[BaseGeometry, list[date]]] = {}
    for day in sorted(set(days)):
        today: dict[tuple[str, bytes], tuple[BaseGeometry, set[str]]] = {}
        in_force = [i for i, r in enumerate(book.rules) if rule_in_force(r, day)]
        for place_code, township, place in places:
            groups: dict[tuple[str, tuple[int, ...], bool], list[Matter]] = defaultdict(list)
            for m in matters:
                held = township is not None and (township, m.code) in book.delegated
                groups[(m.domain, tuple(codes_of.get(m.code, ())), held)].append(m)
            for group in groups.values():
                matching = [book.rules[i] for i in in_force if book.matter_matches(book.rules[i], group[0], township)]
                hole = area_of.uncovered(place, township, matching)
                if hole is None:
                    continue
                if allowed is not None:
                    hole = shapely.difference(hole, allowed)
                for part in shapely.get_parts(_polygonal(hole)):
                    if part.area * k <= tolerance_m2:
                        continue
                    key = (place_code, shapely.to_wkb(shapely.normalize(part)))
                    today.setdefault(key, (part, set()))[1].update(m.code for m in group)
        for (place_code, wkb), (part, codes) in today.items():
            found.setdefault((place_code, wkb, tuple(sorted(codes))), (part, []))[1].append(day)
    out = []
    for (place_code, _, listed), (part, when) in found.items():
        area = part.area * k
        shown = listing([T("{name} ({code})", name=matter_names[c], code=c) if matter_names.get(c) else c
                         for c in listed], limit=5)
        on = (T("on {day}", day=day_text(when[0])) if len(when) == 1 else
              T("from {day} ({n} rule periods)", day=day_text(when[0]), n=len(when)))
        out.append(TopologyProblem(
            "rule_gap", "error", (place_code,),
            T("{area} of {place} have no rule in force {on} for {n} matter(s) ({matters}): every report there is a "
              "gap and goes to the fallback team; add or extend a rule, or store the place as an allowed gap",
              area=area_text(area), place=named(by_code.get(place_code), place_code), on=on, n=len(listed),
              matters=shown), part, area,
            {"matters": list(listed[:_SHOWN_MATTERS]), "n_matters": len(listed),
             "days": [d.isoformat() for d in when]}))
    return sorted(out, key=lambda p: (p.codes, -(p.area_m2 or 0)))


def _shape(u: Unit) -> BaseGeometry | None:
    """A unit's area when it has a usable one (invalid geometry is the validity check's problem)."""
    g = u.geometry if u.geometry is not None else cells_to_geometry(u.cells) if u.cells else None
    return g if g is not None and not g.is_empty and g.is_valid else None


def _places(units: list[Unit], shapes: dict[str, BaseGeometry], county: BaseGeometry,
            counties: list[str]) -> list[tuple[str, str | None, BaseGeometry]]:
    """(code, township or None, area): each township inside the county, and each county's land no township covers
    (several counties may share a deployment)."""
    towns = [u.code for u in units if u.layer == "township" and u.code in shapes]
    out: list[tuple[str, str | None, BaseGeometry]] = []
    for t in towns:
        inside = _polygonal(shapely.intersection(shapes[t], county))
        if not inside.is_empty:
            out.append((t, t, inside))
    held = shapely.union_all([shapes[t] for t in towns]) if towns else None
    for c in counties:
        rest = _polygonal(shapely.difference(shapes[c], held)) if held is not None else shapes[c]
        if not rest.is_empty:
            out.append((c, None, rest))
    return out


class _ScopeAreas:
    """The area each rule's scope covers, computed once per scope."""

    def __init__(self, units: list[Unit], shapes: dict[str, BaseGeometry], county: BaseGeometry) -> None:
        self.units = units
        self.shapes = shapes
        self.county = county
        self._layers: dict[str, BaseGeometry] = {}
        self._cells: dict[str, BaseGeometry] = {}
        self._unions: dict[tuple[str, ...], BaseGeometry] = {}

    def _area(self, rule: Rule) -> tuple[str, BaseGeometry | None]:
        s = rule.scope
        if s.type == "everywhere":
            return "*", self.county
        if s.type == "unit":
            return f"u:{s.unit_code}", self.shapes.get(s.unit_code or "")
        if s.type == "layer":
            layer = s.layer or ""
            if layer not in self._layers:
                parts = [self.shapes[u.code] for u in self.units if u.layer == layer and u.code in self.shapes]
                self._layers[layer] = shapely.union_all(parts) if parts else shapely.Polygon()
            return f"l:{layer}", self._layers[layer]
        if rule.code not in self._cells:
            self._cells[rule.code] = cells_to_geometry(s.cells) if s.cells else shapely.Polygon()
        return f"c:{rule.code}", self._cells[rule.code]

    def uncovered(self, place: BaseGeometry, township: str | None, matching: list[Rule]) -> BaseGeometry | None:
        """The part of `place` (in `township`, or in none) no matching rule's scope covers (None: nothing)."""
        whole = {"*", "l:county"} | ({f"u:{township}", "l:township"} if township else set())
        keys: dict[str, BaseGeometry] = {}
        for rule in matching:
            key, area = self._area(rule)
            if key in whole:
                return None  # the whole place (a shortcut; the overlay would say the same)
            if area is not None and not area.is_empty:
                keys[key] = area
        if not keys:
            return place
        signature = tuple(sorted(keys))
        union = self._unions.get(signature)
        if union is None:
            union = self._unions[signature] = shapely.union_all(list(keys.values()))
        hole = shapely.difference(place, union)
        return None if hole.is_empty else hole


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()
