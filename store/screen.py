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
    counted = _counts(session, where, now, today, tomorrow, month, bounds)
    kpi = counted.get("kpi", {})
    registered = session.scalar(
        sa.select(sa.func.count(sa.distinct(CaseEventRow.case_id))).join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .where(CaseEventRow.action == "register", CaseEventRow.at >= today, CaseEventRow.at < tomorrow, *where))
    names = _names(session, version_id)
    due, on_time = kpi.get("due", (0, 0))[0], kpi.get("on_time", (0, 0))[0]
    categories = sorted(counted.get("category", {}).items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
    matter_names = dict(session.execute(sa.select(MatterRow.code, MatterRow.name).where(  # type: ignore[arg-type]
        MatterRow.code.in_([code for code, _ in categories]))).all())
    towns = sorted(((round(on / n, 6), n, on, code) for code, (n, on) in counted.get("township", {}).items() if n),
                   key=lambda r: (-r[0], -r[1], r[3]))
    return {
        "now": clock.iso(now), "today": today.date().isoformat(), "month": month.date().isoformat()[:7],
        "county": county or user.county_code,
        "county_name": _county_name(session, version_id, county or user.county_code),
        "kpi": {"reported_today": kpi.get("reported_today", (0, 0))[0], "registered_today": int(registered or 0),
                "closed_today": kpi.get("closed_today", (0, 0))[0], "open": kpi.get("open", (0, 0))[0],
                "overdue": kpi.get("overdue", (0, 0))[0], "escalated": kpi.get("escalated", (0, 0))[0],
                "due_this_month": due, "closed_on_time_this_month": on_time,
                "on_time_rate_this_month": round(on_time / due, 6) if due else None},
        "trend": [{"day": d.date().isoformat(), "reported": counted.get("reported", {}).get(str(k), (0, 0))[0],
                   "closed": counted.get("closed", {}).get(str(k), (0, 0))[0]} for k, d in enumerate(bounds)],
        "categories": [{"matter": code, "name": matter_names.get(code, code), "cases": n}
                       for code, (n, _) in categories],
        "townships": [{"township": code, "name": names.get(code), "due": n, "on_time": on, "rate": rate}
                      for rate, n, on, code in towns],
        "sources": {k: counted.get("source", {}).get(k, (0, 0))[0] for k in SOURCES},
        "ticker": _ticker(session, where, ticker, names),
        "window": {"from": clock.iso(window), "to": clock.iso(tomorrow), "days": days},
    }


def _counts(session: Session, where: list[Any], now: datetime, today: datetime, tomorrow: datetime, month: datetime,
            bounds: list[datetime]) -> dict[str, dict[str, tuple[int, int]]]:
    """Every count of the screen in one statement: the cases that can matter (open, or reported, closed or due
    since the earlier of the month and the window) are read once into a CTE of the narrow columns the figures
    need — a covering index holds them all (migration 0015), so the wide rows with their JSON are not read — and
    each figure is an arm of a UNION ALL over it, as rows (kind, key, n, m). Suspended cases already overdue when
    suspended (the only figure that reads a case's JSON) are counted by their own arm over the suspended rows.
    Returns {kind: {key: (n, m)}}."""
    since = min(month, bounds[0])
    c = sa.select(
        CaseRow.id, CaseRow.status, CaseRow.matter_code, CaseRow.township_code, CaseRow.reporter, CaseRow.reported_at,
        CaseRow.closed_at, CaseRow.deadline, CaseRow.on_time, CaseRow.escalation_level,
    ).where(*where, sa.or_(CaseRow.status.in_(OPEN_STATES), CaseRow.reported_at >= since, CaseRow.closed_at >= since,
                           CaseRow.deadline >= since)).cte("c")
    is_open, is_closed = c.c.status.in_(OPEN_STATES), c.c.status.in_(CLOSED)
    closed_in_month = sa.and_(is_closed, c.c.closed_at >= month)
    due = sa.and_(c.c.status.not_in(OUT_OF_RATE), sa.or_(closed_in_month, sa.and_(
        is_open, c.c.deadline >= month, c.c.deadline < now)))
    on_time = sa.and_(closed_in_month, c.c.on_time.is_(True))
    zero = sa.literal(0)

    def arm(kind: str, key: Any, n: Any, m: Any = zero) -> Any:
        return sa.select(sa.literal(kind).label("kind"), key.label("key"), n.label("n"), m.label("m")).select_from(c)

    kpis = {
        "reported_today": sa.and_(c.c.reported_at >= today, c.c.reported_at < tomorrow),
        "closed_today": sa.and_(is_closed, c.c.closed_at >= today, c.c.closed_at < tomorrow),
        "open": is_open,
        "overdue": sa.and_(is_open, c.c.status != "suspended", c.c.deadline < now),
        "escalated": sa.and_(is_open, c.c.escalation_level >= 1),
        "due": due, "on_time": on_time}
    arms = [arm("kpi", sa.literal(name), _count(cond)) for name, cond in kpis.items()]
    # Suspended and already overdue when suspended (a negative remainder in the state): few rows, found by status.
    arms.append(sa.select(sa.literal("kpi").label("kind"), sa.literal("overdue_suspended").label("key"),
                          sa.func.count().label("n"), zero.label("m"))
                .where(*where, CaseRow.status == "suspended", CaseRow.state["remaining_hours"].as_float() < 0))
    for kind, at, extra in (("reported", c.c.reported_at, sa.true()), ("closed", c.c.closed_at, is_closed)):
        day = _day_of(at, bounds, tomorrow)
        arms.append(arm(kind, sa.cast(day, sa.String), sa.func.count(c.c.id))
                    .where(day.is_not(None), extra).group_by(day))
    in_window = c.c.reported_at >= bounds[0]
    arms.append(arm("category", c.c.matter_code, sa.func.count(c.c.id)).where(in_window).group_by(c.c.matter_code))
    town = sa.func.coalesce(c.c.township_code, NONE)
    arms.append(arm("township", town, _count(due), _count(on_time)).group_by(town))
    # The Open311 reports of the window as a set of their own (the report event is written at the report's time):
    # only report events are read as JSON, once (a CTE named twice is computed once, on both databases).
    open311 = sa.select(CaseEventRow.case_id).where(
        CaseEventRow.action == "report", CaseEventRow.at >= bounds[0],
        CaseEventRow.detail["channel"].as_string() == "open311").cte("o311")
    source = sa.case((c.c.id.in_(sa.select(open311.c.case_id)), "open311"),
                     (UserRow.role == "grid_worker", "grid_worker"), else_="other")
    arms.append(sa.select(sa.literal("source").label("kind"), source.label("key"), sa.func.count(c.c.id).label("n"),
                          zero.label("m")).select_from(c).outerjoin(UserRow, UserRow.username == c.c.reporter)
                .where(in_window).group_by(source))
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for kind, key, n, m in session.execute(sa.union_all(*arms)):
        out.setdefault(kind, {})[key] = (int(n or 0), int(m or 0))
    kpi = out.setdefault("kpi", {})
    late = kpi.pop("overdue_suspended", (0, 0))[0]
    kpi["overdue"] = (kpi.get("overdue", (0, 0))[0] + late, 0)
    return out


def _day_of(at: Any, bounds: list[datetime], end: datetime) -> Any:
    """SQL: which of the county days starting at `bounds` (the last one ending at `end`) holds the instant `at`,
    as its index, NULL outside them — a binary search of CASE expressions (five comparisons a row for 30 days,
    where a join with a table of days compares every row with every day), the same on SQLite and PostgreSQL."""
    starts = bounds + [end]

    def search(lo: int, hi: int) -> Any:  # the day k with starts[k] <= at < starts[k + 1], lo <= k < hi
        if hi - lo == 1:
            return sa.literal(lo)
        mid = (lo + hi) // 2
        return sa.case((at < sa.literal(starts[mid], Instant()), search(lo, mid)), else_=search(mid, hi))

    return sa.case((sa.and_(at >= sa.literal(starts[0], Instant()), at < sa.literal(end, Instant())),
                    search(0, len(bounds))), else_=None)


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
