"""Coordinate conversions GridGov accepts on input: WGS84, CGCS2000, GCJ-02, BD-09 and any EPSG code.

Everything GridGov stores is WGS84 lon/lat (EPSG:4326); these functions bring other systems in
(`to_wgs84`, `geometry_to_wgs84`) and take WGS84 back out for export (`from_wgs84`, `geometry_from_wgs84`).

Named systems:

* ``wgs84``    EPSG:4326.
* ``cgcs2000`` EPSG:4490. Treated as identical to WGS84: the two differ by centimetres, far below
  the accuracy of anything that reaches a county grid (phone GPS, digitised boundaries).
* ``gcj02``    China's obfuscated "Mars" coordinates (Amap/Gaode, Tencent, WeChat). The published
  reverse-engineered algorithm on the Krasovsky 1940 ellipsoid. Points outside the rough China box
  (lon 72.004..137.8347, lat 0.8293..55.8271) are *not* shifted, as every GCJ-02 provider does;
  near that box's edge the shift jumps from ~0 to hundreds of metres, so no inverse is exact there.
* ``bd09``     Baidu coordinates: a further published distortion of GCJ-02, applied everywhere (no box).
* ``EPSG:NNNN`` any other 2D geographic or projected CRS, through pyproj with lon/lat axis order.

The GCJ-02 and BD-09 inverses are iterative (fixed point of the forward map) and round-trip to
well below a centimetre; the widespread one-step inverse ``2*g - forward(g)`` is metres off.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput, UnknownCRS
from i18n import T

FloatArray = npt.NDArray[np.float64]
ArrayInput = npt.NDArray[Any] | Sequence[float]
_Forward = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

NAMED_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")
# Keys are lower-cased with '-', '_' and spaces removed, so 'GCJ-02', 'gcj_02' and 'bd 09' all match.
_ALIASES = {
    "wgs84": "wgs84",
    "cgcs2000": "cgcs2000",
    "gcj02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "bd09": "bd09",
    "baidu": "bd09",
}
# EPSG codes that have a named equivalent, so both spellings share one code path.
_EPSG_NAMED = {4326: "wgs84", 4490: "cgcs2000"}
_EPSG_PATTERN = re.compile(r"^(?:epsg:)?\s*(\d{1,9})$")
ACCEPTED_CRS_HELP = (
    "accepted: wgs84 (wgs-84, epsg:4326), cgcs2000 (cgcs-2000, epsg:4490), gcj02 (gcj-02, gcj, amap), "
    "bd09 (bd-09, baidu), or any 2D geographic/projected 'EPSG:NNNN' code (e.g. EPSG:32650, EPSG:4547)"
)

# GCJ-02 constants: Krasovsky 1940 semi-major axis and first eccentricity squared, as published.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# The box outside which GCJ-02 providers leave coordinates untouched.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
_X_PI = math.pi * 3000.0 / 180.0

# Iterative inverse: 1e-11 degrees is ~1 micrometre, far below what the round trip needs; the map is a
# strong contraction (shift gradient ~1e-3), so it converges in 3-5 steps and 30 is only a safety cap.
_INVERSE_TOL_DEG = 1e-11
_INVERSE_MAX_ITER = 30


def normalize_crs(name: str, *, where: str | None = None) -> str:
    """Canonical CRS name: 'wgs84', 'cgcs2000', 'gcj02', 'bd09' or 'EPSG:NNNN'; UnknownCRS otherwise."""
    raw = str(name).strip()
    key = re.sub(r"[-_\s]", "", raw.lower())
    if key in _ALIASES:
        return _ALIASES[key]
    match = _EPSG_PATTERN.match(raw.lower())
    if match is None:
        raise UnknownCRS(T("unknown coordinate system {raw}; {ACCEPTED_CRS_HELP}",
                           raw=repr(raw), ACCEPTED_CRS_HELP=ACCEPTED_CRS_HELP), where=where)
    code = int(match.group(1))
    if code in _EPSG_NAMED:
        return _EPSG_NAMED[code]
    _check_epsg(code, where)
    return f"EPSG:{code}"


@lru_cache(maxsize=256)
def _epsg_problem(code: int) -> str | None:
    """Why pyproj cannot use EPSG:code as a 2D input CRS, or None if it can (cached: lookups hit proj.db)."""
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        return f"EPSG:{code} is not a coordinate reference system known to PROJ"
    # Geocentric (x, y, z metres), vertical and engineering CRSs have no lon/lat meaning for two numbers.
    if not (crs.is_geographic or crs.is_projected):
        return f"EPSG:{code} ({crs.name}) is a {crs.type_name}, not a 2D geographic or projected CRS"
    return None


def _check_epsg(code: int, where: str | None) -> None:
    """Raise UnknownCRS if EPSG:code cannot be used as a 2D source/target CRS."""
    problem = _epsg_problem(code)
    if problem is not None:
        raise UnknownCRS(T("{problem}; {ACCEPTED_CRS_HELP}",
                           problem=problem, ACCEPTED_CRS_HELP=ACCEPTED_CRS_HELP), where=where)


@lru_cache(maxsize=64)
def _transformer(code: int, to_wgs84: bool) -> Transformer:
    """pyproj Transformer between EPSG:code and EPSG:4326, lon/lat order; cached as building one is slow."""
    # pyproj >= 3.1 Transformers are thread-safe, so one cached instance can serve every API worker.
    src, dst = (CRS.from_epsg(code), CRS.from_epsg(4326))
    if not to_wgs84:
        src, dst = dst, src
    return Transformer.from_crs(src, dst, always_xy=True)


# --- GCJ-02 / BD-09 ------------------------------------------------------------------------------


def _as_float_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast two coordinate inputs to float64 arrays of one shape (copies, so callers may mutate)."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a point lies outside the rough China box that GCJ-02 providers shift."""
    x, y = _as_float_arrays(lon, lat)
    inside = (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    return np.asarray(~inside, dtype=np.bool_)


def _gcj_transform_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    """The published GCJ-02 latitude polynomial, on offsets x = lon-105, y = lat-35."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return np.asarray(ret, dtype=np.float64)


def _gcj_transform_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    """The published GCJ-02 longitude polynomial, on offsets x = lon-105, y = lat-35."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return np.asarray(ret, dtype=np.float64)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat to GCJ-02; points outside the China box are returned unchanged."""
    x, y = _as_float_arrays(lon, lat)
    dlat = _gcj_transform_lat(x - 105.0, y - 35.0)
    dlon = _gcj_transform_lon(x - 105.0, y - 35.0)
    radlat = y / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    # The polynomials give metres-like offsets; convert with Krasovsky meridian/parallel radii.
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(x, y)
    return np.where(outside, x, x + dlon), np.where(outside, y, y + dlat)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 lon/lat to Baidu BD-09 (the published formula, applied everywhere)."""
    x, y = _as_float_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward: _Forward, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Solve forward(w) = g for w by fixed-point iteration w += g - forward(w), vectorised."""
    gx, gy = _as_float_arrays(lon, lat)
    wx, wy = gx.copy(), gy.copy()
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(wx, wy)
        dx, dy = gx - fx, gy - fy
        wx += dx
        wy += dy
        # Comparisons with NaN are False, so NaN points never hold the loop open.
        if not (np.any(np.abs(dx) >= _INVERSE_TOL_DEG) or np.any(np.abs(dy) >= _INVERSE_TOL_DEG)):
            break
    return wx, wy


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 to WGS84 by iterating the forward map; sub-millimetre away from the China box edge."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 to GCJ-02 by iterating the forward map (the usual closed form is only approximate)."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 to BD-09 (via GCJ-02, as Baidu defines it)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 to WGS84 (via GCJ-02), both steps iterative."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --- dispatch ------------------------------------------------------------------------------------


def _check_finite(x: FloatArray, y: FloatArray, crs: str, where: str | None) -> None:
    """Raise InvalidInput if any coordinate is NaN or infinite."""
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise InvalidInput(
            T("coordinates contain NaN or infinity ({n} of {size} points, first at index {first}) in {crs}",
              n=int(bad.sum()), size=bad.size, first=first, crs=crs),
            where=where,
        )


def _check_lonlat(x: FloatArray, y: FloatArray, crs: str, where: str | None) -> None:
    """Raise InvalidInput if lon/lat are out of range: usually projected metres labelled as degrees."""
    if x.size == 0:
        return
    if x.min() < -180 or x.max() > 180 or y.min() < -90 or y.max() > 90:
        raise InvalidInput(
            T("coordinates out of lon/lat range for {crs} (x {min}..{max}, y {min2}..{max2}); are they projected "
              "metres? give their EPSG code",
              crs=crs, min=format(x.min(), ".6g"), max=format(x.max(), ".6g"), min2=format(y.min(), ".6g"),
              max2=format(y.max(), ".6g")),
            where=where,
        )


def _epsg_code(canonical: str) -> int:
    """The integer code of a canonical 'EPSG:NNNN' name."""
    return int(canonical.split(":", 1)[1])


def _pyproj(
    code: int, to_wgs84: bool, x: FloatArray, y: FloatArray, where: str | None
) -> tuple[FloatArray, FloatArray]:
    """Run the cached transformer on flat copies and restore the input shape."""
    tx, ty = _transformer(code, to_wgs84).transform(x.ravel(), y.ravel())
    ox = np.asarray(tx, dtype=np.float64).reshape(x.shape)
    oy = np.asarray(ty, dtype=np.float64).reshape(y.shape)
    # PROJ signals points it cannot transform (outside the projection's domain) with inf, not an error.
    if not (np.isfinite(ox).all() and np.isfinite(oy).all()):
        direction = f"from EPSG:{code} to wgs84" if to_wgs84 else f"from wgs84 to EPSG:{code}"
        raise InvalidInput(
            T("some coordinates cannot be transformed {direction}; are they in that CRS's area of use?",
              direction=direction),
            where=where,
        )
    return ox, oy


def _convert_to_wgs84(
    x: FloatArray, y: FloatArray, canonical: str, where: str | None
) -> tuple[FloatArray, FloatArray]:
    """Array core of to_wgs84 for an already-normalised CRS name."""
    _check_finite(x, y, canonical, where)
    if canonical.startswith("EPSG:"):
        return _pyproj(_epsg_code(canonical), True, x, y, where)
    _check_lonlat(x, y, canonical, where)
    if canonical == "gcj02":
        return gcj02_to_wgs84(x, y)
    if canonical == "bd09":
        return bd09_to_wgs84(x, y)
    return x, y  # wgs84, cgcs2000


def _convert_from_wgs84(
    lon: FloatArray, lat: FloatArray, canonical: str, where: str | None
) -> tuple[FloatArray, FloatArray]:
    """Array core of from_wgs84 for an already-normalised CRS name."""
    _check_finite(lon, lat, "wgs84", where)
    _check_lonlat(lon, lat, "wgs84", where)
    if canonical.startswith("EPSG:"):
        return _pyproj(_epsg_code(canonical), False, lon, lat, where)
    if canonical == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if canonical == "bd09":
        return wgs84_to_bd09(lon, lat)
    return lon, lat  # wgs84, cgcs2000


@overload
def to_wgs84(x: float, y: float, crs: str, *, where: str | None = None) -> tuple[float, float]: ...
@overload
def to_wgs84(
    x: ArrayInput, y: ArrayInput, crs: str, *, where: str | None = None
) -> tuple[FloatArray, FloatArray]: ...
def to_wgs84(x: Any, y: Any, crs: str, *, where: str | None = None) -> tuple[Any, Any]:
    """Convert x/y in `crs` to WGS84 lon/lat; floats in give floats out, arrays give arrays."""
    canonical = normalize_crs(crs, where=where)
    ax, ay = _as_float_arrays(x, y)
    lon, lat = _convert_to_wgs84(ax, ay, canonical, where)
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        return float(lon), float(lat)
    return lon, lat


@overload
def from_wgs84(lon: float, lat: float, crs: str, *, where: str | None = None) -> tuple[float, float]: ...
@overload
def from_wgs84(
    lon: ArrayInput, lat: ArrayInput, crs: str, *, where: str | None = None
) -> tuple[FloatArray, FloatArray]: ...
def from_wgs84(lon: Any, lat: Any, crs: str, *, where: str | None = None) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to x/y in `crs` (for export); floats in give floats out."""
    canonical = normalize_crs(crs, where=where)
    alon, alat = _as_float_arrays(lon, lat)
    x, y = _convert_from_wgs84(alon, alat, canonical, where)
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(x), float(y)
    return x, y


def _apply_xy(
    geom: BaseGeometry, convert: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
) -> BaseGeometry:
    """shapely.transform with a vectorised x/y conversion that keeps any Z column untouched."""

    def func(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64)
        out[:, 0], out[:, 1] = convert(out[:, 0].copy(), out[:, 1].copy())
        return out

    # include_z=None keeps each geometry's own dimensionality instead of silently dropping Z.
    result: BaseGeometry = shapely.transform(geom, func, include_z=None)
    return result


def geometry_to_wgs84(geom: BaseGeometry, crs: str, *, where: str | None = None) -> BaseGeometry:
    """A copy of `geom` with every vertex converted from `crs` to WGS84 lon/lat."""
    canonical = normalize_crs(crs, where=where)
    return _apply_xy(geom, lambda x, y: _convert_to_wgs84(x, y, canonical, where))


def geometry_from_wgs84(geom: BaseGeometry, crs: str, *, where: str | None = None) -> BaseGeometry:
    """A copy of WGS84 `geom` with every vertex converted to `crs` (for export)."""
    canonical = normalize_crs(crs, where=where)
    return _apply_xy(geom, lambda x, y: _convert_from_wgs84(x, y, canonical, where))


_WGS84_A = 6_378_137.0
_WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at a latitude (WGS84 radii of curvature).

    The local-plane scale GridGov uses for distances and sizes over a county: within ~0.1 % over 50 km.
    """
    s = math.sin(math.radians(lat))
    w = 1 - _WGS84_E2 * s * s
    prime_vertical = _WGS84_A / math.sqrt(w)
    meridional = _WGS84_A * (1 - _WGS84_E2) / w**1.5
    return math.radians(prime_vertical * math.cos(math.radians(lat))), math.radians(meridional)
