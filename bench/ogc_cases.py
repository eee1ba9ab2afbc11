"""OGC API cases paged in SQL against the usual alternative (load the caller's cases, slice in Python).

A SQLite file holds the demo county and `--cases` located cases (one report through the real intake, then
copied in SQL with scattered places and report times, so building 10^5 cases takes seconds). For a
dispatcher, one page of `--limit` features is asked for at the start, the middle and the end:
- in SQL: `Cases.located_page` (what `GET /ogc/collections/cases/items` runs: count, offset, limit);
- in Python: every case in scope loaded as ORM rows, the located ones kept, the page sliced — what the
  endpoint did before (and what a naive implementation does).
Both are checked to return the same ids. Times are the median of `--repeat` runs of the store call (no HTTP).
Then a real `gridgov serve` is walked page by page through the `next` links, the way GDAL and QGIS read a
collection, and every case is checked to come exactly once.

    python bench/ogc_cases.py [--cases 100000] [--limit 1000] [--repeat 5]

The last line reads `ogc-cases-bench cases=<n> limit=<k> page_ms_sql=<ms> page_ms_python=<ms> ratio=<x>
walk_s=<s> walk_pages=<p>` (ratio: Python over SQL, for one page; a full walk costs pages × that).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from etl.demo import load_demo  # noqa: E402
from gis.demo import build_demo_county  # noqa: E402
from store.cases import Cases, Report  # noqa: E402
from store.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from store.repo import Repository  # noqa: E402
from store.routers import RouterCache  # noqa: E402
from store.schema import CaseRow  # noqa: E402
from store.users import User, Users  # noqa: E402
from tests.live import live_server, token  # noqa: E402

PASSWORD = "bench password 1"


def build(url: str, n: int) -> None:
    """The demo county, a dispatcher, and n located cases (one by intake, the rest copied in SQL)."""
    engine = make_engine(url)
    upgrade(engine)
    demo = build_demo_county(seed=7, months=1)
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        load_demo(repo, demo, effective_from=date(2020, 1, 1))
        users = Users(session)
        users.add("gis", PASSWORD, "dispatcher")
        boss = users.get("gis")
        router = RouterCache().router_at(repo, datetime.now().date())
        county = next(u for u in demo.units if u.layer == "county").geometry
        assert county is not None
        p = county.representative_point()
        Cases(session).intake(boss, Report(matter=demo.matters[0].code, x=p.x, y=p.y, crs="wgs84", accuracy_m=None,
                                           description="bench", idempotency_key=None,
                                           reported_at=datetime(2026, 3, 1, 9)), router, datetime.now())
    cols = [c.name for c in CaseRow.__table__.columns if c.name not in ("id", "idempotency_key", "external_id")]
    w, s, e, n_ = county.bounds
    with engine.begin() as conn:
        while conn.scalar(sa.text("SELECT count(*) FROM case_record")) < n:
            have = conn.scalar(sa.text("SELECT count(*) FROM case_record"))
            take = min(have, n - have)
            moved = {c: c for c in cols}
            moved["lon"] = f"{w} + (abs(random()) % 1000000) / 1000000.0 * {e - w}"
            moved["lat"] = f"{s} + (abs(random()) % 1000000) / 1000000.0 * {n_ - s}"
            moved["reported_at"] = "datetime(reported_at, '-' || (abs(random()) % 400) || ' days')"
            conn.execute(sa.text(f"INSERT INTO case_record ({', '.join(cols)}) SELECT {', '.join(moved.values())} "
                                 f"FROM case_record ORDER BY id LIMIT {take}"))
    engine.dispose()


def python_page(cases: Cases, user: User, offset: int, limit: int) -> list[int]:
    rows = [r for r in reversed(cases.in_scope(user, limit=10**9)) if r.lon is not None]
    return [r.id for r in rows[offset: offset + limit]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gridgov-ogc-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        started = time.perf_counter()
        build(url, args.cases)
        print(f"built {args.cases} cases in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        engine = make_engine(url)
        sql_ms, py_ms = [], []
        with session_factory(engine)() as session:
            boss = Users(session).get("gis")
            cases = Cases(session)
            total, _ = cases.located_page(boss, limit=1)
            for offset in (0, total // 2, max(0, total - args.limit)):
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    _, rows = cases.located_page(boss, offset=offset, limit=args.limit)
                    sql_ms.append((time.perf_counter() - t) * 1e3)
                    session.expunge_all()
                    t = time.perf_counter()
                    ids = python_page(cases, boss, offset, args.limit)
                    py_ms.append((time.perf_counter() - t) * 1e3)
                    session.expunge_all()
                    assert [r.id for r in rows] == ids, offset
        engine.dispose()
        sql, py = statistics.median(sql_ms), statistics.median(py_ms)
        print(f"one page of {args.limit} of {total}: SQL {sql:.1f} ms, Python {py:.1f} ms", file=sys.stderr)
        with live_server(url, Path(tmp)) as base:
            headers = {"Authorization": f"Bearer {token(base, 'gis', PASSWORD)}"}
            seen: list[int] = []
            pages = 0
            link: str | None = f"{base}/ogc/collections/cases/items?limit={args.limit}"
            t = time.perf_counter()
            with httpx.Client(headers=headers, timeout=120) as client:
                while link:
                    body = client.get(link).json()
                    seen += [f["id"] for f in body["features"]]
                    pages += 1
                    link = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
            walk = time.perf_counter() - t
        assert len(seen) == len(set(seen)) == total, (len(seen), total)
        print(f"walked {pages} pages over HTTP in {walk:.1f} s, every case once", file=sys.stderr)
        print(f"ogc-cases-bench cases={total} limit={args.limit} page_ms_sql={sql:.1f} page_ms_python={py:.1f} "
              f"ratio={py / sql:.1f}x walk_s={walk:.1f} walk_pages={pages}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
