"""Mapbox Vector Tiles built by PostGIS: `ST_TileEnvelope` → `ST_AsMVTGeom` → `ST_AsMVT`.

Units: the polygons of one layer of one version whose area intersects the tile (the tile itself, not its
buffer: a feature is in the tiles it touches), clipped to the tile plus a 64/4096 buffer so strokes join
across tiles. Properties: code, name, layer, kind, parent_code, and team — the teams that unit-scoped
rules name for the unit (as the version diff reports them), comma-separated. H3-cell units have no stored
polygon; their cells' outline is computed here (h3) and handed to PostGIS as WKB, so one query builds the
whole tile. Cases: the caller passes the ids it may see (the scope rules live in `store.cases`) with their
overdue flags; PostGIS reads the points and the other properties from `case_record`.
Features are ordered inside the aggregate, so the same data gives the same bytes (and the same ETag).
"""

from __future__ import annotations

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gis.model import cells_to_geometry
from gis.tiles import tile_to_lonlat_bounds
from store.schema import UnitRow

EXTENT, BUFFER = 4096, 64

_UNITS = sa.text("""
WITH area AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS ll),
teams AS (
    SELECT scope->>'unit_code' AS code, string_agg(DISTINCT team_code, ',' ORDER BY team_code) AS team
    FROM rule WHERE version_id = :version AND scope->>'type' = 'unit' GROUP BY 1),
src AS (
    SELECT code, name, layer, kind, parent_code, geom FROM unit
    WHERE version_id = :version AND layer = :layer AND geom IS NOT NULL
    UNION ALL
    SELECT c.code, c.name, :layer, c.kind, c.parent_code, ST_GeomFromWKB(c.wkb, 4326)
    FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:kinds AS text[]),
                CAST(:parents AS text[]), CAST(:wkbs AS bytea[])) AS c(code, name, kind, parent_code, wkb))
SELECT ST_AsMVT(t, :layer, :extent, 'geom' ORDER BY t.code) FROM (
    SELECT src.code, src.name, src.layer, src.kind, src.parent_code, teams.team,
           ST_AsMVTGeom(ST_Transform(src.geom, 3857), area.e, :extent, :buffer, true) AS geom
    FROM src CROSS JOIN area LEFT JOIN teams ON teams.code = src.code
    WHERE src.geom && area.ll AND ST_Intersects(src.geom, area.ll)) AS t
WHERE t.geom IS NOT NULL
""")

_CASES = sa.text("""
WITH area AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e)
SELECT ST_AsMVT(t, 'cases', :extent, 'geom' ORDER BY t.id) FROM (
    SELECT c.id, c.status, c.matter_code AS matter, c.team_code AS team, o.overdue, c.escalation_level,
           ST_AsMVTGeom(ST_Transform(c.geom, 3857), area.e, :extent, :buffer, true) AS geom
    FROM case_record c
    JOIN unnest(CAST(:ids AS integer[]), CAST(:overdue AS boolean[])) AS o(id, overdue) ON o.id = c.id
    CROSS JOIN area
    WHERE c.geom IS NOT NULL) AS t
WHERE t.geom IS NOT NULL
""")


def unit_tile(session: Session, version_id: int, layer: str, z: int, x: int, y: int) -> bytes:
    """One layer's tile of one version."""
    box = shapely.box(*tile_to_lonlat_bounds(z, x, y))
    no_polygon = session.scalars(sa.select(UnitRow).where(UnitRow.version_id == version_id, UnitRow.layer == layer,
                                                          UnitRow.geom.is_(None)))
    near = [(r, g) for r in no_polygon if r.cells and (g := cells_to_geometry(r.cells)).intersects(box)]
    params = {"z": z, "x": x, "y": y, "version": version_id, "layer": layer, "extent": EXTENT, "buffer": BUFFER,
              "codes": [u.code for u, _ in near], "names": [u.name for u, _ in near],
              "kinds": [u.kind for u, _ in near], "parents": [u.parent_code for u, _ in near],
              "wkbs": [shapely.to_wkb(g) for _, g in near]}
    return bytes(session.execute(_UNITS, params).scalar_one() or b"")


def case_tile(session: Session, visible: list[tuple[int, bool]], z: int, x: int, y: int) -> bytes:
    """The cases tile for (case id, overdue) pairs the caller may see."""
    params = {"z": z, "x": x, "y": y, "extent": EXTENT, "buffer": BUFFER,
              "ids": [i for i, _ in visible], "overdue": [o for _, o in visible]}
    return bytes(session.execute(_CASES, params).scalar_one() or b"")
