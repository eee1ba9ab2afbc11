"""Vector tiles against GeoJSON items for the same map viewports, in one run over one PostGIS.

A real server (`gridgov serve`, one uvicorn worker) runs over the demo county (200 villages, 66k
vertices) in a PostGIS database of its own. For a 1280×800-pixel screen centred on the county at a few
zooms, it fetches the village layer both ways:
- vector tiles: every 256-px tile the screen touches, six requests in flight (what a browser does);
- GeoJSON: `GET /ogc/collections/village/items?bbox=<the screen>&limit=10000`, one request.
Bytes are the decoded bodies and gzip -6 of them (close to what goes over the wire: the server gzips
answers over 1 KiB at level 5, and that work is in the times). Time is the wall time to have the whole
screen, median of `--repeat` runs after one warm-up. Ratios are GeoJSON
over tiles (above 1: tiles are smaller / faster).

    python bench/tiles.py [--postgres-url URL | --start-postgres] [--zooms 9,11,13] [--repeat 5]

The last line reads `tiles-bench layer=village z<z>_bytes=<ratio>x z<z>_ms=<ratio>x … features=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etl.demo import load_demo  # noqa: E402
from gis.demo import build_demo_county  # noqa: E402
from store.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from store.repo import Repository  # noqa: E402
from store.users import Users  # noqa: E402
from tests.live import free_port, live_server  # noqa: E402

SCREEN = (1280, 800)
LAYER = "village"


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostGIS cluster of its own (scripts/pg-throwaway.sh), stopped and removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="gridgov-tiles-pg-"))
    tmp.chmod(0o755)  # as root the cluster runs as `postgres`, which must reach its data directory
    script = ROOT / "scripts" / "pg-throwaway.sh"
    try:
        out = subprocess.run(["bash", str(script), "start", str(tmp / "data"), str(free_port())],
                             capture_output=True, text=True, timeout=120, check=True)
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", str(tmp / "data")], capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


@contextmanager
def own_database(url: str) -> Iterator[str]:
    """A fresh database `tiles_bench_<pid>` with PostGIS on the same server, dropped afterwards."""
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        raise SystemExit(f"refusing a non-loopback PostGIS host {host!r}")
    name = f"tiles_bench_{os.getpid()}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    parts = urlsplit(url)
    own = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        with sa.create_engine(own, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        yield own
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def viewport(lon: float, lat: float, z: int) -> tuple[list[tuple[int, int]], tuple[float, float, float, float]]:
    """The 256-px tiles a screen centred at lon/lat touches at zoom z, and the screen's lon/lat box."""
    world = 256 * 2**z
    cx = (lon + 180) / 360 * world
    cy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * world
    x0, x1 = cx - SCREEN[0] / 2, cx + SCREEN[0] / 2
    y0, y1 = cy - SCREEN[1] / 2, cy + SCREEN[1] / 2

    def to_lon(px: float) -> float:
        return px / world * 360 - 180

    def to_lat(py: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * py / world))))

    tiles = [(x, y) for x in range(int(x0 // 256), int(x1 // 256) + 1)
             for y in range(int(y0 // 256), int(y1 // 256) + 1)]
    return tiles, (to_lon(x0), to_lat(y1), to_lon(x1), to_lat(y0))


async def fetch_tiles(client: httpx.AsyncClient, z: int, tiles: list[tuple[int, int]]) -> tuple[float, list[bytes]]:
    gate = asyncio.Semaphore(6)

    async def one(x: int, y: int) -> bytes:
        async with gate:
            r = await client.get(f"/ogc/collections/{LAYER}/tiles/WebMercatorQuad/{z}/{x}/{y}")
            if r.status_code not in (200, 204):
                raise SystemExit(f"tile {z}/{x}/{y}: HTTP {r.status_code} {r.text[:200]}")
            return r.content

    start = time.perf_counter()
    bodies = await asyncio.gather(*(one(x, y) for x, y in tiles))
    return (time.perf_counter() - start) * 1000, list(bodies)


async def fetch_items(client: httpx.AsyncClient, box: tuple[float, float, float, float]) -> tuple[float, bytes, int]:
    start = time.perf_counter()
    r = await client.get(f"/ogc/collections/{LAYER}/items", params={"bbox": ",".join(f"{v:.7f}" for v in box),
                                                                    "limit": 10000})
    ms = (time.perf_counter() - start) * 1000
    if r.status_code != 200:
        raise SystemExit(f"items: HTTP {r.status_code} {r.text[:200]}")
    return ms, r.content, int(r.json()["numberReturned"])


async def run(base: str, token: str, center: tuple[float, float], zooms: list[int], repeat: int) -> list[dict]:
    rows = []
    limits = httpx.Limits(max_connections=6, max_keepalive_connections=6)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                                 limits=limits) as client:
        for z in zooms:
            tiles, box = viewport(*center, z)
            await fetch_tiles(client, z, tiles)  # warm-up: routers, caches, connections
            await fetch_items(client, box)
            tile_ms, item_ms = [], []
            for _ in range(repeat):
                ms, bodies = await fetch_tiles(client, z, tiles)
                tile_ms.append(ms)
                ms, body, features = await fetch_items(client, box)
                item_ms.append(ms)
            rows.append({"z": z, "tiles": len(tiles), "nonempty": sum(bool(b) for b in bodies),
                         "features": features, "tile_bytes": sum(map(len, bodies)),
                         "tile_gzip": sum(len(gzip.compress(b, 6)) for b in bodies if b),
                         "json_bytes": len(body), "json_gzip": len(gzip.compress(body, 6)),
                         "tile_ms": statistics.median(tile_ms), "json_ms": statistics.median(item_ms)})
    return rows


def link(row: dict, kind: str, mbit: float = 10.0) -> float:
    """Measured ms plus the gzipped body's transfer time at `mbit` (a model of a slower link than loopback)."""
    return float(row[f"{kind}_ms"]) + row[f"{kind}_gzip"] * 8 / (mbit * 1e6) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--postgres-url", default=None, help="a loopback PostGIS server (default: "
                    "GRIDGOV_BENCH_POSTGRES_URL or GRIDGOV_TEST_POSTGRES_URL)")
    ap.add_argument("--start-postgres", action="store_true", help="start a throwaway PostGIS when no URL is given")
    ap.add_argument("--zooms", default="9,11,13")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    url = args.postgres_url or os.environ.get("GRIDGOV_BENCH_POSTGRES_URL") or os.environ.get(
        "GRIDGOV_TEST_POSTGRES_URL")
    zooms = [int(z) for z in args.zooms.split(",")]
    t0 = time.perf_counter()
    with ExitStack() as stack:
        if url is None:
            if not args.start_postgres:
                raise SystemExit("vector tiles need PostGIS: give --postgres-url or --start-postgres")
            url = stack.enter_context(throwaway_postgres())
        db = stack.enter_context(own_database(url))
        engine = make_engine(db)
        upgrade(engine)
        county = build_demo_county(seed=7, months=1)
        with transaction(session_factory(engine)) as session:
            load_demo(Repository(session), county, effective_from=date(2020, 1, 1))
            Users(session).add("bench", "correct horse battery", "dispatcher")
            token = Users(session).device_token("bench", "bench")
        engine.dispose()
        outline = next(u.geometry for u in county.units if u.layer == "county")
        assert outline is not None
        c = outline.centroid
        base = stack.enter_context(live_server(db, Path(stack.enter_context(tempfile.TemporaryDirectory()))))
        print(f"# demo county loaded and served in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rows = asyncio.run(run(base, token, (c.x, c.y), zooms, args.repeat))
    print(f"{'z':>3} {'tiles':>5} {'feat':>5} | {'MVT bytes':>10} {'gzip':>9} {'ms':>7} | {'GeoJSON bytes':>13} "
          f"{'gzip':>9} {'ms':>7} | {'bytes×':>7} {'gzip×':>6} {'ms×':>6} | {'ms× at 10 Mbit/s':>16}")
    summary = [f"layer={LAYER}"]
    for r in rows:
        bytes_x = r["json_bytes"] / max(r["tile_bytes"], 1)
        gzip_x = r["json_gzip"] / max(r["tile_gzip"], 1)
        ms_x = r["json_ms"] / r["tile_ms"]
        print(f"{r['z']:>3} {r['tiles']:>5} {r['features']:>5} | {r['tile_bytes']:>10,} {r['tile_gzip']:>9,} "
              f"{r['tile_ms']:>7.1f} | {r['json_bytes']:>13,} {r['json_gzip']:>9,} {r['json_ms']:>7.1f} | "
              f"{bytes_x:>6.1f}x {gzip_x:>5.1f}x {ms_x:>5.1f}x | {link(r, 'json') / link(r, 'tile'):>15.1f}x")
        summary += [f"z{r['z']}_bytes={bytes_x:.1f}x", f"z{r['z']}_ms={ms_x:.1f}x"]
    print(f"# screen {SCREEN[0]}×{SCREEN[1]} px centred on the county; tiles: 6 in flight; medians of "
          f"{args.repeat}; total {time.perf_counter() - t0:.1f} s")
    print("# loopback hides transfer; the last column is modelled, not measured: measured ms + gzipped "
          "bytes at 10 Mbit/s (a county intranet link or a good phone connection)")
    print("tiles-bench " + " ".join(summary) + f" features={rows[0]['features']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
