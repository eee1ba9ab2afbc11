"""The version workflow over the repository: topology check, validate, publish (checked), diff, rollback,
and the impact of a draft against the version in force (areas per township and per team — see
`gis/territory.py` for what a team's area is —, units and cells moved, cases re-owned).

Publishing refuses topology errors and back-dated effective dates (a date before today would change
which boundaries were in force for days already past, i.e. rewrite closed history; imports of old
generations pass `backdate=True` explicitly).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import shapely
import shapely.ops
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry

from gis.errors import Conflict, InvalidInput
from gis.model import Unit, Version
from gis.routing import Router
from gis.territory import team_territories
from gis.topology import TopologyOptions, TopologyProblem, check_topology, m2_per_deg2
from store.cases import OPEN_STATES  # duplicates and cancelled reports are nobody's workload
from store.repo import Repository
from store.schema import CaseRow, UnitRow

TEAM_AREA_MEANS = ("a team's area is where it holds the highest-priority rule scoped to a unit or to H3 cells in "
                   "force on `day`, whatever the rule's matters (a township team: its township minus the zones "
                   "a squadron's higher rule takes); a tie between teams counts for both; county-wide rules "
                   "draw no area")


def summary(problems: list[TopologyProblem]) -> dict[str, Any]:
    """Counts and the problems as a GeoJSON FeatureCollection."""
    errors = sum(p.severity == "error" for p in problems)
    return {"type": "FeatureCollection", "valid": errors == 0, "errors": errors,
            "warnings": len(problems) - errors, "features": [p.feature() for p in problems]}


class Versions:
    """Version workflow steps; the caller owns the transaction."""

    def __init__(self, repo: Repository, options: TopologyOptions | None = None) -> None:
        self.repo = repo
        self.options = options or TopologyOptions()

    def check(self, version_id: int) -> list[TopologyProblem]:
        """Topology problems of a version (any status), its stored allowed-gap areas excepted from gaps."""
        stored = tuple(g.geometry for g in self.repo.allowed_gaps(version_id))
        options = replace(self.options, allowed_gaps=self.options.allowed_gaps + stored)
        return check_topology(self.repo.units(version_id), options)

    def validate(self, version_id: int, expected_revision: int | None = None) -> tuple[Version, list[TopologyProblem]]:
        """Check a draft; it becomes `validated` when no error remains (any later edit makes it a draft again)."""
        row = self.repo.editable(version_id, expected_revision)
        problems = self.check(version_id)
        if not any(p.severity == "error" for p in problems):
            row.status = "validated"
        return self.repo.version(version_id), problems

    def publish(self, version_id: int, effective_from: date, today: date, *, backdate: bool = False) -> Version:
        """Publish after a fresh topology check; refuses errors and (unless told) a date before today."""
        version = self.repo.version(version_id)
        if version.status == "published":
            raise Conflict(f"version {version_id} is already published")
        if effective_from < today and not backdate:
            raise Conflict(f"a publish from {effective_from}, before today ({today}), would rewrite which boundaries "
                           "were in force on days already past; publish from today or later", where="effective_from")
        errors = [p for p in self.check(version_id) if p.severity == "error"]
        if errors:
            first = "; ".join(p.message for p in errors[:3])
            raise Conflict(f"publishing is refused while {len(errors)} topology error(s) remain ({first}); "
                           f"GET /versions/{version_id}/topology locates them", where="topology")
        return self.repo.publish(version_id, effective_from)

    def rollback(self, to_version: int, effective_from: date, today: date) -> Version:
        """Publish an earlier version's content again, as a new version from `effective_from`."""
        old = self.repo.version(to_version)
        if old.status != "published":
            raise InvalidInput(f"version {to_version} was never published; roll back to a published one",
                               where="version")
        draft = self.repo.create_version(f"rollback to {old.name}", based_on=to_version,
                                         note=f"content of version {to_version} ({old.name}) published again")
        assert draft.id is not None
        return self.publish(draft.id, effective_from, today)

    # -- split and merge ----------------------------------------------------------------------------
    def split(self, version_id: int, code: str, line: BaseGeometry, new_code: str, new_name: str,
              new_side: BaseGeometry, expected_revision: int | None = None) -> dict[str, Any]:
        """Cut a polygon unit in two along a line; the part holding `new_side` becomes `new_code`.

        Children follow the part that holds their representative point (a child straddling the line is
        refused by name: split it first);
        rules keep naming the old code; a split township's new part gets a copy of its delegation list."""
        unit = self.repo.unit(version_id, code)
        if unit.geometry is None:
            raise InvalidInput(f"{code} has no polygon to split (H3 units are reassigned cell by cell)", where="code")
        if line.geom_type not in ("LineString", "MultiLineString"):
            raise InvalidInput("the cut must be a LineString", where="line")
        pieces = list(shapely.get_parts(shapely.ops.split(unit.geometry, line)))
        if len(pieces) != 2:
            raise InvalidInput(f"the line cuts {code} into {len(pieces)} part(s); draw it across the unit once, "
                               "from outside to outside", where="line")
        new_parts = [p for p in pieces if p.covers(new_side)]
        if len(new_parts) != 1:
            raise InvalidInput("the point naming the new part must lie inside one of the two parts", where="at")
        new_geom = new_parts[0]
        old_geom = next(p for p in pieces if p is not new_geom)
        existing = {u.code: u for u in self.repo.units(version_id)}
        if new_code in existing:
            raise Conflict(f"code {new_code} already exists in this version", where="new_code")
        shrunk = unit.model_copy(update={"geometry": shapely.MultiPolygon([old_geom]), "raw_geometry": None,
                                         "raw_crs": None, "derived": False})
        born = unit.model_copy(update={"code": new_code, "name": new_name, "geometry": shapely.MultiPolygon([new_geom]),
                                       "raw_geometry": None, "raw_crs": None, "derived": False})
        moved = [c.model_copy(update={"parent_code": new_code}) for c in existing.values()
                 if c.parent_code == code and (shape := c.shape()) is not None
                 and new_geom.covers(shape.representative_point())]
        self.repo.add_units(version_id, [shrunk, born, *moved], replace=True, expected_revision=expected_revision)
        if unit.layer == "township":
            held = [d for d in self.repo.delegations(version_id) if d.township_code == code]
            self.repo._store_rules(version_id, [], [d.model_copy(update={"township_code": new_code}) for d in held])
        return {"kept": code, "created": new_code, "children_moved": [c.code for c in moved],
                "version": self.repo.version(version_id).model_dump(mode="json")}

    def merge(self, version_id: int, codes: list[str], into: str,
              expected_revision: int | None = None) -> dict[str, Any]:
        """Merge units of one layer into one of them: union of areas (or cells), children, rules, delegations."""
        if into not in codes or len(set(codes)) < 2:
            raise InvalidInput("name two or more units and which of them the others merge into", where="codes")
        units = [self.repo.unit(version_id, c) for c in codes]
        target = next(u for u in units if u.code == into)
        others = [u for u in units if u.code != into]
        if any(u.layer != target.layer or (u.layer == "zone" and u.kind != target.kind) for u in others):
            raise InvalidInput("only units of one layer (and one zone kind) merge", where="codes")
        if any((u.cells is None) != (target.cells is None) for u in others):
            raise InvalidInput("polygon units and H3 units do not merge; convert one first", where="codes")
        if target.cells is not None:
            merged = target.model_copy(update={"cells": sorted({c for u in units for c in u.cells or ()})})
        else:
            union = shapely.union_all([u.geometry for u in units if u.geometry is not None])
            parts = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
            merged = target.model_copy(update={"geometry": shapely.MultiPolygon(parts), "raw_geometry": None,
                                               "raw_crs": None, "derived": False})
        gone = {u.code for u in others}
        children = [c.model_copy(update={"parent_code": into}) for c in self.repo.units(version_id)
                    if c.parent_code in gone]
        self.repo.add_units(version_id, [merged, *children], replace=True, expected_revision=expected_revision)
        retargeted = []
        for code in sorted(gone):
            retargeted += self.repo.retarget_rules(version_id, code, into)
            row = self.repo.session.scalars(sa.select(UnitRow).where(UnitRow.version_id == version_id,
                                                                     UnitRow.code == code)).one()
            self.repo.session.delete(row)
        self.repo.session.flush()
        return {"merged": sorted(gone), "into": into, "children_moved": [c.code for c in children],
                "rules_retargeted": retargeted, "version": self.repo.version(version_id).model_dump(mode="json")}

    # -- diff -------------------------------------------------------------------------------------
    def diff(self, a: int, b: int) -> dict[str, Any]:
        """What changed from version a to version b: units, their areas, parents and rule teams; rules."""
        return self._compare(a, b)[0]

    def _compare(self, a: int, b: int) -> tuple[dict[str, Any], dict[str, Unit], dict[str, Unit], float]:
        """The diff, with both versions' units by code and the square metres per square degree."""
        self.repo.version(a), self.repo.version(b)  # an unknown id is a 404 naming it, not an empty version
        ua = {u.code: u for u in self.repo.units(a)}
        ub = {u.code: u for u in self.repo.units(b)}
        teams_a, teams_b = self._unit_teams(a), self._unit_teams(b)
        k = m2_per_deg2([*ua.values(), *ub.values()])
        changed = []
        for code in sorted(set(ua) & set(ub)):
            x, y = ua[code], ub[code]
            entry: dict[str, Any] = {"code": code, "layer": y.layer, "name": y.name}
            gx, gy = x.shape(), y.shape()
            if not _same_shape(gx, gy):
                entry["area_gained_m2"] = _area(shapely.difference(gy, gx) if gx and gy else gy, k)
                entry["area_lost_m2"] = _area(shapely.difference(gx, gy) if gx and gy else gx, k)
            if x.cells != y.cells:
                before, after = set(x.cells or ()), set(y.cells or ())
                entry["cells_added"], entry["cells_removed"] = sorted(after - before), sorted(before - after)
            if x.parent_code != y.parent_code:
                entry["parent"] = {"from": x.parent_code, "to": y.parent_code}
            if x.name != y.name:
                entry["renamed_from"] = x.name
            if teams_a.get(code) != teams_b.get(code):
                entry["teams"] = {"from": teams_a.get(code, []), "to": teams_b.get(code, [])}
            if len(entry) > 3:
                changed.append(entry)
        ra = {r.code: r for r in self.repo.rules(a)}
        rb = {r.code: r for r in self.repo.rules(b)}
        da = {(d.township_code, d.matter_code) for d in self.repo.delegations(a)}
        db = {(d.township_code, d.matter_code) for d in self.repo.delegations(b)}
        return {
            "from": a, "to": b,
            "units": {"added": sorted(set(ub) - set(ua)), "removed": sorted(set(ua) - set(ub)), "changed": changed},
            "rules": {"added": sorted(set(rb) - set(ra)), "removed": sorted(set(ra) - set(rb)),
                      "changed": sorted(c for c in set(ra) & set(rb) if ra[c] != rb[c])},
            "delegations": {"added": sorted(map(list, db - da)), "removed": sorted(map(list, da - db))},
        }, ua, ub, k

    def _unit_teams(self, version_id: int) -> dict[str, list[str]]:
        """The teams that unit-scoped rules name for each unit (its owners as the rule table says)."""
        out: dict[str, set[str]] = defaultdict(set)
        for r in self.repo.rules(version_id):
            if r.scope.type == "unit" and r.scope.unit_code:
                out[r.scope.unit_code].add(r.team_code)
        return {k: sorted(v) for k, v in out.items()}

    # -- impact -----------------------------------------------------------------------------------
    def impact(self, draft: int, current: int, router: Callable[[int], Router], day: date) -> dict[str, Any]:
        """What publishing `draft` in place of `current` would change (see the module notes)."""
        diff, units_a, units_b, k = self._compare(current, draft)
        area = {c["code"]: {"gained_m2": c.get("area_gained_m2", 0.0), "lost_m2": c.get("area_lost_m2", 0.0)}
                for c in diff["units"]["changed"] if c["layer"] == "township"}
        for code in diff["units"]["added"]:
            if units_b[code].layer == "township":
                area[code] = {"gained_m2": _area(units_b[code].shape(), k), "lost_m2": 0.0}
        for code in diff["units"]["removed"]:
            if units_a[code].layer == "township":
                area[code] = {"gained_m2": 0.0, "lost_m2": _area(units_a[code].shape(), k)}
        before = team_territories(list(units_a.values()), self.repo.rules(current), day)
        after = team_territories(list(units_b.values()), self.repo.rules(draft), day)
        team_area = {}
        for team in sorted(set(before) | set(after)):
            old, new = before.get(team), after.get(team)
            gained = _area(shapely.difference(new, old) if old is not None and new is not None else new, k)
            lost = _area(shapely.difference(old, new) if old is not None and new is not None else old, k)
            if gained or lost:
                team_area[team] = {"gained_m2": gained, "lost_m2": lost, "area_before_m2": _area(old, k),
                                   "area_after_m2": _area(new, k)}
        moved_units = [c for c in diff["units"]["changed"] if "parent" in c]
        cells_moved = sum(len(c.get("cells_added", [])) for c in diff["units"]["changed"])
        old_router, new_router = router(current), router(draft)
        rows = list(self.repo.session.execute(sa.select(
            CaseRow.id, CaseRow.lon, CaseRow.lat, CaseRow.matter_code, CaseRow.team_code, CaseRow.status,
            CaseRow.township_code).where(CaseRow.lon.is_not(None))))
        open_changes: list[dict[str, Any]] = []
        historical = 0
        load_before: defaultdict[str, int] = defaultdict(int)
        load_after: defaultdict[str, int] = defaultdict(int)
        for r in rows:
            new_team = new_router.owner(r.lon, r.lat, r.matter_code, day)
            if r.status in OPEN_STATES:
                load_before[r.team_code] += 1
                load_after[new_team] += 1
                if new_team != r.team_code:
                    open_changes.append({"case": r.id, "team": r.team_code, "would_be": new_team,
                                         "township": r.township_code, "status": r.status})
            elif r.status in ("closed", "evaluated") and old_router.owner(r.lon, r.lat, r.matter_code, day) != new_team:
                historical += 1
        teams = sorted(set(load_before) | set(load_after))
        return {
            "draft": draft, "current": current, "day": day.isoformat(), "diff": diff,
            "townships": {c: a for c, a in sorted(area.items()) if a["gained_m2"] or a["lost_m2"]},
            "teams": team_area,
            "team_area_means": TEAM_AREA_MEANS,
            "units_moved": moved_units, "cells_moved": cells_moved,
            "open_cases_changing_owner": open_changes,
            "historical_cases_reattributed": historical,
            "workload": {t: {"open_now": load_before.get(t, 0), "open_after": load_after.get(t, 0)} for t in teams},
            "note": "open cases keep their owner on publish unless a dispatcher transfers them",
        }


def _same_shape(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a.equals(b)) if a.is_valid and b.is_valid else bool(a.equals_exact(b, 0))


def _area(g: Any, k: float) -> float:
    return 0.0 if g is None or g.is_empty else round(float(g.area) * k, 1)
