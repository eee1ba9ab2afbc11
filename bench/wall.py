"""The map wall and the big screen in a real browser at 10^4 open cases and 10^4 H3 hexagons: time to first paint
and to interactive.

A fresh SQLite file gets the demo county (seed 7, one month of incidents), `--cases` open cases spread
uniformly over the county (through `Cases.intake`, routed like a phone's reports) and as many extra
historical incidents as it takes for the hotspot layer to hold `--hexes` distinct H3 cells at `--res`.
`gridgov serve` serves it on a loopback port; Debian's Chromium (Playwright, headless, 1920×1080, a new
context per run, so a cold browser cache) opens `/wall?res=9&days=3650` as a signed-in dispatcher.

The usual alternative, in the same run: a static folium page of the same data built the common way — every
layer embedded inline as `folium.GeoJson(..., style_function=..., tooltip=GeoJsonTooltip(...))` (folium's
default SVG renderer), the cases and hexagons exactly as the wall received them (`GET /wall/cases` and the
wall's own `/hotspots` query) — served by `python -m http.server` on loopback together with a copy of the
vendored Leaflet, so no request leaves the machine. A second variant adds `prefer_canvas=True`, the one
folium switch that matters at this size, so the table separates renderer from architecture.

Measured per page load, from navigation start: first paint and first contentful paint (Paint Timing),
DOMContentLoaded, the load event, "interactive" (the wall's `gg-interactive` mark, set once units, cases
and hexagons are on the map; for folium a mark at the end of its script, after every layer is added),
the end of the first frame after that (requestAnimationFrame, then a task), and the longest main-thread
task. One browser; a new context (empty cache and storage) per load; one unmeasured warm-up load of each
page, then `--runs` measured rounds over the pages in turn; medians.

The command centre's big screen, `/screen?res=9&days=3650` at 3840×2160 (a 65-inch 4K video wall: KPI tiles,
four ECharts charts, the ticker and the same cases and hexagons on its map), is measured in the same rounds,
beside the desk wall at 1920×1080; its interactive mark is set once tiles, charts, units, cases and hexagons
are drawn. Its target is 1.5 s.

    python bench/wall.py [--cases 10000] [--hexes 10000] [--runs 3] [--no-folium] [--keep]

The last two lines read `wall-bench cases=<n> hexes=<n> first_paint_ms=<ms> interactive_ms=<ms>` (the wall:
cases and hexagons it drew, median first contentful paint and `gg-interactive` mark) and the same for the
big screen as `screen-bench … target_ms=1500`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
import h3
import httpx
import numpy as np
import shapely
from playwright import sync_api as playwright_api

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etl.demo import load_demo  # noqa: E402
from gis.demo import build_demo_county  # noqa: E402
from gis.model import Incident  # noqa: E402
from store.cases import OPEN_STATES, Cases, Report  # noqa: E402
from store.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from store.repo import Repository  # noqa: E402
from store.routers import RouterCache  # noqa: E402
from store.users import User, Users  # noqa: E402
from tests.live import free_port, running  # noqa: E402
from web.pages import LEAFLET_CSS, LEAFLET_JS, MAX_ZOOM  # noqa: E402

PASSWORD = "gridgov-demo"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
VIEWPORT = {"width": 1920, "height": 1080}
SCREEN_VIEWPORT = {"width": 3840, "height": 2160}
SCREEN_TARGET_MS = 1500
WALL, SCREEN = "GridGov wall", "GridGov big screen 4K"
PAGE_TIMEOUT_MS = 240_000
# As web/static/gg.js and wall.js draw them, so both pages look alike.
STATE_COLOURS = {"reported": "#e31a1c", "registered": "#fd8d3c", "dispatched": "#feb24c", "arrived": "#41b6c4",
                 "handled": "#1d91c0", "fed_back": "#225ea8", "checked": "#6a51a3", "suspended": "#969696",
                 "closed": "#31a354", "evaluated": "#006d2c", "cancelled": "#bdbdbd"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
           "#756bb1", "#636363"]
HOT_RAMP = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"]

# Runs before any page script (Playwright injects it, so the pages' CSP does not apply): records long tasks
# and, once a page sets body[data-ready="1"], the end of the first frame after it.
INIT_JS = """
(() => {
  window.__benchLong = [];
  try {
    new PerformanceObserver((list) => {
      list.getEntries().forEach((e) => window.__benchLong.push([e.startTime, e.duration]));
    }).observe({type: "longtask", buffered: true});
  } catch (e) { /* no long-task timing */ }
  const seen = new MutationObserver(() => {
    if (!document.body || document.body.dataset.ready !== "1") return;
    seen.disconnect();
    requestAnimationFrame(() => setTimeout(() => performance.mark("bench-frame"), 0));
  });
  seen.observe(document, {subtree: true, attributes: true, attributeFilter: ["data-ready"]});
})();
"""
METRICS_JS = """() => {
  const one = (n) => { const e = performance.getEntriesByName(n)[0]; return e ? e.startTime : null; };
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const ready = one("gg-interactive") ?? one("folium-interactive");
  const frame = one("bench-frame");
  const long = (window.__benchLong || []).filter((t) => t[0] <= frame);
  return {fp: one("first-paint"), fcp: one("first-contentful-paint"), dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd, ready: ready, frame: frame, html_bytes: nav.encodedBodySize,
    bytes: nav.encodedBodySize + resources.reduce((s, r) => s + (r.encodedBodySize || 0), 0),
    requests: 1 + resources.length, longest_task: long.reduce((m, t) => Math.max(m, t[1]), 0),
    long_total: long.reduce((s, t) => s + t[1], 0),
    heap: performance.memory ? performance.memory.usedJSHeapSize : null,
    cases: Number(document.body.dataset.cases || -1), hexes: Number(document.body.dataset.hexes || -1),
    html_end: nav.responseEnd, timeline: resources.map((r) => [r.name, r.startTime, r.responseEnd]),
    marks: performance.getEntriesByType("mark").map((m) => [m.name, m.startTime]), long: long};
}"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- data ------------------------------------------------------------------------------------------------


def points_in(geom: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform over a polygon (rejection sampling over its bounding box)."""
    west, south, east, north = geom.bounds
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        xy = np.column_stack([rng.uniform(west, east, 2 * n), rng.uniform(south, north, 2 * n)])
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.vstack(out)[:n]


def prepare(url: str, n_cases: int, n_hexes: int, res: int, seed: int) -> dict[str, Any]:
    """The demo county, `n_cases` open cases and enough incidents for `n_hexes` occupied cells at `res`."""
    t0 = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    demo = build_demo_county(seed=7, months=1)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        load_demo(Repository(session), demo, effective_from=date(2020, 1, 1))
        Users(session).add("dispatcher", PASSWORD, "dispatcher", display_name="bench dispatcher")
    county = next(u for u in demo.units if u.layer == "county").geometry
    assert county is not None
    rng = np.random.default_rng(seed)
    now = datetime.now().replace(microsecond=0)
    # Categories in the proportions the demo's reports have; ages from 26 hours (so a report that intake links
    # to an earlier one as a duplicate, no longer open, is not "recently finished" on the wall either) to 30
    # days (so some are overdue). Points are drawn until `n_cases` cases are open.
    pool = [i.matter_code for i in demo.incidents]
    spare = n_cases + max(100, n_cases // 10)
    xy = points_in(county, spare, rng)
    matters = rng.integers(0, len(pool), spare)
    ages = rng.integers(26 * 3600, 30 * 86_400, spare)
    accuracy = rng.choice([5.0, 10.0, 20.0, 30.0], spare)
    say(f"  demo county loaded in {time.perf_counter() - t0:.1f} s; intake of {n_cases} cases…")
    t1 = time.perf_counter()
    reporter = User(0, "bench-worker", "bench grid worker", "grid_worker", None)
    statuses: Counter[str] = Counter()
    with transaction(sessions) as session:
        repo = Repository(session)
        router = RouterCache(demo.fallback_team_code).router_at(repo, now.date())  # one version, in force throughout
        cases = Cases(session)
        used = 0
        while sum(statuses[s] for s in OPEN_STATES) < n_cases:
            if used == spare:
                raise SystemExit(f"{spare} reports gave fewer than {n_cases} open cases: {dict(statuses)}")
            report = Report(matter=pool[int(matters[used])], x=float(xy[used, 0]), y=float(xy[used, 1]), crs="wgs84",
                            accuracy_m=float(accuracy[used]), description="wall bench",
                            idempotency_key=f"wall-bench-{used}", reported_at=now - timedelta(seconds=int(ages[used])))
            statuses[cases.intake(reporter, report, router, now).case.status] += 1
            used += 1
    xy = xy[:used]
    intake_s = time.perf_counter() - t1
    # The cells the hotspot layer will show: demo incidents and cases, plus one incident in each of as many
    # other county cells as it takes to reach the target.
    occupied = {h3.latlng_to_cell(i.lat, i.lon, res) for i in demo.incidents if i.reported_at < now}
    occupied |= {h3.latlng_to_cell(lat, lon, res) for lon, lat in xy}
    free = sorted(set(h3.geo_to_cells(county.__geo_interface__, res)) - occupied)
    extra = [free[int(k)] for k in rng.permutation(len(free))[:max(0, n_hexes - len(occupied))]]
    incidents = []
    for k, cell in enumerate(extra):
        lat, lon = h3.cell_to_latlng(cell)
        incidents.append(Incident(reported_at=now - timedelta(seconds=int(rng.integers(3600, 30 * 86_400))),
                                  lon=lon, lat=lat, matter_code=pool[int(rng.integers(len(pool)))],
                                  description="wall bench", external_id=f"wall-bench-{k:06d}"))
    with transaction(sessions) as session:
        Repository(session).add_incidents(incidents)
    engine.dispose()
    return {"expected_hexes": len(occupied) + len(extra), "extra_incidents": len(extra), "statuses": statuses,
            "intake_s": intake_s, "prepare_s": time.perf_counter() - t0, "county_cells": len(free) + len(occupied)}


# ---- the folium page ---------------------------------------------------------------------------------------


def team_colour(code: str | None) -> str:
    if not code:
        return "#999"
    h = 0
    for ch in code:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return PALETTE[h % len(PALETTE)]


def build_folium(base: str, token: str, hex_query: str, site: Path, prefer_canvas: bool) -> dict[str, Any]:
    """The same data as the wall, as one static folium page with everything inline; returns path and timings."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        layers = {layer: client.get(f"/units?layer={layer}").json() for layer in ("county", "township", "village",
                                                                                   "zone")}
        teams = client.get("/teams").json()
        feed = client.get("/wall/cases").json()
        answer = client.get(hex_query.replace("+", "%2B"))  # an offset in a query (…+08:00) is not a space
        answer.raise_for_status()
        hot = answer.json()
    t0 = time.perf_counter()
    unit_team: dict[str, str] = {}
    for t in teams:
        if t.get("unit_code") and t.get("kind") != "grid_worker":
            unit_team.setdefault(t["unit_code"], t["code"])
    by_code = {f["properties"]["code"]: f["properties"] for fc in layers.values() for f in fc["features"]}

    def territory(props: dict[str, Any]) -> str | None:
        p: dict[str, Any] | None = props
        for _ in range(6):
            if p is None:
                return None
            if p["code"] in unit_team:
                return unit_team[p["code"]]
            p = by_code.get(p.get("parent_code") or "")
        return None

    bounds = shapely.bounds(shapely.geometry.shape(layers["county"]["features"][0]["geometry"]))
    fmap = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=10,
                      tiles=None, maxZoom=MAX_ZOOM, prefer_canvas=prefer_canvas, control_scale=True)
    fmap.default_js = LEAFLET_JS  # the vendored Leaflet, copied next to the page; nothing from a CDN
    fmap.default_css = LEAFLET_CSS
    looks = {"county": (0.0, 3, "#333"), "township": (0.1, 2, None), "village": (0.08, 0.5, None),
             "zone": (0.05, 2, None)}
    for layer in ("county", "village", "township", "zone"):
        fill, weight, line = looks[layer]

        def unit_style(f: dict[str, Any], fill: float = fill, weight: float = weight, line: str | None = line
                       ) -> dict[str, Any]:
            colour = team_colour(territory(f["properties"]))
            return {"color": line or colour, "weight": weight, "fillColor": colour, "fillOpacity": fill,
                    "dashArray": "6 4" if f["properties"].get("layer") == "zone" else None}

        folium.GeoJson(layers[layer], name=layer, style_function=unit_style, show=layer != "village",
                       tooltip=folium.GeoJsonTooltip(fields=["name"])).add_to(fmap)
    cols = feed["columns"]
    at = {c: cols.index(c) for c in ("id", "lon", "lat", "status", "matter", "team", "escalation_level")}
    case_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r[at["lon"]], r[at["lat"]]]},
         "properties": {"id": r[at["id"]], "status": r[at["status"]], "matter": r[at["matter"]],
                        "team": r[at["team"]], "escalation": r[at["escalation_level"]]}}
        for r in feed["cases"] if r[at["lon"]] is not None]}

    def case_style(f: dict[str, Any]) -> dict[str, Any]:
        p = f["properties"]
        return {"radius": 7 if p["escalation"] else 5, "color": "#fff", "weight": 2 if p["escalation"] else 1,
                "fillColor": STATE_COLOURS.get(p["status"], "#000"), "fillOpacity": 0.9}

    biggest = max(1, hot["max"])
    hex_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"h": c["h"], "n": c["n"]}, "geometry": {"type": "Polygon", "coordinates": [
            [[c["b"][i], c["b"][i + 1]] for i in range(0, len(c["b"]), 2)] + [[c["b"][0], c["b"][1]]]]}}
        for c in hot["cells"]]}

    def hex_style(f: dict[str, Any]) -> dict[str, Any]:
        level = min(len(HOT_RAMP) - 1, int(f["properties"]["n"] / biggest * (len(HOT_RAMP) - 1) + 0.5))
        return {"color": "#a63603", "weight": 0.5, "fillColor": HOT_RAMP[level], "fillOpacity": 0.55}

    hexes = folium.GeoJson(hex_fc, name="hotspots", style_function=hex_style,
                           tooltip=folium.GeoJsonTooltip(fields=["n", "h"])).add_to(fmap)
    points = folium.GeoJson(case_fc, name="cases", marker=folium.CircleMarker(radius=5), style_function=case_style,
                            tooltip=folium.GeoJsonTooltip(fields=["id", "matter", "status", "team"])).add_to(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    folium.LayerControl(collapsed=False).add_to(fmap)
    html = fmap.get_root().render()
    # After folium's own script (the last one in the page): every layer is on the map.
    html = html.replace("</html>", (
        f"<script>performance.mark('folium-interactive'); document.body.dataset.cases = "
        f"String({points.get_name()}.getLayers().length); document.body.dataset.hexes = "
        f"String({hexes.get_name()}.getLayers().length); document.body.dataset.ready = '1';</script>\n</html>"))
    name = "folium-canvas.html" if prefer_canvas else "folium.html"
    (site / name).write_text(html, encoding="utf-8")
    return {"path": "/" + name, "build_s": time.perf_counter() - t0, "bytes": len(html.encode()),
            "foreign": sorted({h for h in _hosts(html) if h})}


def _hosts(html: str) -> set[str]:
    """Hosts that src/href attributes of a page name (none is allowed)."""
    return {urlsplit(m).netloc for m in re.findall(r'(?:src|href)="((?:https?:)?//[^"]+)"', html)}


# ---- the browser -------------------------------------------------------------------------------------------


def load(browser: Any, url: str, token: str | None, viewport: dict[str, int] | None = None) -> dict[str, Any]:
    """One page load in a new browser context (empty cache and storage) at `viewport` (default 1920×1080): the
    page's figures, its console errors and any request off loopback."""
    context = browser.new_context(viewport=viewport or VIEWPORT, device_scale_factor=1)
    if token is not None:
        context.add_init_script(f"localStorage.setItem('gg.token', {token!r});")
    context.add_init_script(INIT_JS)
    page = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: foreign.append(r.url) if urlsplit(r.url).hostname not in (None, "127.0.0.1")
            and urlsplit(r.url).scheme in ("http", "https") else None)
    try:
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=PAGE_TIMEOUT_MS)
        while not page.evaluate("performance.getEntriesByName('bench-frame').length"):
            page.wait_for_timeout(20)
        # Paint Timing entries arrive once the compositor presents the frame, which may be after our mark.
        give_up = time.monotonic() + 15
        while not page.evaluate("performance.getEntriesByName('first-contentful-paint').length") \
                and time.monotonic() < give_up:
            page.wait_for_timeout(50)
        figures: dict[str, Any] = page.evaluate(METRICS_JS)
        figures["wall_clock_s"] = time.perf_counter() - start
        figures["hex_query"] = page.evaluate("window.GG && GG.wallState ? GG.wallState.hexQuery : null")
        figures["status"] = page.evaluate("(document.querySelector('#gg-status') || {}).textContent || ''")
    finally:
        context.close()
    figures["errors"], figures["foreign"] = errors, foreign
    return figures


def endpoint_times(base: str, token: str, paths: list[str], repeat: int = 3) -> list[tuple[str, float, int]]:
    """Median server time (loopback, one client) and size of each request the wall makes."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for path in paths:
            times, size = [], 0
            for _ in range(repeat):
                t = time.perf_counter()
                r = client.get(path.replace("+", "%2B"))  # an offset in a query (…+08:00) is not a space
                times.append(time.perf_counter() - t)
                r.raise_for_status()
                size = len(r.content)
            out.append((path, statistics.median(times) * 1000, size))
    return out


# ---- report ------------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def med(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return float(statistics.median(values)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=10_000, help="open cases to add (default 10^4)")
    ap.add_argument("--hexes", type=int, default=10_000, help="target distinct H3 cells in the hotspot layer")
    ap.add_argument("--res", type=int, default=9, help="H3 resolution the wall is fixed to (?res=)")
    ap.add_argument("--runs", type=int, default=3, help="measured loads per page (medians)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-canvas-variant", action="store_true", help="skip folium with prefer_canvas=True")
    ap.add_argument("--no-folium", action="store_true", help="only GridGov's wall and big screen")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (database, pages, logs)")
    args = ap.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="gridgov-wall-bench-"))
    try:
        run(args, tmp)
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {time.perf_counter() - started:.0f} s")


def run(args: argparse.Namespace, tmp: Path) -> None:
    url = f"sqlite:///{tmp / 'wall.sqlite'}"
    say(f"preparing {tmp / 'wall.sqlite'}")
    data = prepare(url, args.cases, args.hexes, args.res, args.seed)
    say(f"  {sum(data['statuses'].values())} reports in {data['intake_s']:.1f} s ({dict(data['statuses'])}), "
        f"{data['extra_incidents']} extra incidents; "
        f"{data['expected_hexes']} cells expected of {data['county_cells']} in the county "
        f"(prepared in {data['prepare_s']:.1f} s)")
    site = tmp / "site"
    shutil.copytree(ROOT / "web" / "static" / "vendor" / "leaflet", site / "static" / "vendor" / "leaflet")
    (site / "favicon.ico").write_bytes(b"")  # the browser asks for it; a 404 would show as a console error
    port, static_port = free_port(), free_port()
    base, static = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{static_port}"
    env = {**os.environ, "GRIDGOV_DATABASE_URL": url, "GRIDGOV_TICK_SECONDS": "0", "GRIDGOV_DATA_DIR": str(tmp)}
    wall_path = f"/wall?res={args.res}&days=3650"
    screen_path = f"/screen?res={args.res}&days=3650"
    with running([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], f"{base}/health",
                           tmp / "server.log", env), \
         running([sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1",
                            "--directory", str(site)], f"{static}/static/vendor/leaflet/leaflet.js",
                           tmp / "static.log", env), \
         playwright_api.sync_playwright() as pw:
        r = httpx.post(f"{base}/auth/token", json={"username": "dispatcher", "password": PASSWORD}, timeout=30)
        r.raise_for_status()
        token = r.json()["access_token"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            say("warm-up load of the wall (not counted)")
            warm = load(browser, base + wall_path, token)
            say(f"  {warm['cases']} cases, {warm['hexes']} hexagons, interactive at {ms(warm['ready'])} ms; "
                f"status {warm['status']!r}")
            if not warm["hex_query"]:
                raise SystemExit("the wall did not report its hotspot query (GG.wallState.hexQuery)")
            # The wall shows significance (Gi*): besides every cell with a report, the cells with none that are
            # significant hot or cold spots through their neighbours' reports (GET /hotspots?mode=significance).
            hex_answer = httpx.get(base + warm["hex_query"].replace("+", "%2B"), timeout=120,
                                   headers={"Authorization": f"Bearer {token}"}).json()
            data["wall_hexes"] = len(hex_answer["cells"])
            data["significant_empty"] = sum(1 for c in hex_answer["cells"] if not c["n"])
            pages: dict[str, tuple[str, str | None, dict[str, int] | None]] = {
                WALL: (base + wall_path, token, None),
                SCREEN: (base + screen_path, token, SCREEN_VIEWPORT)}
            say("warm-up load of the big screen (not counted)")
            warm_screen = load(browser, *pages[SCREEN])
            data["first_open"] = (warm["ready"], warm_screen["ready"])
            built: dict[str, dict[str, Any]] = {}
            variants = [] if args.no_folium else [("folium GeoJson (SVG)", False)] + (
                [] if args.no_canvas_variant else [("folium GeoJson + canvas", True)])
            for label, canvas in variants:
                built[label] = build_folium(base, token, warm["hex_query"], site, canvas)
                say(f"  built {label}: {built[label]['bytes'] / 2**20:.1f} MiB in {built[label]['build_s']:.1f} s; "
                    "warm-up load (not counted)")
                pages[label] = (static + built[label]["path"], None, None)
                load(browser, *pages[label])
            results: dict[str, list[dict[str, Any]]] = {label: [] for label in pages}
            for n in range(args.runs):
                for label, (page_url, tok, size) in pages.items():
                    figures = load(browser, page_url, tok, size)
                    results[label].append(figures)
                    say(f"  run {n + 1} {label}: first paint {ms(figures['fcp'])} ms, interactive "
                        f"{ms(figures['ready'])} ms, frame {ms(figures['frame'])} ms, {figures['cases']} cases, "
                        f"{figures['hexes']} hexagons")
        finally:
            browser.close()
        endpoints = endpoint_times(base, token, [wall_path, "/units?layer=county", "/units?layer=township",
                                                 "/units?layer=village", "/units?layer=zone", "/teams", "/matters",
                                                 "/wall/cases", warm["hex_query"], "/screen/summary"])
    report(args, data, results, built, endpoints)


def timeline(label: str, runs: list[dict[str, Any]]) -> None:
    """Where a page's time goes (medians over the runs): its requests, the marks it sets, its long tasks."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in runs:
        for name, start, end in r["timeline"]:
            parts = urlsplit(name)
            key = parts.path + (f"?{parts.query}" if parts.path == "/units" else "")
            if key.startswith("/static/") and "vendor/echarts" not in key:
                continue
            spans.setdefault(key, []).append((start, end))
    order = sorted(spans, key=lambda k: statistics.median(e for _, e in spans[k]))
    marks: dict[str, list[float]] = {}
    for r in runs:
        for name, at in r["marks"]:
            if name.startswith("gg-"):
                marks.setdefault(name, []).append(at)
    print(f"{label}, timeline (medians, ms from navigation start): HTML {med(runs, 'html_end'):.0f}, " + ", ".join(
        f"{k} {statistics.median(s for s, _ in spans[k]):.0f}→{statistics.median(e for _, e in spans[k]):.0f}"
        for k in order if k != "/favicon.ico")
        + "; marks " + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in sorted(
            marks.items(), key=lambda kv: statistics.median(kv[1])))
        + f"; frame {med(runs, 'frame'):.0f}")
    last = runs[len(runs) // 2]
    print(f"{label}, long tasks of run {len(runs) // 2 + 1} (start+duration ms): "
          + ", ".join(f"{a:.0f}+{d:.0f}" for a, d in last["long"]))


def report(args: argparse.Namespace, data: dict[str, Any], results: dict[str, list[dict[str, Any]]],
           built: dict[str, dict[str, Any]], endpoints: list[tuple[str, float, int]]) -> None:
    wall, screen = results[WALL], results[SCREEN]
    print(f"wall bench: {args.cases} open cases, target {args.hexes} H3 res-{args.res} cells "
          f"({data['expected_hexes']} expected; the wall's significance layer adds {data['significant_empty']} "
          f"significant cells without a report), Chromium headless {VIEWPORT['width']}×{VIEWPORT['height']} "
          f"(the big screen {SCREEN_VIEWPORT['width']}×{SCREEN_VIEWPORT['height']}), "
          f"medians of {args.runs} cold-cache loads")
    head = ("page", "HTML KiB", "all KiB", "req", "FP", "FCP", "DCL", "load", "interactive", "+frame",
            "longest task", "long tasks", "heap MiB", "cases", "hexes")
    rows = []
    for label, runs in results.items():
        heap = med(runs, "heap")
        rows.append((label, f"{med(runs, 'html_bytes') / 1024:,.0f}", f"{med(runs, 'bytes') / 1024:,.0f}",
                     f"{med(runs, 'requests'):.0f}", *(f"{med(runs, k):,.0f}" for k in
                                                       ("fp", "fcp", "dcl", "load", "ready", "frame",
                                                        "longest_task", "long_total")),
                     f"{heap / 2**20:.0f}" if heap == heap else "-", f"{med(runs, 'cases'):.0f}",
                     f"{med(runs, 'hexes'):.0f}"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                           strict=True))))
    print("times in ms from navigation start; FP/FCP: Paint Timing; interactive: the wall's gg-interactive mark "
          "(folium: a mark after its script); +frame: end of the first frame after it; long tasks: main-thread "
          "tasks over 50 ms up to that frame, longest and total")
    for label, runs in results.items():
        if label in (WALL, SCREEN):
            continue
        print(f"ratio {label} / GridGov wall: first paint {med(runs, 'fcp') / med(wall, 'fcp'):.2f}x, "
              f"interactive {med(runs, 'ready') / med(wall, 'ready'):.2f}x, "
              f"+frame {med(runs, 'frame') / med(wall, 'frame'):.2f}x, "
              f"HTML {med(runs, 'html_bytes') / med(wall, 'html_bytes'):.0f}x, "
              f"all bytes {med(runs, 'bytes') / med(wall, 'bytes'):.2f}x "
              f"(page built in {built[label]['build_s']:.1f} s beforehand, not counted)")
    print(f"first opens after the server started (not in the medians; the wall computed the hotspots then): wall "
          f"{ms(data['first_open'][0])} ms, big screen {ms(data['first_open'][1])} ms to interactive")
    print("the wall's requests (server time, loopback, one client, median of 3):")
    for path, took, size in endpoints:
        print(f"  {took:8.0f} ms  {size / 1024:9,.0f} KiB  {path}")
    for label, runs in ((WALL, wall), (SCREEN, screen)):
        timeline(label, runs)
    problems = []
    for label, runs in results.items():
        errors = sorted({e for r in runs for e in r["errors"]})
        foreign = sorted({u for r in runs for u in r["foreign"]})
        if errors:
            problems.append(f"{label}: console errors: {'; '.join(e[:200] for e in errors)}")
        if foreign:
            problems.append(f"{label}: requests off loopback: {', '.join(foreign[:5])}")
    for label, b in built.items():
        if b["foreign"]:
            problems.append(f"{label}: links to other hosts in the HTML: {', '.join(b['foreign'])}")
    shown = int(med(wall, "hexes"))
    for label, runs, want in ((WALL, wall, data["wall_hexes"]), (SCREEN, screen, data["expected_hexes"])):
        if int(med(runs, "hexes")) != want:
            problems.append(f"{label} drew {int(med(runs, 'hexes'))} hexagons, the bench expected {want}")
    if data["wall_hexes"] != data["expected_hexes"] + data["significant_empty"]:
        problems.append(f"the wall's hotspot answer holds {data['wall_hexes'] - data['significant_empty']} cells with "
                        f"reports, the bench expected {data['expected_hexes']}")
        if int(med(runs, "cases")) != args.cases:
            problems.append(f"{label} drew {int(med(runs, 'cases'))} case markers for {args.cases} open cases")
    if med(screen, "ready") > SCREEN_TARGET_MS:
        problems.append(f"the big screen became interactive in {med(screen, 'ready'):.0f} ms, over the "
                        f"{SCREEN_TARGET_MS} ms target")
    print("problems: " + (" | ".join(problems) if problems else "none (no console errors, nothing off loopback, "
                                                                   "every case and hexagon drawn)"))
    print(f"wall-bench cases={int(med(wall, 'cases'))} hexes={shown} first_paint_ms={med(wall, 'fcp'):.0f} "
          f"interactive_ms={med(wall, 'ready'):.0f}")
    print(f"screen-bench cases={int(med(screen, 'cases'))} hexes={int(med(screen, 'hexes'))} "
          f"first_paint_ms={med(screen, 'fcp'):.0f} interactive_ms={med(screen, 'ready'):.0f} "
          f"target_ms={SCREEN_TARGET_MS}")


if __name__ == "__main__":
    main()
