"""Derive township and village polygons in a draft from seat points (`gridgov derive`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gis.derive import derive_townships, derive_villages
from gis.errors import Conflict, InvalidInput
from gis.model import Unit
from store.repo import Repository


@dataclass
class DeriveReport:
    """What was derived, what is left to be drawn, and which points were skipped."""

    version_id: int
    derived: Counter[str] = field(default_factory=Counter)
    to_be_drawn: list[Unit] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    methods: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for scripts: `derived township=7 village=8 to_be_drawn=217 …`."""
        parts = " ".join(f"{k}={v}" for k, v in sorted(self.derived.items()))
        return (f"derived {parts or 'nothing'} to_be_drawn={len(self.to_be_drawn)} "
                f"skipped={len(self.skipped)} version={self.version_id}")


def _seat(unit: Unit) -> tuple[float, float] | None:
    seat = unit.attributes.get("seat")
    return (float(seat[0]), float(seat[1])) if seat else None


def derive_version(repo: Repository, version_id: int, *, village_radius_m: float = 1000.0) -> DeriveReport:
    """Fill in township polygons (Voronoi of seats in the county) and village polygons where located.

    Units a planner drew (a geometry not marked derived) are never overwritten.
    """
    units = repo.units(version_id)
    report = DeriveReport(version_id)
    by_parent: dict[str | None, list[Unit]] = {}
    for u in units:
        by_parent.setdefault(u.parent_code, []).append(u)
    updates: list[Unit] = []
    counties = [u for u in units if u.layer == "county"]
    if not counties:
        raise InvalidInput("no county in this version; import the code tree and the county boundary first")
    townships_by_code: dict[str, Unit] = {}
    for county in counties:
        if county.geometry is None:
            raise InvalidInput(f"county {county.code} has no boundary; import it first (gridgov import …)",
                               where=county.code)
        towns = [u for u in by_parent.get(county.code, []) if u.layer == "township"]
        drawn = [t.code for t in towns if t.geometry is not None and not t.derived]
        if drawn:
            raise Conflict(f"township(s) {', '.join(drawn[:5])} were drawn by a planner; derive would overwrite them",
                           where=drawn[0])
        missing = [t.code for t in towns if _seat(t) is None]
        if missing:
            raise InvalidInput(f"township(s) without a seat point: {', '.join(missing)}", where=missing[0])
        result = derive_townships(county.geometry, {t.code: _seat(t) for t in towns})  # type: ignore[misc]
        for t in towns:
            updated = t.model_copy(update={"geometry": result.polygons[t.code], "derived": True,
                                           "attributes": {**t.attributes, "derivation": "voronoi_of_seats"}})
            updates.append(updated)
            townships_by_code[t.code] = updated
        report.derived["township"] += len(towns)
        report.methods[result.method] += 1
    for town in townships_by_code.values():
        villages = [u for u in by_parent.get(town.code, []) if u.layer == "village"]
        editable = [v for v in villages if v.geometry is None or v.derived]
        located = {v.code: s for v in editable if (s := _seat(v)) is not None}
        polygons: dict[str, object] = {}
        if located and town.geometry is not None:
            result = derive_villages(town.geometry, located, n_villages=len(editable), radius_m=village_radius_m)
            report.skipped.update(result.skipped)
            report.methods[result.method] += 1
            polygons = dict(result.polygons)
            for v in editable:
                if v.code in result.polygons:
                    updates.append(v.model_copy(update={
                        "geometry": result.polygons[v.code], "derived": True,
                        "attributes": {**v.attributes, "derivation": f"voronoi_{result.method}"}}))
                    report.derived["village"] += 1
        report.to_be_drawn += [v for v in editable if v.code not in polygons]
    repo.add_units(version_id, updates, replace=True)
    return report
