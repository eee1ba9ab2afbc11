"""Cases: intake (idempotent, routed on arrival, duplicates linked, triage), the lifecycle, scoped reads, the log.

The caller owns the transaction; nothing here commits. Every change appends a `case_event` row, and the
database refuses to update or delete those rows (triggers in migration 0002). The case's workflow state
(`cases.workflow.CaseState`) is kept as JSON in `case_record.state`, with its status, team, deadline,
escalation level and closure mirrored into columns for queries. Updates carry the revision they read;
a stale one is a 409 (the mapper's version column).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from cases import clock
from cases.calendar import WorkCalendar, bundled_calendar
from cases.first_violation import OUTCOMES, parse_party
from cases.workflow import (
    WITH_TEAM,
    CaseState,
    Escalate,
    Event,
    TeamRef,
    Transfer,
    allowed_actions,
    apply,
    is_overdue,
    needs_escalation,
    open_case,
    parse_action,
)
from gis.crs import metres_per_degree, to_wgs84
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.routing import Decision, Router
from i18n import T, Text
from i18n.terms import label
from i18n.units import distance as metres_text
from i18n.units import moment, term
from store.db import transaction
from store.disputes import Disputes
from store.first_violation import record_outcome
from store.schema import (
    ActionKeyRow,
    CaseEventRow,
    CaseRow,
    DisputeRow,
    MatterRow,
    PhotoRow,
    ReportKeyRow,
    TeamRow,
)
from store.users import User

OPEN_STATES = ("reported", "registered", "dispatched", "arrived", "handled", "fed_back", "checked", "suspended")
DEFAULT_DUPLICATE_M = 250.0
DEFAULT_DUPLICATE_H = 72.0
PLATFORM = "platform"  # the actor of automatic steps
CLOCK_SKEW = timedelta(minutes=10)  # how far a phone's clock may run ahead of the server's
# Triage kinds that wait for the case's dispute record to be settled (a routing gap raises a record too); once it is
# settled the kind is `settled`: the owner is decided, the case waits only to be registered and dispatched.
DISPUTE_QUEUES = ("dispute", "gap")
# Who may take which step (beyond seeing the case): the platform directs, the owning team works the case.
DISPATCHER_ACTIONS = frozenset({"register", "dispatch", "check", "close", "transfer", "add_co_owner", "suspend",
                                "resume", "extend", "escalate", "cancel", "locate", "link_duplicate"})
TEAM_ACTIONS = frozenset({"arrive", "handle", "feedback"})
STORE_ACTIONS = frozenset({"locate", "link_duplicate"})  # steps that change the case's place or link, not its state


def on_reroute(status: str) -> tuple[str, Text | None]:
    """What re-routing open cases on publish does to a case in `status`: how, and why it is kept if it is.

    With the team (dispatched, arrived, handled): a transfer (移送) to the new team, back to dispatched,
    deadline kept. Not yet dispatched (reported, registered): the proposed team changes. Fed back, checked
    or suspended: kept — the work is done and awaits its check, or the case waits to be resumed."""
    if status in WITH_TEAM:
        return "transfer", None
    if status in ("reported", "registered"):
        return "reassign", None
    if status == "suspended":
        return "keep", T("suspended (挂账): resume it, then a dispatcher transfers it")
    return "keep", T("{status}: the team's work is done and awaits the check; the case closes with that team",
                     status=term("status", status))


@dataclass(frozen=True)
class Report:
    """What a grid worker's phone (or an Open311 client) sends. x/y may be None when only an address is known."""

    matter: str
    x: float | None
    y: float | None
    crs: str
    accuracy_m: float | None
    description: str
    idempotency_key: str | None
    reported_at: datetime | None = None
    external_id: str | None = None
    address: str | None = None
    photos: tuple[str, ...] = field(default_factory=tuple)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. Open311 attributes and media_url, kept in the log

    def body_hash(self) -> str:
        """Fingerprint of the report's content, to tell a retry from a different report under one key."""
        content = {"matter": self.matter, "x": self.x, "y": self.y, "crs": self.crs, "accuracy_m": self.accuracy_m,
                   "description": self.description,
                   "reported_at": clock.iso(self.reported_at),
                   "external_id": self.external_id, "address": self.address, "photos": list(self.photos),
                   "details": self.details}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Intake:
    """The stored case and whether this call was a replay of an earlier one."""

    case: CaseRow
    replayed: bool


def case_state(row: CaseRow) -> CaseState:
    """The workflow state stored with a case."""
    return CaseState.model_validate(row.state)


def case_view(row: CaseRow, now: datetime | None = None) -> dict[str, Any]:
    """A case as JSON-ready data."""
    state = case_state(row)
    return {
        "id": row.id, "status": row.status, "matter": row.matter_code, "procedure": row.procedure,
        "team": row.team_code, "co_owners": row.co_owners, "county": row.county_code, "township": row.township_code,
        "village": row.village_code, "lon": row.lon, "lat": row.lat, "address": row.address,
        # The point as reported, in its crs: lon/lat like a decision's (reports take geographic CRSs only); x/y
        # are the same two numbers, kept for the clients that read them.
        "input": {"lon": row.raw_x, "lat": row.raw_y, "crs": row.raw_crs, "x": row.raw_x, "y": row.raw_y},
        "accuracy_m": row.accuracy_m,
        "description": row.description, "reporter": row.reporter, "reported_at": clock.iso(row.reported_at),
        "triage": row.triage, "linked_to": row.linked_to, "version": row.version_id, "revision": row.revision,
        "external_id": row.external_id, "photos": row.photos or [],
        "deadline": clock.iso(row.deadline),
        "escalation_level": row.escalation_level, "overdue": is_overdue(state, now or clock.now()),
        "closed_at": clock.iso(row.closed_at), "on_time": row.on_time,
        "allowed_actions": list(allowed_actions(state)),
        "updated_at": clock.iso(row.updated_at),
        "outcome": row.outcome, "outcome_detail": row.outcome_detail,
        # The words a person reads for the codes above, in the request's language (the codes never change).
        "labels": {"status": label("status", row.status), "triage": label("triage", row.triage),
                   "procedure": label("procedure", row.procedure), "outcome": label("outcome", row.outcome),
                   "allowed_actions": [label("action", a) for a in allowed_actions(state)]},
    }


def event_view(e: CaseEventRow) -> dict[str, Any]:
    """An event as JSON-ready data."""
    return {"id": e.id, "at": clock.iso(e.at), "recorded_at": clock.iso(e.recorded_at),
            "actor": e.actor, "action": e.action, "from": e.from_status, "to": e.to_status, "lon": e.lon,
            "lat": e.lat, "reason": e.reason, "detail": e.detail,
            "labels": {"action": label("action", e.action), "from": label("status", e.from_status),
                       "to": label("status", e.to_status)}}


class Cases:
    """Case storage, the lifecycle and scope checks over one injected session."""

    def __init__(self, session: Session, calendar: WorkCalendar | None = None) -> None:
        self.session = session
        self.calendar = calendar or bundled_calendar("cn")
        self.assumed_zone: list[str] = []  # step times given without an offset (read in the county's zone)

    # -- scope ------------------------------------------------------------------------------------
    def visible(self, user: User, row: CaseRow) -> bool:
        """Whether the user may read this case (role and jurisdiction scope; an account limited to one county
        sees that county's cases only)."""
        if user.county_code is not None and row.county_code != user.county_code:
            return False
        if user.role in ("dispatcher", "auditor"):
            return True
        if user.role == "team_member":
            return row.team_code == user.team_code or (user.team_code or "") in (row.co_owners or [])
        if user.role == "grid_worker":
            return row.reporter == user.username
        return False

    def scope_filter(self, user: User) -> Any:
        """The SQL condition for cases the user may see: the same rule as `visible`, co-owned cases included."""
        return self._scope_filter(user)

    def _co_owned(self, team: str) -> Any:
        """SQL: the case lists `team` among its co-owners (JSONB containment on PostgreSQL, json_each on SQLite)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return CaseRow.co_owners.op("@>")(sa.cast(sa.literal(json.dumps([team])), JSONB))
        each = sa.func.json_each(CaseRow.co_owners).table_valued("value")
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == team))

    def _scope_filter(self, user: User) -> Any:
        if user.county_code is not None:
            return sa.and_(CaseRow.county_code == user.county_code, self._role_filter(user))
        return self._role_filter(user)

    def _role_filter(self, user: User) -> Any:
        if user.role in ("dispatcher", "auditor"):
            return sa.true()
        if user.role == "team_member":
            return sa.or_(CaseRow.team_code == user.team_code, self._co_owned(user.team_code or ""))
        if user.role == "grid_worker":
            return CaseRow.reporter == user.username
        raise Forbidden(T("a {role} does not see cases; dispatchers, auditors and teams do",
                          role=term("role", user.role)))

    def get(self, user: User, case_id: int) -> CaseRow:
        """One case the user may see. A missing case and one outside the user's scope are the same 404 (the
        same words), so case ids cannot be probed; a role that sees no cases at all is a 403 whatever the id."""
        self._scope_filter(user)  # the role check: planners see no cases
        row = self.session.get(CaseRow, case_id)
        if row is None or not self.visible(user, row):
            raise NotFound(T("no case {id} in your scope", id=case_id), code="case_not_found")
        return row

    def in_scope(self, user: User, *, status: str | list[str] | None = None, triage: bool | None = None,
                 matters: list[str] | None = None, ids: list[int] | None = None, since: datetime | None = None,
                 until: datetime | None = None, bbox: tuple[float, float, float, float] | None = None,
                 team: str | None = None, township: str | None = None, county: str | None = None,
                 dispute: str | None = None, limit: int = 500) -> list[CaseRow]:
        """Cases in the user's scope matching the filters, newest first. The triage queue is the
        not-yet-registered cases the platform flagged (dispute, gap, near boundary, unlocated, settled), and the
        registered ones still waiting for a dispute to be settled. `dispute`: only cases whose dispute record has
        this status (`open`: the console's dispute tab also lists cases already with a team)."""
        conds: list[Any] = []
        if dispute is not None:
            conds.append(CaseRow.id.in_(sa.select(DisputeRow.case_id).where(
                DisputeRow.status == dispute, DisputeRow.case_id.is_not(None))))
        if status is not None:
            conds.append(CaseRow.status.in_([status] if isinstance(status, str) else status))
        if triage is not None:
            waiting = sa.and_(CaseRow.triage.is_not(None), sa.or_(
                CaseRow.status == "reported",
                sa.and_(CaseRow.status == "registered", CaseRow.triage.in_(DISPUTE_QUEUES))))
            conds.append(waiting if triage else sa.not_(waiting))
        if matters:
            conds.append(CaseRow.matter_code.in_(matters))
        if ids:
            conds.append(CaseRow.id.in_(ids))
        if since is not None:
            conds.append(CaseRow.reported_at >= since)
        if until is not None:
            conds.append(CaseRow.reported_at <= until)
        if bbox is not None:
            west, south, east, north = bbox
            conds += [CaseRow.lon.between(west, east), CaseRow.lat.between(south, north)]
        if team is not None:
            conds.append(CaseRow.team_code == team)
        if township is not None:
            conds.append(CaseRow.township_code == township)
        if county is not None:
            conds.append(CaseRow.county_code == county)
        q = sa.select(CaseRow).where(self._scope_filter(user), *conds).order_by(CaseRow.id.desc()).limit(limit)
        return list(self.session.scalars(q))

    def located_page(self, user: User, *, bbox: tuple[float, float, float, float] | None = None,
                     since: datetime | None = None, until: datetime | None = None, offset: int = 0,
                     limit: int = 100, county: str | None = None) -> tuple[int, list[CaseRow]]:
        """Located cases in the user's scope (inside `bbox`, reported in [since, until]), oldest first: how many
        match, and one page of them — counted and paged in SQL, for clients that walk every page (QGIS, GDAL)."""
        conds = [self._scope_filter(user), CaseRow.lon.is_not(None)]
        if county is not None:
            conds.append(CaseRow.county_code == county)
        if bbox is not None:
            west, south, east, north = bbox
            conds += [CaseRow.lon.between(west, east), CaseRow.lat.between(south, north)]
        if since is not None:
            conds.append(CaseRow.reported_at >= since)
        if until is not None:
            conds.append(CaseRow.reported_at <= until)
        total = int(self.session.scalar(sa.select(sa.func.count()).select_from(CaseRow).where(*conds)) or 0)
        rows = self.session.scalars(sa.select(CaseRow).where(*conds).order_by(CaseRow.id).offset(offset).limit(limit))
        return total, list(rows)

    def located_extent(self, user: User) -> tuple[list[float] | None, list[datetime] | None]:
        """The bounding box and the reporting period of the located cases the user may see."""
        row = self.session.execute(sa.select(
            sa.func.min(CaseRow.lon), sa.func.min(CaseRow.lat), sa.func.max(CaseRow.lon), sa.func.max(CaseRow.lat),
            sa.func.min(CaseRow.reported_at), sa.func.max(CaseRow.reported_at),
        ).where(self._scope_filter(user), CaseRow.lon.is_not(None))).one()
        values: list[Any] = list(row)
        if values[0] is None:
            return None, None
        return [float(v) for v in values[:4]], [values[4], values[5]]

    def history(self, user: User, case_id: int) -> list[CaseEventRow]:
        """The case's events, oldest first."""
        self.get(user, case_id)
        return list(self.session.scalars(
            sa.select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)))

    def latest_events(self, case_id: int, count: int) -> list[CaseEventRow]:
        """The case's last `count` events, oldest first (the caller has checked scope)."""
        rows = self.session.scalars(sa.select(CaseEventRow).where(CaseEventRow.case_id == case_id)
                                    .order_by(CaseEventRow.id.desc()).limit(count))
        return list(reversed(list(rows)))

    # -- the log ----------------------------------------------------------------------------------
    def event(self, row: CaseRow, actor: str, action: str, at: datetime, now: datetime, *, reason: str = "",
              from_status: str | None = None, detail: dict[str, Any] | None = None,
              lon: float | None = None, lat: float | None = None) -> None:
        """Append one event to a case's log (`at`: when it happened; `now`: when it is written)."""
        self.session.add(CaseEventRow(case_id=row.id, at=at, recorded_at=now, actor=actor, action=action,
                                      from_status=from_status, to_status=row.status, lon=lon, lat=lat,
                                      reason=reason, detail=detail or {}))

    def dispute_raised(self, row: CaseRow, dispute_id: int, actor: str, now: datetime) -> None:
        """A dispute was filed over the case: a case still waiting for the command centre (reported, or registered
        and not yet dispatched) moves to the dispute queue until it is settled; the log names the record and the
        queue it came from. Not a workflow step: the case's revision is unchanged."""
        was = row.triage
        if row.status in ("reported", "registered") and was not in DISPUTE_QUEUES:
            row.triage = "dispute"
        self.event(row, actor, "dispute_raised", now, now, from_status=row.status,
                   reason=T("dispute record {id}", id=dispute_id).render(),
                   detail={"dispute": dispute_id, **({"triage": {"from": was, "to": row.triage}}
                                                     if was != row.triage else {})})

    def dispute_settled(self, row: CaseRow, record: DisputeRow, actor: str, now: datetime, reason: str,
                        team: str) -> None:
        """The dispute over the case was ruled or dismissed (`record`, the case's one record, is settled): the log
        says so, and the case leaves the dispute queue (`settled`: not yet dispatched, it waits only to be registered
        and dispatched; already with a team, it is in no queue of the command centre's)."""
        action = "dispute_dismissed" if record.status == "dismissed" else "dispute_ruled"
        detail: dict[str, Any] = {"dispute": record.id, "team": {"code": team}}
        if record.status == "ruled" and record.ruling:
            detail["legal_basis"] = record.ruling.get("legal_basis")
        if row.triage in DISPUTE_QUEUES:
            detail["triage"] = {"from": row.triage, "to": "settled"}
            row.triage = "settled"
        self.event(row, actor, action, now, now, from_status=row.status, reason=reason, detail=detail)

    def transfer_on_ruling(self, user: User, row: CaseRow, revision: int | None, record: DisputeRow, now: datetime,
                           router_at: Callable[[date], Router]) -> bool:
        """A ruling named a team other than the one that already holds the case (dispatched and on): the case is
        transferred (移送) to it as by the `transfer` action — the ruling's reason as the transfer's, the deadline
        kept, the place routed again for the explanation — checked against the case `revision` the arbiter read
        (stale: a 409 on `case_revision`, and the caller's transaction writes nothing of the ruling either). A case
        not yet dispatched keeps its proposal (the console dispatches it to the ruled team), a closed one its team.
        Returns whether the case was transferred."""
        assert record.ruling is not None
        team = record.ruling["team"]
        if row.status in ("reported", "registered", "duplicate") or row.status not in OPEN_STATES \
                or team == row.team_code:
            return False
        if revision is None:
            raise InvalidInput(T("case {id} is with {team}: a ruling for {to} transfers it; send case_revision, the "
                                 "case's revision you read", id=row.id, team=row.team_code, to=team),
                               where="case_revision")
        step = {"action": "transfer", "team": team, "reason": record.ruling["reason"],
                "note": T("ruling on dispute {id}", id=record.id).render()}
        try:
            self.act(user, row.id, revision, [step], now, router_at)
        except (Conflict, InvalidInput) as exc:  # the case's fields, not the dispute record's
            exc.where = f"case_{exc.where}" if exc.where in ("revision", "action") else exc.where
            raise
        return True

    def _log(self, row: CaseRow, ev: Event, actor: str, now: datetime, *, lon: float | None = None,
             lat: float | None = None, extra: Mapping[str, Any] | None = None) -> None:
        detail = {**ev.detail, **{k: v for k, v in (extra or {}).items() if v is not None}}
        self.event(row, actor, ev.action, ev.at, now, reason=ev.reason or "", from_status=ev.from_status,
                   detail=detail, lon=lon, lat=lat)

    def _save(self, row: CaseRow, state: CaseState) -> None:
        """Write a workflow state to the row and its query columns."""
        row.state = state.model_dump(mode="json")
        row.status = "duplicate" if row.linked_to is not None and state.status == "reported" else state.status
        row.revision = state.revision
        row.matter_code, row.procedure = state.matter_code, state.procedure
        if state.team is not None:
            row.team_code = state.team.code
            row.co_owners = [t.code for t in state.co_owners]
        row.deadline = state.deadline
        row.escalation_level = state.escalation_level
        row.closed_at, row.on_time = state.closed_at, state.on_time
        row.updated_at = state.updated_at

    def _team_ref(self, code: str) -> TeamRef:
        kind = self.session.scalar(sa.select(TeamRow.kind).where(TeamRow.code == code))
        if kind is None:
            raise InvalidInput(T("unknown team {code}; GET /teams lists the team codes", code=repr(code)), where="team")
        return TeamRef.model_validate({"code": code, "kind": kind})

    # -- intake -----------------------------------------------------------------------------------
    def intake(self, user: User, report: Report, router: Router, now: datetime) -> Intake:
        """Store a report as a case, once: routed and dispatched, linked to an open duplicate, or put in triage."""
        now = clock.to_local(now)
        if report.idempotency_key:
            earlier = self.session.scalars(
                sa.select(CaseRow).join(ReportKeyRow, ReportKeyRow.case_id == CaseRow.id)
                .where(ReportKeyRow.reporter == user.username,
                       ReportKeyRow.idempotency_key == report.idempotency_key)).first()
            if earlier is not None:
                if earlier.body_hash != report.body_hash():
                    raise Conflict(T("idempotency key {key} was already used for a different report (case {id}); a "
                                     "retry must resend the same report, a new report needs a new key",
                                     key=repr(report.idempotency_key), id=earlier.id), where="idempotency_key")
                return Intake(earlier, replayed=True)
        if report.external_id and self.session.scalar(
                sa.select(CaseRow.id).where(CaseRow.external_id == report.external_id)) is not None:
            raise Conflict(T("a case with external id {id} already exists", id=report.external_id),
                           where="external_id")
        matter = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == report.matter)).first()
        if matter is None:
            raise InvalidInput(T("unknown category {matter}; GET /matters lists the matter codes",
                                 matter=repr(report.matter)),
                               where="matter")
        reported_at = clock.to_local(report.reported_at or now)  # naive: the county's wall-clock time
        if reported_at > now + CLOCK_SKEW:
            raise InvalidInput(T("reported_at {reported_at} is in the future (server time {now}); check the "
                                 "phone's clock",
                                 reported_at=reported_at.isoformat(), now=now.isoformat(timespec='seconds')),
                               where="reported_at")
        for sha in report.photos:
            if self.session.get(PhotoRow, sha) is None:
                raise InvalidInput(T("unknown photo {sha}; upload it first with POST /photos", sha=sha), where="photos")
        state, opened = open_case(matter, reported_at)
        lon = lat = None
        decision: dict[str, Any] = {}
        triage: str | None
        selected: dict[str, str]
        if report.x is None or report.y is None:
            if not (report.address or "").strip():
                raise InvalidInput(T("a report needs a location (lat and lon) or an address"), where="location",
                                   code="no_location")
            team, co_owners, triage, selected, version_id = router.fallback_team, [], "unlocated", {}, router.version.id
            summary = {"team": team, "routing_status": "unlocated",
                       "reason": T("no coordinates, only an address; held for the fallback team {team}",
                                   team=team).render()}
        else:
            if not (math.isfinite(report.x) and math.isfinite(report.y)):
                raise InvalidInput(T("location must be finite numbers"), where="location")
            lon, lat = to_wgs84(report.x, report.y, report.crs, where="location")
            found = router.explain(lon, lat, matter.code, reported_at.date(), report.accuracy_m)
            decision = found.model_dump(mode="json")
            selected = {u.layer: u.code for u in found.units if u.selected}
            team, co_owners, version_id = found.team, list(found.co_owners), found.version.id
            triage = ("dispute" if found.status == "dispute" else "gap" if found.status == "gap"
                      else "near_boundary" if found.near_boundary else None)
            summary = {"team": found.team, "routing_status": found.status, "reason": found.reason}
        row = CaseRow(
            body_hash=report.body_hash(), external_id=report.external_id,
            status="reported", matter_code=matter.code, procedure=matter.procedure, team_code=team,
            co_owners=co_owners, county_code=selected.get("county", user.county_code),
            township_code=selected.get("township"), village_code=selected.get("village"),
            lon=lon, lat=lat, geom=None if lon is None else shapely.Point(lon, lat),
            raw_x=report.x, raw_y=report.y, raw_crs=report.crs, accuracy_m=report.accuracy_m,
            address=report.address, photos=list(report.photos), description=report.description,
            reporter=user.username, reported_at=reported_at, triage=triage, routing=decision,
            version_id=version_id, state={}, revision=0, updated_at=reported_at)
        self._save(row, state)
        self.session.add(row)
        self.session.flush()
        if report.idempotency_key:
            # A retry racing this one fails here on the (reporter, key) primary key; the caller reads the winner.
            self.session.add(ReportKeyRow(reporter=user.username, idempotency_key=report.idempotency_key,
                                          case_id=row.id))
            self.session.flush()
        self._log(row, opened, user.username, now, lon=lon, lat=lat, extra={**summary, **report.details})
        original = self._open_duplicate(row, matter.attributes, reported_at)
        if original is not None:
            row.linked_to = original.id
            self._save(row, state)
            self.event(row, PLATFORM, "link_duplicate", reported_at, now, from_status="reported",
                       reason=T("same category within the duplicate window of case {id}", id=original.id).render(),
                       detail={"case": original.id})
            self.event(original, PLATFORM, "duplicate_reported", reported_at, now, from_status=original.status,
                       reason=T("case {id} reports the same", id=row.id).render(), detail={"case": row.id})
        elif triage is not None:
            self.event(row, PLATFORM, "triage", reported_at, now, from_status="reported",
                       reason=T("{triage}: the command centre confirms the owner",
                                triage=label("triage", triage) or triage).render(),
                       detail={"candidates": decision.get("candidates", [])})
            if triage in ("dispute", "gap"):
                record = Disputes(self.session).raise_for_case(row, decision, now)
                self.event(row, PLATFORM, "dispute_raised", reported_at, now, from_status="reported",
                           reason=T("dispute record {id}", id=record.id).render(), detail={"dispute": record.id})
        else:
            self._dispatch_routed(row, team, co_owners, reported_at, now)
        self.session.flush()
        return Intake(row, replayed=False)

    def _dispatch_routed(self, row: CaseRow, team: str, co_owners: list[str], at: datetime, now: datetime) -> None:
        """The platform registers a clearly routed case and dispatches it to its team and co-owners."""
        for step in ({"action": "register"}, {"action": "dispatch", "team": self._team_ref(team).model_dump()},
                     *({"action": "add_co_owner", "team": self._team_ref(c).model_dump()} for c in co_owners)):
            new, ev = apply(case_state(row), parse_action(step), at, self.calendar)
            self._save(row, new)
            self._log(row, ev, PLATFORM, now, extra={"by": "routing"})

    def _open_duplicate(self, row: CaseRow, attributes: dict[str, Any], at: datetime) -> CaseRow | None:
        """The nearest open case of the same category within the category's distance and time window.
        A matter whose `duplicate_m` or `duplicate_h` is 0 never links (e.g. a stream already deduplicated)."""
        metres = float(attributes.get("duplicate_m", DEFAULT_DUPLICATE_M))
        hours = float(attributes.get("duplicate_h", DEFAULT_DUPLICATE_H))
        if row.lon is None or row.lat is None or metres <= 0 or hours <= 0:
            return None
        kx, ky = metres_per_degree(row.lat)
        dlon, dlat = metres / kx, metres / ky
        candidates = self.session.scalars(
            sa.select(CaseRow).where(
                CaseRow.id != row.id, CaseRow.matter_code == row.matter_code, CaseRow.status.in_(OPEN_STATES),
                CaseRow.reported_at >= at - timedelta(hours=hours), CaseRow.reported_at <= at + timedelta(hours=hours),
                CaseRow.lon.between(row.lon - dlon, row.lon + dlon),
                CaseRow.lat.between(row.lat - dlat, row.lat + dlat)))
        best: tuple[float, int, CaseRow] | None = None
        for c in candidates:
            assert c.lon is not None and c.lat is not None  # the bbox filter excludes unlocated cases
            d = math.hypot((c.lon - row.lon) * kx, (c.lat - row.lat) * ky)
            if d <= metres and (best is None or (d, c.id) < best[:2]):
                best = (d, c.id, c)
        return best[2] if best else None

    # -- the lifecycle ----------------------------------------------------------------------------
    def act(self, user: User, case_id: int, revision: int, steps: Sequence[Mapping[str, Any]], now: datetime,
            router_at: Callable[[date], Router]) -> tuple[CaseRow, int]:
        """Apply steps to a case read at `revision`, all or nothing; returns the case and the number of events."""
        now = clock.to_local(now)
        row = self.get(user, case_id)
        if row.revision != revision:
            raise Conflict(T("case {id} changed since you read it: it is at revision {revision}, you sent {sent}; "
                             "reload the case and decide again", id=case_id, revision=row.revision, sent=revision),
                           where="revision")
        if not steps:
            raise InvalidInput(T("no action given"), where="actions")
        for i, step in enumerate(steps):
            where = f"actions[{i}]." if len(steps) > 1 else ""
            try:
                if _without_offset(step.get("at")):
                    self.assumed_zone.append(f"{where}at")
                self._step(user, row, dict(step), now, router_at)
            except (InvalidInput, Conflict, Forbidden) as exc:
                exc.where = f"{where}{exc.where}" if exc.where and where else exc.where or where.rstrip(".") or None
                raise
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict(T("case {id} was changed by someone else at the same moment; reload and decide again",
                             id=case_id), where="revision") from None
        return row, len(steps)

    def replayed(self, user: User, case_id: int, key: str, body_hash: str) -> CaseRow | None:
        """The case, when this actor already sent these steps under `key` (an outbox's retry): nothing is applied
        again. The same key for different steps is a 409."""
        kept = self.session.get(ActionKeyRow, (user.username, key))
        if kept is None:
            return None
        if kept.case_id != case_id or kept.body_hash != body_hash:
            raise Conflict(T("idempotency key {key} was already used for other steps (case {id}); a retry must "
                             "resend the same steps, new steps need a new key", key=repr(key), id=kept.case_id),
                           where="idempotency_key")
        return self.get(user, case_id)

    def remember(self, user: User, row: CaseRow, key: str, body_hash: str, steps: int) -> None:
        """Keep the key of applied steps (a racing retry fails here on the primary key and reads the winner's)."""
        self.session.add(ActionKeyRow(actor=user.username, idempotency_key=key, case_id=row.id,
                                      revision=row.revision, steps=steps, body_hash=body_hash))
        self.session.flush()

    def _authorise(self, user: User, row: CaseRow, name: str) -> None:
        known = DISPATCHER_ACTIONS | TEAM_ACTIONS | {"evaluate"}
        if name not in known:
            raise InvalidInput(T("unknown action {action}; one of {known}", action=repr(name),
                                 known=", ".join(sorted(known))), where="action")
        if name in TEAM_ACTIONS:
            if user.role != "team_member" or user.team_code != row.team_code:
                you = (T("a {role} of {team}", role=term("role", user.role), team=user.team_code) if user.team_code
                       else T("a {role}", role=term("role", user.role)))
                raise Forbidden(T("only members of the owning team {team} report '{action}'; you are {you}",
                                  team=row.team_code, action=term("action", name), you=you))
        elif name == "evaluate":
            if not (user.role == "dispatcher" or (user.role == "grid_worker" and user.username == row.reporter)):
                raise Forbidden(T("the reporter or a dispatcher evaluates a case"))
        elif user.role != "dispatcher":
            raise Forbidden(T("only a dispatcher may {action} a case; you are a {role}", action=term("action", name),
                              role=term("role", user.role)))

    def _when(self, value: Any, now: datetime) -> datetime:
        if value is None:
            return now
        try:
            # Without an offset: the county's wall-clock time (the answer says so: `time_zone_assumed`).
            at = clock.to_local(value) if isinstance(value, datetime) else clock.parse(str(value), "'at'")[0]
        except ValueError:
            raise InvalidInput(T("'at' must be an ISO 8601 date-time, got {value}", value=repr(value)),
                               where="at") from None
        if at > now + CLOCK_SKEW:
            raise InvalidInput(T("'at' {at} is in the future (server time {now})", at=at.isoformat(),
                                 now=now.isoformat(timespec="seconds")), where="at")
        return at

    def _where(self, step: dict[str, Any]) -> tuple[float | None, float | None]:
        lon, lat, crs = step.pop("lon", None), step.pop("lat", None), step.pop("crs", "wgs84")
        if lon is None and lat is None:
            return None, None
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat)):
            raise InvalidInput(T("lon and lat must both be finite numbers"), where="location")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(T("lon {lon}, lat {lat} is outside the world", lon=lon, lat=lat), where="location")
        return to_wgs84(float(lon), float(lat), str(crs), where="location")

    def _step(self, user: User, row: CaseRow, step: dict[str, Any], now: datetime,
              router_at: Callable[[date], Router]) -> None:
        name = step.get("action")
        if not isinstance(name, str):
            raise InvalidInput(T("each step needs an action name"), where="action")
        self._authorise(user, row, name)
        at = self._when(step.pop("at", None), now)
        lon, lat = self._where(step)
        note = step.pop("note", None)
        if note is not None and (not isinstance(note, str) or len(note) > 4000):
            raise InvalidInput(T("note must be text of at most 4000 characters"), where="note")
        note = (note.strip() or None) if note else None  # optional: spaces alone are no note, never stored
        state = case_state(row)
        if name == "locate":
            return self._locate(user, row, state, step, lon, lat, at, now, router_at, note)
        if name == "link_duplicate":
            return self._link_duplicate(user, row, state, step, at, now, note)
        extra: dict[str, Any] = {"note": note}
        if name == "transfer":
            extra |= self._reroute(row, step, at, router_at)
            state = case_state(row)  # a new matter changes the state's matter and procedure
        if name in ("dispatch", "transfer", "add_co_owner"):
            code = step.get("team") or (row.team_code if name == "dispatch" else None)
            if not isinstance(code, str):
                raise InvalidInput(T("{action} needs a team code", action=term("action", name)), where="team")
            step["team"] = self._team_ref(code).model_dump()
        if name == "register" and row.linked_to is not None and row.status == "duplicate":
            extra["registered_despite_link"] = row.linked_to
        if name == "arrive":
            extra |= self._arrival(row, step, lon, lat)
        handling = self._handling(row, step) if name == "handle" else None
        if handling is not None and handling["procedure"] != state.procedure:
            state = state.model_copy(update={"procedure": handling["procedure"]})  # the officer's 简易/普通
            extra["procedure"] = handling["procedure"]
        new, ev = apply(state, parse_action(step), at, self.calendar)
        self._save(row, new)
        if handling is not None:
            photos = handling["photos_before"] + handling["photos_after"]
            row.photos = list(dict.fromkeys([*(row.photos or []), *photos]))  # shown to whoever sees the case
            extra |= {k: handling[k] for k in ("photos_before", "photos_after") if handling[k]}
            extra["outcome"] = record_outcome(self.session, row, handling["party"], handling["outcome"], at,
                                              user.username, new.procedure)
        self._log(row, ev, user.username, now, lon=lon, lat=lat, extra=extra)
        return None

    def _arrival(self, row: CaseRow, step: dict[str, Any], lon: float | None, lat: float | None) -> dict[str, Any]:
        """报到: where the officer stood, how sure the phone was, and how far from the case (a warning past the
        matter's radius: its duplicate radius 查重半径, or the default when it has none)."""
        accuracy = step.pop("accuracy_m", None)
        if accuracy is not None and not (isinstance(accuracy, int | float) and not isinstance(accuracy, bool)
                                         and math.isfinite(accuracy) and 0 <= accuracy <= 100_000):
            raise InvalidInput(T("accuracy_m must be a number of metres from 0 to 100000"), where="accuracy_m")
        out: dict[str, Any] = {"accuracy_m": accuracy}
        if lon is None or lat is None or row.lon is None or row.lat is None:
            return out
        matter = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == row.matter_code)).first()
        radius = float((matter.attributes if matter else {}).get("duplicate_m") or DEFAULT_DUPLICATE_M)
        kx, ky = metres_per_degree((lat + row.lat) / 2)
        distance = math.hypot((lon - row.lon) * kx, (lat - row.lat) * ky)
        out |= {"distance_m": round(distance, 1), "radius_m": radius, "far": distance > radius}
        if distance > radius:
            out["warning"] = T("arrived {distance} from the case, farther than the matter's radius {radius}",
                               distance=metres_text(distance), radius=metres_text(radius)).render()
        return out

    def _handling(self, row: CaseRow, step: dict[str, Any]) -> dict[str, Any]:
        """处置's record: the procedure chosen, photos before and after, the party and the outcome (checked before
        anything is written)."""
        procedure = step.pop("procedure", None) or row.procedure
        if procedure not in ("simple", "ordinary"):
            raise InvalidInput(T("procedure must be simple or ordinary, got {value}", value=repr(procedure)),
                               where="procedure")
        photos: dict[str, list[str]] = {}
        for key in ("photos_before", "photos_after"):
            value = step.pop(key, None) or []
            if not (isinstance(value, list) and len(value) <= 9 and all(isinstance(v, str) for v in value)):
                raise InvalidInput(T("{field} must be a list of at most 9 photo checksums", field=key), where=key)
            for sha in value:
                if self.session.get(PhotoRow, sha) is None:
                    raise InvalidInput(T("unknown photo {sha}; upload it first with POST /photos", sha=sha),
                                       where=key)
            photos[key] = value
        party_data, outcome = step.pop("party", None), step.pop("outcome", None)
        party = parse_party(party_data) if party_data is not None else None
        if outcome is not None and outcome not in OUTCOMES:
            raise InvalidInput(T("outcome must be one of {outcomes}, got {value}", outcomes=", ".join(OUTCOMES),
                                 value=repr(outcome)), where="outcome")
        return {"procedure": procedure, "party": party, "outcome": outcome, **photos}

    def _reroute(self, row: CaseRow, step: dict[str, Any], at: datetime,
                 router_at: Callable[[date], Router]) -> dict[str, Any]:
        """Transfer: optionally re-categorise, route the case's place again and keep the new explanation."""
        matter_code = step.pop("matter", None)
        if matter_code is not None:
            matter = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == matter_code)).first()
            if matter is None:
                raise InvalidInput(T("unknown category {matter}; GET /matters lists the matter codes",
                                     matter=repr(matter_code)), where="matter")
            state = case_state(row).model_copy(update={"matter_code": matter.code, "procedure": matter.procedure})
            row.state = state.model_dump(mode="json")
            row.matter_code, row.procedure = matter.code, matter.procedure
        if row.lon is None or row.lat is None:
            if not step.get("team"):
                raise InvalidInput(T("the case has no location to route; name the team or locate it first"),
                                   where="team")
            return {"matter": matter_code, "routing": None}
        decision = router_at(at.date()).explain(row.lon, row.lat, row.matter_code, at.date(), row.accuracy_m)
        _place(row, decision)
        chosen = step.get("team") or decision.team
        step["team"] = chosen
        return {"matter": matter_code, "override": chosen != decision.team, "routing": _routing_summary(decision)}

    def _locate(self, user: User, row: CaseRow, state: CaseState, step: dict[str, Any], lon: float | None,
                lat: float | None, at: datetime, now: datetime, router_at: Callable[[date], Router],
                note: str | None) -> None:
        """A dispatcher places a case (an address-only report, or a pin in the wrong place) and it is re-routed."""
        if set(step) - {"action"}:
            raise InvalidInput(T("locate takes lon, lat, crs, at and note; not {field}",
                                 field=sorted(set(step) - {"action"})[0]), where="action")
        if lon is None or lat is None:
            raise InvalidInput(T("locate needs lon and lat"), where="location")
        if state.status not in OPEN_STATES:
            raise Conflict(T("cannot {action}: case is {status}", action=term("action", "locate"),
                             status=term("status", state.status)), where="action")
        decision = router_at(row.reported_at.date()).explain(lon, lat, row.matter_code, row.reported_at.date())
        was = {"lon": row.lon, "lat": row.lat, "team": row.team_code}
        row.lon, row.lat, row.geom = lon, lat, shapely.Point(lon, lat)
        _place(row, decision)
        if state.team is None:  # not yet dispatched: the routed team is the proposal
            row.team_code, row.co_owners = decision.team, list(decision.co_owners)
        new = state.model_copy(update={"revision": state.revision + 1, "updated_at": max(at, state.updated_at)})
        self._save(row, new)
        self.event(row, user.username, "locate", at, now, from_status=state.status, reason=note or "",
                   detail={"was": was, "team": decision.team, "routing_status": decision.status,
                           "reason": decision.reason}, lon=lon, lat=lat)

    def _link_duplicate(self, user: User, row: CaseRow, state: CaseState, step: dict[str, Any], at: datetime,
                        now: datetime, note: str | None) -> None:
        """A dispatcher marks a report not yet registered as a duplicate of an open case: it leaves the triage
        queue, both cases show the link, and it becomes a case of its own only if someone registers it."""
        if set(step) - {"action", "case"}:
            raise InvalidInput(T("link_duplicate takes case, at and note; not {field}",
                                 field=sorted(set(step) - {"action", "case"})[0]), where="action")
        target_id = step.get("case")
        if not isinstance(target_id, int) or isinstance(target_id, bool) or not 0 < target_id < 2**31:
            raise InvalidInput(T("link_duplicate needs the number of the open case this report repeats"),
                               where="case")
        if state.status != "reported":
            raise Conflict(T("cannot {action}: case is {status}; only a report not yet registered is linked",
                             action=term("action", "link_duplicate"), status=term("status", state.status)),
                           where="action")
        if target_id == row.id:
            raise InvalidInput(T("a case cannot be a duplicate of itself"), where="case")
        target = self.session.get(CaseRow, target_id)
        if target is None or not self.visible(user, target):
            raise InvalidInput(T("no case {id} in your scope", id=target_id), where="case")
        if target.status == "duplicate" and target.linked_to is not None:
            raise InvalidInput(T("case {id} is itself a duplicate of case {original}; link to case {original}",
                                 id=target.id, original=target.linked_to), where="case")
        if target.status not in OPEN_STATES:
            raise Conflict(T("case {id} is {status}; a report is linked to an open case", id=target.id,
                             status=term("status", target.status)), where="case")
        was_status, was_link = row.status, row.linked_to
        row.linked_to = target.id
        self._save(row, state.model_copy(update={"revision": state.revision + 1,
                                                 "updated_at": max(at, state.updated_at)}))
        self.event(row, user.username, "link_duplicate", at, now, from_status=was_status,
                   reason=note or T("same as case {id}", id=target.id).render(),
                   detail={"case": target.id, "was": was_link})
        self.event(target, user.username, "duplicate_reported", at, now, from_status=target.status,
                   reason=T("case {id} reports the same", id=row.id).render(), detail={"case": row.id})

    # -- re-routing after a new boundary version --------------------------------------------------------
    def reroute(self, row: CaseRow, decision: Decision, actor: str, now: datetime, reason: str) -> str:
        """Give an open case to the team `decision` names (see `on_reroute`); returns how it was done."""
        now = clock.to_local(now)
        how, kept = on_reroute(row.status)
        if kept is not None:
            raise Conflict(T("case {id} is {why}", id=row.id, why=kept), where="case")
        state = case_state(row)
        at = max(now, state.updated_at)
        old = row.team_code
        _place(row, decision)
        routing = _routing_summary(decision)
        if how == "transfer":
            new, ev = apply(state, Transfer(team=self._team_ref(decision.team), reason=reason), at, self.calendar)
            self._save(row, new)
            self._log(row, ev, actor, now, extra={"routing": routing, "by": "publish"})
        else:
            row.team_code, row.co_owners = decision.team, list(decision.co_owners)
            self._save(row, state.model_copy(update={"revision": state.revision + 1, "updated_at": at}))
            self.event(row, actor, "reroute", at, now, from_status=state.status, reason=reason,
                       detail={"from_team": old, "to_team": decision.team, "routing": routing, "by": "publish"})
        return how

    # -- escalation -------------------------------------------------------------------------------
    def escalate_if_due(self, case_id: int, now: datetime, language: str | None = None) -> dict[str, Any] | None:
        """Raise one overdue case's supervision level if it is due (the scheduler's step). The note is written in
        `language` (the deployment's default, `settings.language`; None: the current language)."""
        now = clock.to_local(now)
        row = self.session.get(CaseRow, case_id)
        if row is None:
            return None
        state = case_state(row)
        level = needs_escalation(state, now)
        if level is None:
            return None
        who = T("township supervision (乡镇督办)") if level == 1 else T("county platform supervision (县级平台督办)")
        assert state.deadline is not None
        # The note is stored as text in the event log, read later by anyone in any language: it is written once,
        # in the deployment's configured language (`settings.language`, passed by the scheduler and the CLI).
        reason = T("overdue since {since}: {who}", since=moment(clock.to_local(state.deadline)),
                   who=who).render(language)
        new, ev = apply(state, Escalate(level=level, reason=reason), now, self.calendar)
        self._save(row, new)
        self._log(row, ev, PLATFORM, now, extra={"team": row.team_code, "deadline": clock.iso(state.deadline)})
        self.session.flush()
        return {"case": row.id, "level": level, "team": row.team_code}


def _without_offset(value: Any) -> bool:
    """An ISO date-time text without a UTC offset (read in the county's zone; a bad text is the step's error)."""
    try:
        return isinstance(value, str) and clock.parse(value)[1]
    except ValueError:
        return False


def _place(row: CaseRow, decision: Decision) -> None:
    """Keep a routing decision on the case: the explanation, its version, and the township and village it chose."""
    selected = {u.layer: u.code for u in decision.units if u.selected}
    row.township_code, row.village_code = selected.get("township"), selected.get("village")
    row.county_code = selected.get("county", row.county_code)
    row.routing, row.version_id = decision.model_dump(mode="json"), decision.version.id


def _routing_summary(decision: Decision) -> dict[str, Any]:
    return {"team": decision.team, "status": decision.status, "reason": decision.reason,
            "rule": decision.winning_rule.code if decision.winning_rule else None, "version": decision.version.id}


def overdue_candidates(session: Session, now: datetime) -> list[int]:
    """Cases with a team, past their deadline and not yet at the top supervision level."""
    return list(session.scalars(sa.select(CaseRow.id).where(
        CaseRow.status.in_(WITH_TEAM), CaseRow.deadline < now, CaseRow.escalation_level < 2).order_by(CaseRow.id)))


def escalate_overdue(sessions: sessionmaker[Session], calendar: WorkCalendar, now: datetime,
                     language: str | None = None) -> list[dict[str, Any]]:
    """One scheduler tick: escalate every due case, each in its own transaction (a concurrent change skips it).
    Notes go to the log in `language` (the deployment's `settings.language`; None: the current language)."""
    with transaction(sessions) as session:
        ids = overdue_candidates(session, now)
    done = []
    for case_id in ids:
        try:
            with transaction(sessions) as session:
                result = Cases(session, calendar).escalate_if_due(case_id, now, language)
        except (StaleDataError, Conflict):
            continue  # another worker escalated it first
        if result is not None:
            done.append(result)
    return done
