"""Read polygon layers from GeoJSON, GeoPackage or Shapefile (pyogrio) into validated units."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
import shapely
from pydantic import ValidationError
from shapely.geometry.base import BaseGeometry

from gis.crs import geometry_to_wgs84, normalize_crs
from gis.errors import GridGovError, InvalidInput, problem_text
from gis.model import LAYERS, Unit
from gis.validate import Problem, raise_problems
from i18n import T, Text
from i18n.units import listing

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb"}
BASE_FIELDS = ("code", "name", "layer", "kind", "parent_code")


@dataclass
class VectorOptions:
    """How to read a vector file: which CRS, which fields, which layer."""

    crs: str | None = None  # None: the file's own CRS (GCJ-02/BD-09 files must say so explicitly)
    layer: str | None = None  # target layer for every feature, else the `layer` field
    source_layer: str | None = None  # layer inside a GeoPackage
    code_field: str = "code"
    name_field: str = "name"
    parent_field: str = "parent_code"
    code: str | None = None  # code for a single-feature file
    strict: bool = False  # reject invalid geometry instead of repairing it


@dataclass
class VectorRead:
    """Units read from a file, and what was repaired on the way."""

    units: list[tuple[str, Unit]]
    repaired: list[Text] = field(default_factory=list)
    crs: str = "wgs84"


def read_vector(path: Path, options: VectorOptions, existing: dict[str, Unit]) -> VectorRead:
    """Units from a vector file; features whose code exists update that unit's geometry."""
    try:
        info = pyogrio.read_info(path, layer=options.source_layer)
        frame = pyogrio.read_dataframe(path, layer=options.source_layer)
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise InvalidInput(T("cannot read as a vector layer: {why}", why=str(exc)), where=path.name) from exc
    crs = normalize_crs(options.crs or _file_crs(info.get("crs"), path), where=path.name)
    if options.code is not None and len(frame) != 1:
        raise InvalidInput(T("--code names one unit but the file has {n} features", n=len(frame)), where=path.name)
    problems: list[Problem] = []
    out = VectorRead(units=[], crs=crs)
    records = frame.drop(columns="geometry").to_dict("records")
    for n, (props, raw) in enumerate(zip(records, frame.geometry, strict=True), start=1):
        where = f"{path.name} feature {n}"
        label = T("{file}, feature {n}", file=path.name, n=n)
        try:
            unit, repaired = _feature_unit(props, raw, crs, options, existing, where)
        except GridGovError as exc:
            problems.append(Problem(where, exc.text, label))
            continue
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(map(str, err["loc"]))
            problems.append(Problem(where, T("{field}: {problem}", field=field, problem=problem_text(err)) if field
                                    else problem_text(err), label))
            continue
        out.units.append((f"{where} ({unit.code})", unit))
        if repaired:
            out.repaired.append(T("{where} ({code}): {repaired}", where=label, code=unit.code, repaired=repaired))
    raise_problems(problems, path.name)
    return out


def _file_crs(crs: str | None, path: Path) -> str:
    if not crs:
        if path.suffix.lower() in (".geojson", ".json"):
            return "wgs84"  # RFC 7946: GeoJSON without a crs member is WGS84
        raise InvalidInput(T("the file has no CRS; pass --crs (e.g. EPSG:4490, gcj02, bd09)"), where=path.name)
    return crs


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _feature_unit(
    props: dict[str, Any], raw: BaseGeometry | None, crs: str, options: VectorOptions,
    existing: dict[str, Unit], where: str,
) -> tuple[Unit, Text | None]:
    code = options.code or _text(props.get(options.code_field))
    if not code:
        raise InvalidInput(T("no code (field {field}; choose another with --code-field)",
                             field=repr(options.code_field)))
    cells = props.get("cells")
    cells = json.loads(cells) if isinstance(cells, str) and cells.strip() else None
    if raw is None and (cells or _flag(props.get("to_be_drawn"))):
        geometry, repaired, raw_crs = None, None, None  # H3 units, or units not drawn yet: no polygon to read
    else:
        geometry, repaired = _clean_geometry(raw, crs, options.strict, where)
        raw_crs = crs
    base = existing.get(code)
    layer = options.layer or _text(props.get("layer")) or (base.layer if base else None)
    if layer not in LAYERS:
        raise InvalidInput(T("unknown layer {layer} for {code}; pass --layer ({layers})", layer=repr(layer), code=code,
                             layers=listing(LAYERS)))
    attrs = _attributes(props, options)
    fields: dict[str, Any] = {
        "code": code, "layer": layer,
        "name": _text(props.get(options.name_field)) or (base.name if base else code),
        "kind": _text(props.get("kind")) or (base.kind if base else ""),
        "parent_code": _text(props.get(options.parent_field)) or (base.parent_code if base else None),
        "attributes": {**(base.attributes if base else {}), **attrs},
        "geometry": None if cells else geometry, "cells": cells,
        "raw_geometry": None if cells else raw, "raw_crs": None if cells else raw_crs,
        "derived": _flag(props.get("derived")),
    }
    return Unit(**fields), repaired


def _flag(value: Any) -> bool:
    """A boolean attribute as GeoJSON, GeoPackage (0/1) or Shapefile (text) carry it."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "t")
    return bool(value) if value is not None and value == value else False


def _attributes(props: dict[str, Any], options: VectorOptions) -> dict[str, Any]:
    skip = {*BASE_FIELDS, options.code_field, options.name_field, options.parent_field, "cells", "derived",
            "to_be_drawn"}
    attrs: dict[str, Any] = {}
    packed = props.get("attributes")
    if isinstance(packed, str) and packed.strip().startswith("{"):
        attrs.update(json.loads(packed))  # our own export packs attributes as JSON text
    for key, value in props.items():
        if key in skip or key == "attributes" or _text(value) is None:
            continue
        attrs[key] = value.item() if hasattr(value, "item") else value
    return attrs


def _clean_geometry(raw: BaseGeometry | None, crs: str, strict: bool, where: str
                    ) -> tuple[BaseGeometry, Text | None]:
    """WGS84 MultiPolygon from a raw feature geometry, repaired with make_valid unless strict."""
    if raw is None or raw.is_empty:
        raise InvalidInput(T("empty geometry (a unit not drawn yet needs the attribute to_be_drawn=true)"))
    if raw.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(T("{kind} is not a polygon; units need Polygon or MultiPolygon", kind=raw.geom_type))
    coords = shapely.get_coordinates(raw)
    if not bool(shapely.is_valid_input(raw)) or not all(map(math.isfinite, coords.ravel())):
        raise InvalidInput(T("coordinates contain NaN or infinity"))
    geometry = geometry_to_wgs84(raw, crs, where=where)
    repaired: Text | None = None
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        if strict:
            raise InvalidInput(T("invalid polygon ({reason}); fix it or import without --strict to repair",
                                 reason=reason))
        fixed = shapely.make_valid(geometry)
        parts = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type in ("Polygon", "MultiPolygon")]
        geometry = shapely.union_all(parts) if parts else shapely.MultiPolygon()
        if geometry.is_empty:
            raise InvalidInput(T("invalid polygon ({reason}) with no area left after repair", reason=reason))
        repaired = T("repaired invalid polygon ({reason}) with make_valid", reason=reason)
    if geometry.geom_type == "Polygon":
        geometry = shapely.MultiPolygon([geometry])
    return geometry, repaired
