"""Who owns an area (a contested yard): the share of a polygon in each unit and each responsible team.

The polygon is cut by every region that meets it into pieces on which the set of covering regions is
constant; the routing decision is the same everywhere inside such a piece, so routing one interior
point per piece gives each piece's team exactly, and the shares are exact areas (square metres on the
local plane). H3-defined regions take part as their hexagons' polygons.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import metres_per_degree
from gis.errors import InvalidInput
from gis.routing.router import Router
from i18n import T

MAX_PIECES = 5_000


def area_shares(router: Router, area: BaseGeometry, matter: str, day: date) -> dict[str, Any]:
    """Shares of `area` per unit (by layer) and per responsible team under the router's version on `day`."""
    if area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon") or not area.is_valid:
        raise InvalidInput(T("the area must be a valid, non-empty Polygon or MultiPolygon"), where="geometry")
    router.matter_index(matter)
    regions = router.regions.regions
    touching = [r for r in regions if r.shape.intersects(area)]
    pieces: list[BaseGeometry] = [area]
    for r in touching:
        nxt = []
        for p in pieces:
            inside, outside = shapely.intersection(p, r.shape), shapely.difference(p, r.shape)
            nxt += [g for g in (inside, outside) if not g.is_empty and g.area > 0]
        pieces = nxt
        if len(pieces) > MAX_PIECES:
            raise InvalidInput(T("the area meets too many units (over {MAX_PIECES} pieces); send a smaller area",
                                 MAX_PIECES=MAX_PIECES),
                               where="geometry")
    kx, ky = metres_per_degree(area.centroid.y)
    total = float(area.area) * kx * ky
    units: dict[tuple[str, str], float] = defaultdict(float)
    teams: dict[str, float] = defaultdict(float)
    statuses: dict[str, float] = defaultdict(float)
    for p in pieces:
        m2 = float(p.area) * kx * ky
        pt = p.representative_point()
        decision = router.explain(pt.x, pt.y, matter, day)
        teams[decision.team] += m2
        statuses[decision.status] += m2
        for u in decision.units:
            if u.selected:
                units[(u.layer, u.code)] += m2
    return {
        "area_m2": round(total, 2), "matter": matter, "day": day.isoformat(), "version": router.version.id,
        "teams": [{"team": t, "name": router.team_names.get(t, t), "area_m2": round(a, 2), "share": round(a / total, 6)}
                  for t, a in sorted(teams.items(), key=lambda kv: -kv[1])],
        "units": [{"layer": layer, "code": c, "area_m2": round(a, 2), "share": round(a / total, 6)}
                  for (layer, c), a in sorted(units.items())],
        "status": {s: round(a / total, 6) for s, a in statuses.items()},
        "pieces": len(pieces),
    }
