"""Unit assignment, the way redistricting tools work: move a village (or grid) to another township (or
village) in a draft, and the two parents' outlines follow, each redrawn as the union of its children.

A parent follows only when it *is* the union of its children (within `COMPOSED_TOLERANCE` of its area);
otherwise the move is refused with the way out (redraw the parent first), since moving the child alone
would leave it outside its parent. Cell-based units change parent only (their parents are not made of them).
"""

from __future__ import annotations

from typing import Any

import h3
import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import Conflict, InvalidInput, NotFound
from gis.model import Unit
from i18n import T
from store.repo import Repository

COMPOSED_TOLERANCE = 0.001  # share of the parent's area by which it may differ from the union of its children
SNAP_GRID = 1e-9  # degrees (~0.1 mm): unions of neighbours on a common grid, so shared edges leave no slivers


def _union(shapes: list[BaseGeometry]) -> BaseGeometry:
    return shapely.union_all(shapes, grid_size=SNAP_GRID)


def _multi(g: BaseGeometry) -> BaseGeometry:
    return g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])


def reassign(repo: Repository, version_id: int, code: str, parent_code: str,
             expected_revision: int | None = None) -> dict[str, Any]:
    """Move `code` under `parent_code` in a draft, redrawing both parents when they are made of their children."""
    units = {u.code: u for u in repo.units(version_id)}
    unit = units.get(code)
    if unit is None:
        raise NotFound(T("no unit {code} in version {version_id}", code=code, version_id=version_id))
    if unit.parent_code is None:
        raise InvalidInput(T("{code} is a {layer} with no parent; nothing to reassign",
                             code=code, layer=unit.layer), where="code")
    new = units.get(parent_code)
    if new is None:
        raise NotFound(T("no unit {parent_code} in version {version_id}",
                         parent_code=parent_code, version_id=version_id))
    old = units[unit.parent_code]
    if new.code == old.code:
        raise InvalidInput(T("{code} already belongs to {parent_code}", code=code, parent_code=parent_code),
                           where="parent_code")
    if new.layer != old.layer:
        raise InvalidInput(T("{parent_code} is a {layer}; a {layer2}'s parent is a {layer3}",
                             parent_code=parent_code, layer=new.layer, layer2=unit.layer, layer3=old.layer),
                           where="parent_code")
    moved = unit.model_copy(update={"parent_code": new.code})
    changed: list[Unit] = [moved]
    redrawn: list[str] = []
    shape = unit.shape()
    if shape is not None and old.shape() is not None and new.shape() is not None:
        siblings = {p.code: [c for c in units.values() if c.parent_code == p.code and c.layer == unit.layer
                             and c.shape() is not None] for p in (old, new)}
        if len(siblings[old.code]) == 1:
            raise Conflict(T("{code} is the last {layer} of {code2}; merge the {layer2}s instead",
                             code=code, layer=unit.layer, code2=old.code, layer2=old.layer),
                           where="code")
        for parent in (old, new):
            outline = parent.shape()
            assert outline is not None
            composed = _union([c.shape() for c in siblings[parent.code]])  # type: ignore[misc]
            if outline.symmetric_difference(composed).area > COMPOSED_TOLERANCE * outline.area:
                raise InvalidInput(
                    T("{code}'s outline is not the union of its {layer}s, so it cannot follow the move; redraw "
                      "{code} (PUT its unit) or edit {code2}'s boundary instead",
                      code=parent.code, layer=unit.layer, code2=code), where="parent_code")
        old_geom = _union([c.shape() for c in siblings[old.code] if c.code != code])  # type: ignore[misc]
        new_geom = _union([*(c.shape() for c in siblings[new.code]), shape])  # type: ignore[misc]
        for parent, geom in ((old, old_geom), (new, new_geom)):
            changed.append(parent.model_copy(update={"geometry": _multi(geom), "raw_geometry": None,
                                                     "raw_crs": None, "derived": False}))
            redrawn.append(parent.code)
    repo.add_units(version_id, changed, replace=True, expected_revision=expected_revision)
    return {"moved": code, "from": old.code, "to": new.code, "redrawn": redrawn,
            "version": repo.version(version_id).model_dump(mode="json")}


MAX_CELLS_PER_MOVE = 5000


def move_cells(repo: Repository, version_id: int, cells: list[str], to: str,
               expected_revision: int | None = None) -> dict[str, Any]:
    """Give H3 cells to the cell-based unit `to` in a draft, taking them from whichever units of its layer (for
    a zone: of its kind) hold them (a cell two units held — a collision — ends up held once), all in one edit."""
    if not cells:
        raise InvalidInput(T("name at least one H3 cell to move"), where="cells")
    if len(cells) > MAX_CELLS_PER_MOVE:
        raise InvalidInput(T("{n} cells in one move; at most {most}",
                             n=len(cells), most=MAX_CELLS_PER_MOVE), where="cells")
    bad = [c for c in cells if not isinstance(c, str) or not h3.is_valid_cell(c)]
    if bad:
        raise InvalidInput(T("not H3 cells: {items}", items=', '.join(map(str, bad[:5]))), where="cells")
    moving = {c.lower() for c in cells}  # H3 indexes are stored in lower case
    units = {u.code: u for u in repo.units(version_id)}
    target = units.get(to)
    if target is None:
        raise NotFound(T("no unit {to} in version {version_id}", to=to, version_id=version_id))
    if target.cells is None:
        raise InvalidInput(T("{to} is a polygon {layer}, not a set of H3 cells; cells move between H3 units",
                             to=to, layer=target.layer),
                           where="to")
    already = sorted(moving & set(target.cells))
    if already:
        raise InvalidInput(f"{to} already holds {already[0]}" + (f" and {len(already) - 1} more" if len(already) > 1
                                                                  else ""), where="cells")
    # Units the target competes with: its layer (zones: its kind — zones of other kinds may overlap it).
    givers = {u.code: u for u in units.values()
              if u.code != to and u.layer == target.layer and (u.layer != "zone" or u.kind == target.kind)
              and u.cells is not None and moving & set(u.cells)}
    held = set().union(*(set(u.cells or ()) for u in givers.values())) if givers else set()
    unheld = sorted(moving - held)
    if unheld:
        raise InvalidInput(f"{unheld[0]} is held by no {target.layer} of version {version_id}"
                           + (f" ({len(unheld) - 1} more likewise)" if len(unheld) > 1 else "")
                           + f"; add new cells by replacing {to} (PUT its unit with the whole cell list)",
                           where="cells")
    changed: list[Unit] = [target.model_copy(update={"cells": sorted(set(target.cells) | moving)})]
    taken: dict[str, list[str]] = {}
    for code, giver in sorted(givers.items()):
        left = sorted(set(giver.cells or ()) - moving)
        if not left:
            raise Conflict(T("the move would leave {code} with no cell; merge {code} into {to} instead",
                             code=code, to=to), where="cells")
        taken[code] = sorted(set(giver.cells or ()) & moving)
        changed.append(giver.model_copy(update={"cells": left}))
    repo.add_units(version_id, changed, replace=True, expected_revision=expected_revision)
    return {"moved": sorted(moving), "to": to, "from": taken,
            "version": repo.version(version_id).model_dump(mode="json")}
