"""Domain objects: units, teams, matters, delegations, routing rules and boundary versions.

Plain pydantic models, validated on construction, with shapely geometries in WGS84 lon/lat.
They know nothing of storage; `store/` maps them to tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Literal

import h3
import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput
from i18n import T

ADMIN_LAYERS = ("county", "township", "village", "grid")
LAYERS = (*ADMIN_LAYERS, "zone")
ZONE_KINDS = ("urban_core", "dev_zone", "scenic_area", "relocated_village")
TEAM_KINDS = ("county_bureau", "squadron", "township_team", "department", "grid_worker")

Layer = Literal["county", "township", "village", "grid", "zone"]
CODE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


def check_lonlat_bounds(geom: BaseGeometry, where: str | None = None) -> None:
    """Refuse NaN/inf or out-of-range lon/lat (catches projected metres sent as degrees)."""
    coords = shapely.get_coordinates(geom)
    if coords.size == 0:
        return
    if not bool(shapely.is_valid_input(geom)) or not math.isfinite(float(coords.sum())):
        raise InvalidInput(T("coordinates contain NaN or infinity"), where=where)
    lon, lat = coords[:, 0], coords[:, 1]
    if lon.min() < -180 or lon.max() > 180 or lat.min() < -90 or lat.max() > 90:
        raise InvalidInput(
            T("coordinates out of lon/lat range (x {min}..{max}, y {min2}..{max2}); are they projected metres? "
              "give the source CRS",
              min=format(lon.min(), ".6g"), max=format(lon.max(), ".6g"), min2=format(lat.min(), ".6g"),
              max2=format(lat.max(), ".6g")),
            where=where,
        )


class _Model(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")


def as_multipolygon(g: BaseGeometry) -> BaseGeometry:
    """A valid, non-empty lon/lat MultiPolygon from a Polygon or MultiPolygon (ValueError saying what is wrong)."""
    if g.geom_type == "Polygon":
        g = shapely.MultiPolygon([g])
    if g.geom_type != "MultiPolygon":
        raise ValueError(T("geometry must be a Polygon or MultiPolygon, got {geom_type}", geom_type=g.geom_type))
    if g.is_empty:
        raise ValueError(T("geometry is empty"))
    check_lonlat_bounds(g)
    if not g.is_valid:
        raise ValueError(T("geometry is invalid: {is_valid_reason}", is_valid_reason=shapely.is_valid_reason(g)))
    return g


class Unit(_Model):
    """A jurisdiction unit of one layer: polygon (WGS84 MultiPolygon) or H3 cells, or neither yet."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    layer: Layer
    kind: str = ""
    parent_code: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    geometry: BaseGeometry | None = None
    cells: list[str] | None = None
    derived: bool = False
    raw_geometry: BaseGeometry | None = None  # as received, in raw_crs
    raw_crs: str | None = None

    @field_validator("geometry")
    @classmethod
    def _multipolygon(cls, g: BaseGeometry | None) -> BaseGeometry | None:
        return None if g is None else as_multipolygon(g)

    @field_validator("cells")
    @classmethod
    def _h3cells(cls, cells: list[str] | None) -> list[str] | None:
        if cells is None:
            return None
        if not cells:
            raise ValueError(T("an H3 cell set must not be empty"))
        bad = [c for c in cells if not h3.is_valid_cell(c)]
        if bad:
            raise ValueError(T("not H3 cells: {items}", items=', '.join(bad[:5])))
        if len(set(cells)) != len(cells):
            raise ValueError(T("H3 cell set lists a cell twice"))
        return sorted(cells)

    @model_validator(mode="after")
    def _shape(self) -> Unit:
        if self.geometry is not None and self.cells is not None:
            raise ValueError(T("a unit has a polygon or a set of H3 cells, not both"))
        if self.layer == "zone" and self.kind not in ZONE_KINDS:
            raise ValueError(T("zone kind must be one of {items}, got {kind}",
                               items=', '.join(ZONE_KINDS), kind=repr(self.kind)))
        if self.layer != "zone" and not self.kind:
            self.kind = self.layer
        if self.layer == "county" and self.parent_code is not None and self.parent_code == self.code:
            raise ValueError(T("a unit cannot be its own parent"))
        return self

    @property
    def has_shape(self) -> bool:
        return self.geometry is not None or self.cells is not None

    def shape(self) -> BaseGeometry | None:
        """The unit's area as one geometry (cells are unioned into polygons)."""
        if self.geometry is not None:
            return self.geometry
        if self.cells is not None:
            return cells_to_geometry(self.cells)
        return None


def cells_outside(cells: Iterable[str], outer: BaseGeometry) -> list[str]:
    """The H3 cells whose centre `outer` does not cover: hexagons cannot follow a polygon edge, so an H3 unit
    belongs where its cells' centres are."""
    cells = list(cells)
    if not cells:
        return []
    lat_lon = np.array([h3.cell_to_latlng(c) for c in cells])
    inside = shapely.covers(outer, shapely.points(lat_lon[:, 1], lat_lon[:, 0]))
    return [c for c, ok in zip(cells, inside.tolist(), strict=True) if not ok]


def cells_to_geometry(cells: list[str]) -> BaseGeometry:
    """H3 cells (any mix of resolutions, repeats ignored) → a shapely (Multi)Polygon in lon/lat."""
    by_res: dict[int, set[str]] = {}
    for c in cells:
        by_res.setdefault(h3.get_resolution(c), set()).add(c)
    # h3 merges cells of one resolution only; the resolutions are then unioned by shapely.
    parts = [shapely.geometry.shape(h3.cells_to_h3shape(sorted(cs)).__geo_interface__) for cs in by_res.values()]
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


class AllowedGap(_Model):
    """An area a version's layers may leave uncovered (a lake, a river, a reservoir): not a topology gap."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    geometry: BaseGeometry
    note: str = Field(default="", max_length=2000)

    @field_validator("geometry")
    @classmethod
    def _multipolygon(cls, g: BaseGeometry) -> BaseGeometry:
        return as_multipolygon(g)


class Team(_Model):
    """An enforcement team, squadron, department or grid worker."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["county_bureau", "squadron", "township_team", "department", "grid_worker"]
    parent_code: str | None = None
    unit_code: str | None = None  # the unit it is based in, if any
    attributes: dict[str, Any] = Field(default_factory=dict)


class Matter(_Model):
    """An enforcement matter (执法事项) with its procedure and time limit."""

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=300)
    domain: str = Field(min_length=1, max_length=100)
    procedure: Literal["simple", "ordinary"] = "ordinary"
    time_limit: int = Field(default=5, gt=0)
    time_unit: Literal["working_hours", "working_days"] = "working_days"
    attributes: dict[str, Any] = Field(default_factory=dict)


DELEGATION_SITUATIONS = ("priority", "assessed", "deferred", "by_law", "wholesale")  # 优先 评估 暂缓 依法 整体下放


class Delegation(_Model):
    """A township holds a matter (赋权), with the delegation list's record of it: batch, date, situation, note.

    Routing reads every delegation of a version as held for the whole version, except a deferred one (暂缓: listed,
    not yet handed over); the date and batch say when and how the county delegated it (a later batch belongs in a
    version published from its date)."""

    township_code: str = Field(pattern=CODE_PATTERN)
    matter_code: str = Field(pattern=CODE_PATTERN)
    batch: str = Field(default="", max_length=100)
    effective_from: date | None = None
    situation: Literal["priority", "assessed", "deferred", "by_law", "wholesale"] | None = None
    note: str = Field(default="", max_length=2000)

    @property
    def held(self) -> bool:
        """Whether the township holds the matter now: every situation but deferred (暂缓)."""
        return self.situation != "deferred"


class RuleScope(_Model):
    """Where a rule applies: one unit or zone, a whole layer, a set of H3 cells, or everywhere."""

    type: Literal["unit", "layer", "cells", "everywhere"]
    unit_code: str | None = None
    layer: Layer | None = None
    cells: list[str] | None = None

    @model_validator(mode="after")
    def _complete(self) -> RuleScope:
        need = {"unit": self.unit_code, "layer": self.layer, "cells": self.cells}
        if self.type in need and not need[self.type]:
            field = {"unit": "unit_code", "layer": "layer", "cells": "cells"}[self.type]
            raise ValueError(T("scope type {type} needs {field}", type=repr(self.type), field=field))
        if self.cells:
            bad = [c for c in self.cells if not h3.is_valid_cell(c)]
            if bad:
                raise ValueError(T("not H3 cells: {items}", items=', '.join(bad[:5])))
        return self


class MatterFilter(_Model):
    """Which matters a rule covers: all, a domain, those (not) delegated to the township, or codes."""

    type: Literal["all", "domain", "delegated", "not_delegated", "codes"] = "all"
    domain: str | None = None
    codes: list[str] | None = None

    @model_validator(mode="after")
    def _complete(self) -> MatterFilter:
        if self.type == "domain" and not self.domain:
            raise ValueError(T("matter filter 'domain' needs domain"))
        if self.type == "codes" and not self.codes:
            raise ValueError(T("matter filter 'codes' needs codes"))
        return self


class Rule(_Model):
    """A routing rule: higher priority wins; equal priority with different teams is a dispute."""

    code: str = Field(pattern=CODE_PATTERN)
    priority: int = Field(ge=0, le=10_000)
    scope: RuleScope
    matters: MatterFilter = Field(default_factory=MatterFilter)
    team_code: str = Field(pattern=CODE_PATTERN)
    co_owner_codes: list[str] = Field(default_factory=list)
    effective_from: date | None = None
    effective_to: date | None = None  # exclusive
    legal_basis: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _dates(self) -> Rule:
        if self.effective_from and self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError(T("effective_to must be after effective_from"))
        if self.team_code in self.co_owner_codes:
            raise ValueError(T("the owning team cannot also be a co-owner"))
        return self


class Version(_Model):
    """A generation of boundaries, rules and delegations, effective over [from, to)."""

    id: int | None = None
    name: str = Field(min_length=1, max_length=200)
    status: Literal["draft", "validated", "published"] = "draft"
    effective_from: date | None = None
    effective_to: date | None = None
    note: str = ""
    based_on: int | None = None
    revision: int = 0  # bumped by every edit of a draft: what an edit must name (optimistic concurrency)


class Incident(_Model):
    """A reported incident point (the case workflow builds on it)."""

    reported_at: datetime
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    matter_code: str = Field(pattern=CODE_PATTERN)
    description: str = ""
    reporter: str | None = None
    accuracy_m: float | None = Field(default=None, ge=0)
    raw_x: float | None = None  # as the device gave it, in raw_crs
    raw_y: float | None = None
    raw_crs: str = "wgs84"
    external_id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


def in_county(units: list[Unit], county: str) -> set[str]:
    """Codes of the units of one county: the county, every unit whose parent chain reaches it, and zones without
    a parent whose area's representative point the county covers (several counties in one deployment)."""
    by_code = {u.code: u for u in units}
    root = by_code.get(county)
    if root is None or root.layer != "county":
        return set()
    outline = root.shape()
    out: set[str] = set()
    for u in units:
        seen: set[str] = set()
        code: str | None = u.code
        while code is not None and code not in seen and code != county:
            seen.add(code)
            parent = by_code.get(code)
            code = parent.parent_code if parent is not None else None
        if code == county:
            out.add(u.code)
        elif u.parent_code is None and u.layer == "zone" and outline is not None:
            shape = u.shape()
            if shape is not None and outline.covers(shape.representative_point()):
                out.add(u.code)
    return out
