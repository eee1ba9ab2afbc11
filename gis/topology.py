"""Topology checks on a version's units, each problem located by a geometry a planner can see on a map.

What is checked (areas in square metres on the local plane at the units' latitude):
- validity: empty or invalid polygons (self-intersections, ring problems), located at the reported spot;
- overlaps within a layer (zones only within one kind), beyond `tolerance_m2`;
- gaps: where a layer is meant to tile its parent (`LayerSpec.partitions_parent`), the parent's area not
  covered by its children, beyond `tolerance_m2` and outside the allowed-gap areas (water bodies…).
  While some child still has no geometry ("to be drawn") a gap is a warning, not an error; when the drawn
  children already cover the parent, the undrawn ones' land is inside them: a `to_be_drawn` warning says so;
- outside the parent: the part of a unit beyond its parent, beyond `tolerance_m2`;
- slivers: polygon parts thinner than `sliver_ratio` (isoperimetric quotient 4πA/P²) and smaller than
  `sliver_max_m2` — usually digitising leftovers (a warning);
- H3 collisions: a cell claimed by two grid units, directly or through a parent/child cell;
- detached parts: a county, township or village in more than one piece (slivers aside) — an exclave, or
  a village moved to a township it does not touch (a warning, located at the smaller pieces).

Messages are marked for translation (`i18n.T`) and kept as `Text` (`TopologyProblem.text`): a problem cached
with a version's answer is rendered in each reader's language when the answer is written (`feature()`); names
come before codes, areas in m²/km² with 亩, distances in m/km (`i18n.units`). `message` is the English.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import h3
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry

from gis.crs import metres_per_degree
from gis.layers import REGISTRY
from gis.model import Unit, cells_outside, cells_to_geometry
from i18n import T, Text, render
from i18n.units import area as area_text
from i18n.units import distance, listing, term

Severity = Literal["error", "warning"]
_REASON_AT = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")


@dataclass(frozen=True)
class TopologyOptions:
    tolerance_m2: float = 1.0
    allowed_gaps: tuple[BaseGeometry, ...] = ()
    sliver_ratio: float = 0.02
    sliver_max_m2: float = 5_000.0


@dataclass(frozen=True)
class TopologyProblem:
    """One problem: what, how bad, which units, and where (a geometry in WGS84). `text` is the message for a
    person (rendered in the reader's language when read), `message` its English."""

    check: str
    severity: Severity
    codes: tuple[str, ...]
    text: str | Text
    geometry: BaseGeometry
    area_m2: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """The message in English (logs, tests)."""
        return str(self.text)

    def feature(self) -> dict[str, Any]:
        """The problem as a GeoJSON feature, its message in the current language."""
        return {"type": "Feature", "geometry": shapely.geometry.mapping(self.geometry),
                "properties": {"check": self.check, "severity": self.severity, "codes": list(self.codes),
                               "message": render(self.text),
                               "area_m2": None if self.area_m2 is None else round(self.area_m2, 3), **self.extra}}


def named(unit: Unit | None, code: str) -> Text:
    """A unit's name with its code second: 马头镇（139900104000）; the code alone when it has no name."""
    name = unit.name if unit is not None else None
    return T("{name} ({code})", name=name, code=code) if name and name != code else T("{code}", code=code)


def m2_per_deg2(units: Iterable[Unit]) -> float:
    """Square metres per square degree on the local plane at the units' mean latitude."""
    lats = [g.centroid.y for u in units if (g := u.shape()) is not None and not g.is_empty]
    kx, ky = metres_per_degree(sum(lats) / len(lats) if lats else 0.0)
    return kx * ky


class _Plane:
    """Areas in square metres at the units' mean latitude."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self.k = m2_per_deg2(units)

    def m2(self, g: BaseGeometry) -> float:
        return float(g.area) * self.k


def check_topology(units: list[Unit], options: TopologyOptions | None = None) -> list[TopologyProblem]:
    """Every topology problem among these units (one version), errors first."""
    opt = options or TopologyOptions()
    plane = _Plane(units)
    problems: list[TopologyProblem] = []
    valid: dict[str, BaseGeometry] = {}
    for u in units:
        if u.cells is not None:
            continue
        g = u.geometry
        if g is None:
            continue
        if g.is_empty:
            problems.append(TopologyProblem("validity", "error", (u.code,),
                                            T("{unit} has an empty geometry", unit=named(u, u.code)),
                                            shapely.Point()))
            continue
        reason = shapely.is_valid_reason(g)
        if reason != "Valid Geometry":
            m = _REASON_AT.search(reason)
            where = shapely.Point(float(m.group(1)), float(m.group(2))) if m else g.representative_point()
            problems.append(TopologyProblem("validity", "error", (u.code,),
                                            T("{unit} is invalid: {reason}", unit=named(u, u.code), reason=reason),
                                            where))
            continue
        valid[u.code] = g
    by_code = {u.code: u for u in units}
    layers: dict[str, list[Unit]] = defaultdict(list)
    for u in units:
        layers[u.layer].append(u)
    for name, members in layers.items():
        groups: dict[str, list[Unit]] = defaultdict(list)
        for u in members:
            groups[u.kind if name == "zone" else name].append(u)
        for group in groups.values():
            problems += _overlaps(group, valid, plane, opt, by_code)
    problems += _outside_parents(units, by_code, valid, plane, opt)
    problems += _cells_outside_parents(units, by_code, valid)
    problems += _gaps(units, by_code, valid, plane, opt)
    problems += _slivers(units, valid, plane, opt)
    problems += _detached(units, valid, plane, opt)
    problems += _cell_collisions(layers.get("grid", []))
    return sorted(problems, key=lambda p: (p.severity != "error", p.check, p.codes))


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    """Only the areal part of an overlay result (shared edges and points are not overlaps)."""
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts and g.geom_type == "GeometryCollection":
        parts = [p for sub in shapely.get_parts(g) for p in shapely.get_parts(sub) if p.geom_type == "Polygon"]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _overlaps(group: list[Unit], valid: dict[str, BaseGeometry], plane: _Plane,
              opt: TopologyOptions, by_code: dict[str, Unit]) -> list[TopologyProblem]:
    polys = [(u.code, valid[u.code]) for u in group if u.code in valid]
    if len(polys) < 2:
        return []
    tree = shapely.STRtree([g for _, g in polys])
    left, right = tree.query([g for _, g in polys], predicate="intersects")
    out = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        (a, ga), (b, gb) = polys[i], polys[j]
        shared = _polygonal(shapely.intersection(ga, gb))
        area = plane.m2(shared)
        if area > opt.tolerance_m2:
            message = T("{a} and {b} overlap by {area} (tolerance {tolerance} m²)", a=named(by_code.get(a), a),
                        b=named(by_code.get(b), b), area=area_text(area), tolerance=format(opt.tolerance_m2, "g"))
            out.append(TopologyProblem("overlap", "error", (a, b), message, shared, area))
    return out


def _outside_parents(units: list[Unit], by_code: dict[str, Unit], valid: dict[str, BaseGeometry], plane: _Plane,
                     opt: TopologyOptions) -> list[TopologyProblem]:
    """Units beyond their parent; a zone without parent_code beyond the county (the union of the counties)."""
    counties = [c for c in sorted(by_code) if by_code[c].layer == "county" and c in valid]
    county = shapely.union_all([valid[c] for c in counties]) if counties else None
    out = []
    for u in units:
        parent = by_code.get(u.parent_code or "")
        if u.code not in valid:
            continue
        if parent is None and u.layer == "zone" and not u.parent_code and county is not None:
            outer, owners = county, tuple(counties)
            label = T("the county {county} (it has no parent_code)",
                      county=listing([named(by_code.get(c), c) for c in counties]))
        elif parent is not None and parent.code in valid:
            outer, owners = valid[parent.code], (parent.code,)
            label = T("its parent {parent}", parent=named(parent, parent.code))
        else:
            continue
        beyond = _polygonal(shapely.difference(valid[u.code], outer))
        area = plane.m2(beyond)
        if area > opt.tolerance_m2:
            message = T("{area} of {unit} lie outside {outer}", area=area_text(area), unit=named(u, u.code),
                        outer=label)
            out.append(TopologyProblem("outside_parent", "error", (u.code, *owners), message, beyond, area))
    return out


def _cells_outside_parents(units: list[Unit], by_code: dict[str, Unit],
                           valid: dict[str, BaseGeometry]) -> list[TopologyProblem]:
    """H3 units whose cells' centres left their parent (a write checks the unit; this catches a parent redrawn
    after it), located at those cells."""
    counties = [c for c in sorted(by_code) if by_code[c].layer == "county" and c in valid]
    out: list[TopologyProblem] = []
    for u in units:
        parent = by_code.get(u.parent_code or "")
        if u.cells is not None and parent is None and u.layer == "zone" and not u.parent_code and counties:
            outer, parent = shapely.union_all([valid[c] for c in counties]), by_code[counties[0]]
        elif u.cells is None or parent is None or parent.code not in valid:
            continue
        else:
            outer = valid[parent.code]
        outside = cells_outside(u.cells, outer)
        if outside:
            message = T("{n} of {total} H3 cells of {unit} have their centre outside its parent {parent} (first: "
                        "{cell}); move them to a unit of the village that holds them", n=len(outside),
                        total=len(u.cells), unit=named(u, u.code), parent=named(parent, parent.code), cell=outside[0])
            out.append(TopologyProblem("outside_parent", "error", (u.code, parent.code), message,
                                       cells_to_geometry(outside), extra={"cells": outside}))
    return out


def _gaps(units: list[Unit], by_code: dict[str, Unit], valid: dict[str, BaseGeometry], plane: _Plane,
          opt: TopologyOptions) -> list[TopologyProblem]:
    children: dict[str, list[Unit]] = defaultdict(list)
    for u in units:
        if u.parent_code and REGISTRY[u.layer].partitions_parent:
            children[u.parent_code].append(u)
    allowed = shapely.union_all(list(opt.allowed_gaps)) if opt.allowed_gaps else None
    out: list[TopologyProblem] = []
    for parent_code, kids in sorted(children.items()):
        if parent_code not in valid:
            continue
        drawn = [valid[k.code] for k in kids if k.code in valid]
        undrawn = [k.code for k in kids if k.code not in valid and k.cells is None]
        hole = shapely.difference(valid[parent_code], shapely.union_all(drawn)) if drawn else valid[parent_code]
        if allowed is not None:
            hole = shapely.difference(hole, allowed)
        before = len(out)
        for part in shapely.get_parts(_polygonal(hole)):
            area = plane.m2(part)
            if area <= opt.tolerance_m2:
                continue
            layer = term("layer", kids[0].layer)
            parent = named(by_code.get(parent_code), parent_code)
            if undrawn:
                out.append(TopologyProblem("gap", "warning", (parent_code,),
                                           T("{area} of {parent} belong to no {layer} yet; {n} {layer}(s) are still "
                                             "to be drawn", area=area_text(area), parent=parent, layer=layer,
                                             n=len(undrawn)), part, area, {"to_be_drawn": undrawn[:20]}))
            else:
                out.append(TopologyProblem("gap", "error", (parent_code,),
                                           T("{area} of {parent} belong to no {layer} (tolerance {tolerance} m²)",
                                             area=area_text(area), parent=parent, layer=layer,
                                             tolerance=format(opt.tolerance_m2, "g")), part, area))
        if undrawn and drawn and len(out) == before:
            out.append(_held_by_siblings(parent_code, kids, undrawn, valid, by_code))
    return out


def _held_by_siblings(parent_code: str, kids: list[Unit], undrawn: list[str],
                      valid: dict[str, BaseGeometry], by_code: dict[str, Unit]) -> TopologyProblem:
    """Children still to be drawn while their drawn siblings already cover the parent (a Voronoi of the seated
    townships, say): their land is inside those siblings for now, so points there route to the siblings' teams.
    Located at the siblings marked `provisional_for` them (by `gridgov derive`), else at every drawn sibling."""
    wanted = set(undrawn)
    holders = [k.code for k in kids if k.code in valid and wanted & set(k.attributes.get("provisional_for") or ())]
    holders = holders or [k.code for k in kids if k.code in valid]
    message = T("{n} {layer}(s) of {parent} are still to be drawn ({undrawn}) while the drawn ones cover it: their "
                "land lies inside {holders} for now, and reports there go to those teams", n=len(undrawn),
                layer=term("layer", kids[0].layer), parent=named(by_code.get(parent_code), parent_code),
                undrawn=listing([named(by_code.get(c), c) for c in undrawn], limit=5),
                holders=listing([named(by_code.get(c), c) for c in holders], limit=5))
    return TopologyProblem(
        "to_be_drawn", "warning", (parent_code, *undrawn[:20]), message,
        shapely.union_all([valid[c] for c in holders]), extra={"to_be_drawn": undrawn[:20], "held_by": holders})


def _sliver_ratio(part: BaseGeometry, plane: _Plane, opt: TopologyOptions) -> float | None:
    """The part's shape ratio when it is a sliver (thin and small), else None."""
    area = plane.m2(part)
    perimeter = float(part.length) * math.sqrt(plane.k)
    if perimeter == 0 or area >= opt.sliver_max_m2:
        return None
    ratio = 4 * math.pi * area / perimeter**2
    return ratio if ratio < opt.sliver_ratio else None


def _slivers(units: list[Unit], valid: dict[str, BaseGeometry], plane: _Plane,
             opt: TopologyOptions) -> list[TopologyProblem]:
    out = []
    for u in units:
        g = valid.get(u.code)
        if g is None:
            continue
        for part in shapely.get_parts(g):
            ratio = _sliver_ratio(part, plane, opt)
            if ratio is not None:
                area = plane.m2(part)
                out.append(TopologyProblem("sliver", "warning", (u.code,),
                                           T("{unit} has a sliver of {area} (shape ratio {ratio})",
                                             unit=named(u, u.code), area=area_text(area), ratio=format(ratio, ".4f")),
                                           part, area))
    return out


def _detached(units: list[Unit], valid: dict[str, BaseGeometry], plane: _Plane,
              opt: TopologyOptions) -> list[TopologyProblem]:
    out = []
    for u in units:
        spec = REGISTRY.get(u.layer)
        g = valid.get(u.code)
        if g is None or spec is None or not (spec.partitions_parent or spec.parent_layer is None):
            continue  # zones and grids may well come in pieces (a park here, a park there)
        parts = sorted((p for p in shapely.get_parts(g) if _sliver_ratio(p, plane, opt) is None),
                       key=lambda p: -p.area)  # slivers are reported as such
        if len(parts) < 2:
            continue
        kx, ky = metres_per_degree(g.centroid.y)
        main = shapely.affinity.scale(parts[0], kx, ky, origin=(0, 0))
        far = max(main.distance(shapely.affinity.scale(p, kx, ky, origin=(0, 0))) for p in parts[1:])
        rest = shapely.union_all(parts[1:])
        area = plane.m2(rest)
        out.append(TopologyProblem(
            "detached", "warning", (u.code,),
            T("{unit} is in {n} separate parts: {area} apart from its main part, up to {distance} away (an exclave, "
              "or a unit moved to a parent it does not touch?)", unit=named(u, u.code), n=len(parts),
              area=area_text(area), distance=distance(far)), rest, area,
            extra={"parts": len(parts), "distance_m": round(far, 1)}))
    return out


def _cell_collisions(grids: list[Unit]) -> list[TopologyProblem]:
    by_code = {u.code: u for u in grids}
    owners: dict[str, list[str]] = defaultdict(list)
    for u in grids:
        for c in u.cells or ():
            owners[c].append(u.code)
    out = []
    seen: set[tuple[str, str, str]] = set()
    for cell, codes in owners.items():
        claimants = list(codes)
        res = h3.get_resolution(cell)
        for r in range(res):  # a coarser cell of another unit covers this one
            claimants += [o for o in owners.get(h3.cell_to_parent(cell, r), []) if o not in claimants]
        if len(set(claimants)) > 1:
            pair = sorted(set(claimants))
            key = (cell, pair[0], pair[1])
            if key not in seen:
                seen.add(key)
                out.append(TopologyProblem("cell_collision", "error", tuple(pair),
                                           T("H3 cell {cell} is claimed by {units}", cell=cell,
                                             units=listing([named(by_code.get(c), c) for c in pair])),
                                           cells_to_geometry([cell]), extra={"cell": cell}))
    return out
