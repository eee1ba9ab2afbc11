"""Derive township and village polygons in a draft from seat points (`gridgov derive`).

What can be derived is derived: townships with a seat get the Voronoi partition of the county among the
seated ones; a township (or a development park entered as one) without a seat is listed "to be drawn",
and because the partition covers the whole county its land lies for now inside its seated neighbours.
That is never silent: each such neighbour is marked `provisional_for` (the codes whose land it may hold),
`derive` says so, and the topology check repeats it as a located warning until the unit is drawn or
given a seat (`set_seats`, `gridgov derive --seat CODE=lon,lat`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from gis.crs import normalize_crs, to_wgs84
from gis.derive import derive_townships, derive_villages
from gis.errors import Conflict, InvalidInput
from gis.model import Unit
from i18n import T, Text
from i18n.units import listing
from store.repo import Repository

# Attribute on a derived township whose cell also holds the land of seatless townships (their codes).
PROVISIONAL_FOR = "provisional_for"


@dataclass
class DeriveReport:
    """What was derived, what is left to be drawn, and which points were skipped."""

    version_id: int
    derived: Counter[str] = field(default_factory=Counter)
    to_be_drawn: list[Unit] = field(default_factory=list)
    skipped: dict[str, Text] = field(default_factory=dict)
    methods: Counter[str] = field(default_factory=Counter)
    # Townships without a seat (to be drawn) → the derived townships whose cells hold their land for now.
    seatless: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for scripts: `derived township=6 village=8 to_be_drawn=218 to_be_drawn_township=1 …`
        (`to_be_drawn` counts every unit left without an area, townships among them)."""
        parts = " ".join(f"{k}={v}" for k, v in sorted(self.derived.items()))
        towns = sum(u.layer == "township" for u in self.to_be_drawn)
        return (f"derived {parts or 'nothing'} to_be_drawn={len(self.to_be_drawn)} to_be_drawn_township={towns} "
                f"skipped={len(self.skipped)} version={self.version_id}")

    def seatless_note(self, names: Mapping[str, str]) -> Text | None:
        """What the partition did with the land of townships without a seat, in words (None: nothing)."""
        if not self.seatless:
            return None
        listed = listing([T("{name} ({code})", name=names.get(c, c), code=c) for c in self.seatless])
        holders = listing(sorted({h for hs in self.seatless.values() for h in hs}))
        return T("{n} township(s) have no seat and are to be drawn: {listed}. Until they are drawn or given a seat "
                 "(--seat CODE=lon,lat), their land lies inside the Voronoi cells of the seated townships "
                 "({holders}), so reports there go to those townships' teams; those townships are marked {mark} and "
                 "validate warns about them", n=len(self.seatless), listed=listed, holders=holders,
                 mark=PROVISIONAL_FOR)


def set_seats(repo: Repository, version_id: int, seats: Mapping[str, tuple[float, float]],
              crs: str = "wgs84", *, where: str = "seat") -> list[Unit]:
    """Give units of a draft a seat point (x, y in `crs`), stored like the code-tree import's: the WGS84
    `seat` beside the raw `seat_raw` and `seat_crs`. For `gridgov derive --seat` and catalogue imports."""
    canonical = normalize_crs(crs, where=f"{where} crs")
    existing = {u.code: u for u in repo.units(version_id)}
    updated: list[Unit] = []
    for code, (x, y) in seats.items():
        unit = existing.get(code)
        if unit is None:
            raise InvalidInput(T("no unit {code} in version {id} to give a seat", code=code, id=version_id),
                               where=f"{where} {code}")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InvalidInput(T("seat of {code}: ({x}, {y}) is not a pair of finite numbers", code=code, x=x, y=y),
                               where=f"{where} {code}")
        lon, lat = to_wgs84(x, y, canonical, where=f"{where} {code}")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(T("seat of {code}: ({x}, {y}) in {crs} is not a place on Earth", code=code, x=x, y=y,
                                 crs=canonical),
                               where=f"{where} {code}")
        attrs = {**unit.attributes, "seat": [round(lon, 9), round(lat, 9)], "seat_raw": [x, y],
                 "seat_crs": canonical}
        updated.append(unit.model_copy(update={"attributes": attrs}))
    if updated:
        repo.add_units(version_id, updated, replace=True)
    return updated


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
        raise InvalidInput(T("no county in this version; import the code tree and the county boundary first"))
    townships_by_code: dict[str, Unit] = {}
    for county in counties:
        if county.geometry is None:
            raise InvalidInput(T("county {county} has no boundary; import it first (gridgov import …)",
                                 county=T("{name} ({code})", name=county.name, code=county.code)),
                               where=county.code)
        towns = [u for u in by_parent.get(county.code, []) if u.layer == "township"]
        drawn = [t.code for t in towns if t.geometry is not None and not t.derived]
        if drawn:
            raise Conflict(T("township(s) {codes} were drawn by a planner; derive would overwrite them",
                             codes=listing(drawn, limit=5)),
                           where=drawn[0])
        seats = {t.code: s for t in towns if (s := _seat(t)) is not None}
        seatless = [t for t in towns if t.code not in seats]
        if towns and not seats:
            raise InvalidInput(T("no township of county {county} has a seat point; give one with --seat CODE=lon,lat "
                                 "(repeatable)", county=T("{name} ({code})", name=county.name, code=county.code)),
                               where=county.code)
        if not towns:
            continue
        result = derive_townships(county.geometry, seats)
        holders = sorted(seats) if seatless else []
        for t in towns:
            attrs = {k: v for k, v in t.attributes.items() if k != PROVISIONAL_FOR}
            if t.code in seats:
                attrs["derivation"] = "voronoi_of_seats"
                if holders:
                    attrs[PROVISIONAL_FOR] = [c.code for c in seatless]
                updated = t.model_copy(update={"geometry": result.polygons[t.code], "derived": True,
                                               "attributes": attrs})
                townships_by_code[t.code] = updated
            else:  # an area derived before the seat went away is not kept: it would overlap the new cells
                attrs.pop("derivation", None)
                updated = t.model_copy(update={"geometry": None, "derived": False, "attributes": attrs})
                report.to_be_drawn.append(updated)
                report.seatless[t.code] = holders
            updates.append(updated)
        report.derived["township"] += len(seats)
        report.methods[result.method] += 1
        for t in seatless:  # its villages cannot be placed without the township's area
            for v in by_parent.get(t.code, []):
                if v.layer == "village" and (v.geometry is None or v.derived):
                    if v.geometry is not None:
                        updates.append(v.model_copy(update={"geometry": None, "derived": False}))
                    report.to_be_drawn.append(v)
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
