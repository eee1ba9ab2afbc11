"""Cases: intake (idempotent, routed on arrival, duplicates linked, triage), scoped reads and the event log.

The caller owns the transaction; nothing here commits. Every change appends a `case_event` row, and the
database refuses to update or delete those rows (triggers in migration 0002).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gis.crs import metres_per_degree, to_wgs84
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.routing import Router
from store.schema import CaseEventRow, CaseRow, MatterRow
from store.users import User

OPEN_STATES = ("reported", "registered", "dispatched", "arrived", "handled", "fed_back", "checked", "suspended")
DEFAULT_DUPLICATE_M = 250.0
DEFAULT_DUPLICATE_H = 72.0
PLATFORM = "platform"  # the actor of automatic steps


@dataclass(frozen=True)
class Report:
    """What a grid worker's phone (or an Open311 client) sends."""

    matter: str
    x: float
    y: float
    crs: str
    accuracy_m: float | None
    description: str
    idempotency_key: str | None
    reported_at: datetime | None = None
    external_id: str | None = None

    def body_hash(self) -> str:
        """Fingerprint of the report's content, to tell a retry from a different report under one key."""
        content = {"matter": self.matter, "x": self.x, "y": self.y, "crs": self.crs, "accuracy_m": self.accuracy_m,
                   "description": self.description,
                   "reported_at": self.reported_at.isoformat() if self.reported_at else None,
                   "external_id": self.external_id}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Intake:
    """The stored case and whether this call was a replay of an earlier one."""

    case: CaseRow
    replayed: bool


def case_view(row: CaseRow) -> dict[str, Any]:
    """A case as JSON-ready data."""
    return {
        "id": row.id, "status": row.status, "matter": row.matter_code, "procedure": row.procedure,
        "team": row.team_code, "co_owners": row.co_owners, "township": row.township_code,
        "village": row.village_code, "lon": row.lon, "lat": row.lat,
        "input": {"x": row.raw_x, "y": row.raw_y, "crs": row.raw_crs}, "accuracy_m": row.accuracy_m,
        "description": row.description, "reporter": row.reporter, "reported_at": row.reported_at.isoformat(),
        "triage": row.triage, "linked_to": row.linked_to, "version": row.version_id, "revision": row.revision,
        "external_id": row.external_id, "deadline": row.state.get("deadline"),
        "escalation_level": row.state.get("escalation_level", 0),
    }


class Cases:
    """Case storage and scope checks over one injected session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- scope ------------------------------------------------------------------------------------
    def visible(self, user: User, row: CaseRow) -> bool:
        """Whether the user may read this case (role and jurisdiction scope)."""
        if user.role in ("dispatcher", "auditor"):
            return True
        if user.role == "team_member":
            return row.team_code == user.team_code or (user.team_code or "") in (row.co_owners or [])
        if user.role == "grid_worker":
            return row.reporter == user.username
        return False

    def _scope_filter(self, user: User) -> Any:
        if user.role in ("dispatcher", "auditor"):
            return sa.true()
        if user.role == "team_member":
            return CaseRow.team_code == user.team_code  # co-owned cases are added below
        if user.role == "grid_worker":
            return CaseRow.reporter == user.username
        raise Forbidden(f"a {user.role} does not see cases; dispatchers, auditors and teams do")

    def get(self, user: User, case_id: int) -> CaseRow:
        """One case the user may see (404 when missing, 403 outside the user's scope)."""
        row = self.session.get(CaseRow, case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        if not self.visible(user, row):
            raise Forbidden(f"case {case_id} is outside your scope ({user.role}"
                            f"{' of ' + user.team_code if user.team_code else ''})")
        return row

    def in_scope(self, user: User, *, status: str | None = None, triage: bool | None = None,
             limit: int = 500) -> list[CaseRow]:
        """Cases in the user's scope, newest first."""
        q = sa.select(CaseRow).where(self._scope_filter(user))
        if status is not None:
            q = q.where(CaseRow.status == status)
        if triage is not None:
            q = q.where(CaseRow.triage.is_not(None) if triage else CaseRow.triage.is_(None))
        rows = list(self.session.scalars(q.order_by(CaseRow.id.desc()).limit(limit)))
        if user.role == "team_member":  # JSON membership differs per backend: filter co-owned ones here
            extra = [r for r in self.session.scalars(
                sa.select(CaseRow).where(CaseRow.team_code != user.team_code).order_by(CaseRow.id.desc()))
                if (user.team_code or "") in (r.co_owners or []) and (status is None or r.status == status)]
            rows = sorted(rows + extra, key=lambda r: -r.id)[:limit]
        return rows

    def history(self, user: User, case_id: int) -> list[CaseEventRow]:
        """The case's events, oldest first."""
        self.get(user, case_id)
        return list(self.session.scalars(
            sa.select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)))

    def event(self, row: CaseRow, actor: str, action: str, at: datetime, *, reason: str = "",
              from_status: str | None = None, detail: dict[str, Any] | None = None,
              lon: float | None = None, lat: float | None = None) -> None:
        """Append one event to a case's log."""
        self.session.add(CaseEventRow(case_id=row.id, at=at, actor=actor, action=action, from_status=from_status,
                                      to_status=row.status, lon=lon, lat=lat, reason=reason, detail=detail or {}))

    # -- intake -----------------------------------------------------------------------------------
    def intake(self, user: User, report: Report, router: Router, now: datetime) -> Intake:
        """Store a report as a case, once: routed, linked to an open duplicate, or put in triage."""
        if report.idempotency_key:
            earlier = self.session.scalars(
                sa.select(CaseRow).where(CaseRow.idempotency_key == report.idempotency_key)).first()
            if earlier is not None:
                if earlier.body_hash != report.body_hash():
                    raise Conflict(f"idempotency key {report.idempotency_key!r} was already used for a different "
                                   f"report (case {earlier.id}); a retry must resend the same report, a new report "
                                   "needs a new key", where="idempotency_key")
                return Intake(earlier, replayed=True)
        if report.external_id and self.session.scalar(
                sa.select(CaseRow.id).where(CaseRow.external_id == report.external_id)) is not None:
            raise Conflict(f"a case with external id {report.external_id} already exists", where="external_id")
        matter = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == report.matter)).first()
        if matter is None:
            raise InvalidInput(f"unknown category {report.matter!r}; GET /matters lists the matter codes",
                               where="matter")
        if not (math.isfinite(report.x) and math.isfinite(report.y)):
            raise InvalidInput("location must be finite numbers", where="location")
        lon, lat = to_wgs84(report.x, report.y, report.crs, where="location")
        reported_at = report.reported_at or now
        decision = router.explain(lon, lat, matter.code, reported_at.date(), report.accuracy_m)
        selected = {u.layer: u.code for u in decision.units if u.selected}
        triage = ("dispute" if decision.status == "dispute" else "gap" if decision.status == "gap"
                  else "near_boundary" if decision.near_boundary else None)
        row = CaseRow(
            idempotency_key=report.idempotency_key, body_hash=report.body_hash(), external_id=report.external_id,
            status="reported", matter_code=matter.code, procedure=matter.procedure, team_code=decision.team,
            co_owners=list(decision.co_owners), township_code=selected.get("township"),
            village_code=selected.get("village"), lon=lon, lat=lat, geom=shapely.Point(lon, lat),
            raw_x=report.x, raw_y=report.y, raw_crs=report.crs, accuracy_m=report.accuracy_m,
            description=report.description, reporter=user.username, reported_at=reported_at, triage=triage,
            routing=decision.model_dump(mode="json"), version_id=decision.version.id,
            state={"time_limit": matter.time_limit, "time_unit": matter.time_unit, "escalation_level": 0},
            revision=0, updated_at=now)
        self.session.add(row)
        self.session.flush()
        self.event(row, user.username, "report", now, lon=lon, lat=lat,
                   detail={"team": decision.team, "routing_status": decision.status, "reason": decision.reason})
        original = self._open_duplicate(row, matter.attributes, reported_at)
        if original is not None:
            row.status, row.linked_to = "duplicate", original.id
            self.event(row, PLATFORM, "link_duplicate", now, from_status="reported",
                       reason=f"same category within the duplicate window of case {original.id}",
                       detail={"case": original.id})
            self.event(original, PLATFORM, "duplicate_reported", now, from_status=original.status,
                       reason=f"case {row.id} reports the same", detail={"case": row.id})
        elif triage is not None:
            self.event(row, PLATFORM, "triage", now, from_status="reported",
                       reason=f"{triage}: the command centre confirms the owner", detail={"candidates":
                                                                                          decision.candidates})
        self.session.flush()
        return Intake(row, replayed=False)

    def _open_duplicate(self, row: CaseRow, attributes: dict[str, Any], at: datetime) -> CaseRow | None:
        """The nearest open case of the same category within the category's distance and time window."""
        metres = float(attributes.get("duplicate_m", DEFAULT_DUPLICATE_M))
        hours = float(attributes.get("duplicate_h", DEFAULT_DUPLICATE_H))
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
            d = math.hypot((c.lon - row.lon) * kx, (c.lat - row.lat) * ky)
            if d <= metres and (best is None or (d, c.id) < best[:2]):
                best = (d, c.id, c)
        return best[2] if best else None
