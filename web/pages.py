"""The map pages (wall, phone, planner, dispute), built with folium and served with every asset by GridGov.

folium lays out the Leaflet map, its empty layer groups and the layer control; the page's own script
(`web/static/<page>.js`) fills the groups from the API and keeps them live. Leaflet and its plugins are
vendored under `web/static/vendor` and folium is told to link those instead of its CDN defaults, so a page
works on an intranet with no route to the internet. A Content-Security-Policy header makes the browser
refuse anything from another host as well (a configured intranet basemap host aside).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from config import Settings
from gis.errors import InvalidInput, NotFound
from web.basemap import open_basemap

STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")
LEAFLET_JS = [("leaflet", "/static/vendor/leaflet/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", "/static/vendor/leaflet/leaflet.css")]
GEOMAN_JS = '<script src="/static/vendor/leaflet-geoman/leaflet-geoman.min.js"></script>'
GEOMAN_CSS = '<link rel="stylesheet" href="/static/vendor/leaflet-geoman/leaflet-geoman.css"/>'
MAX_ZOOM = 19


class Page:
    """What differs between the pages: title, who signs in by default, layer groups, plugins."""

    def __init__(self, name: str, title: str, demo_user: str, groups: dict[str, str], *, geoman: bool = False,
                 zoom_control: bool = True) -> None:
        self.name, self.title, self.demo_user, self.groups = name, title, demo_user, groups
        self.geoman, self.zoom_control = geoman, zoom_control


PAGES = {
    "wall": Page("wall", "GridGov 指挥中心 command centre", "dispatcher", {
        "county": "县 County", "township": "乡镇 Townships", "village": "村 Villages", "zone": "特殊区域 Zones",
        "hotspots": "热点 Hotspots (H3)", "cases": "案件 Cases"}),
    "phone": Page("phone", "GridGov 网格员上报 report", "worker", {
        "township": "乡镇 Townships", "village": "村 Villages", "pin": "位置 Pin"}, zoom_control=False),
    "planner": Page("planner", "GridGov 区划编辑 planner", "planner", {
        "township": "乡镇 Townships", "village": "村 Villages", "grid": "网格 Grids", "zone": "特殊区域 Zones",
        "cells": "H3 单元 Cells", "problems": "拓扑问题 Topology problems"}, geoman=True),
    "dispute": Page("dispute", "GridGov 权属查询 disputes", "auditor", {
        "township": "乡镇 Townships", "village": "村 Villages", "grid": "网格 Grids", "zone": "特殊区域 Zones",
        "query": "查询 Query"}, geoman=True),
}


def render_page(page: Page, settings: Settings) -> str:
    """The page's HTML: a folium map over vendored Leaflet, its groups and control, the page's panels."""
    fmap = folium.Map(location=[35.0, 105.0], zoom_start=5, tiles=None, prefer_canvas=True, control_scale=True,
                      zoom_control=page.zoom_control, maxZoom=MAX_ZOOM, attributionControl=False)
    fmap.default_js = LEAFLET_JS  # instead of folium's CDN links (jsdelivr, code.jquery.com, cdnjs)
    fmap.default_css = LEAFLET_CSS
    tiles = _basemap(settings)
    if tiles is not None:
        folium.TileLayer(tiles=tiles, attr=settings.basemap_attribution or "basemap", name="底图 Basemap",
                         max_zoom=MAX_ZOOM, overlay=False, control=True).add_to(fmap)
    groups = {key: folium.FeatureGroup(name=label).add_to(fmap) for key, label in page.groups.items()}
    control = folium.LayerControl(collapsed=page.name == "phone", position="topleft" if page.name == "wall"
                                  else "topright")
    control.add_to(fmap)
    root: Any = fmap.get_root()  # a branca Figure: header, html and script sections
    head = [f"<title>{page.title}</title>", '<link rel="icon" href="/favicon.ico"/>',
            '<link rel="stylesheet" href="/static/gridgov.css"/>']
    if page.geoman:
        head += [GEOMAN_CSS]
    for line in head:
        root.header.add_child(folium.Element(line))
    root.html.add_child(folium.Element((TEMPLATES / f"{page.name}.html").read_text(encoding="utf-8")))
    scripts = (([GEOMAN_JS] if page.geoman else [])
               + ['<script src="/static/gg.js"></script>', f'<script src="/static/{page.name}.js"></script>'])
    for line in scripts:
        root.html.add_child(folium.Element(line))
    config = {"page": page.name, "refresh_seconds": settings.wall_refresh_seconds, "max_zoom": MAX_ZOOM,
              "time_zone": settings.timezone,  # pages show times on the county's clock (GG.fmtTime)
              "demo_user": page.demo_user if settings.demo_sign_in else None}
    groups_js = ", ".join(f"{json.dumps(k)}: {g.get_name()}" for k, g in groups.items())
    # folium's own script defines the map, groups and control (some after this line): start once it has run.
    root.script.add_child(folium.Element(
        f";window.addEventListener('DOMContentLoaded', () => GG.start({{map: {fmap.get_name()}, "
        f"control: {control.get_name()}, groups: {{{groups_js}}}, config: {json.dumps(config)}}}));"))
    html: str = root.render()
    return html


def _basemap(settings: Settings) -> str | None:
    if settings.basemap_url:
        return settings.basemap_url
    if settings.basemap_file is not None:
        return "/basemap/{z}/{x}/{y}"
    return None


def security_policy(settings: Settings) -> str:
    """Only this server may be reached (plus a configured intranet basemap host for images)."""
    img = ["'self'", "data:", "blob:"]
    if settings.basemap_url:
        parts = urlsplit(settings.basemap_url.replace("{", "").replace("}", ""))
        img.append(f"{parts.scheme}://{parts.netloc}")
    return ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src {' '.join(img)}; connect-src 'self'; font-src 'self' data:; worker-src 'self'; "
            "frame-ancestors 'self'")


def install_pages(app: FastAPI) -> None:
    """Serve the pages, the vendored assets and the optional local basemap."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    router = APIRouter(tags=["pages"], include_in_schema=False)

    def make(page: Page) -> Any:
        def handler(request: Request) -> HTMLResponse:
            settings: Settings = request.app.state.settings
            return HTMLResponse(render_page(page, settings), headers={
                "Content-Security-Policy": security_policy(settings), "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff"})
        return handler

    for page in PAGES.values():
        router.add_api_route(f"/{page.name}", make(page), methods=["GET"], response_class=HTMLResponse,
                             summary=page.title)

    @router.get("/sw.js")
    def service_worker() -> Response:
        """The phone page's service worker, at the root so it may serve /phone offline."""
        return Response((STATIC / "sw.js").read_bytes(), media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})

    local = open_basemap(app.state.settings.basemap_file) if app.state.settings.basemap_file else None

    @router.get("/basemap/{z}/{x}/{y}")
    def basemap(z: int, x: int, y: int) -> Response:
        """A raster tile of the configured MBTiles or PMTiles file (204 where it holds none)."""
        if local is None:
            raise NotFound("no local basemap is configured (GRIDGOV_BASEMAP_FILE)")
        if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
            raise InvalidInput(f"tile {z}/{x}/{y} does not exist", where="tile")
        data = local.tile(z, x, y)
        if data is None:
            return Response(status_code=204)
        return Response(data, media_type=local.media, headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(router)
