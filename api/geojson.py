"""GeoJSON (RFC 7946) views of core objects."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import geometry_to_wgs84
from gis.errors import InvalidInput
from gis.model import Unit
from i18n import T


def unit_feature(unit: Unit, version_id: int) -> dict[str, Any]:
    """A unit as a Feature; units still to be drawn have a null geometry."""
    shape = unit.shape()
    return {
        "type": "Feature",
        "id": unit.code,
        "geometry": shapely.geometry.mapping(shape) if shape is not None else None,
        "properties": {
            "code": unit.code, "name": unit.name, "layer": unit.layer, "kind": unit.kind,
            "parent_code": unit.parent_code, "derived": unit.derived, "to_be_drawn": not unit.has_shape,
            "cells": unit.cells, "attributes": unit.attributes, "version": version_id,
        },
    }


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap features in a FeatureCollection."""
    return {"type": "FeatureCollection", "features": features}


def geometry_from_geojson(data: dict[str, Any], crs: str = "wgs84", where: str = "geometry") -> BaseGeometry:
    """A valid, non-empty shapely geometry in WGS84 from a GeoJSON geometry in `crs` (422 saying what is wrong)."""
    _refuse_open_rings(data, where)
    try:
        raw = shapely.geometry.shape(data)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.ShapelyError) as exc:
        raise InvalidInput(T("not a GeoJSON geometry: {exc}", exc=exc), where=where) from None
    if raw.is_empty:
        raise InvalidInput(T("the geometry is empty"), where=where)
    if not raw.is_valid:
        raise InvalidInput(T("the geometry is invalid: {is_valid_reason}; fix it and send it again",
                             is_valid_reason=shapely.is_valid_reason(raw)),
                           where=where)
    return raw if crs.lower() in ("wgs84", "epsg:4326") else geometry_to_wgs84(raw, crs, where=where)


def _refuse_open_rings(data: Any, where: str) -> None:
    """RFC 7946: a ring's first and last positions are the same. shapely would close an open ring silently, and a
    ring the sender meant differently (a lost last vertex, a cut-off list) would be stored as if drawn: refuse it,
    naming the ring, so the sender fixes it."""
    if not isinstance(data, dict):
        return
    kind, coords = data.get("type"), data.get("coordinates")
    if kind == "GeometryCollection" and isinstance(data.get("geometries"), list):
        for n, part in enumerate(data["geometries"]):
            _refuse_open_rings(part, f"{where}.geometries.{n}")
        return
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else None
    if not isinstance(polygons, list):
        return
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings if isinstance(rings, list) else []):
            if not (isinstance(ring, list) and len(ring) >= 2 and isinstance(ring[0], list)
                    and isinstance(ring[-1], list)):
                continue  # malformed: shapely's own message says so
            if ring[0][:2] != ring[-1][:2]:
                at = f"{where}.coordinates.{p}.{r}" if kind == "MultiPolygon" else f"{where}.coordinates.{r}"
                raise InvalidInput(T("ring {r} is not closed: it starts at {ring} and ends at {ring2}; repeat "
                                     "the first position at the end (RFC 7946 3.1.6)",
                                     r=r, ring=ring[0][:2], ring2=ring[-1][:2]), where=at)
