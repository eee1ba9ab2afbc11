"""The version workflow over the repository: topology check, validate, publish (checked), diff, rollback,
and the impact of a draft against the version in force (areas per township and per team — see
`gis/territory.py` for what a team's area is —, units and cells moved, cases re-owned).

Publishing refuses topology errors and back-dated effective dates (a date before today would change
which boundaries were in force for days already past, i.e. rewrite closed history; imports of old
generations pass `backdate=True` explicitly).

Refusals and notes are marked for translation (`i18n.T`): a refusal is rendered in the reader's language when
the error is written (its English stays in `detail`), a note of an answer in the request's language when the
answer is built; the reason a re-route writes into a case's log is stored in the deployment's default language
(`Versions.language`, `settings.language`), since every later reader of the log reads the same row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import shapely
import shapely.ops
import sqlalchemy as sa
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm.exc import StaleDataError

from cases import clock
from gis.errors import Conflict, InvalidInput, NotFound
from gis.model import Rule, Unit, Version
from gis.routing import Router
from gis.rule_gaps import rule_gaps
from gis.territory import team_territories
from gis.topology import TopologyOptions, TopologyProblem, check_topology, m2_per_deg2, named
from i18n import T, render
from i18n.units import day as day_text
from i18n.units import listing, term
from store.cases import OPEN_STATES, Cases, on_reroute  # duplicates and cancelled reports are nobody's workload
from store.repo import REPUBLISH, Repository, stale_revision
from store.schema import CaseRow, UnitRow

TEAM_AREA_MEANS = T("a team's area is where it holds the highest-priority rule scoped to a unit or to H3 cells in "
                    "force on `day`, whatever the rule's matters (a township team: its township minus the zones a "
                    "squadron's higher rule takes); a tie between teams counts for both; county-wide rules draw no "
                    "area")


def require_reroute_day(effective_from: date, today: date) -> None:
    """Open cases move with a publish only when the version takes effect today (a later one: on its day,
    with `Versions.reroute_in_force`)."""
    if effective_from != today:
        raise InvalidInput(T("open cases are re-routed only by a version that takes effect today ({today}); for "
                             "{day} publish without re-routing, and re-route the cases the impact preview lists once "
                             "it is in force (POST /versions/{{id}}/reroute)", today=day_text(today),
                             day=day_text(effective_from)), where="reroute_open_cases")


def rule_days(version: Version, rules: list[Rule], today: date) -> list[date]:
    """The days whose rule sets a check must read: the first day that still matters (today, or the version's
    first day if later, or its first day if it has already ended) and every later day a rule starts or stops
    while the version lasts — between them the rules in force do not change."""
    start = max(today, version.effective_from) if version.effective_from else today
    end = version.effective_to
    if end is not None and start >= end:
        start = version.effective_from or start
    changes = {d for r in rules for d in (r.effective_from, r.effective_to) if d is not None}
    return [start, *sorted(d for d in changes if d > start and (end is None or d < end))]


def summary(problems: list[TopologyProblem]) -> dict[str, Any]:
    """Counts and the problems as a GeoJSON FeatureCollection."""
    errors = sum(p.severity == "error" for p in problems)
    return {"type": "FeatureCollection", "valid": errors == 0, "errors": errors,
            "warnings": len(problems) - errors, "features": [p.feature() for p in problems]}


class Versions:
    """Version workflow steps; the caller owns the transaction."""

    def __init__(self, repo: Repository, options: TopologyOptions | None = None, *,
                 language: str | None = None) -> None:
        self.repo = repo
        self.options = options or TopologyOptions()
        self.language = language  # of texts stored in case logs (the deployment's default); None: the current one

    def check(self, version_id: int, today: date | None = None) -> list[TopologyProblem]:
        """Topology problems of a version (any status) and its rule gaps (`gis/rule_gaps.py`) from today on (or
        from its first day), its stored allowed-gap areas excepted from both."""
        stored = tuple(g.geometry for g in self.repo.allowed_gaps(version_id))
        options = replace(self.options, allowed_gaps=self.options.allowed_gaps + stored)
        units = self.repo.units(version_id)
        problems = check_topology(units, options)
        rules = self.repo.rules(version_id)
        days = rule_days(self.repo.version(version_id), rules, today or clock.today())
        gaps = rule_gaps(units, rules, self.repo.delegations(version_id), self.repo.matters(), days,
                         tolerance_m2=options.tolerance_m2, allowed_gaps=options.allowed_gaps)
        return sorted(problems + gaps, key=lambda p: (p.severity != "error", p.check, p.codes))

    def validate(self, version_id: int, expected_revision: int | None = None) -> tuple[Version, list[TopologyProblem]]:
        """Check a draft; it becomes `validated` when no error remains (any later edit makes it a draft again)."""
        row = self.repo.editable(version_id, expected_revision)
        problems = self.check(version_id)
        if not any(p.severity == "error" for p in problems):
            row.status = "validated"
        return self.repo.version(version_id), problems

    def publish(self, version_id: int, effective_from: date, today: date, *, backdate: bool = False,
                expected_revision: int | None = None) -> Version:
        """Publish after a fresh topology check; refuses errors, a revision other than `expected_revision`
        (the one the planner checked and previewed) and (unless told) a date before today."""
        version = self.repo.version(version_id)
        if version.status == "published":
            raise Conflict(T("version {id} is already published", id=version_id))
        if expected_revision is not None and expected_revision != version.revision:  # before the costly check
            raise stale_revision(version_id, expected_revision, version.revision, REPUBLISH)
        if effective_from < today and not backdate:
            raise Conflict(T("a publish from {day}, before today ({today}), would rewrite which boundaries were in "
                             "force on days already past; publish from today or later", day=day_text(effective_from),
                             today=day_text(today)), where="effective_from")
        errors = [p for p in self.check(version_id) if p.severity == "error"]
        if errors:
            first = listing([p.text for p in errors[:3]], clauses=True)
            raise Conflict(T("publishing is refused while {n} topology error(s) remain ({first}); GET "
                             "/versions/{id}/topology locates them", n=len(errors), first=first, id=version_id),
                           where="topology")
        return self.repo.publish(version_id, effective_from, expected_revision)

    def in_force(self, day: date) -> Version | None:
        """The published version in force on `day`, if any."""
        try:
            return self.repo.version_at(day)
        except NotFound:
            return None

    def reroute_open_cases(self, before: Version | None, published: Version, router: Callable[[int], Router],
                           actor: str, now: datetime, expected: list[int] | None = None) -> dict[str, Any]:
        """After publishing `published` from today in place of `before`: give the open cases the impact
        preview listed as changing owner to their new team, in the caller's (the publish's) transaction.

        The list is the preview's own (`_owner_changes`): with the team, a case moves by a transfer carrying
        the new routing explanation; not yet dispatched, by a new proposed team; fed back, checked or
        suspended ones stay, each listed with the reason. `expected` — the case ids the planner's preview
        listed — makes any difference a 409 (cases reported, moved or finished since). The cases to move
        are locked, then checked against what the list was computed from: one changed meanwhile is a 409
        too. Every refusal raises, so the caller's transaction (the publish with it) rolls back whole."""
        assert published.effective_from is not None
        require_reroute_day(published.effective_from, now.date())
        return self._reroute(before, published, router, actor, now, expected)

    def predecessor(self, version: Version) -> Version | None:
        """The published version in force the day before `version` took effect."""
        if version.effective_from is None:
            return None
        return self.in_force(version.effective_from - timedelta(days=1))

    def reroute_in_force(self, version_id: int, router: Callable[[int], Router], actor: str, now: datetime,
                         expected: list[int] | None = None) -> dict[str, Any]:
        """Re-route open cases to the version in force today, against the one it succeeded: for a version
        published for a later day, on (or after) that day. Same list, same rules as on publish."""
        version = self.repo.version(version_id)
        current = self.in_force(now.date())
        if current is None or current.id != version_id:
            when = (T("it takes effect on {day}", day=day_text(version.effective_from))
                    if version.status == "published" and version.effective_from
                    and version.effective_from > now.date() else
                    T("it is {status}", status=version.status) if version.status != "published"
                    else T("it is no longer in force"))
            raise Conflict(T("version {id} is not the version in force today ({today}): {when}; open cases are "
                             "re-routed to the version in force", id=version_id, today=day_text(now.date()),
                             when=when), where="version")
        return self._reroute(self.predecessor(version), version, router, actor, now, expected)

    def _reroute(self, before: Version | None, published: Version, router: Callable[[int], Router], actor: str,
                 now: datetime, expected: list[int] | None) -> dict[str, Any]:
        day = now.date()
        if before is None or before.id == published.id:
            if expected:
                raise Conflict(T("no version was in force before this one, so no open case changes owner; "
                                 "publish without the preview's case list"), where="expected_cases")
            return {"rerouted": [], "kept": [], "note": T("no version was in force today before this one").render()}
        assert before.id is not None and published.id is not None
        new_router = router(published.id)
        changes, _ = self._owner_changes(router(before.id), new_router, day, open_only=True)
        listed = sorted(c["case"] for c in changes)
        if expected is not None and sorted(set(expected)) != listed:
            gone, new = sorted(set(expected) - set(listed)), sorted(set(listed) - set(expected))
            raise Conflict(T("the open cases changing owner are no longer those of your preview (now also {new}, "
                             "no longer {gone}); preview again and publish (or re-route)",
                             new=listing([str(i) for i in new]) if new else T("none"),
                             gone=listing([str(i) for i in gone]) if gone else T("none")), where="expected_cases")
        session = self.repo.session
        cases = Cases(session)
        assert published.effective_from is not None
        # Stored in the case log: in the deployment's default language (every later reader reads this row).
        reason = T("re-routed to boundary version {id} ({name}), in force from {day}", id=published.id,
                   name=published.name, day=day_text(published.effective_from)).render(self.language)
        moving = [c for c in changes if c["on_reroute"] != "keep"]
        rerouted: list[dict[str, Any]] = []
        kept = [c for c in changes if c["on_reroute"] == "keep"]
        try:
            with session.no_autoflush:
                locked = {r.id: r for r in session.scalars(
                    sa.select(CaseRow).where(CaseRow.id.in_([c["case"] for c in moving]))
                    .with_for_update().execution_options(populate_existing=True))}
                for change in moving:
                    row = locked[change["case"]]
                    if (row.status, row.team_code) != (change["status"], change["team"]):
                        raise Conflict(T("case {id} changed meanwhile (now {status} with {team}); nothing changed "
                                         "— preview again and publish (or re-route)", id=row.id,
                                         status=term("status", row.status), team=row.team_code),
                                       where="reroute_open_cases")
                    assert row.lon is not None and row.lat is not None
                    decision = new_router.explain(row.lon, row.lat, row.matter_code, day, row.accuracy_m)
                    if decision.team == row.team_code:  # the full explanation settles on its present team
                        kept.append({**change, "on_reroute": "keep",
                                     "kept_because": T("its routing names {team}, which holds it",
                                                       team=row.team_code).render()})
                        continue
                    how = cases.reroute(row, decision, actor, now, reason)
                    rerouted.append({"case": row.id, "from": change["team"], "to": row.team_code, "how": how,
                                     "status": row.status, "revision": row.revision})
            session.flush()
        except StaleDataError:
            raise Conflict(T("a case changed meanwhile; nothing changed — preview again and publish (or re-route)"),
                           where="reroute_open_cases") from None
        return {"rerouted": rerouted, "kept": sorted(kept, key=lambda c: c["case"])}

    def rollback(self, to_version: int, effective_from: date, today: date) -> Version:
        """Publish an earlier version's content again, as a new version from `effective_from`."""
        old = self.repo.version(to_version)
        if old.status != "published":
            raise InvalidInput(T("version {id} was never published; roll back to a published one", id=to_version),
                               where="version")
        # The new version's name and note are stored: in the deployment's language, like case-log texts.
        draft = self.repo.create_version(T("rollback to {name}", name=old.name).render(self.language),
                                         based_on=to_version,
                                         note=T("content of version {id} ({name}) published again", id=to_version,
                                               name=old.name).render(self.language))
        assert draft.id is not None
        return self.publish(draft.id, effective_from, today)

    # -- split and merge ----------------------------------------------------------------------------
    def split(self, version_id: int, code: str, line: BaseGeometry, new_code: str, new_name: str,
              new_side: BaseGeometry, expected_revision: int | None = None) -> dict[str, Any]:
        """Cut a polygon unit in two along a line; the part holding `new_side` becomes `new_code`.

        Children follow the part that holds their representative point (a child straddling the line is
        refused by name: split it first);
        rules keep naming the old code; a split township's new part gets a copy of its delegation list."""
        unit = self.repo.unit(version_id, code)
        if unit.geometry is None:
            raise InvalidInput(T("{unit} has no polygon to split (H3 units are reassigned cell by cell)",
                                 unit=named(unit, code)), where="code")
        if line.geom_type not in ("LineString", "MultiLineString"):
            raise InvalidInput(T("the cut must be a LineString"), where="line")
        pieces = list(shapely.get_parts(shapely.ops.split(unit.geometry, line)))
        if len(pieces) != 2:
            raise InvalidInput(T("the line cuts {unit} into {n} part(s); draw it across the unit once, from outside "
                                 "to outside", unit=named(unit, code), n=len(pieces)), where="line")
        new_parts = [p for p in pieces if p.covers(new_side)]
        if len(new_parts) != 1:
            raise InvalidInput(T("the point naming the new part must lie inside one of the two parts"), where="at")
        new_geom = new_parts[0]
        old_geom = next(p for p in pieces if p is not new_geom)
        existing = {u.code: u for u in self.repo.units(version_id)}
        if new_code in existing:
            raise Conflict(T("code {code} already exists in this version", code=named(existing[new_code], new_code)),
                           where="new_code")
        shrunk = unit.model_copy(update={"geometry": shapely.MultiPolygon([old_geom]), "raw_geometry": None,
                                         "raw_crs": None, "derived": False})
        born = unit.model_copy(update={"code": new_code, "name": new_name, "geometry": shapely.MultiPolygon([new_geom]),
                                       "raw_geometry": None, "raw_crs": None, "derived": False})
        moved = [c.model_copy(update={"parent_code": new_code}) for c in existing.values()
                 if c.parent_code == code and (shape := c.shape()) is not None
                 and new_geom.covers(shape.representative_point())]
        self.repo.add_units(version_id, [shrunk, born, *moved], replace=True, expected_revision=expected_revision)
        if unit.layer == "township":
            held = [d for d in self.repo.delegations(version_id) if d.township_code == code]
            self.repo._store_rules(version_id, [], [d.model_copy(update={"township_code": new_code}) for d in held])
        return {"kept": code, "created": new_code, "children_moved": [c.code for c in moved],
                "version": self.repo.version(version_id).model_dump(mode="json")}

    def merge(self, version_id: int, codes: list[str], into: str,
              expected_revision: int | None = None) -> dict[str, Any]:
        """Merge units of one layer into one of them: union of areas (or cells), children, rules, delegations."""
        if into not in codes or len(set(codes)) < 2:
            raise InvalidInput(T("name two or more units and which of them the others merge into"), where="codes")
        units = [self.repo.unit(version_id, c) for c in codes]
        target = next(u for u in units if u.code == into)
        others = [u for u in units if u.code != into]
        if any(u.layer != target.layer or (u.layer == "zone" and u.kind != target.kind) for u in others):
            raise InvalidInput(T("only units of one layer (and one zone kind) merge"), where="codes")
        if any((u.cells is None) != (target.cells is None) for u in others):
            raise InvalidInput(T("polygon units and H3 units do not merge; convert one first"), where="codes")
        if target.cells is not None:
            merged = target.model_copy(update={"cells": sorted({c for u in units for c in u.cells or ()})})
        else:
            union = shapely.union_all([u.geometry for u in units if u.geometry is not None])
            parts = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
            merged = target.model_copy(update={"geometry": shapely.MultiPolygon(parts), "raw_geometry": None,
                                               "raw_crs": None, "derived": False})
        gone = {u.code for u in others}
        children = [c.model_copy(update={"parent_code": into}) for c in self.repo.units(version_id)
                    if c.parent_code in gone]
        self.repo.add_units(version_id, [merged, *children], replace=True, expected_revision=expected_revision)
        retargeted = []
        for code in sorted(gone):
            retargeted += self.repo.retarget_rules(version_id, code, into)
            row = self.repo.session.scalars(sa.select(UnitRow).where(UnitRow.version_id == version_id,
                                                                     UnitRow.code == code)).one()
            self.repo.session.delete(row)
        self.repo.session.flush()
        return {"merged": sorted(gone), "into": into, "children_moved": [c.code for c in children],
                "rules_retargeted": retargeted, "version": self.repo.version(version_id).model_dump(mode="json")}

    # -- diff -------------------------------------------------------------------------------------
    def diff(self, a: int, b: int) -> dict[str, Any]:
        """What changed from version a to version b: units, their areas, parents and rule teams; rules."""
        return self._compare(a, b)[0]

    def _compare(self, a: int, b: int) -> tuple[dict[str, Any], dict[str, Unit], dict[str, Unit], float]:
        """The diff, with both versions' units by code and the square metres per square degree."""
        self.repo.version(a), self.repo.version(b)  # an unknown id is a 404 naming it, not an empty version
        ua = {u.code: u for u in self.repo.units(a)}
        ub = {u.code: u for u in self.repo.units(b)}
        teams_a, teams_b = self._unit_teams(a), self._unit_teams(b)
        k = m2_per_deg2([*ua.values(), *ub.values()])
        changed = []
        for code in sorted(set(ua) & set(ub)):
            x, y = ua[code], ub[code]
            entry: dict[str, Any] = {"code": code, "layer": y.layer, "name": y.name}
            gx, gy = x.shape(), y.shape()
            if not _same_shape(gx, gy):
                entry["area_gained_m2"] = _area(shapely.difference(gy, gx) if gx and gy else gy, k)
                entry["area_lost_m2"] = _area(shapely.difference(gx, gy) if gx and gy else gx, k)
            if x.cells != y.cells:
                before, after = set(x.cells or ()), set(y.cells or ())
                entry["cells_added"], entry["cells_removed"] = sorted(after - before), sorted(before - after)
            if x.parent_code != y.parent_code:
                entry["parent"] = {"from": x.parent_code, "to": y.parent_code}
            if x.name != y.name:
                entry["renamed_from"] = x.name
            if teams_a.get(code) != teams_b.get(code):
                entry["teams"] = {"from": teams_a.get(code, []), "to": teams_b.get(code, [])}
            if len(entry) > 3:
                changed.append(entry)
        ra = {r.code: r for r in self.repo.rules(a)}
        rb = {r.code: r for r in self.repo.rules(b)}
        da = {(d.township_code, d.matter_code) for d in self.repo.delegations(a)}
        db = {(d.township_code, d.matter_code) for d in self.repo.delegations(b)}
        return {
            "from": a, "to": b,
            "units": {"added": sorted(set(ub) - set(ua)), "removed": sorted(set(ua) - set(ub)), "changed": changed},
            "rules": {"added": sorted(set(rb) - set(ra)), "removed": sorted(set(ra) - set(rb)),
                      "changed": sorted(c for c in set(ra) & set(rb) if ra[c] != rb[c])},
            "delegations": {"added": sorted(map(list, db - da)), "removed": sorted(map(list, da - db))},
        }, ua, ub, k

    def _unit_teams(self, version_id: int) -> dict[str, list[str]]:
        """The teams that unit-scoped rules name for each unit (its owners as the rule table says)."""
        out: dict[str, set[str]] = defaultdict(set)
        for r in self.repo.rules(version_id):
            if r.scope.type == "unit" and r.scope.unit_code:
                out[r.scope.unit_code].add(r.team_code)
        return {k: sorted(v) for k, v in out.items()}

    # -- impact -----------------------------------------------------------------------------------
    def impact(self, draft: int, current: int, router: Callable[[int], Router], day: date) -> dict[str, Any]:
        """What publishing `draft` in place of `current` would change (see the module notes)."""
        diff, units_a, units_b, k = self._compare(current, draft)
        area = {c["code"]: {"gained_m2": c.get("area_gained_m2", 0.0), "lost_m2": c.get("area_lost_m2", 0.0)}
                for c in diff["units"]["changed"] if c["layer"] == "township"}
        for code in diff["units"]["added"]:
            if units_b[code].layer == "township":
                area[code] = {"gained_m2": _area(units_b[code].shape(), k), "lost_m2": 0.0}
        for code in diff["units"]["removed"]:
            if units_a[code].layer == "township":
                area[code] = {"gained_m2": 0.0, "lost_m2": _area(units_a[code].shape(), k)}
        before = team_territories(list(units_a.values()), self.repo.rules(current), day)
        after = team_territories(list(units_b.values()), self.repo.rules(draft), day)
        team_area = {}
        for team in sorted(set(before) | set(after)):
            old, new = before.get(team), after.get(team)
            gained = _area(shapely.difference(new, old) if old is not None and new is not None else new, k)
            lost = _area(shapely.difference(old, new) if old is not None and new is not None else old, k)
            if gained or lost:
                team_area[team] = {"gained_m2": gained, "lost_m2": lost, "area_before_m2": _area(old, k),
                                   "area_after_m2": _area(new, k)}
        moved_units = [c for c in diff["units"]["changed"] if "parent" in c]
        # A cell moved when the units holding it differ (a unit added or removed with its cells counts too).
        held_a, held_b = _cell_holders(units_a.values()), _cell_holders(units_b.values())
        cells_moved = sum(held_a[c] != held_b[c] for c in set(held_a) & set(held_b))
        open_changes, tally = self._owner_changes(router(current), router(draft), day)
        load_before, load_after = tally["before"], tally["after"]
        teams = sorted(set(load_before) | set(load_after))
        return {
            "draft": draft, "current": current, "day": day.isoformat(), "diff": diff,
            "townships": {c: a for c, a in sorted(area.items()) if a["gained_m2"] or a["lost_m2"]},
            "teams": team_area,
            "team_area_means": TEAM_AREA_MEANS.render(),
            "units_moved": moved_units, "cells_moved": cells_moved,
            "open_cases_changing_owner": open_changes,
            "historical_cases_reattributed": tally["historical"],
            "workload": {t: {"open_now": load_before.get(t, 0), "open_after": load_after.get(t, 0)} for t in teams},
            "note": T("open cases keep their owner on publish unless the planner publishes from today with "
                      "reroute_open_cases (each case's on_reroute says what that would do) or a dispatcher transfers "
                      "them").render(),
        }

    def _owner_changes(self, old: Router, new: Router, day: date, *, open_only: bool = False
                       ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The open cases whose owner the new boundaries change, and per team the open load before and after
        (with the count of closed cases re-attributed).

        An open case changes owner when the new version routes its place to another team than the version in
        force does *and* than the team holding it: a case a dispatcher moved by hand is left alone unless the
        redraw moves its place too."""
        q = sa.select(CaseRow.id, CaseRow.lon, CaseRow.lat, CaseRow.matter_code, CaseRow.team_code, CaseRow.status,
                      CaseRow.township_code).where(CaseRow.lon.is_not(None))
        if open_only:
            q = q.where(CaseRow.status.in_(OPEN_STATES))
        changes: list[dict[str, Any]] = []
        historical = 0
        before: defaultdict[str, int] = defaultdict(int)
        after: defaultdict[str, int] = defaultdict(int)
        for r in self.repo.session.execute(q.order_by(CaseRow.id)):
            new_team = new.owner(r.lon, r.lat, r.matter_code, day)
            if r.status in OPEN_STATES:
                moves = new_team != r.team_code and new_team != old.owner(r.lon, r.lat, r.matter_code, day)
                how, why = on_reroute(r.status)
                before[r.team_code] += 1
                after[new_team if moves and how != "keep" else r.team_code] += 1  # as a re-route would leave it
                if moves:
                    changes.append({"case": r.id, "team": r.team_code, "would_be": new_team,
                                    "township": r.township_code, "status": r.status, "on_reroute": how,
                                    **({"kept_because": render(why)} if why else {})})
            elif r.status in ("closed", "evaluated") and old.owner(r.lon, r.lat, r.matter_code, day) != new_team:
                historical += 1
        return changes, {"before": before, "after": after, "historical": historical}


def _cell_holders(units: Iterable[Unit]) -> dict[str, frozenset[str]]:
    holders: defaultdict[str, set[str]] = defaultdict(set)
    for u in units:
        for c in u.cells or ():
            holders[c].add(u.code)
    return {c: frozenset(codes) for c, codes in holders.items()}


def _same_shape(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a.equals(b)) if a.is_valid and b.is_valid else bool(a.equals_exact(b, 0))


def _area(g: Any, k: float) -> float:
    return 0.0 if g is None or g.is_empty else round(float(g.area) * k, 1)
