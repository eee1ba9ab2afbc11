"""GeoJSON (RFC 7946) views of core objects."""

from __future__ import annotations

from typing import Any

import shapely

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
