"""Township or sub-district (乡镇/街道): each has one comprehensive enforcement team."""

from gis.layers.base import LayerSpec

LAYER = LayerSpec(
    name="township", title="乡镇", parent_layer="county", kinds=("township",), allows_cells=False,
    partitions_parent=True,
)
