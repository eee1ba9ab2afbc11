"""Grid (网格): the smallest management unit, a polygon or a set of H3 cells inside a village."""

from gis.layers.base import LayerSpec

LAYER = LayerSpec(
    name="grid", title="网格", parent_layer="village", kinds=("grid",), allows_cells=True, partitions_parent=False
)
