"""The map pages (wall, phone, officer, planner, dispute), built with folium and served with every asset by GridGov.

folium lays out the Leaflet map, its empty layer groups and the layer control; the page's own script
(`web/static/<page>.js`) fills the groups from the API and keeps them live. Leaflet and its plugins are
vendored under `web/static/vendor` and folium is told to link those instead of its CDN defaults, so a page
works on an intranet with no route to the internet. A Content-Security-Policy header makes the browser
refuse anything from another host as well (a configured intranet basemap host aside).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import folium
import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import escape

from config import Settings
from gis.errors import InvalidInput, NotFound
from i18n import DEFAULT_LANGUAGE, N_, T, gettext, negotiate, normalize
from i18n.terms import TERMS
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
                 zoom_control: bool = True, scripts: tuple[str, ...] = ()) -> None:
        self.name, self.title, self.demo_user, self.groups = name, title, demo_user, groups
        self.geoman, self.zoom_control = geoman, zoom_control
        self.scripts = scripts  # shared scripts (web/static/<name>.js) loaded after gg.js, before the page's


# Titles and layer names are message ids (English), shown in the page's language.
PAGES = {
    "wall": Page("wall", N_("Command centre"), "dispatcher", {
        "county": N_("County"), "township": N_("Townships"), "village": N_("Villages"), "zone": N_("Special zones"),
        "hotspots": N_("Hotspots (H3)"), "cases": N_("Cases")}),
    # The big screen (大屏) of the command centre: dark, large type, charts around the map (its script loads the
    # vendored ECharts itself, while the page's first requests are out).
    "screen": Page("screen", N_("Command centre big screen"), "dispatcher", {
        "county": N_("County"), "township": N_("Townships"), "hotspots": N_("Hotspots (H3)"), "cases": N_("Cases")},
        zoom_control=False),
    "phone": Page("phone", N_("Grid worker's report"), "worker", {
        "township": N_("Townships"), "village": N_("Villages"), "pin": N_("Pin")}, zoom_control=False,
        scripts=("outbox",)),
    "officer": Page("officer", N_("Enforcement officer"), "team", {
        "township": N_("Townships"), "village": N_("Villages"), "cases": N_("Cases"), "me": N_("My position")},
        zoom_control=False, scripts=("outbox",)),
    "planner": Page("planner", N_("Boundary planner"), "planner", {
        "township": N_("Townships"), "village": N_("Villages"), "grid": N_("Grids"), "zone": N_("Special zones"),
        "cells": N_("H3 cells"), "problems": N_("Topology problems")}, geoman=True),
    "dispute": Page("dispute", N_("Jurisdiction lookup"), "auditor", {
        "township": N_("Townships"), "village": N_("Villages"), "grid": N_("Grids"), "zone": N_("Special zones"),
        "query": N_("Query")}, geoman=True),
    "console": Page("console", N_("Dispatch console"), "dispatcher", {
        "county": N_("County"), "township": N_("Townships"), "village": N_("Villages"), "zone": N_("Special zones"),
        "cases": N_("Cases waiting"), "selected": N_("Selected case")}),
}
# Babel extraction of what the pages show: their scripts' t("..."), their templates' {{ t("...") }} and this
# module's N_("...") (titles, layer names). The same passes as i18n/check.py, limited to the web package.
_PAGE_PASSES = [([("**/static/*.js", "javascript")], {"t": None}),
                ([("**/templates/*.html", "jinja2.ext:babel_extract")], {"t": None}),
                ([("pages.py", "python")], {"N_": None})]


@cache
def page_messages() -> tuple[str, ...]:
    """Every message id a page may show: extracted from the pages' code, plus the words for the codes the API
    sends (case states, actions, triage kinds, roles, layers …, i18n/terms.py)."""
    from babel.messages.extract import extract_from_dir

    ids: set[str] = set()
    for methods, keywords in _PAGE_PASSES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                str(Path(__file__).parent), methods, keywords=keywords, comment_tags=(), strip_comment_tags=True):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                ids.add(msgid)
    ids.update(english for words in TERMS.values() for english in words.values())
    return tuple(sorted(ids))


def page_catalog(lang: str) -> dict[str, str]:
    """msgid → text in `lang` for everything a page shows (English: each id is its own text)."""
    return {m: gettext(m, lang) for m in page_messages()}


_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False)


def _embedded(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


def render_page(page: Page, settings: Settings, lang: str | None = None) -> str:
    """The page's HTML in `lang` (default: the configured language): a folium map over vendored Leaflet, its
    groups and control, the page's panels, and the page's strings from the gettext catalogs embedded as JSON
    (so the page, kept by the service worker, needs no other request to speak its language)."""
    lang = normalize(lang) or normalize(settings.language) or DEFAULT_LANGUAGE

    def t(msgid: str, **params: Any) -> str:
        return gettext(msgid, lang).format(**params) if params else gettext(msgid, lang)

    # The scale bar is metric only (added by gg.js: L.control.scale({imperial: false})).
    fmap = folium.Map(location=[35.0, 105.0], zoom_start=5, tiles=None, prefer_canvas=True, control_scale=False,
                      zoom_control=page.zoom_control, maxZoom=MAX_ZOOM, attributionControl=False)
    fmap.default_js = LEAFLET_JS  # instead of folium's CDN links (jsdelivr, code.jquery.com, cdnjs)
    fmap.default_css = LEAFLET_CSS
    tiles = _basemap(settings)
    if tiles is not None:
        folium.TileLayer(tiles=tiles, attr=settings.basemap_attribution or "basemap", name=t(N_("Basemap")),
                         max_zoom=MAX_ZOOM, overlay=False, control=True).add_to(fmap)
    groups = {key: folium.FeatureGroup(name=t(label)).add_to(fmap) for key, label in page.groups.items()}
    control = folium.LayerControl(collapsed=page.name in ("phone", "officer", "screen"),
                                  position="topleft" if page.name == "wall"
                                  else "topright")
    control.add_to(fmap)
    root: Any = fmap.get_root()  # a branca Figure: header, html and script sections
    head = [f"<title>{escape(t(page.title))} · GridGov</title>",
            '<link rel="icon" href="/favicon.ico"/>', '<link rel="stylesheet" href="/static/gridgov.css"/>',
            '<script type="application/json" id="gg-i18n">' + _embedded({
                "lang": lang, "messages": page_catalog(lang), "terms": TERMS}) + "</script>"]
    if page.geoman:
        head += [GEOMAN_CSS]
    for line in head:
        root.header.add_child(folium.Element(line))
    root.html.add_child(folium.Element(_TEMPLATES.get_template(f"{page.name}.html").render(t=t, lang=lang)))
    scripts = (([GEOMAN_JS] if page.geoman else [])
               + ['<script src="/static/gg.js"></script>']
               + [f'<script src="/static/{name}.js"></script>' for name in page.scripts]
               + [f'<script src="/static/{page.name}.js"></script>'])
    for line in scripts:
        root.html.add_child(folium.Element(line))
    config = {"page": page.name, "lang": lang, "refresh_seconds": settings.wall_refresh_seconds, "max_zoom": MAX_ZOOM,
              "time_zone": settings.timezone,  # pages show times on the county's clock (GG.fmtTime)
              "demo_user": page.demo_user if settings.demo_sign_in else None}
    groups_js = ", ".join(f"{json.dumps(k)}: {g.get_name()}" for k, g in groups.items())
    # folium's own script defines the map, groups and control (some after this line): start once it has run.
    root.script.add_child(folium.Element(
        f";window.addEventListener('DOMContentLoaded', () => GG.start({{map: {fmap.get_name()}, "
        f"control: {control.get_name()}, groups: {{{groups_js}}}, config: {json.dumps(config)}}}));"))
    html: str = root.render().replace("<html>", f'<html lang="{lang}">', 1)
    return html


def page_language(request: Request) -> str:
    """A page's language: `?lang=` on its address, else the browser's Accept-Language, else GRIDGOV_LANGUAGE (the
    language middleware has usually decided already, the same way)."""
    decided = getattr(request.state, "language", None)
    if isinstance(decided, str):
        return decided
    settings: Settings = request.app.state.settings
    return negotiate(query=request.query_params.get("lang"), accept=request.headers.get("accept-language"),
                     default=settings.language)


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
        def handler(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            if page.name == "wall" and request.query_params.get("screen") == "big":  # the wall's big-screen mode
                query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "screen"])
                return RedirectResponse("/screen" + (f"?{query}" if query else ""), status_code=307)
            return HTMLResponse(render_page(page, settings, page_language(request)), headers={
                "Content-Security-Policy": security_policy(settings), "Cache-Control": "no-cache",
                "Vary": "Accept-Language", "X-Content-Type-Options": "nosniff"})
        return handler

    for page in PAGES.values():
        router.add_api_route(f"/{page.name}", make(page), methods=["GET"], response_class=HTMLResponse,
                             summary=page.title)

    @router.get("/i18n/{lang}.json")
    def page_strings(lang: str, request: Request) -> JSONResponse:
        """The pages' strings in a language, {msgid: text} (the same catalogs as the server's answers); an
        unknown language gets the default one, never an error. (The app comes from the request: an endpoint
        closing over `app` would keep every app and its database pool alive in FastAPI's caches.)"""
        chosen = normalize(lang) or normalize(request.app.state.settings.language) or DEFAULT_LANGUAGE
        return JSONResponse(page_catalog(chosen), headers={"Content-Language": chosen, "Cache-Control": "no-cache"})

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
            raise NotFound(T("no local basemap is configured (GRIDGOV_BASEMAP_FILE)"))
        if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
            raise InvalidInput(T("tile {z}/{x}/{y} does not exist", z=z, x=x, y=y), where="tile")
        data = local.tile(z, x, y)
        if data is None:
            return Response(status_code=204)
        return Response(data, media_type=local.media, headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(router)
