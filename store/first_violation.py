"""Parties and first-violation outcomes in the store: the salt, the same party's earlier cases, the proposal and
the record kept when a case is handled (the rules themselves are `cases.first_violation`). Nothing commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases import clock
from cases.first_violation import (
    OUTCOMES,
    Party,
    Proposal,
    list_class,
    months_before,
    propose,
    window_months,
)
from gis.errors import InvalidInput, NotFound
from i18n import T
from store.schema import AppSecretRow, CasePartyRow, CaseRow, MatterRow


def party_salt(session: Session) -> str:
    """The deployment's salt for party hashes (drawn by migration 0012)."""
    row = session.get(AppSecretRow, "party_salt")
    if row is None:
        raise NotFound("no party salt: run `gridgov db upgrade` (migration 0012)")
    return row.value


def matter_of(session: Session, code: str) -> MatterRow:
    row = session.scalars(sa.select(MatterRow).where(MatterRow.code == code)).first()
    if row is None:
        raise NotFound(f"no matter {code}")
    return row


def earlier_cases(session: Session, digest: str, matter: str, since: datetime, until: datetime,
                  exclude: int | None = None) -> list[CasePartyRow]:
    """The party's recorded cases of the matter handled in [since, until), oldest first."""
    q = sa.select(CasePartyRow).where(CasePartyRow.party_hash == digest, CasePartyRow.matter_code == matter,
                                      CasePartyRow.at >= since, CasePartyRow.at < until)
    if exclude is not None:
        q = q.where(CasePartyRow.case_id != exclude)
    return list(session.scalars(q.order_by(CasePartyRow.at, CasePartyRow.id)))


def proposal_for(session: Session, row: CaseRow, party: Party, at: datetime,
                 procedure: str | None = None) -> tuple[Proposal, list[CasePartyRow]]:
    """What the matter's list proposes for this party handled at `at`, and the earlier cases it looked at."""
    matter = matter_of(session, row.matter_code)
    attributes = dict(matter.attributes or {})
    months = window_months(attributes)
    earlier = earlier_cases(session, party.digest(party_salt(session)), row.matter_code, months_before(at, months),
                            at, exclude=row.id)
    return propose(list_class(attributes), months, tuple(e.case_id for e in earlier),
                   procedure or row.procedure), earlier


def earlier_view(e: CasePartyRow) -> dict[str, Any]:
    return {"case": e.case_id, "at": clock.iso(e.at), "outcome": e.outcome, "list": e.list_class, "first": e.first}


def record_outcome(session: Session, row: CaseRow, party: Party | None, outcome: str | None, at: datetime,
                   actor: str, procedure: str) -> dict[str, Any] | None:
    """Keep the handled case's party (hash and masked form only) and outcome; the detail for the case's log."""
    if outcome is None and party is None:
        return None
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput(T("outcome must be one of {outcomes}, got {value}", outcomes=", ".join(OUTCOMES),
                             value=repr(outcome)), where="outcome")
    matter = matter_of(session, row.matter_code)
    klass = list_class(dict(matter.attributes or {}))
    detail: dict[str, Any] = {"outcome": outcome, "list": klass,
                              "legal_basis": (matter.attributes or {}).get("legal_basis")}
    if party is not None:
        proposal, _ = proposal_for(session, row, party, at, procedure)
        detail |= {"proposed": proposal.outcome, "first": proposal.first, "window_months": proposal.months,
                   "earlier_cases": list(proposal.earlier), "basis": proposal.basis.render(),
                   "party": {"kind": party.kind, "id_type": party.id_type, "masked_id": party.masked(),
                             "name": party.masked_name()}}
        if outcome is not None:
            detail["follows_proposal"] = outcome == proposal.outcome
        digest = party.digest(party_salt(session))
        kept = session.scalars(sa.select(CasePartyRow).where(CasePartyRow.case_id == row.id,
                                                             CasePartyRow.party_hash == digest)).first()
        if kept is None:  # handled again after a failed check: the party's record is updated, not doubled
            kept = CasePartyRow(case_id=row.id, matter_code=row.matter_code, kind=party.kind, id_type=party.id_type,
                                party_hash=digest, masked_id=party.masked(), recorded_by=actor)
            session.add(kept)
        kept.name, kept.at, kept.outcome, kept.list_class, kept.first = (
            party.masked_name(), at, outcome, klass, proposal.first)
    if outcome is not None:
        row.outcome = outcome
        row.outcome_detail = detail
    return detail


def team_outcomes(session: Session, team: str, now: datetime) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """What an officer's phone keeps for answering first-violation questions offline: the list class and look-back
    window of each matter of the team's open cases, and the parties recorded on the team's cases of those matters
    within each matter's window (salted hash, masked number, case, when, outcome), oldest first. The hash is the
    store's salted HMAC: it finds a party again only through a lookup made online (the salt never leaves)."""
    open_statuses = ("dispatched", "arrived", "handled", "suspended")
    codes = sorted(set(session.scalars(sa.select(CaseRow.matter_code).where(
        CaseRow.team_code == team, CaseRow.status.in_(open_statuses)))))
    matters: dict[str, dict[str, Any]] = {}
    for row in session.scalars(sa.select(MatterRow).where(MatterRow.code.in_(codes))):
        attributes = dict(row.attributes or {})
        matters[row.code] = {"list": list_class(attributes), "window_months": window_months(attributes)}
    out: list[dict[str, Any]] = []
    if not matters:
        return matters, out
    since = min(months_before(now, m["window_months"]) for m in matters.values())
    q = (sa.select(CasePartyRow).join(CaseRow, CaseRow.id == CasePartyRow.case_id)
         .where(CaseRow.team_code == team, CasePartyRow.matter_code.in_(list(matters)), CasePartyRow.at >= since,
                CasePartyRow.at <= now)
         .order_by(CasePartyRow.at, CasePartyRow.id))
    for e in session.scalars(q):
        if e.at >= months_before(now, matters[e.matter_code]["window_months"]):
            out.append({"party_hash": e.party_hash, "matter": e.matter_code, "masked_id": e.masked_id,
                        **earlier_view(e)})
    return matters, out

