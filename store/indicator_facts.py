"""Reading what the analytics need from the case record: one `CaseFacts` per case, names, delegations.

The caller owns the transaction; nothing here writes. Events are read in chunks of case ids (SQLite's limit on
bound parameters), only the actions the indicators use.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from analytics.delegation_review import Thresholds, review
from analytics.indicators import CaseFacts, Scoring, first_violation_outcome, indicators
from analytics.publication import PUBLISHED_LEVELS, Annual, breakdown, disputes_breakdown
from cases import clock
from cases.calendar import WorkCalendar
from gis.errors import Forbidden, InvalidInput
from i18n import T
from i18n.units import term
from store.schema import (
    CaseEventRow,
    CaseRow,
    DelegationRow,
    DisputeRow,
    MatterRow,
    TeamRow,
    UnitRow,
    UserRow,
    VersionRow,
)
from store.users import User

EVENTS = ("escalate", "check", "suspend", "resume", "arrive", "handle", "feedback")
TEAM_STEPS = frozenset({"arrive", "handle", "feedback"})
CHUNK = 2000
READERS = ("dispatcher", "auditor", "planner", "team_member")


def check_reader(user: User) -> None:
    """Aggregates are for dispatchers, auditors, planners and teams (their own team's cases only)."""
    if user.role not in READERS:
        raise Forbidden(T("a {role} does not see indicators; dispatchers, auditors, planners and teams do",
                          role=term("role", user.role)))


def _grid(routing: dict[str, Any] | None) -> str | None:
    for unit in (routing or {}).get("units", []):
        if unit.get("layer") == "grid" and unit.get("selected"):
            return str(unit["code"])
    return None


def case_facts(session: Session, user: User, since: datetime, until: datetime,
               county: str | None = None) -> list[CaseFacts]:
    """The facts of the cases reported in [since, until) the user may see in aggregate (one county when asked, and
    always the account's own county; a team member's own team only)."""
    check_reader(user)
    q = sa.select(CaseRow.id, CaseRow.status, CaseRow.team_code, CaseRow.township_code, CaseRow.village_code,
                  CaseRow.routing, CaseRow.reporter, CaseRow.reported_at, CaseRow.state, CaseRow.deadline,
                  CaseRow.closed_at, CaseRow.on_time, CaseRow.matter_code, CaseRow.procedure,
                  CaseRow.county_code).where(
        CaseRow.reported_at >= since, CaseRow.reported_at < until)
    for code in {county, user.county_code} - {None}:
        q = q.where(CaseRow.county_code == code)
    if user.role == "team_member":
        q = q.where(CaseRow.team_code == user.team_code)
    rows = list(session.execute(q.order_by(CaseRow.id)))
    events = _events(session, [r.id for r in rows])
    out = []
    for r in rows:
        evs = events.get(r.id, [])
        registered = r.state.get("registered_at")
        deadline = r.deadline
        suspensions: list[tuple[datetime, datetime | None]] = []
        checks: list[tuple[datetime, bool]] = []
        officers: dict[str, datetime] = {}
        escalated: datetime | None = None
        outcome: tuple[str, datetime] | None = None
        recorded_any: str | None = None
        for action, at, actor, detail in evs:
            if action == "suspend":
                suspensions.append((at, None))
                if deadline is None and detail.get("deadline_was"):
                    deadline = clock.parse(str(detail["deadline_was"]))[0]
            elif action == "resume" and suspensions and suspensions[-1][1] is None:
                suspensions[-1] = (suspensions[-1][0], at)
            elif action == "check":
                checks.append((at, bool(detail.get("passed"))))
            elif action == "escalate" and escalated is None:
                escalated = at
            elif action in TEAM_STEPS and actor != "platform":
                officers.setdefault(actor, at)
            if action == "handle" and isinstance(detail.get("outcome"), dict):
                recorded = first_violation_outcome(detail["outcome"])  # the officer's 处置 (store/first_violation.py)
                outcome = (recorded, at) if recorded else None  # handled again after a failed check: the last counts
                kind = detail["outcome"].get("outcome")
                recorded_any = str(kind) if kind else None
        out.append(CaseFacts(
            id=r.id, status=r.status, team=r.team_code, township=r.township_code, village=r.village_code,
            grid=_grid(r.routing), reporter=r.reporter, reported_at=r.reported_at,
            registered_at=clock.parse(registered)[0] if registered else None, deadline=deadline,
            closed_at=r.closed_at, on_time=r.on_time, escalated_at=escalated, checks=tuple(checks),
            suspensions=tuple(suspensions), officers=tuple(officers.items()), outcome=outcome,
            recorded=recorded_any, matter=r.matter_code, procedure=r.procedure, county=r.county_code))
    return out


def _events(session: Session, ids: list[int]) -> dict[int, list[tuple[str, datetime, str, dict[str, Any]]]]:
    found: defaultdict[int, list[tuple[str, datetime, str, dict[str, Any]]]] = defaultdict(list)
    for i in range(0, len(ids), CHUNK):
        q = sa.select(CaseEventRow.case_id, CaseEventRow.action, CaseEventRow.at, CaseEventRow.actor,
                      CaseEventRow.detail).where(CaseEventRow.case_id.in_(ids[i:i + CHUNK]),
                                                 CaseEventRow.action.in_(EVENTS)).order_by(CaseEventRow.id)
        for case_id, action, at, actor, detail in session.execute(q):
            found[case_id].append((action, at, actor, detail or {}))
    return found


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → name over every version (the newest version's name wins)."""
    q = sa.select(UnitRow.code, UnitRow.name).order_by(UnitRow.version_id)
    return {code: name for code, name in session.execute(q)}


def names(session: Session) -> dict[str, str]:
    """Code → name for units, teams and accounts (display names), for labelling rows."""
    found = unit_names(session)
    found.update({c: n for c, n in session.execute(sa.select(TeamRow.code, TeamRow.name))})
    found.update({u: n for u, n in session.execute(sa.select(UserRow.username, UserRow.display_name))})
    return found


def grid_workers(session: Session) -> frozenset[str]:
    """The usernames of grid workers' accounts."""
    return frozenset(session.scalars(sa.select(UserRow.username).where(UserRow.role == "grid_worker")))


def teams(session: Session) -> dict[str, tuple[str, str | None]]:
    """Team code → (kind, unit code)."""
    return {c: (k, u) for c, k, u in session.execute(sa.select(TeamRow.code, TeamRow.kind, TeamRow.unit_code))}


def matters(session: Session) -> list[tuple[str, str, str, str]]:
    """(code, name, domain, procedure) of every matter in the catalogue."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        sa.select(MatterRow.code, MatterRow.name, MatterRow.domain, MatterRow.procedure).order_by(MatterRow.code))]


def townships(session: Session, version_id: int) -> list[tuple[str, str]]:
    """(code, name) of the version's townships."""
    return [(c, n) for c, n in session.execute(sa.select(UnitRow.code, UnitRow.name).where(
        UnitRow.version_id == version_id, UnitRow.layer == "township").order_by(UnitRow.code))]


def version_in_force(session: Session, day: date) -> int | None:
    """The published version in force on `day` (the latest to start, if several), else None."""
    q = sa.select(VersionRow.id, VersionRow.effective_from, VersionRow.effective_to).where(
        VersionRow.status == "published").order_by(VersionRow.effective_from, VersionRow.id)
    live = [r.id for r in session.execute(q) if (r.effective_from is None or r.effective_from <= day)
            and (r.effective_to is None or day < r.effective_to)]
    return live[-1] if live else None


def delegations(session: Session, version_id: int) -> set[tuple[str, str]]:
    """(township, matter) pairs the version delegates."""
    return {(t, m) for t, m in session.execute(sa.select(DelegationRow.township_code, DelegationRow.matter_code)
                                               .where(DelegationRow.version_id == version_id))}


def check_year(year: int, now: datetime) -> None:
    """A year that may be published: within 2000–2100 and begun by `now` (the county's clock)."""
    if not 2000 <= year <= 2100:
        raise InvalidInput(T("the year must be between 2000 and 2100, got {year}", year=year), where="year")
    if clock.from_wall(datetime(year, 1, 1)) >= now:
        raise InvalidInput(T("{year} has not begun yet", year=year), where="year")


def annual(session: Session, user: User, year: int, county: str | None, calendar: WorkCalendar, scoring: Scoring,
           now: datetime, lang: str | None = None) -> Annual:
    """The annual publication's figures for `year` (cases reported in it), judged as of the year's end or now."""
    check_year(year, now)
    start, end = clock.from_wall(datetime(year, 1, 1)), clock.from_wall(datetime(year + 1, 1, 1))
    as_of = min(end, clock.to_local(now))
    facts = case_facts(session, user, start, end, county)
    label = names(session)
    levels = {level: indicators(facts, level, as_of, calendar, scoring, label.get) for level in PUBLISHED_LEVELS}
    catalogue = {code: (name, domain) for code, name, domain, _ in matters(session)}
    thresholds = Thresholds.from_config(scoring.delegation)
    review = delegation_rows(session, user, end, thresholds.span_years, county, calendar, thresholds, now)
    tables = breakdown(facts, catalogue, lang)
    tables["dispute"] = disputes_breakdown(dispute_counts(session, start, end, county or user.county_code), lang)
    return Annual(year=year, county=county or user.county_code, as_of=as_of, levels=levels, breakdown=tables,
                  review=review, review_years=thresholds.span_years, scoring_source=scoring.source)


def dispute_counts(session: Session, since: datetime, until: datetime, county: str | None) -> Counter[tuple[str, str]]:
    """Disputes raised in [since, until) by (kind, status); of one county: those on that county's cases."""
    q = sa.select(DisputeRow.kind, DisputeRow.status).where(DisputeRow.raised_at >= since,
                                                            DisputeRow.raised_at < until)
    if county is not None:
        q = q.join(CaseRow, CaseRow.id == DisputeRow.case_id).where(CaseRow.county_code == county)
    return Counter((k, s) for k, s in session.execute(q))


def review_version(session: Session, end: datetime, now: datetime) -> int:
    """The boundary version whose delegation lists a review ending at `end` (or now, if sooner) reads."""
    day = clock.wall(min(end, clock.to_local(now)) - timedelta(seconds=1)).date()
    version = version_in_force(session, day)
    if version is None:
        raise InvalidInput(T("no boundary version was in force on {day}: the delegation review reads that day's "
                             "delegation lists; choose a later end", day=day.isoformat()), where="to")
    return version


def delegation_rows(session: Session, user: User, end: datetime, years: int, county: str | None,
                    calendar: WorkCalendar, thresholds: Thresholds, now: datetime) -> list[dict[str, Any]]:
    """The delegation review over the `years` before `end` (delegations of the version in force at its end)."""
    start = clock.from_wall(datetime(clock.wall(end).year - years, *clock.wall(end).timetuple()[1:3]))
    as_of = min(end, clock.to_local(now))
    facts = case_facts(session, user, start, end, county)
    version = review_version(session, end, now)
    kinds = {code: kind for code, (kind, _) in teams(session).items()}
    span = (end - start).total_seconds() / (365.25 * 86400)
    return review(facts, townships(session, version), matters(session), delegations(session, version), kinds,
                  as_of, span, calendar, thresholds)
