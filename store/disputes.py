"""Dispute records: who owns a spot or an area, argued with evidence and settled by a ruling.

Routing raises one automatically for every report whose decision was a dispute or a gap; a team or the
command centre files one for a point or an area. The arbiter (a dispatcher) rules: a team, a reason and
the legal basis; with `as_rule` the ruling becomes an override rule (priority, dates, legal basis) in a
draft version, for a planner to check and publish like any redraw. The caller owns the transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import h3
import shapely
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cases import clock
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.model import MatterFilter, Rule, RuleScope
from gis.routing import Router
from gis.routing.area import area_shares
from i18n import T
from i18n.units import term
from store.repo import Repository
from store.schema import CaseRow, DisputeRow
from store.users import User

RULE_CELL_RES = 11  # ~25 m hexagons: an area ruling's scope as H3 cells


def dispute_view(row: DisputeRow) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "status": row.status, "matter": row.matter_code,
            "day": row.day.isoformat(), "lon": row.lon, "lat": row.lat,
            "geometry": shapely.geometry.mapping(row.geom), "version": row.version_id,
            "candidates": row.candidates, "case": row.case_id, "raised_by": row.raised_by,
            "raised_at": clock.iso(row.raised_at), "reason": row.reason, "evidence": row.evidence,
            "ruling": row.ruling, "revision": row.revision}


class Disputes:
    """Dispute records over one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def raise_for_case(self, case: CaseRow, decision: dict[str, Any], now: datetime) -> DisputeRow:
        """The record routing raises for a disputed or gap report."""
        assert case.lon is not None and case.lat is not None
        candidates = list(decision.get("candidates") or []) or [case.team_code]
        row = DisputeRow(kind=case.triage, status="open", matter_code=case.matter_code, day=case.reported_at.date(),
                         lon=case.lon, lat=case.lat, geom=shapely.Point(case.lon, case.lat),
                         version_id=case.version_id, candidates=candidates, case_id=case.id, raised_by="platform",
                         raised_at=now, reason=str(decision.get("reason", "")), evidence=[], ruling=None, revision=0)
        self.session.add(row)
        self.session.flush()
        return row

    def file(self, user: User, where: BaseGeometry, matter: str, day: date, reason: str, router: Router,
             now: datetime, case_id: int | None = None) -> DisputeRow:
        """A team (or the command centre) files a dispute over a point or an area (about a case, if given)."""
        if user.role not in ("team_member", "dispatcher"):
            raise Forbidden(T("a {role} may not file a dispute; teams and dispatchers do",
                              role=term("role", user.role)))
        if not reason.strip():
            raise InvalidInput(T("say what is disputed"), where="reason")
        if where.geom_type == "Point":
            d = router.explain(where.x, where.y, matter, day)
            teams = sorted({d.team, *d.candidates})
            lon, lat = where.x, where.y
        else:
            shares = area_shares(router, where, matter, day)
            teams = [t["team"] for t in shares["teams"]]
            lon = lat = None
        if case_id is not None:  # one record per case (a unique key): argue the existing one, never a second
            earlier = self.for_case(case_id)
            if earlier:
                raise Conflict(T("case {case} already has dispute record {id} ({status}); a case has one dispute "
                                 "record: add evidence to it while it is open", case=case_id, id=earlier[0].id,
                                 status=term("dispute_status", earlier[0].status)),
                               where="case", code="dispute_exists")
        if user.team_code and user.team_code not in teams:
            teams.append(user.team_code)  # the filing team claims (or disclaims) it
        assert router.version.id is not None
        row = DisputeRow(kind="filed", status="open", matter_code=matter, day=day, lon=lon, lat=lat, geom=where,
                         version_id=router.version.id, candidates=teams, case_id=case_id, raised_by=user.username,
                         raised_at=now, reason=reason.strip(), evidence=[], ruling=None, revision=0)
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError:  # another filing over the same case won the race; the request rolls back
            raise Conflict(T("case {case} got a dispute record at the same moment; reload it", case=case_id),
                           where="case", code="dispute_exists") from None
        return row

    def get(self, user: User, dispute_id: int) -> DisputeRow:
        """One dispute the user may see: a missing one and one between other teams are the same 404, so ids
        cannot be probed (like cases); a role that sees no disputes is a 403 whatever the id."""
        if user.role == "grid_worker":
            raise Forbidden(T("grid workers do not see disputes; teams, dispatchers, planners and auditors do"))
        row = self.session.get(DisputeRow, dispute_id)
        if row is None or not self.visible(user, row):
            raise NotFound(T("no dispute {id} in your scope", id=dispute_id))
        return row

    def visible(self, user: User, row: DisputeRow) -> bool:
        if user.role in ("dispatcher", "auditor", "planner"):
            return True
        return user.role == "team_member" and (user.team_code in row.candidates or row.raised_by == user.username)

    def listing(self, user: User, status: str | None = None, case_id: int | None = None) -> list[DisputeRow]:
        q = sa.select(DisputeRow).order_by(DisputeRow.id.desc())
        if status:
            q = q.where(DisputeRow.status == status)
        if case_id is not None:
            q = q.where(DisputeRow.case_id == case_id)
        if user.role == "grid_worker":
            raise Forbidden(T("grid workers do not see disputes; teams, dispatchers, planners and auditors do"))
        return [r for r in self.session.scalars(q) if self.visible(user, r)]

    def for_case(self, case_id: int) -> list[DisputeRow]:
        """The record over one case, if any: at most one (`dispute.case_id` is unique); the caller checks scope."""
        return list(self.session.scalars(sa.select(DisputeRow).where(DisputeRow.case_id == case_id)))

    def _editable(self, row: DisputeRow, revision: int) -> None:
        if row.revision != revision:
            raise Conflict(T("dispute {id} changed since you read it (revision {now}, you sent {sent}); reload it",
                             id=row.id, now=row.revision, sent=revision), where="revision")
        if row.status != "open":
            raise Conflict(T("dispute {id} is {status}; it takes no more changes", id=row.id,
                             status=term("dispute_status", row.status)), where="status")
        row.revision += 1

    def add_evidence(self, user: User, dispute_id: int, revision: int, text: str, photos: list[str],
                     now: datetime) -> DisputeRow:
        row = self.get(user, dispute_id)
        if user.role not in ("team_member", "dispatcher"):
            raise Forbidden(T("a {role} does not argue disputes", role=term("role", user.role)))
        if not text.strip():
            raise InvalidInput(T("evidence needs a text"), where="text")
        self._editable(row, revision)
        row.evidence = [*row.evidence, {"by": user.username, "team": user.team_code, "at": clock.iso(now),
                                        "text": text.strip(), "photos": photos}]
        self._flush(row)
        return row

    def dismiss(self, user: User, dispute_id: int, revision: int, reason: str, now: datetime) -> DisputeRow:
        row = self.get(user, dispute_id)
        if user.role != "dispatcher":
            raise Forbidden(T("only the command centre dismisses a dispute"))
        if not reason.strip():
            raise InvalidInput(T("a dismissal needs a reason"), where="reason")
        self._editable(row, revision)
        row.status = "dismissed"
        row.ruling = {"dismissed": True, "reason": reason.strip(), "by": user.username, "at": clock.iso(now)}
        self._flush(row)
        return row

    def rule(self, user: User, dispute_id: int, revision: int, ruling: dict[str, Any], repo: Repository,
             router: Router, now: datetime) -> DisputeRow:
        """Settle a dispute; with `as_rule` add the override rule to a draft (made from the version in force)."""
        row = self.get(user, dispute_id)
        if user.role != "dispatcher":
            raise Forbidden(T("only the command centre rules on a dispute"))
        team = ruling["team"]
        if team not in router.team_names:
            raise InvalidInput(T("unknown team {team}; GET /teams lists them", team=repr(team)), where="team")
        self._editable(row, revision)
        record: dict[str, Any] = {"team": team, "reason": ruling["reason"], "legal_basis": ruling["legal_basis"],
                                  "by": user.username, "at": clock.iso(now)}
        if ruling.get("as_rule"):
            record |= self._override_rule(row, ruling, repo, router)
        row.status, row.ruling = "ruled", record
        self._flush(row)
        return row

    def _override_rule(self, row: DisputeRow, ruling: dict[str, Any], repo: Repository,
                       router: Router) -> dict[str, Any]:
        draft_id = ruling.get("draft_version")
        if draft_id is None:  # a new draft from the newest published version
            published = [v for v in repo.versions() if v.status == "published"]
            base = max(published, key=lambda v: v.effective_from or date.min).id if published else router.version.id
            draft = repo.create_version(T("ruling on dispute {id}", id=row.id).render(), based_on=base,
                                        note=T("override rule from the ruling on dispute {id}", id=row.id).render())
            draft_id = draft.id
        assert draft_id is not None
        unit = ruling.get("unit")
        if unit:
            repo.unit(draft_id, unit)  # 404 names a unit the draft does not have
            scope = RuleScope(type="unit", unit_code=unit)
        else:
            area = row.geom if row.geom.geom_type != "Point" else None
            if area is None:
                cells = [h3.latlng_to_cell(row.lat, row.lon, RULE_CELL_RES)]
            else:
                cells = sorted(h3.geo_to_cells(area.__geo_interface__, RULE_CELL_RES)) or \
                    [h3.latlng_to_cell(area.representative_point().y, area.representative_point().x, RULE_CELL_RES)]
            scope = RuleScope(type="cells", cells=cells)
        matched = [r.priority for r in repo.rules(draft_id)]
        priority = ruling["priority"] if ruling.get("priority") is not None else \
        min(10_000, (max(matched) if matched else 0) + 10)
        code = f"R-RULING-{row.id}"
        matters = MatterFilter(type="all") if ruling.get("all_matters") else MatterFilter(type="codes",
                                                                                           codes=[row.matter_code])
        rule = Rule(code=code, priority=priority, scope=scope, matters=matters, team_code=ruling["team"],
                    effective_from=ruling.get("effective_from"), effective_to=ruling.get("effective_to"),
                    legal_basis=ruling["legal_basis"], description=f"ruling on dispute {row.id}: {ruling['reason']}")
        repo.add_rules_and_delegations(draft_id, [rule], [])
        return {"rule": code, "draft_version": draft_id, "priority": priority, "scope": scope.model_dump(
            exclude_none=True)}

    def _flush(self, row: DisputeRow) -> None:
        try:
            self.session.flush()
        except StaleDataError:
            raise Conflict(T("dispute {id} was changed by someone else at the same moment; reload it", id=row.id),
                           where="revision") from None
