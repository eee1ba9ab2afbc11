"""Live cases for the demo: the last fortnight of simulated reports, moved to end just now, go through
intake like a phone's reports and along the lifecycle as far as their age suggests — so the wall opens
with work in every state, some of it overdue and escalated, and a triage queue."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from cases import clock
from cases.calendar import WorkCalendar
from gis.demo import DemoCounty
from gis.errors import GridGovError
from store.cases import Cases, Report, escalate_overdue
from store.db import transaction
from store.repo import Repository
from store.routers import RouterCache
from store.users import User, Users

# Hours after the report at which each step happens, and the share of cases old enough that get there.
STEPS = (("arrive", 3.0, 0.9), ("handle", 10.0, 0.8), ("feedback", 14.0, 0.85), ("check", 30.0, 0.8),
         ("close", 31.0, 1.0))


def simulate_cases(sessions: sessionmaker[Session], demo: DemoCounty, calendar: WorkCalendar, now: datetime, *,
                   days: float = 14.0, seed: int = 7, reporter: str = "worker") -> Counter[str]:
    """Intake the demo's last `days` of reports (shifted so the newest is an hour old) and advance them;
    returns how many cases end in each state."""
    rng = np.random.default_rng(seed)
    now = clock.wall(now)  # the demo's incidents are the county's wall-clock times (naive); the store reads them so
    newest = max(i.reported_at for i in demo.incidents)
    shift = now - timedelta(hours=1) - newest
    recent = sorted((i for i in demo.incidents if i.reported_at + shift >= now - timedelta(days=days)),
                    key=lambda i: i.reported_at)
    cache = RouterCache(demo.fallback_team_code)
    with transaction(sessions) as session:
        repo = Repository(session)
        worker = Users(session).get(reporter)
        platform = User(0, "demo-dispatcher", "demo dispatcher", "dispatcher", None)
        cases = Cases(session, calendar)
        for n, incident in enumerate(recent):
            at = incident.reported_at + shift
            report = Report(matter=incident.matter_code, x=incident.raw_x, y=incident.raw_y,
                            crs=incident.raw_crs, accuracy_m=incident.accuracy_m, description=incident.description,
                            idempotency_key=f"demo-live-{n:05d}", reported_at=at)
            row = cases.intake(worker, report, cache.router_at(repo, at.date()), at).case
            if row.status != "dispatched":
                continue  # triage and duplicates wait for the command centre
            crew = User(0, f"demo-{row.team_code}", f"demo crew of {row.team_code}", "team_member", row.team_code)
            for action, hours, share in STEPS:
                when = at + timedelta(hours=hours * float(rng.uniform(0.5, 1.5)))
                if when > now or rng.random() > share:
                    break
                actor = crew if action in ("arrive", "handle", "feedback") else platform
                step: dict[str, object] = {"action": action, "at": when.isoformat()}
                if action == "check":
                    step["passed"] = True
                try:
                    row, _ = cases.act(actor, row.id, row.revision, [step], now,
                                       lambda day: cache.router_at(repo, day))
                except GridGovError:  # e.g. a simple procedure closes without a check: stop here
                    break
    escalate_overdue(sessions, calendar, now)
    with transaction(sessions) as session:
        return Counter(r.status for r in Cases(session).in_scope(
            User(0, "count", "count", "auditor", None), limit=1_000_000))
