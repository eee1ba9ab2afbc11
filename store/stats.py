"""Operational statistics for a period: per team and per township, cases by state, on-time closure rate,
mean time to close, simple vs ordinary procedure, escalations, and the outcomes recorded when handling
(不予处罚, 责令改正, 警告, 处罚: first-violation lists).

A case belongs to the period in which it was reported. "Closed" means closed or evaluated; the on-time
rate is the share of closed cases closed by their deadline (按期结案率); time to close is calendar hours
from the report to the closure. Cases without a township (gaps, address-only reports) count under "(none)".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases.first_violation import OUTCOMES
from gis.errors import Forbidden, InvalidInput
from i18n import T
from store.schema import CaseRow
from store.users import User

NONE = "(none)"
CLOSED = ("closed", "evaluated")


class _Block:
    def __init__(self) -> None:
        self.states: Counter[str] = Counter()
        self.procedures: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.closed = self.on_time = self.escalated = self.to_county = 0
        self.hours = 0.0

    def add(self, status: str, procedure: str, reported: datetime, closed: datetime | None, on_time: bool | None,
            level: int, outcome: str | None = None) -> None:
        self.states[status] += 1
        if outcome is not None:
            self.outcomes[outcome] += 1
        self.procedures[procedure] += 1
        if status in CLOSED and closed is not None:
            self.closed += 1
            self.on_time += bool(on_time)
            self.hours += (closed - reported).total_seconds() / 3600
        self.escalated += level >= 1
        self.to_county += level >= 2

    def view(self) -> dict[str, Any]:
        return {
            "cases": sum(self.states.values()), "by_state": dict(sorted(self.states.items())),
            "closed": self.closed, "closed_on_time": self.on_time,
            "on_time_rate": round(self.on_time / self.closed, 6) if self.closed else None,
            "mean_hours_to_close": round(self.hours / self.closed, 4) if self.closed else None,
            "procedure": {"simple": self.procedures["simple"], "ordinary": self.procedures["ordinary"]},
            "escalated": self.escalated, "escalated_to_county": self.to_county,
            # Outcomes recorded when handling (first-violation lists): each kind, 0 when none.
            "outcomes": {k: self.outcomes[k] for k in OUTCOMES},
        }


def scope(user: User, county: str | None = None) -> list[Any]:
    """SQL conditions for the cases whose figures the user may see: one county when asked (always the user's own
    when the account is limited to one); a team member, their own team's (the big screen uses the same scope)."""
    conds: list[Any] = [CaseRow.county_code == code for code in sorted({c for c in (county, user.county_code) if c})]
    if user.role == "team_member":
        conds.append(CaseRow.team_code == user.team_code)
    elif user.role not in ("dispatcher", "auditor", "planner"):
        raise Forbidden(T("a {role} does not see statistics; dispatchers, auditors, planners and teams do",
                          role=user.role))
    return conds


def statistics(session: Session, user: User, since: datetime, until: datetime,
               county: str | None = None) -> dict[str, Any]:
    """The statistics of cases reported in [since, until) that the user may see in aggregate (of one county
    when asked, and always of the user's own county when the account is limited to one)."""
    if until <= since:
        raise InvalidInput(T("the period is empty: 'from' {since} is not before 'to' {until}",
                             since=since.isoformat(), until=until.isoformat()),
                           where="to")
    q = sa.select(CaseRow.team_code, CaseRow.township_code, CaseRow.status, CaseRow.procedure, CaseRow.reported_at,
                  CaseRow.closed_at, CaseRow.on_time, CaseRow.escalation_level, CaseRow.outcome).where(
        CaseRow.reported_at >= since, CaseRow.reported_at < until, *scope(user, county))
    total = _Block()
    teams: defaultdict[str, _Block] = defaultdict(_Block)
    townships: defaultdict[str, _Block] = defaultdict(_Block)
    for team, township, status, procedure, reported, closed, on_time, level, outcome in session.execute(q):
        for block in (total, teams[team], townships[township or NONE]):
            block.add(status, procedure, reported, closed, on_time, level, outcome)
    return {"period": {"from": since.isoformat(), "to": until.isoformat()}, "county": county or user.county_code,
            "total": total.view(),
            "by_team": {k: v.view() for k, v in sorted(teams.items())},
            "by_township": {k: v.view() for k, v in sorted(townships.items())}}
