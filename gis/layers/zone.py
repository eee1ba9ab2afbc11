"""Special zones (城区, 开发区, 风景名胜区, 移民搬迁村) that overlap the administrative layers."""

from gis.layers.base import LayerSpec
from gis.model import ZONE_KINDS

LAYER = LayerSpec(
    name="zone", title="功能区", parent_layer="county", kinds=ZONE_KINDS, allows_cells=True,
    partitions_parent=False,
)
