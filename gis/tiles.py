"""Web Mercator tile arithmetic (the OGC WebMercatorQuad tile matrix set, the XYZ scheme of web maps)."""

from __future__ import annotations

import math

from gis.errors import InvalidInput
from i18n import T

TILE_MATRIX_SET = "WebMercatorQuad"
TILE_MATRIX_SET_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MIN_ZOOM, MAX_ZOOM = 0, 22  # zoom 22 tiles are ~10 m wide here: finer than any boundary is drawn
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511…: where Web Mercator stops


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a tile outside the tile matrix set (422 saying the valid range)."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise InvalidInput(T("zoom {z} is outside {MIN_ZOOM}–{MAX_ZOOM}",
                             z=z, MIN_ZOOM=MIN_ZOOM, MAX_ZOOM=MAX_ZOOM), where="z")
    last = 2**z - 1
    for name, value in (("x", x), ("y", y)):
        if not 0 <= value <= last:
            raise InvalidInput(T("{name}={value} is outside the tile matrix: at zoom {z}, x and y run 0–{last}",
                                 name=name, value=value, z=z, last=last),
                               where=name)


def tile_to_lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of a tile in degrees (y counts down from the north)."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The tile holding a point at zoom z."""
    n = 2**z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)
