"""The audit log of planner writes to the catalogue: who did what, when (append-only; the caller commits)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases import clock
from store.schema import AuditRow


def record(session: Session, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    """Append one event in the caller's transaction (so it is written exactly when the change is)."""
    session.add(AuditRow(at=clock.now().replace(microsecond=0), actor=actor, action=action, target=target,
                         detail=detail))
    session.flush()


def events(session: Session, *, action: str | None = None, target: str | None = None,
           limit: int = 100) -> list[dict[str, Any]]:
    """The newest events first, optionally of one action (or action prefix, e.g. `team.`) or target."""
    q = sa.select(AuditRow)
    if action is not None:
        q = q.where(AuditRow.action.startswith(action, autoescape=True))
    if target is not None:
        q = q.where(AuditRow.target == target)
    rows = session.scalars(q.order_by(AuditRow.id.desc()).limit(limit))
    return [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "action": r.action, "target": r.target,
             "detail": r.detail} for r in rows]
