"""Disputes settled by spatial query: who owns a point or an area (a contested yard) as of any date."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import current_user
from api.deps import get_repo
from gis.crs import geometry_to_wgs84
from gis.errors import InvalidInput
from gis.model import check_lonlat_bounds
from gis.routing.area import area_shares
from store.repo import Repository
from store.routers import RouterCache

router = APIRouter(tags=["disputes"], dependencies=[Depends(current_user)])
Repo = Annotated[Repository, Depends(get_repo)]


class AreaQuery(BaseModel):
    """A polygon (GeoJSON geometry in `crs`), a matter and the date the question is about."""

    geometry: dict[str, Any]
    crs: str = "wgs84"
    matter: str = Field(min_length=1, max_length=64)
    at: date | None = Field(default=None, description="as of this date (default today)")


@router.post("/disputes/area", summary="Who owns an area as of a date: its share in each unit and team")
def area_owner(body: AreaQuery, repo: Repo, request: Request) -> JSONResponse:
    """The answer uses the version in force on the date; the point question is `POST /route` with `at`."""
    try:
        raw = shapely.geometry.shape(body.geometry)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise InvalidInput(f"not a GeoJSON geometry: {exc}", where="geometry") from None
    if raw.is_empty or not raw.is_valid:
        reason = "empty" if raw.is_empty else shapely.is_valid_reason(raw)
        raise InvalidInput(f"the area is {reason}; send a valid polygon", where="geometry")
    area = raw if body.crs.lower() in ("wgs84", "epsg:4326") else geometry_to_wgs84(raw, body.crs, where="geometry")
    check_lonlat_bounds(area, where="geometry")
    day = body.at or date.today()
    cache: RouterCache = request.app.state.routers
    return JSONResponse(area_shares(cache.router_at(repo, day), area, body.matter, day))
