"""Village or community (村/社区): where grid workers live and report."""

from gis.layers.base import LayerSpec

LAYER = LayerSpec(
    name="village", title="村/社区", parent_layer="township", kinds=("village",), allows_cells=False,
    partitions_parent=True,
)
