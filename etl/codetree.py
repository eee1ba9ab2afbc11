"""Read a CSV code tree (county → township → village) such as the National Bureau of Statistics codes."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from gis.crs import normalize_crs, to_wgs84
from gis.errors import InvalidInput, problem_text
from gis.model import Unit
from gis.validate import Problem, raise_problems
from i18n import T, Text
from i18n.units import listing

# The `level` words found in code trees, mapped to our layers.
LEVELS = {"county": "county", "town": "township", "township": "township", "street": "township",
          "village": "village", "community": "village", "grid": "grid"}
REQUIRED = ("code", "parent", "name", "level")
# Columns that become typed attributes; every other non-empty column is kept as text.
POINT_COLUMNS = ("longitude", "latitude")
DROP_COLUMNS = {"center"}  # EWKB duplicate of longitude/latitude


def read_code_tree(path: Path, crs: str) -> list[tuple[str, Unit]]:
    """Units (with where-labels `file:line`) from a code-tree CSV whose seat points are in `crs`."""
    crs = normalize_crs(crs)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InvalidInput(T("missing column(s) {missing}; a code tree needs {required}",
                                     missing=listing(missing), required=listing(REQUIRED)), where=f"{path.name}:1")
            rows = [(f"{path.name}:{reader.line_num}", row) for row in reader]
    except UnicodeDecodeError as exc:
        raise InvalidInput(T("not UTF-8 text ({reason}); save the CSV as UTF-8", reason=exc.reason),
                           where=path.name) from exc
    problems: list[Problem] = []
    parsed: list[tuple[str, dict[str, Any], tuple[float, float] | None]] = []
    for where, row in rows:
        try:
            parsed.append((where, *_parse_row(row)))
        except InvalidInput as exc:
            problems.append(Problem(where, exc.text))
    raise_problems(problems, path.name)
    seats = _convert_seats(parsed, crs)
    codes = {fields["code"] for _, fields, _ in parsed}
    units: list[tuple[str, Unit]] = []
    for (where, fields, raw), seat in zip(parsed, seats, strict=True):
        attrs: dict[str, Any] = fields.pop("attributes")
        if fields["layer"] == "county" and fields["parent_code"] not in codes:
            attrs["parent"] = fields.pop("parent_code")  # the prefecture is outside the platform
            fields["parent_code"] = None
        if raw is not None and seat is not None:
            attrs.update(seat=[round(seat[0], 9), round(seat[1], 9)], seat_raw=list(raw), seat_crs=crs)
        try:
            units.append((where, Unit(**fields, attributes=attrs)))
        except ValidationError as exc:
            problems.append(Problem(where, _first_error(exc)))
    raise_problems(problems, path.name)
    return units


def _parse_row(row: dict[str | Any, Any]) -> tuple[dict[str, Any], tuple[float, float] | None]:
    if None in row:
        raise InvalidInput(T("{n} fields where the header has {header}", n=len(row) - 1 + len(row[None]),
                             header=len(row) - 1))
    if any(row.get(c) is None for c in REQUIRED):
        raise InvalidInput(T("fewer fields than the header"))
    code, name, level = row["code"].strip(), row["name"].strip(), row["level"].strip().lower()
    if not code or not name:
        raise InvalidInput(T("empty code or name"))
    if level not in LEVELS:
        raise InvalidInput(T("unknown level {level} (expected one of {levels})", level=repr(level),
                             levels=listing(sorted(LEVELS))))
    raw = _point(row)
    attrs = {k: v.strip() for k, v in row.items()
             if k not in REQUIRED and k not in POINT_COLUMNS and k not in DROP_COLUMNS and v and v.strip()}
    fields = {"code": code, "name": name, "layer": LEVELS[level], "parent_code": row["parent"].strip() or None,
              "attributes": attrs}
    return fields, raw


def _point(row: dict[str, Any]) -> tuple[float, float] | None:
    lon, lat = (row.get("longitude") or "").strip(), (row.get("latitude") or "").strip()
    if not lon and not lat:
        return None
    try:
        x, y = float(lon), float(lat)
    except ValueError as exc:
        raise InvalidInput(T("longitude/latitude {lon}, {lat} are not numbers", lon=repr(lon), lat=repr(lat))) from exc
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidInput(T("longitude/latitude {lon}, {lat} are not finite numbers", lon=repr(lon), lat=repr(lat)))
    return x, y


def _convert_seats(
    parsed: list[tuple[str, dict[str, Any], tuple[float, float] | None]], crs: str
) -> list[tuple[float, float] | None]:
    located = [(i, raw) for i, (_, _, raw) in enumerate(parsed) if raw is not None]
    out: list[tuple[float, float] | None] = [None] * len(parsed)
    if not located:
        return out
    xy = np.array([raw for _, raw in located], dtype=float)
    problems = []
    for (i, _), (x, y) in zip(located, xy, strict=True):
        if not (-180 <= x <= 180 and -90 <= y <= 90) and not crs.startswith("EPSG"):
            problems.append(Problem(parsed[i][0], T("point ({x}, {y}) is outside lon/lat range", x=x, y=y)))
    raise_problems(problems, T("the seat points"))
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
    for k, (i, _) in enumerate(located):
        out[i] = (float(lon[k]), float(lat[k]))
    return out


def _first_error(exc: ValidationError) -> str | Text:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    return T("{field}: {problem}", field=field, problem=problem_text(err)) if field else problem_text(err)
