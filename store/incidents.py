"""Historical incident reports read within the caller's scope, the same scope as cases.

They carry notes, reporter ids and exact places, so (like cases, `store/cases.py: Cases.visible`):
- dispatchers and auditors see every incident;
- a grid worker sees the incidents they reported (`reporter` is their username);
- a team member sees the incidents the routing gives to their team: the owner of the incident's place and
  matter under the boundary version (and rules) in force on the day it was reported — the team that would
  have received it as a case. Incidents from before the first published version belong to no team;
- a planner sees none (403): planners work on boundaries, rules and matters, and see no cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

from cases import clock
from gis.errors import Forbidden, InvalidInput
from gis.model import Incident, Version
from gis.routing import Router
from i18n import T
from store.repo import Repository, _row_dict
from store.schema import IncidentRow
from store.users import User

CHUNK = 5000  # ids per IN list, under the drivers' bound-parameter limits


def incidents_in_scope(repo: Repository, user: User, router_for: Callable[[Version], Router],
                       limit: int) -> list[Incident]:
    """The newest `limit` incidents the user may see, oldest first."""
    newest = sa.select(IncidentRow).order_by(IncidentRow.reported_at.desc(), IncidentRow.id.desc())
    if user.role in ("dispatcher", "auditor"):
        rows = list(repo.session.scalars(newest.limit(limit)))
    elif user.role == "grid_worker":
        rows = list(repo.session.scalars(newest.where(IncidentRow.reporter == user.username).limit(limit)))
    elif user.role == "team_member":
        ids = _routed_to(repo, user.team_code or "", router_for)[-limit:]
        rows = [r for start in range(0, len(ids), CHUNK)
                for r in repo.session.scalars(sa.select(IncidentRow).where(
                    IncidentRow.id.in_(ids[start:start + CHUNK])))]
        rows.sort(key=lambda r: (r.reported_at, r.id), reverse=True)
    else:
        raise Forbidden(T("a {role} does not see incident reports (notes, reporters, places); dispatchers, "
                          "auditors, teams and their reporters do", role=user.role))
    rows.reverse()
    return [Incident.model_validate(_row_dict(r, Incident)) for r in rows]


def _routed_to(repo: Repository, team: str, router_for: Callable[[Version], Router]) -> list[int]:
    """Ids (oldest first) of the incidents whose place and matter route to `team` on their day."""
    published = [v for v in repo.versions() if v.status == "published" and v.effective_from is not None]
    routers: dict[int, Router] = {}
    in_force: dict[date, Version | None] = {}
    out = []
    for iid, lon, lat, matter, at in repo.session.execute(
            sa.select(IncidentRow.id, IncidentRow.lon, IncidentRow.lat, IncidentRow.matter_code,
                      IncidentRow.reported_at).order_by(IncidentRow.reported_at, IncidentRow.id)):
        day = clock.wall(at).date()  # the county's day, whatever zone the driver hands back
        if day not in in_force:
            in_force[day] = max((v for v in published if v.effective_from is not None and v.effective_from <= day
                                 and (v.effective_to is None or day < v.effective_to)),
                                key=lambda v: v.effective_from or day, default=None)
        version = in_force[day]
        if version is None or version.id is None:
            continue
        router = routers.get(version.id)
        if router is None:
            router = routers[version.id] = router_for(version)
        try:
            owner = router.owner(lon, lat, matter, day)
        except InvalidInput:  # a matter the router does not know owns no team
            continue
        if owner == team:
            out.append(iid)
    return out
