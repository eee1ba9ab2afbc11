"""Write a version's units to GeoJSON (RFC 7946) or GeoPackage (one table per layer) for QGIS."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from gis.crs import geometry_from_wgs84, normalize_crs
from gis.errors import InvalidInput
from gis.layers import LOAD_ORDER
from gis.model import Unit
from i18n import T

EXPORT_SUFFIXES = {".geojson", ".json", ".gpkg"}


def unit_properties(unit: Unit) -> dict[str, Any]:
    """The flat properties every export writes for a unit."""
    return {
        "code": unit.code, "name": unit.name, "layer": unit.layer, "kind": unit.kind,
        "parent_code": unit.parent_code, "derived": unit.derived,
        "to_be_drawn": not unit.has_shape, "cells": json.dumps(unit.cells) if unit.cells else None,
        "attributes": json.dumps(unit.attributes, ensure_ascii=False, sort_keys=True),
    }


def export_units(units: list[Unit], path: Path, crs: str = "wgs84") -> Counter[str]:
    """Write units to `path` (format from the suffix); counts per layer."""
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InvalidInput(T("cannot export to {suffix}; use .geojson or .gpkg",
                             suffix=suffix or T("a file without suffix")),
                           where=str(path))
    canonical = normalize_crs(crs)
    if suffix != ".gpkg" and canonical not in ("wgs84", "cgcs2000"):
        raise InvalidInput(T("GeoJSON is WGS84 by definition (RFC 7946); export other CRSs to .gpkg"))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    geoms = [_shape(u, canonical) for u in units]
    if suffix == ".gpkg":
        for layer in LOAD_ORDER:
            picked = [(u, g) for u, g in zip(units, geoms, strict=True) if u.layer == layer]
            if picked:
                frame = gpd.GeoDataFrame([unit_properties(u) for u, _ in picked],
                                         geometry=[g for _, g in picked], crs=_frame_crs(canonical))
                frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    else:
        features = [{"type": "Feature", "id": u.code, "properties": unit_properties(u),
                     "geometry": shapely.geometry.mapping(g) if g is not None else None}
                    for u, g in zip(units, geoms, strict=True)]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                        encoding="utf-8")
    return Counter(u.layer for u in units)


def _shape(unit: Unit, crs: str) -> Any:
    shape = unit.shape()
    if shape is None:
        return None
    if shape.geom_type == "Polygon":
        shape = shapely.MultiPolygon([shape])
    return shape if crs in ("wgs84", "cgcs2000") else geometry_from_wgs84(shape, crs)


def _frame_crs(crs: str) -> str | None:
    if crs.startswith("EPSG:"):
        return crs
    if crs == "cgcs2000":
        return "EPSG:4490"
    # GCJ-02 and BD-09 have no EPSG code: label them as WGS84, as Amap and Baidu exports do.
    return "EPSG:4326"
