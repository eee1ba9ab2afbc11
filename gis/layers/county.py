"""County (县): the whole jurisdiction of one platform."""

from gis.layers.base import LayerSpec

LAYER = LayerSpec(
    name="county", title="县", parent_layer=None, kinds=("county",), allows_cells=False, partitions_parent=False
)
