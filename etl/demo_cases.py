"""Live cases for the demo: the last fortnight of simulated reports, moved to end just now, go through
intake like a phone's reports and along the lifecycle as far as their age suggests — so the wall opens
with work in every state, some of it overdue and escalated, and a triage queue.

Cases of a matter on a first-violation list are handled with a party (当事人) from a small pool — a few people
and shops, with valid made-up numbers in the demo's fictitious area code — so the same party comes back:
first violations get the list's outcome (不予处罚, 责令改正, 警告) and repeats a penalty, as the list proposes."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cases import clock
from cases.calendar import WorkCalendar
from cases.first_violation import USCC_ALPHABET, id_check_char, parse_party, uscc_check_char
from gis.demo import DemoCounty
from gis.demo_catalogue import GIVEN_NAMES, SURNAMES
from gis.errors import GridGovError
from store.cases import Cases, Report, escalate_overdue
from store.db import transaction
from store.first_violation import proposal_for
from store.repo import Repository
from store.routers import RouterCache
from store.schema import CaseRow, MatterRow
from store.users import User, Users

# Hours after the report at which each step happens, and the share of cases old enough that get there.
STEPS = (("arrive", 3.0, 0.9), ("handle", 10.0, 0.8), ("feedback", 14.0, 0.85), ("check", 30.0, 0.8),
         ("close", 31.0, 1.0))
PARTIES_PER_MATTER = 5  # small, so that the fortnight brings the same party back for the common matters


def demo_parties(rng: np.random.Generator, n: int = 12) -> list[dict[str, str]]:
    """Made-up parties with valid numbers: people (18-digit IDs of the fictitious area 139900) and shops (统一社会
    信用代码 of 个体工商户, 92…)."""
    out = []
    for i in range(n):
        if i % 3 == 2:
            body = "92139900" + "".join(str(rng.choice(list(USCC_ALPHABET))) for _ in range(9))
            name = f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}记{('餐饮店', '便利店', '五金店', '烧烤店')[i % 4]}"
            out.append({"kind": "organisation", "id_number": body + uscc_check_char(body), "name": name})
        else:
            body = (f"139900{int(rng.integers(1960, 2000))}{int(rng.integers(1, 13)):02d}"
                    f"{int(rng.integers(1, 29)):02d}{int(rng.integers(0, 1000)):03d}")
            name = SURNAMES[int(rng.integers(len(SURNAMES)))] + GIVEN_NAMES[int(rng.integers(len(GIVEN_NAMES)))]
            out.append({"kind": "person", "id_number": body + id_check_char(body), "name": name})
    return out


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
    parties = demo_parties(np.random.default_rng(seed + 1))
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
                if action == "handle":
                    step |= _party_and_outcome(session, row, parties, rng, when)
                try:
                    row, _ = cases.act(actor, row.id, row.revision, [step], now,
                                       lambda day: cache.router_at(repo, day))
                except GridGovError:  # e.g. a simple procedure closes without a check: stop here
                    break
    escalate_overdue(sessions, calendar, now)
    with transaction(sessions) as session:
        return Counter(r.status for r in Cases(session).in_scope(
            User(0, "count", "count", "auditor", None), limit=1_000_000))


def _party_and_outcome(session: Session, row: CaseRow, parties: list[dict[str, str]], rng: np.random.Generator,
                       when: datetime) -> dict[str, object]:
    """For a case of a listed matter (most of the time): a party of the matter's pool and the proposed outcome."""
    matter = session.scalars(sa.select(MatterRow).where(MatterRow.code == row.matter_code)).one()
    if "first_violation" not in (matter.attributes or {}) or rng.random() > 0.85:
        return {}
    pool = sorted(parties, key=lambda p: hash_index(p["id_number"], row.matter_code))[:PARTIES_PER_MATTER]
    party = pool[int(rng.integers(len(pool)))]
    proposal, _ = proposal_for(session, row, parse_party(party), when)
    return {"party": party, "outcome": proposal.outcome}


def hash_index(number: str, matter: str) -> int:
    """A stable order of the parties per matter (each matter has its own few regulars)."""
    return int.from_bytes(hashlib.sha256(f"{matter}:{number}".encode()).digest()[:4], "big")
