"""The small interface every layer kind shares."""

from __future__ import annotations

from dataclasses import dataclass

from gis.model import Unit
from i18n import T, Text


@dataclass(frozen=True)
class LayerSpec:
    """What a layer is: its parent layer, the kinds it allows, whether H3 cells may define it."""

    name: str
    title: str  # the Chinese word planners use
    parent_layer: str | None
    kinds: tuple[str, ...]
    allows_cells: bool
    partitions_parent: bool  # children are expected to tile their parent exactly

    def check(self, unit: Unit) -> list[str | Text]:
        """Problems with this unit as a member of the layer (empty when fine), in the reader's language when read."""
        problems: list[str | Text] = []
        if unit.kind not in self.kinds:
            problems.append(T("kind {kind} is not allowed in layer {layer} ({kinds})", kind=repr(unit.kind),
                              layer=self.name, kinds=", ".join(self.kinds)))
        if unit.cells is not None and not self.allows_cells:
            problems.append(T("layer {layer} is defined by polygons, not H3 cells", layer=self.name))
        return problems
