"""GeoJSON (RFC 7946) views of core objects."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import geometry_to_wgs84
from gis.errors import InvalidInput
from gis.model import Unit


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
    try:
        raw = shapely.geometry.shape(data)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.ShapelyError) as exc:
        raise InvalidInput(f"not a GeoJSON geometry: {exc}", where=where) from None
    if raw.is_empty:
        raise InvalidInput("the geometry is empty", where=where)
    if not raw.is_valid:
        raise InvalidInput(f"the geometry is invalid: {shapely.is_valid_reason(raw)}; fix it and send it again",
                           where=where)
    return raw if crs.lower() in ("wgs84", "epsg:4326") else geometry_to_wgs84(raw, crs, where=where)
