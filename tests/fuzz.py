"""Schemathesis against a live `gridgov serve`, signed in as every role: the suite's bounded run
(tests/test_fuzz.py) and the long one (bench/fuzz.py) share this.

The CLI (`st run … --checks all`, every phase including stateful) does the work; tests/fuzz_hooks.py
signs each generated request in as a role taken in turn. Its NDJSON report is then read for what this
project promises on top of the checks: no 5xx, and no status an operation's OpenAPI entry leaves out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from store.db import session_factory, transaction
from store.repo import Repository
from store.users import Users
from tests import routing_scenario as sc
from tests.live import ROOT

# One account per role (team roles in TT1's team); each signs in with a device token.
ROLES = {"grid_worker": "TT1", "team_member": "TT1", "dispatcher": None, "planner": None, "auditor": None}
PASSWORD = "correct horse battery"


def seed(engine: Engine) -> dict[str, str]:
    """The routing scenario (two published versions and a draft), one account per role, a few reports;
    the device token of each role."""
    tokens = {}
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        _, v2 = sc.load(repo)
        repo.create_version("draft", based_on=v2)
        users = Users(session)
        for role, team in ROLES.items():
            users.add(role, PASSWORD, role, team_code=team)
            tokens[role] = users.device_token(role, "fuzz")
    return tokens


def report_some(base: str, token: str, n: int = 6) -> None:
    """A few cases to read and act on (ids 1..n), spread over the scenario's villages."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for i in range(n):
            r = client.post("/reports", json={"idempotency_key": f"fuzz-seed-{i:04d}", "matter": "M-STREET",
                                              "lat": 36.03 + 0.025 * (i % 6), "lon": 115.03 + 0.06 * (i % 6)})
            assert r.status_code in (200, 201), r.text


@dataclass
class Outcome:
    """What a run sent and got back; `problems` are the failed checks, one line each."""

    requests: int = 0
    http_5xx: int = 0
    undocumented: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    exit_code: int = 0

    def line(self) -> str:
        return f"fuzz requests={self.requests} http_5xx={self.http_5xx} undocumented={self.undocumented}"


def run(base: str, tokens: dict[str, str], out: Path, *, max_examples: int, seed: int = 1,
        phases: str = "examples,coverage,fuzzing,stateful", max_time: float | None = None,
        roles: list[str] | None = None, timeout: float = 1800) -> Outcome:
    """`st run` over every operation with every check; the outcome read from its NDJSON events."""
    out.mkdir(parents=True, exist_ok=True)
    events = out / "events.ndjson"
    argv = [str(Path(sys.executable).with_name("st")), "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
            "run", f"{base}/openapi.json", "--checks", "all",
            "--phases", phases, "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
            "--request-timeout", "30", "--report", "ndjson", "--report-ndjson-path", str(events),
            "--suppress-health-check", "all", "--no-color", "--continue-on-failure",
            # Signing out revokes the token it was sent with: the role would be signed out for the rest of the run.
            "--exclude-path", "/auth/logout"]
    if max_time is not None:
        argv += ["--max-time", str(max_time)]
    chosen = roles or list(tokens)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks",
           "GRIDGOV_FUZZ_TOKENS": json.dumps([tokens[r] for r in chosen]), "PYTHONPATH": str(ROOT)}
    with (out / "st.log").open("wb") as log:
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    documented = _documented(httpx.get(f"{base}/openapi.json", timeout=30).json())
    outcome = read_events(events, documented)
    outcome.exit_code = done.returncode
    return outcome


def _documented(schema: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path template) -> the status codes its OpenAPI entry lists."""
    return {(method.upper(), path): set(op.get("responses", {}))
            for path, item in schema["paths"].items() for method, op in item.items()
            if method in ("get", "put", "post", "delete", "patch", "head", "options")}


def read_events(path: Path, documented: dict[tuple[str, str], set[str]]) -> Outcome:
    """Count every interaction of the run and every failed check (schemathesis 4 NDJSON events)."""
    outcome = Outcome()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" in event:
            _scenario(event["ScenarioFinished"], documented, outcome)
        elif "NonFatalError" in event:
            err = event["NonFatalError"]
            outcome.problems.append(f"error {err.get('label')}: {str(err.get('info') or err)[:300]}")
    return outcome


def _scenario(finished: dict[str, Any], documented: dict[tuple[str, str], set[str]], outcome: Outcome) -> None:
    recorder = finished.get("recorder") or {}
    cases = recorder.get("cases") or {}
    for case_id, interaction in (recorder.get("interactions") or {}).items():
        response = interaction.get("response")
        if not response:
            continue
        status = int(response["status_code"])
        outcome.requests += 1
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        case = (cases.get(case_id) or {}).get("value") or {}
        method, template = case.get("method", "?"), case.get("path", "?")
        listed = documented.get((method.upper(), template))
        if status >= 500:
            outcome.http_5xx += 1
            _example(outcome, f"{status} {method} {template}: {str(response.get('content') or '')[:200]}")
        elif listed is not None and str(status) not in listed and f"{status // 100}XX" not in listed \
                and "default" not in listed and status != 405:
            outcome.undocumented += 1
            _example(outcome, f"undocumented {status} {method} {template}")
    for case_id, checks in (recorder.get("checks") or {}).items():
        for check in checks:
            if str(check.get("status")).lower() == "failure":
                failure = check.get("failure_info") or {}
                case = (cases.get(case_id) or {}).get("value") or {}
                info = failure.get("failure") or {}
                title = info.get("title") or check.get("name")
                outcome.problems.append(f"{check.get('name')} {case.get('method')} {case.get('path')}: {title}: "
                                        f"{str(info.get('message'))[:400]}")


def _example(outcome: Outcome, text: str) -> None:
    if len(outcome.examples) < 50:
        outcome.examples.append(text)
