"""Bounded load test of report intake on loopback: many concurrent reporters, each retrying on timeouts.

A real server (`gridgov serve`, uvicorn, its own processes) runs over the demo county. Reporters post
`POST /reports` with client-generated idempotency keys; a share of first attempts use a timeout so short
that the answer is lost while the server goes on storing (a phone on a bad network), and every timeout or
connection error is retried with the same key and body. Some reporters also resend after a success. At the
end the database is read directly: every acknowledged report must be stored exactly once.

For comparison the same points are then sent to `POST /route` (routing only, nothing written): the ratio
says what durable, idempotent, audited intake costs over answering the routing question.

    python bench/intake_load.py [--reporters 48] [--reports 40] [--workers 2] [--database-url URL]

The last line reads `intake-load acknowledged=<n> stored=<n> duplicates=<n> http_5xx=<n> rps=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etl.demo import load_demo  # noqa: E402
from gis.demo import build_demo_county  # noqa: E402
from store.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from store.repo import Repository  # noqa: E402
from store.users import Users  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    """Wait (60 s at most) until the server answers its liveness probe."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def prepare(url: str, reporters: int) -> tuple[list[str], list[str], tuple[float, float, float, float]]:
    """Load the demo county and make one grid-worker account (and device token) per reporter."""
    engine = make_engine(url)
    upgrade(engine)
    demo = build_demo_county(seed=7, months=1)
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        load_demo(repo, demo, effective_from=date(2020, 1, 1))
        users = Users(session)
        tokens = []
        townships = [t.code for t in demo.teams if t.kind == "township_team"]
        for i in range(reporters):
            users.add(f"reporter{i}", "correct horse battery", "grid_worker", team_code=townships[i % len(townships)])
            tokens.append(users.device_token(f"reporter{i}", "bench"))
        matters = [m.code for m in repo.matters()]
        county = next(u for u in repo.units(repo.versions()[-1].id or 0, "county"))
        assert county.geometry is not None
        bounds = county.geometry.bounds
    engine.dispose()
    return tokens, matters, bounds


async def reporter(client: httpx.AsyncClient, token: str, bodies: list[dict[str, object]], rng: random.Random,
                   tally: Counter[str], acknowledged: dict[str, int], lost_share: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for body in bodies:
        attempt = 0
        while True:
            attempt += 1
            timeout = 0.003 if attempt == 1 and rng.random() < lost_share else 5.0
            try:
                r = await client.post("/reports", json=body, headers=headers, timeout=timeout)
            except (httpx.TimeoutException, httpx.TransportError):
                tally["timeouts"] += 1
                await asyncio.sleep(min(2.0, 0.05 * 2 ** attempt) * rng.random())
                continue
            tally[f"http_{r.status_code}"] += 1
            if r.status_code >= 500:
                tally["http_5xx"] += 1
                await asyncio.sleep(0.1)
                continue
            if r.status_code in (200, 201):
                key = str(body["idempotency_key"])
                case_id = int(r.json()["id"])
                if acknowledged.setdefault(key, case_id) != case_id:
                    tally["acknowledged_twice_differently"] += 1
                if rng.random() < 0.05:  # resend after a success: must come back 200 with the same case
                    again = await client.post("/reports", json=body, headers=headers, timeout=10.0)
                    tally[f"resend_{again.status_code}"] += 1
                    if again.status_code != 200 or int(again.json()["id"]) != case_id:
                        tally["resend_mismatch"] += 1
            else:
                tally["refused"] += 1
            break


async def route_only(base: str, token: str, points: list[tuple[float, float, str]], concurrency: int) -> float:
    """The same points through POST /route (no write), for the ratio."""
    queue: asyncio.Queue[tuple[float, float, str]] = asyncio.Queue()
    for p in points:
        queue.put_nowait(p)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            lon, lat, matter = queue.get_nowait()
            r = await client.post("/route", json={"lon": lon, "lat": lat, "matter": matter}, headers=headers)
            r.raise_for_status()

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return len(points) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reporters", type=int, default=48)
    ap.add_argument("--reports", type=int, default=40, help="reports per reporter")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--lost-share", type=float, default=0.1, help="share of first attempts whose answer is lost")
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gridgov-intake-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    tokens, matters, (w, s, e, n) = prepare(url, args.reporters)
    port = free_port()
    env = {**os.environ, "GRIDGOV_DATABASE_URL": url, "GRIDGOV_TICK_SECONDS": "0", "GRIDGOV_DATA_DIR": str(tmp)}
    server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers",
                               str(args.workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        rng = random.Random(args.seed)
        now = datetime.now().replace(microsecond=0)
        plans = [[{"idempotency_key": str(uuid.UUID(int=rng.getrandbits(128))), "matter": rng.choice(matters),
                   "lon": rng.uniform(w, e), "lat": rng.uniform(s, n), "accuracy_m": rng.choice([5, 10, 30]),
                   "reported_at": now.isoformat(), "description": "bench"} for _ in range(args.reports)]
                 for _ in range(args.reporters)]
        tally: Counter[str] = Counter()
        acknowledged: dict[str, int] = {}

        async def run() -> float:
            limits = httpx.Limits(max_connections=args.reporters, max_keepalive_connections=args.reporters)
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                start = time.perf_counter()
                await asyncio.gather(*(reporter(client, tokens[i], plans[i], random.Random(args.seed + i), tally,
                                                acknowledged, args.lost_share) for i in range(args.reporters)))
                return time.perf_counter() - start

        elapsed = asyncio.run(run())
        points = [(float(b["lon"]), float(b["lat"]), str(b["matter"])) for p in plans for b in p]  # type: ignore[arg-type]
        route_rps = asyncio.run(route_only(base, tokens[0], points, args.reporters))
    finally:
        server.terminate()
        server.wait(timeout=30)

    engine = make_engine(url)
    sent = {str(b["idempotency_key"]) for p in plans for b in p}
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT idempotency_key, case_id FROM report_key")).all()
        # Keys are unique per reporter by construction (report_key's primary key): a second case for one report
        # would show as a case row of a bench reporter that no key points at.
        cases = conn.execute(sa.text("SELECT count(*) FROM case_record WHERE reporter LIKE 'reporter%'")).scalar_one()
    engine.dispose()
    stored_keys = Counter(k for k, _ in rows if k in sent)
    stored = len(stored_keys)
    duplicates = cases - stored
    ids = dict((k, i) for k, i in rows)
    missing = [k for k in acknowledged if k not in stored_keys]
    wrong_id = [k for k, i in acknowledged.items() if ids.get(k) != i]
    rps = len(acknowledged) / elapsed
    print(f"reporters={args.reporters} reports={len(sent)} workers={args.workers} elapsed_s={elapsed:.1f} "
          f"timeouts_retried={tally['timeouts']} resends={tally['resend_200']} refused={tally['refused']} "
          f"acknowledged_but_missing={len(missing)} acknowledged_with_other_id={len(wrong_id)} "
          f"resend_mismatch={tally['resend_mismatch']}")
    print(f"route-only rps={route_rps:.0f}  intake/route ratio={rps / route_rps:.2f}x")
    if missing or wrong_id or tally["resend_mismatch"] or tally["acknowledged_twice_differently"]:
        print("FAILED: an acknowledged report is not stored exactly once", file=sys.stderr)
    print(f"intake-load acknowledged={len(acknowledged)} stored={stored} duplicates={duplicates} "
          f"http_5xx={tally['http_5xx']} rps={rps:.0f}")


if __name__ == "__main__":
    main()
