"""Schemathesis (`--checks all`, every phase, stateful included) against a live `gridgov serve` on both backends,
signed in as every role: no 5xx, no status the OpenAPI document leaves out, no failed check (issue 15).

Bounded: a few examples per operation (~3,500 requests, well under two minutes per backend on two busy
cores). `bench/fuzz.py` is the long run (≥ 10^4 requests per role)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from tests.fuzz import report_some, run, seed
from tests.live import live_server


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(engine: Engine, database_url: str,
                                                                       tmp_path: Path) -> None:
    tokens = seed(engine)
    with live_server(database_url, tmp_path, GRIDGOV_MEDIA_DIR=str(tmp_path / "media")) as base:
        report_some(base, tokens["grid_worker"])
        outcome = run(base, tokens, tmp_path / "schemathesis", max_examples=3, seed=15)
    summary = f"{outcome.line()} statuses={outcome.statuses}; see {tmp_path / 'schemathesis' / 'st.log'}"
    assert outcome.requests > 2000, summary
    assert outcome.http_5xx == 0, "\n".join([summary, *outcome.examples])
    assert outcome.undocumented == 0, "\n".join([summary, *outcome.examples])
    assert not outcome.problems, "\n".join([summary, *sorted(set(outcome.problems))[:40]])
    assert outcome.exit_code == 0, summary
    # Signed in for real: every role got answers beyond 401 (reads, creations, scope refusals).
    assert {200, 201, 403, 404, 422} <= set(outcome.statuses), summary
