"""A local basemap file — MBTiles or PMTiles of raster tiles — served as XYZ tiles at /basemap/{z}/{x}/{y}.

For counties without an intranet tile server: an exported raster basemap (png, jpg or webp tiles) is
copied next to GridGov and named in `GRIDGOV_BASEMAP_FILE`. MBTiles is read with sqlite3 (rows are TMS,
flipped to XYZ); PMTiles with protomaps' own reader over a memory map, so a multi-GiB archive costs no
memory. Vector basemaps (MVT) are refused: the pages draw with Leaflet, which renders raster tiles only.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, TileType

from gis.errors import InvalidInput
from i18n import T

MEDIA = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
PMTILES_MEDIA = {TileType.PNG: "image/png", TileType.JPEG: "image/jpeg", TileType.WEBP: "image/webp"}


class BasemapError(InvalidInput):
    """The configured basemap file cannot be served (missing, not a tile archive, or vector tiles)."""


class Basemap:
    """Raster tiles by z/x/y from one local file; `tile` returns None where the file holds no tile."""

    media: str

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        raise NotImplementedError


class MBTiles(Basemap):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with closing(self._connect()) as db:
                fmt = db.execute("SELECT value FROM metadata WHERE name='format'").fetchone()
                db.execute("SELECT 1 FROM tiles LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BasemapError(T("basemap {path} is not an MBTiles file ({exc})", path=path, exc=exc),
                               where="basemap_file") from None
        fmt_name = (fmt[0] if fmt else "png").lower()
        if fmt_name not in MEDIA:
            raise BasemapError(T("basemap {path} holds {name} tiles; only raster png, jpg or webp tiles can "
                                 "be shown (convert a vector basemap to raster first)",
                                 path=path, name=fmt_name), where="basemap_file")
        self.media = MEDIA[fmt_name]

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                             (z, x, 2**z - 1 - y)).fetchone()
        return bytes(row[0]) if row else None


class PMTiles(Basemap):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("rb")
        try:
            self.media = self._check()
        except BasemapError:
            self._file.close()
            raise

    def _check(self) -> str:
        """The tiles' media type, or why this archive cannot be served."""
        path = self.path
        try:
            self._reader = Reader(MmapSource(self._file))
            header = self._reader.header()
        except Exception as exc:  # the reader raises its own bare exceptions (no magic number, spec version, …)
            why = str(exc) or type(exc).__name__
            raise BasemapError(T("basemap {path} is not a PMTiles v3 archive ({why})", path=path, why=why),
                               where="basemap_file") from None
        kind = header["tile_type"]
        if kind not in PMTILES_MEDIA:
            raise BasemapError(T("basemap {path} holds {name} tiles; only raster png, jpg or webp tiles can be "
                                 "shown (convert a vector basemap to raster first)", path=path, name=kind.name),
                               where="basemap_file")
        if header["tile_compression"] not in (Compression.NONE, Compression.UNKNOWN):
            raise BasemapError(T("basemap {path} compresses its raster tiles ({name}); write it with tile "
                                 "compression none", path=path, name=header['tile_compression'].name),
                               where="basemap_file")
        return PMTILES_MEDIA[kind]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        data = self._reader.get(z, x, y)  # slices of a read-only memory map: safe from any thread
        return bytes(data) if data else None


def open_basemap(path: Path) -> Basemap:
    """The basemap in this file, checked now so a bad setting fails at start-up, not on the first tile."""
    if not path.is_file():
        raise BasemapError(T("basemap file {path} does not exist (GRIDGOV_BASEMAP_FILE)", path=path),
                           where="basemap_file")
    suffix = path.suffix.lower()
    if suffix == ".mbtiles":
        return MBTiles(path)
    if suffix == ".pmtiles":
        return PMTiles(path)
    raise BasemapError(T("basemap file {path} must end in .mbtiles or .pmtiles", path=path), where="basemap_file")
