"""Import files into a draft version: one call, one transaction (the caller's), counts per layer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from etl.codetree import read_code_tree
from etl.vector import VECTOR_SUFFIXES, VectorOptions, read_vector
from gis.errors import InvalidInput
from gis.validate import DEFAULT_OUTSIDE_TOLERANCE
from i18n import T, Text
from store.repo import Repository


@dataclass
class ImportResult:
    """What an import wrote, and what it repaired."""

    version_id: int
    counts: Counter[str]
    repaired: list[Text] = field(default_factory=list)

    def summary(self) -> str:
        """The one-line summary scripts parse: `imported county=1 township=7 …`."""
        parts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"imported {parts or 'nothing'} version={self.version_id} repaired={len(self.repaired)}"


def import_file(
    repo: Repository,
    path: Path,
    *,
    version_id: int | None = None,
    options: VectorOptions | None = None,
    outside_tolerance: float = DEFAULT_OUTSIDE_TOLERANCE,
) -> ImportResult:
    """Import a CSV code tree or a vector layer into a draft (the newest draft by default)."""
    if not path.exists():
        raise InvalidInput(T("no such file"), where=str(path))
    options = options or VectorOptions()
    vid = version_id if version_id is not None else repo.working_draft().id
    assert vid is not None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        units = read_code_tree(path, options.crs or "wgs84")
        counts = repo.add_units(vid, units, outside_tolerance=outside_tolerance)
        return ImportResult(vid, counts)
    if suffix in VECTOR_SUFFIXES:
        existing = {u.code: u for u in repo.units(vid)}
        read = read_vector(path, options, existing)
        counts = repo.add_units(vid, read.units, replace=True, outside_tolerance=outside_tolerance)
        return ImportResult(vid, counts, read.repaired)
    raise InvalidInput(T("unknown file type {suffix}; import .csv, .geojson, .gpkg or .shp", suffix=repr(suffix)),
                       where=str(path))
