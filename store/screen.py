"""The command centre's big screen (大屏): today's figures, this month's on-time rate, a 30-day trend, the top
categories, townships ranked by on-time rate, where reports come from, and the latest events — all counted in SQL,
the same on SQLite and PostgreSQL, over the cases the reader may see in aggregate (the scope of /stats).

Days and months are the county's (cases.clock): their bounds are computed here as instants and compared in SQL,
so no database needs to know the county's zone. The words, as a command centre uses them:

- reported today (今日上报): every report made today, duplicates and cancelled ones included;
- registered today (今日立案): cases with a `register` event today (the platform's own for routed reports);
- closed today (今日结案): cases closed or evaluated whose closure fell today;
- open (在办): cases in an open state (suspended ones included); overdue (超期): open and past the deadline, a
  suspended one only if it was already overdue when suspended (cases.workflow.is_overdue, the case's `overdue`);
  escalated (督办): open with an escalation level of 1 or more;
- on-time closure rate this month (本月按期结案率) = closed on time ÷ due to close, where "due to close" is every
  case closed this month plus every open case whose deadline fell this month before now; suspended (挂账),
  cancelled and duplicate cases are out of the denominator. None when nothing was due. Townships are ranked by
  the same rate (then by how many were due);
- trend, categories and sources cover the last `days` county days, today included; a case's source is
  Open311 when its report came through the Open311 API (the report event's `channel`), a grid worker when its
  reporter is one, else another channel (dispatchers taking calls, team members, imports).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases import clock
from store.cases import OPEN_STATES
from store.schema import CaseEventRow, CaseRow, Instant, MatterRow, UnitRow, UserRow
from store.stats import CLOSED, scope
from store.users import User

OUT_OF_RATE = ("suspended", "cancelled", "duplicate")
NONE = "(none)"
SOURCES = ("grid_worker", "open311", "other")


def _count(cond: Any) -> Any:
    """SQL: how many rows meet `cond` (0 over no rows)."""
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def day_start(at: datetime) -> datetime:
    """Midnight of `at`'s county day, as an instant in the county's zone."""
    local = clock.to_local(at)
    return datetime(local.year, local.month, local.day, tzinfo=clock.zone())


def _next_day(start: datetime) -> datetime:
    """The next county midnight (a day is not always 24 hours where the zone keeps summer time)."""
    return day_start(start + timedelta(hours=36))


def due_and_on_time(month: datetime, now: datetime) -> tuple[Any, Any]:
    """SQL conditions: the case was due to close in [month, now), and it was closed on time in that period."""
    closed = sa.and_(CaseRow.status.in_(CLOSED), CaseRow.closed_at >= month)
    due = sa.and_(CaseRow.status.not_in(OUT_OF_RATE), sa.or_(closed, sa.and_(
        CaseRow.status.in_(OPEN_STATES), CaseRow.deadline >= month, CaseRow.deadline < now)))
    return due, sa.and_(closed, CaseRow.on_time.is_(True))


def summary(session: Session, user: User, now: datetime, *, county: str | None = None, version_id: int | None = None,
            days: int = 30, top: int = 10, ticker: int = 20) -> dict[str, Any]:
    """Every figure of the big screen at `now` (see the module's docstring for what each counts)."""
    now = clock.to_local(now)
    where = scope(user, county)
    today = day_start(now)
    tomorrow = _next_day(today)
    month = today.replace(day=1)
    bounds = [today]
    for _ in range(days - 1):
        bounds.insert(0, day_start(bounds[0] - timedelta(hours=12)))
    window = bounds[0]
    due, on_time = due_and_on_time(month, now)
    is_open = CaseRow.status.in_(OPEN_STATES)
    kpi = session.execute(sa.select(
        _count(sa.and_(CaseRow.reported_at >= today, CaseRow.reported_at < tomorrow)),
        _count(sa.and_(CaseRow.status.in_(CLOSED), CaseRow.closed_at >= today, CaseRow.closed_at < tomorrow)),
        _count(is_open),
        _count(sa.or_(sa.and_(is_open, CaseRow.status != "suspended", CaseRow.deadline < now),
                      sa.and_(CaseRow.status == "suspended", CaseRow.state["remaining_hours"].as_float() < 0))),
        _count(sa.and_(is_open, CaseRow.escalation_level >= 1)),
        _count(due), _count(on_time)).where(*where)).one()
    registered = session.scalar(
        sa.select(sa.func.count(sa.distinct(CaseEventRow.case_id))).join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .where(CaseEventRow.action == "register", CaseEventRow.at >= today, CaseEventRow.at < tomorrow, *where))
    names = _names(session, version_id)
    return {
        "now": clock.iso(now), "today": today.date().isoformat(), "month": month.date().isoformat()[:7],
        "county": county or user.county_code,
        "county_name": _county_name(session, version_id, county or user.county_code),
        "kpi": {"reported_today": int(kpi[0]), "registered_today": int(registered or 0), "closed_today": int(kpi[1]),
                "open": int(kpi[2]), "overdue": int(kpi[3]), "escalated": int(kpi[4]),
                "due_this_month": int(kpi[5]), "closed_on_time_this_month": int(kpi[6]),
                "on_time_rate_this_month": round(int(kpi[6]) / int(kpi[5]), 6) if kpi[5] else None},
        "trend": _trend(session, where, bounds, tomorrow),
        "categories": _categories(session, where, window, top),
        "townships": _townships(session, where, due, on_time, names),
        "sources": _sources(session, where, window),
        "ticker": _ticker(session, where, ticker, names),
        "window": {"from": clock.iso(window), "to": clock.iso(tomorrow), "days": days},
    }


def _days(bounds: list[datetime], end: datetime) -> Any:
    """SQL: one row per county day (k, start, end), as a union of literal rows (SQLite and PostgreSQL alike)."""
    ends = bounds[1:] + [end]
    rows = [sa.select(sa.literal(k).label("k"), sa.literal(s, Instant()).label("s"),
                      sa.literal(e, Instant()).label("e"))
            for k, (s, e) in enumerate(zip(bounds, ends, strict=True))]
    return sa.union_all(*rows).subquery("days")


def _trend(session: Session, where: list[Any], bounds: list[datetime], end: datetime) -> list[dict[str, Any]]:
    days = _days(bounds, end)
    reported: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
        sa.select(days.c.k, sa.func.count(CaseRow.id)).select_from(days)
        .join(CaseRow, sa.and_(CaseRow.reported_at >= days.c.s, CaseRow.reported_at < days.c.e))
        .where(*where).group_by(days.c.k)).all())
    closed: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
        sa.select(days.c.k, sa.func.count(CaseRow.id)).select_from(days)
        .join(CaseRow, sa.and_(CaseRow.closed_at >= days.c.s, CaseRow.closed_at < days.c.e))
        .where(CaseRow.status.in_(CLOSED), *where).group_by(days.c.k)).all())
    return [{"day": d.date().isoformat(), "reported": int(reported.get(k, 0)), "closed": int(closed.get(k, 0))}
            for k, d in enumerate(bounds)]


def _categories(session: Session, where: list[Any], since: datetime, top: int) -> list[dict[str, Any]]:
    n = sa.func.count(CaseRow.id).label("n")
    rows = session.execute(
        sa.select(CaseRow.matter_code, MatterRow.name, n).outerjoin(MatterRow, MatterRow.code == CaseRow.matter_code)
        .where(CaseRow.reported_at >= since, *where).group_by(CaseRow.matter_code, MatterRow.name)
        .order_by(n.desc(), CaseRow.matter_code).limit(top)).all()
    return [{"matter": code, "name": name or code, "cases": int(count)} for code, name, count in rows]


def _townships(session: Session, where: list[Any], due: Any, on_time: Any,
               names: dict[str, str]) -> list[dict[str, Any]]:
    d, o = _count(due).label("due"), _count(on_time).label("on_time")
    rows = session.execute(sa.select(CaseRow.township_code, d, o).where(*where).group_by(CaseRow.township_code)
                           .having(_count(due) > 0)).all()
    ranked = sorted(((round(int(n_on) / int(n_due), 6), int(n_due), int(n_on), code or NONE)
                     for code, n_due, n_on in rows), key=lambda r: (-r[0], -r[1], r[3]))
    return [{"township": code, "name": names.get(code), "due": n_due, "on_time": n_on, "rate": rate}
            for rate, n_due, n_on, code in ranked]


def _sources(session: Session, where: list[Any], since: datetime) -> dict[str, int]:
    # The Open311 reports of the window as a set first (the report event is written at the report's time), so
    # only the report events are read as JSON, not every case's joined to its events.
    open311 = sa.select(CaseEventRow.case_id).where(CaseEventRow.action == "report", CaseEventRow.at >= since,
                                                    CaseEventRow.detail["channel"].as_string() == "open311")
    source = sa.case((CaseRow.id.in_(open311), "open311"), (UserRow.role == "grid_worker", "grid_worker"),
                     else_="other").label("source")
    rows = session.execute(
        sa.select(source, sa.func.count(CaseRow.id)).select_from(CaseRow)
        .outerjoin(UserRow, UserRow.username == CaseRow.reporter)
        .where(CaseRow.reported_at >= since, *where).group_by(source)).all()
    found = {k: int(v) for k, v in rows}
    return {k: found.get(k, 0) for k in SOURCES}


def _ticker(session: Session, where: list[Any], limit: int, names: dict[str, str]) -> list[dict[str, Any]]:
    """The latest events, newest first: what happened to which case, where — no person's name (a wall is public)."""
    rows = session.execute(
        sa.select(CaseEventRow.id, CaseEventRow.at, CaseEventRow.action, CaseEventRow.to_status, CaseRow.id,
                  CaseRow.matter_code, MatterRow.name, CaseRow.township_code)
        .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .outerjoin(MatterRow, MatterRow.code == CaseRow.matter_code)
        .where(*where).order_by(CaseEventRow.id.desc()).limit(limit)).all()
    return [{"event": ev, "at": clock.iso(at), "action": action, "to": to, "case": case, "matter": matter,
             "matter_name": matter_name or matter, "township": township,
             "township_name": names.get(township or "", None)}
            for ev, at, action, to, case, matter, matter_name, township in rows]


def _names(session: Session, version_id: int | None) -> dict[str, str]:
    """Township names of a boundary version, by code."""
    if version_id is None:
        return {}
    return dict(session.execute(sa.select(UnitRow.code, UnitRow.name).where(  # type: ignore[arg-type]
        UnitRow.version_id == version_id, UnitRow.layer == "township")).all())


def _county_name(session: Session, version_id: int | None, county: str | None) -> str | None:
    """The county's name: the one asked for, else the version's only county (None when it has several)."""
    if version_id is None:
        return None
    q = sa.select(UnitRow.name).where(UnitRow.version_id == version_id, UnitRow.layer == "county")
    if county is not None:
        return session.scalar(q.where(UnitRow.code == county))
    found = session.scalars(q.limit(2)).all()
    return found[0] if len(found) == 1 else None


def county_codes(session: Session) -> set[str]:
    """Every county code any boundary version knows."""
    return set(session.scalars(sa.select(UnitRow.code).where(UnitRow.layer == "county").distinct()))
