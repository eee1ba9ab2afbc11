"""Layer kinds, one module each, registered here explicitly."""

from gis.layers import county, grid, township, village, zone
from gis.layers.base import LayerSpec

REGISTRY: dict[str, LayerSpec] = {
    "county": county.LAYER,
    "township": township.LAYER,
    "village": village.LAYER,
    "grid": grid.LAYER,
    "zone": zone.LAYER,
}

# Order in which layers must be loaded so parents exist before children.
LOAD_ORDER = ("county", "township", "village", "grid", "zone")


def layer(name: str) -> LayerSpec:
    """The spec of a layer by name."""
    return REGISTRY[name]


__all__ = ["REGISTRY", "LOAD_ORDER", "LayerSpec", "layer"]
