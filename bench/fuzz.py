"""The long schemathesis run: every check, every phase, ≥ 10^4 requests signed in as each role, against a
real `gridgov serve` over a fresh database (SQLite by default, or a throwaway PostGIS).

The suite runs the same thing bounded (tests/test_fuzz.py, tests/fuzz.py). Here each role gets runs of its
own, until it has sent `--requests-per-role` requests: the first with every phase, the next ones (the
coverage phase being deterministic) fuzzing and stateful only, with a new seed and 8× the examples. The
server is the same throughout, so state built by one run (drafts, cases, disputes) is there for the next.

    python bench/fuzz.py [--requests-per-role 10000] [--examples 12] [--database-url postgresql+psycopg://…]

A PostGIS URL must name a throwaway database on loopback: its `public` schema is dropped and made again.
Per-run lines go to stderr; the last line of stdout is `fuzz requests=<n> http_5xx=<n> undocumented=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.db import make_engine, upgrade  # noqa: E402
from tests.fuzz import ROLES, Outcome, report_some, run, seed  # noqa: E402
from tests.live import live_server  # noqa: E402


def fresh_database(url: str | None, tmp: Path) -> str:
    if url is None:
        return f"sqlite:///{tmp / 'fuzz.sqlite'}"
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1", None, ""):
        sys.exit(f"refusing {host}: the bench drops the public schema of a loopback throwaway database only")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-per-role", type=int, default=10_000)
    parser.add_argument("--examples", type=int, default=12, help="schemathesis --max-examples per operation and run")
    parser.add_argument("--database-url", default=None, help="a throwaway PostGIS (default: a temporary SQLite)")
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated, of " + ", ".join(ROLES))
    parser.add_argument("--max-runs", type=int, default=40, help="per role, a bound whatever the counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gridgov-fuzz-") as name:
        tmp = Path(name)
        url = fresh_database(args.database_url, tmp)
        engine = make_engine(url)
        upgrade(engine)
        tokens = seed(engine)
        engine.dispose()
        total = Outcome()
        started = time.monotonic()
        with live_server(url, tmp, GRIDGOV_MEDIA_DIR=str(tmp / "media")) as base:
            report_some(base, tokens["grid_worker"])
            for role in args.roles.split(","):
                sent, runs = 0, 0
                while sent < args.requests_per_role and runs < args.max_runs:
                    runs += 1
                    # The first run takes every phase; the coverage phase is deterministic, so later runs
                    # fuzz (and chain operations statefully) with new seeds and more examples instead.
                    first = runs == 1
                    out = run(base, tokens, tmp / f"{role}-{runs}", seed=1000 * runs + len(role), roles=[role],
                              max_examples=args.examples * (1 if first else 8), timeout=3600,
                              phases="examples,coverage,fuzzing,stateful" if first else "fuzzing,stateful")
                    sent += out.requests
                    total.requests += out.requests
                    total.http_5xx += out.http_5xx
                    total.undocumented += out.undocumented
                    for status, n in out.statuses.items():
                        total.statuses[status] = total.statuses.get(status, 0) + n
                    total.problems += out.problems
                    total.examples += out.examples
                    print(f"{role} run {runs}: {out.line()} failed_checks={len(out.problems)} "
                          f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
                print(f"role {role} requests={sent} runs={runs}")
    print(f"statuses {dict(sorted(total.statuses.items()))}")
    for line in sorted(set(total.examples))[:30]:
        print(f"  {line}")
    for line in sorted(set(total.problems))[:30]:
        print(f"  check failed: {line[:300]}")
    print(f"seconds={time.monotonic() - started:.0f} failed_checks={len(total.problems)}")
    print(total.line())


if __name__ == "__main__":
    main()
