"""Bursts against `gridgov serve --workers 2` over the demo county: concurrent mixed reads and report retries.

Issue 15.1: ~80 concurrent requests used to stall the server for 30 s (every threadpool thread waiting for a
pooled connection while every connection's owner waited for a thread). Here each round fires, all at once,
`--reads` GETs spread over every read endpoint (signed in as a dispatcher, plus liveness probes) and
`--reporters` grid workers each sending one report three times at once (the same key and body, as a phone
retrying on a bad network). A request counts as a *stall* when it takes longer than the pool timeout (30 s)
or times out at the client. After the rounds the database is read directly: each report key stored once.

    python bench/burst.py [--reads 500] [--reporters 100] [--rounds 3] [--workers 2] [--database-url URL]

The last line reads `burst requests=<n> http_5xx=<n> p99_ms=<ms> stalls=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_load import free_port, prepare, wait_until_up  # noqa: E402
from store.db import make_engine, session_factory, transaction  # noqa: E402
from store.users import Users  # noqa: E402

POOL_TIMEOUT_S = 30.0


def reads(lon: float, lat: float) -> list[str]:
    """Every read endpoint a dispatcher's screens use (and the liveness probe)."""
    return ["/health", "/ready", "/matters", "/teams", "/versions", "/units?layer=township", "/rules", "/delegations",
            "/cases", "/cases?triage=true", "/stats", f"/jurisdictions/at?lat={lat}&lon={lon}", "/auth/me",
            "/open311/v2/services.json", "/open311/v2/requests.json", "/ogc/collections", "/wall/cases",
            "/hotspots", "/disputes", "/incidents?limit=100"]


async def one(client: httpx.AsyncClient, method: str, path: str, tally: Counter[str], latencies: list[float],
              **kw: object) -> int:
    start = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        tally["client_timeouts"] += 1
        tally["stalls"] += 1
        return -1
    took = time.perf_counter() - start
    latencies.append(took)
    tally["requests"] += 1
    tally[f"http_{r.status_code}"] += 1
    if r.status_code >= 500:
        tally["http_5xx"] += 1
    if took > POOL_TIMEOUT_S:
        tally["stalls"] += 1
    return r.status_code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=500, help="concurrent GETs per round")
    ap.add_argument("--reporters", type=int, default=100, help="concurrent reporters per round (3 copies each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gridgov-burst-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    tokens, matters, (w, s, e, n) = prepare(url, args.reporters)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        Users(session).add("burst-dispatcher", "correct horse battery", "dispatcher")
        boss = Users(session).device_token("burst-dispatcher", "bench")
    port = free_port()
    env = {**os.environ, "GRIDGOV_DATABASE_URL": url, "GRIDGOV_TICK_SECONDS": "0", "GRIDGOV_DATA_DIR": str(tmp)}
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers",
                               str(args.workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    tally: Counter[str] = Counter()
    latencies: list[float] = []
    keys: set[str] = set()
    try:
        wait_until_up(base, server)
        paths = reads((w + e) / 2, (s + n) / 2)
        now = datetime.now().replace(microsecond=0).isoformat()

        async def round_(r: int) -> None:
            total = args.reads + 3 * args.reporters
            limits = httpx.Limits(max_connections=total, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=2 * POOL_TIMEOUT_S) as client:
                jobs = [one(client, "GET", paths[i % len(paths)], tally, latencies,
                            headers={"Authorization": f"Bearer {boss}"}) for i in range(args.reads)]
                for i, token in enumerate(tokens):
                    key = f"burst-{r}-{i}-{uuid.uuid4()}"
                    keys.add(key)
                    body = {"idempotency_key": key, "matter": matters[i % len(matters)],
                            "lon": w + (e - w) * ((i * 37) % 100) / 100, "lat": s + (n - s) * ((i * 61) % 100) / 100,
                            "reported_at": now, "description": "burst"}
                    jobs += [one(client, "POST", "/reports", tally, latencies, json=body,
                                 headers={"Authorization": f"Bearer {token}"}) for _ in range(3)]
                await asyncio.gather(*jobs)

        start = time.perf_counter()
        for r in range(args.rounds):
            asyncio.run(round_(r))
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    with engine.connect() as conn:
        stored = Counter(k for (k,) in conn.execute(sa.text("SELECT idempotency_key FROM report_key")) if k in keys)
        cases = conn.execute(sa.text("SELECT count(*) FROM case_record WHERE description = 'burst'")).scalar_one()
    engine.dispose()
    p99 = float(np.percentile(latencies, 99)) * 1000 if latencies else float("nan")
    statuses = " ".join(f"{k}={v}" for k, v in sorted(tally.items()) if k.startswith("http_") and k != "http_5xx")
    print(f"rounds={args.rounds} reads={args.reads} reporters={args.reporters} workers={args.workers} "
          f"backend={engine.dialect.name} elapsed_s={elapsed:.1f} p50_ms={np.percentile(latencies, 50) * 1000:.0f} "
          f"max_ms={max(latencies) * 1000:.0f} {statuses}")
    print(f"reports keys={len(keys)} stored={len(stored)} cases={cases} (exactly once: keys = stored = cases)")
    if not (len(keys) == len(stored) == cases):
        print("FAILED: a report was not stored exactly once", file=sys.stderr)
    print(f"burst requests={tally['requests'] + tally['client_timeouts']} http_5xx={tally['http_5xx']} "
          f"p99_ms={p99:.0f} stalls={tally['stalls']}")


if __name__ == "__main__":
    main()
