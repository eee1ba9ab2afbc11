"""The one repository API over SQLite and PostGIS. It never commits: the caller owns the transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases import clock
from gis.errors import Conflict, InvalidInput, NotFound
from gis.model import AllowedGap, Delegation, Incident, Matter, MatterFilter, Rule, RuleScope, Team, Unit, Version
from gis.validate import (
    DEFAULT_OUTSIDE_TOLERANCE,
    Problem,
    check_references,
    check_teams,
    check_units,
    raise_problems,
)
from i18n import T, Text
from i18n.units import day as day_text
from i18n.units import listing
from store.schema import (
    AllowedGapRow,
    CaseRow,
    DelegationRow,
    DisputeRow,
    IncidentRow,
    MatterRow,
    RuleRow,
    TeamRow,
    UnitRow,
    VersionRow,
)


def _now() -> datetime:
    return clock.now().replace(microsecond=0)


PUBLISH_LOCK = 0x67726964  # the advisory lock key that serialises publishes on PostgreSQL ("grid")
REPUBLISH = T("reload it, check it again and publish the revision you have seen")
REAPPLY = T("reload it and apply the edit again")


def stale_revision(version_id: int, expected: int, now: int, then: Text = REAPPLY) -> Conflict:
    """The 409 for a write based on a revision the version has moved past (code `conflict`, where `revision`),
    in the reader's language."""
    return Conflict(T("version {id} changed since revision {expected} (now {now}); {then}", id=version_id,
                      expected=expected, now=now, then=then), where="revision")


class Repository:
    """Read and write GridGov's data through one injected session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- versions ---------------------------------------------------------------------------------
    def create_version(self, name: str, *, note: str = "", based_on: int | None = None) -> Version:
        """A new draft version, empty or copying the content of `based_on`."""
        row = VersionRow(name=name, status="draft", note=note, based_on_id=based_on, created_at=_now(), revision=0)
        self.session.add(row)
        self.session.flush()
        if based_on is not None:
            self._copy_content(based_on, row.id)
        return _version(row)

    def _copy_content(self, source: int, target: int) -> None:
        self._version_row(source)
        for model in (UnitRow, DelegationRow, RuleRow, AllowedGapRow):
            table: sa.Table = model.__table__  # type: ignore[assignment]
            cols = [c.name for c in table.columns if c.name not in ("id", "version_id")]
            src = sa.select(sa.literal(target).label("version_id"), *[table.c[c] for c in cols])
            self.session.execute(
                sa.insert(model).from_select(["version_id", *cols], src.where(table.c.version_id == source)))

    def _version_row(self, version_id: int) -> VersionRow:
        row = self.session.get(VersionRow, version_id)
        if row is None:
            raise NotFound(T("no boundary version {id}; `gridgov version list` shows them", id=version_id))
        return row

    def version(self, version_id: int) -> Version:
        """One version by id."""
        return _version(self._version_row(version_id))

    def versions(self) -> list[Version]:
        """Every version, oldest first."""
        return [_version(r) for r in self.session.scalars(sa.select(VersionRow).order_by(VersionRow.id))]

    def version_at(self, day: date) -> Version:
        """The published version in force on `day`."""
        row = self.session.scalars(
            sa.select(VersionRow)
            .where(VersionRow.status == "published", VersionRow.effective_from <= day)
            .where(sa.or_(VersionRow.effective_to.is_(None), VersionRow.effective_to > day))
            .order_by(VersionRow.effective_from.desc())
        ).first()
        if row is None:
            first = self.session.scalar(
                sa.select(sa.func.min(VersionRow.effective_from)).where(VersionRow.status == "published"))
            hint = T("the first starts on {day}", day=day_text(first)) if first else T("none is published yet")
            raise NotFound(T("no boundary version was in force on {day}; {hint}", day=day_text(day), hint=hint))
        return _version(row)

    def rename_version(self, version_id: int, name: str) -> Version:
        """Give a draft another name (its content and revision stay: a validated draft stays validated)."""
        row = self._version_row(version_id)
        if row.status == "published":
            raise Conflict(T("version {id} ({name}) is published: its name is part of the record and stays",
                             id=version_id, name=row.name), code="published_version")
        row.name = name
        self.session.flush()
        return _version(row)

    def delete_draft(self, version_id: int, expected_revision: int) -> None:
        """Delete a draft and its content; refused for a published version, a stale revision, or a version other
        versions are based on or cases and disputes name."""
        row = self._version_row(version_id)
        if row.status == "published":
            raise Conflict(T("version {id} ({name}) is published and stays on record; publish another version to "
                             "replace it", id=version_id, name=row.name), code="published_version")
        if row.revision != expected_revision:
            raise stale_revision(version_id, expected_revision, row.revision,
                                 T("reload it and decide again whether to delete it"))
        based = list(self.session.scalars(sa.select(VersionRow.id).where(VersionRow.based_on_id == version_id)))
        if based:
            raise Conflict(T("versions {ids} are based on version {id}; delete them first",
                             ids=", ".join(f"#{i}" for i in based), id=version_id), code="version_in_use")
        for model in (CaseRow, DisputeRow):
            if self.session.scalar(sa.select(sa.func.count()).select_from(model).where(
                    model.version_id == version_id)):
                raise Conflict(T("cases or disputes were routed with version {id}; it stays on record",
                                 id=version_id), code="version_in_use")
        for content in (UnitRow, DelegationRow, RuleRow, AllowedGapRow):  # not left to ON DELETE CASCADE
            self.session.execute(sa.delete(content).where(content.version_id == version_id))
        # Conditional, like every write of a draft: a publish or an edit that slipped in wins, this refuses.
        gone = self.session.execute(sa.delete(VersionRow).where(
            VersionRow.id == version_id, VersionRow.revision == expected_revision, VersionRow.status != "published")
            .execution_options(synchronize_session=False))
        if gone.rowcount != 1:  # type: ignore[attr-defined]
            raise stale_revision(version_id, expected_revision, row.revision, T("reload it"))
        self.session.expunge(row)

    def working_draft(self, name: str = "initial") -> Version:
        """The newest draft, created (based on the newest published version) when there is none."""
        row = self.session.scalars(
            sa.select(VersionRow).where(VersionRow.status == "draft").order_by(VersionRow.id.desc())
        ).first()
        if row is not None:
            return _version(row)
        latest = self.session.scalars(
            sa.select(VersionRow).where(VersionRow.status == "published").order_by(VersionRow.id.desc())
        ).first()
        return self.create_version(name, based_on=latest.id if latest else None)

    def editable(self, version_id: int, expected_revision: int | None = None) -> VersionRow:
        """The version row, refusing published versions and stale edits; bumps its revision.

        The bump is one conditional UPDATE (`… WHERE revision = expected AND status <> 'published'`), so two
        edits based on the same revision cannot both pass: the second waits for the first's lock (a row
        lock on PostgreSQL, the write lock on SQLite), then matches no row and gets its 409."""
        row = self._version_row(version_id)
        if row.status == "published":
            raise Conflict(T("version {id} ({name}) is published and cannot change; create a draft based on it",
                             id=version_id, name=row.name))
        expected = row.revision if expected_revision is None else expected_revision
        if expected != row.revision:
            raise stale_revision(version_id, expected, row.revision)
        bumped = self.session.execute(
            sa.update(VersionRow)
            .where(VersionRow.id == version_id, VersionRow.revision == expected, VersionRow.status != "published")
            .values(revision=VersionRow.revision + 1,
                    status=sa.case((VersionRow.status == "validated", "draft"), else_=VersionRow.status))
            .execution_options(synchronize_session=False))
        self.session.refresh(row)  # any edit invalidates a validation; the row now shows the new revision
        if bumped.rowcount != 1:  # type: ignore[attr-defined]
            if row.status == "published":
                raise Conflict(T("version {id} ({name}) was published meanwhile and cannot change", id=version_id,
                                 name=row.name))
            raise stale_revision(version_id, expected, row.revision)
        return row

    def publish(self, version_id: int, effective_from: date, expected_revision: int | None = None) -> Version:
        """Publish a draft from `effective_from`; the version in force before it ends that day.

        Like `editable`, the writes are conditional UPDATEs: the draft flips only at the revision the caller
        saw (`expected_revision`, else the one read here), and the version in force ends only if nobody ended
        it meanwhile — so an edit slipped in after the planner's last look, or two publishes at once, are a
        409 and never two versions in force."""
        if self.session.get_bind().dialect.name == "postgresql":  # one publish at a time (SQLite: one writer)
            self.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
        row = self._version_row(version_id)
        if row.status == "published":
            raise Conflict(T("version {id} is already published", id=version_id))
        expected = row.revision if expected_revision is None else expected_revision
        if expected != row.revision:
            raise stale_revision(version_id, expected, row.revision, REPUBLISH)
        later = self.session.scalars(
            sa.select(VersionRow).where(VersionRow.status == "published", VersionRow.effective_from >= effective_from)
        ).first()
        if later is not None:
            raise Conflict(T("version {id} is already in force from {since}; a publish from {day} would rewrite that "
                             "history", id=later.id, since=day_text(later.effective_from or effective_from),
                             day=day_text(effective_from)))
        previous = self.session.scalars(
            sa.select(VersionRow).where(VersionRow.status == "published", VersionRow.effective_to.is_(None))
        ).first()
        if previous is not None:
            ended = self.session.execute(
                sa.update(VersionRow)
                .where(VersionRow.id == previous.id, VersionRow.status == "published",
                       VersionRow.effective_to.is_(None))
                .values(effective_to=effective_from).execution_options(synchronize_session=False))
            self.session.refresh(previous)
            if ended.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(T("version {id} was succeeded by another publish meanwhile; reload the versions and "
                                 "publish again", id=previous.id))
        flipped = self.session.execute(
            sa.update(VersionRow)
            .where(VersionRow.id == version_id, VersionRow.revision == expected, VersionRow.status != "published")
            .values(status="published", effective_from=effective_from, published_at=_now())
            .execution_options(synchronize_session=False))
        self.session.refresh(row)
        if flipped.rowcount != 1:  # type: ignore[attr-defined]
            if row.status == "published":
                raise Conflict(T("version {id} was published meanwhile", id=version_id))
            raise Conflict(T("version {id} changed while publishing (now revision {now}); {then}", id=version_id,
                             now=row.revision, then=REPUBLISH), where="revision")
        open_ended = self.session.scalar(sa.select(sa.func.count()).select_from(VersionRow).where(
            VersionRow.status == "published", VersionRow.effective_to.is_(None)))
        if open_ended != 1:  # e.g. two first-ever publishes at once: neither saw a version to end
            raise Conflict(T("another version was published meanwhile; reload the versions and publish again"))
        return _version(row)

    # -- units ------------------------------------------------------------------------------------
    def add_units(
        self,
        version_id: int,
        units: Iterable[tuple[str, Unit]] | Iterable[Unit],
        *,
        replace: bool = False,
        outside_tolerance: float = DEFAULT_OUTSIDE_TOLERANCE,
        expected_revision: int | None = None,
    ) -> Counter[str]:
        """Validate and store units (pairs of where-label and unit, or bare units); counts per layer."""
        pairs = [u if isinstance(u, tuple) else (f"unit {u.code}", u) for u in units]
        self.editable(version_id, expected_revision)
        existing = {u.code: u for u in self.units(version_id)}
        raise_problems(check_units(pairs, existing, outside_tolerance=outside_tolerance, replace=replace),
                       T("the units"))
        rows = {r.code: r for r in self.session.scalars(
            sa.select(UnitRow).where(UnitRow.version_id == version_id,
                                     UnitRow.code.in_([u.code for _, u in pairs])))}
        for _, unit in pairs:
            row = rows.get(unit.code) or UnitRow(version_id=version_id, code=unit.code)
            _fill_unit_row(row, unit)
            self.session.add(row)
        self.session.flush()
        return Counter(u.layer for _, u in pairs)

    def remove_unit(self, version_id: int, code: str, *, expected_revision: int | None = None) -> None:
        """Remove a unit from a draft; refused while other units name it as parent or rules name it."""
        self.editable(version_id, expected_revision)
        row = self.session.scalars(
            sa.select(UnitRow).where(UnitRow.version_id == version_id, UnitRow.code == code)).first()
        if row is None:
            raise NotFound(T("no unit {code} in version {id}", code=code, id=version_id))
        children = list(self.session.scalars(sa.select(UnitRow.code).where(
            UnitRow.version_id == version_id, UnitRow.parent_code == code).limit(5)))
        if children:
            raise Conflict(T("{code} is the parent of {children}; reassign or remove them first", code=code,
                             children=listing(children)), where="code")
        rules = [r.code for r in self.rules(version_id) if r.scope.unit_code == code]
        if rules:
            raise Conflict(T("rules {rules} apply to {code}; change them first", rules=listing(rules), code=code),
                           where="code")
        self.session.delete(row)
        self.session.flush()

    def units(self, version_id: int, layer: str | None = None) -> list[Unit]:
        """Units of a version (optionally one layer), ordered by layer then code."""
        q = sa.select(UnitRow).where(UnitRow.version_id == version_id)
        if layer is not None:
            q = q.where(UnitRow.layer == layer)
        return [_unit(r) for r in self.session.scalars(q.order_by(UnitRow.layer, UnitRow.code))]

    def unit(self, version_id: int, code: str) -> Unit:
        """One unit by code."""
        row = self.session.scalars(
            sa.select(UnitRow).where(UnitRow.version_id == version_id, UnitRow.code == code)).first()
        if row is None:
            raise NotFound(T("no unit {code} in version {id}", code=code, id=version_id))
        return _unit(row)

    def units_covering(self, version_id: int, lon: float, lat: float) -> list[Unit]:
        """Polygon units whose area covers the point (PostGIS index on PostgreSQL; bbox+shapely on SQLite)."""
        point = shapely.Point(lon, lat)
        q = sa.select(UnitRow).where(UnitRow.version_id == version_id, UnitRow.geom.is_not(None))
        if self.session.get_bind().dialect.name == "postgresql":
            q = q.where(sa.func.ST_Covers(UnitRow.geom, sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), 4326)))
            return [_unit(r) for r in self.session.scalars(q.order_by(UnitRow.layer, UnitRow.code))]
        return [u for u in map(_unit, self.session.scalars(q.order_by(UnitRow.layer, UnitRow.code)))
                if u.geometry is not None and u.geometry.covers(point)]

    # -- allowed gaps -------------------------------------------------------------------------------
    def allowed_gaps(self, version_id: int) -> list[AllowedGap]:
        """The version's allowed-gap areas (lakes, rivers…), by code."""
        self._version_row(version_id)
        rows = self.session.scalars(sa.select(AllowedGapRow).where(AllowedGapRow.version_id == version_id)
                                    .order_by(AllowedGapRow.code))
        return [AllowedGap.model_construct(code=r.code, name=r.name, geometry=r.geom, note=r.note) for r in rows]

    def put_allowed_gap(self, version_id: int, gap: AllowedGap, *, expected_revision: int | None = None) -> bool:
        """Create or replace an allowed-gap area of a draft; returns whether it was new."""
        self.editable(version_id, expected_revision)
        row = self.session.scalars(sa.select(AllowedGapRow).where(AllowedGapRow.version_id == version_id,
                                                                  AllowedGapRow.code == gap.code)).first()
        new = row is None
        row = row or AllowedGapRow(version_id=version_id, code=gap.code)
        row.name, row.geom, row.note = gap.name, gap.geometry, gap.note
        self.session.add(row)
        self.session.flush()
        return new

    def remove_allowed_gap(self, version_id: int, code: str, *, expected_revision: int | None = None) -> None:
        """Remove an allowed-gap area from a draft."""
        self.editable(version_id, expected_revision)
        row = self.session.scalars(sa.select(AllowedGapRow).where(AllowedGapRow.version_id == version_id,
                                                                  AllowedGapRow.code == code)).first()
        if row is None:
            raise NotFound(T("no allowed gap {code} in version {id}", code=code, id=version_id))
        self.session.delete(row)
        self.session.flush()

    # -- teams, matters, delegations, rules -------------------------------------------------------
    def add_teams(self, teams: list[Team], version_id: int | None = None) -> int:
        """Validate and store new teams."""
        existing = set(self.session.scalars(sa.select(TeamRow.code)))
        unit_codes = {u.code for u in self.units(version_id)} if version_id is not None else None
        raise_problems(check_teams(teams, existing, unit_codes), T("the teams"))
        self.session.add_all(TeamRow(**t.model_dump()) for t in teams)
        self.session.flush()
        return len(teams)

    def teams(self) -> list[Team]:
        """Every team, by code."""
        rows = self.session.scalars(sa.select(TeamRow).order_by(TeamRow.code))
        return [Team.model_validate(_row_dict(r, Team)) for r in rows]

    def add_matters(self, matters: list[Matter]) -> int:
        """Store new matters; codes must be new."""
        existing = set(self.session.scalars(sa.select(MatterRow.code)))
        seen: set[str] = set()
        problems = []
        for m in matters:
            if m.code in existing or m.code in seen:
                problems.append(Problem(f"matter {m.code}", T("duplicate matter code")))
            seen.add(m.code)
        raise_problems(problems, T("the matters"))
        self.session.add_all(MatterRow(**m.model_dump()) for m in matters)
        self.session.flush()
        return len(matters)

    def put_matter(self, matter: Matter) -> bool:
        """Create a matter or replace its definition (routers notice: the catalogue is in their cache key).
        Returns whether it was new."""
        row = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == matter.code)).first()
        if row is None:
            self.session.add(MatterRow(**matter.model_dump()))
        else:
            for key, value in matter.model_dump().items():
                setattr(row, key, value)
        self.session.flush()
        return row is None

    def matters(self) -> list[Matter]:
        """Every matter, by code."""
        rows = self.session.scalars(sa.select(MatterRow).order_by(MatterRow.code))
        return [Matter.model_validate(_row_dict(r, Matter)) for r in rows]

    def matter(self, code: str) -> Matter:
        """One matter by code."""
        row = self.session.scalars(sa.select(MatterRow).where(MatterRow.code == code)).first()
        if row is None:
            raise NotFound(T("unknown matter code {code}; `GET /matters` lists them", code=code))
        return Matter.model_validate(_row_dict(row, Matter))

    def add_rules_and_delegations(
        self, version_id: int, rules: list[Rule], delegations: list[Delegation]
    ) -> tuple[int, int]:
        """Validate every reference, then store rules and delegations in the version."""
        self.editable(version_id)
        return self._store_rules(version_id, rules, delegations)

    def _store_rules(self, version_id: int, rules: list[Rule], delegations: list[Delegation]) -> tuple[int, int]:
        matters = self.matters()
        problems = check_references(
            rules, delegations,
            unit_layers={u.code: u.layer for u in self.units(version_id)},
            team_codes=set(self.session.scalars(sa.select(TeamRow.code))),
            matter_codes={m.code for m in matters},
            domains={m.domain for m in matters},
        )
        existing_rules = set(self.session.scalars(sa.select(RuleRow.code).where(RuleRow.version_id == version_id)))
        seen: set[str] = set()
        for r in rules:
            if r.code in existing_rules or r.code in seen:
                problems.append(Problem(f"rule {r.code}", T("duplicate rule code in this version")))
            seen.add(r.code)
        pairs = Counter((d.township_code, d.matter_code) for d in delegations)
        problems += [Problem(f"delegation {t}/{m}", T("listed twice")) for (t, m), n in pairs.items() if n > 1]
        raise_problems(problems, T("the rules and delegations"))
        for r in rules:
            self.session.add(RuleRow(version_id=version_id, **{
                **r.model_dump(exclude={"scope", "matters"}),
                "scope": r.scope.model_dump(exclude_none=True),
                "matters": r.matters.model_dump(exclude_none=True),
            }))
        self.session.add_all(DelegationRow(version_id=version_id, **d.model_dump()) for d in delegations)
        self.session.flush()
        return len(rules), len(delegations)

    def remove_rule(self, version_id: int, code: str, *, expected_revision: int | None = None) -> None:
        """Remove one rule from a draft."""
        self.editable(version_id, expected_revision)
        row = self.session.scalars(sa.select(RuleRow).where(RuleRow.version_id == version_id,
                                                            RuleRow.code == code)).first()
        if row is None:
            raise NotFound(T("no rule {code} in version {id}", code=code, id=version_id))
        self.session.delete(row)
        self.session.flush()

    def put_rule(self, version_id: int, rule: Rule, *, expected_revision: int | None = None) -> bool:
        """Create or replace one rule of a draft (references checked); returns whether it was new."""
        self.editable(version_id, expected_revision)
        row = self.session.scalars(sa.select(RuleRow).where(RuleRow.version_id == version_id,
                                                            RuleRow.code == rule.code)).first()
        if row is not None:
            self.session.delete(row)
            self.session.flush()
        self._store_rules(version_id, [rule], [])
        return row is None

    def set_delegations(self, version_id: int, delegations: list[Delegation], *,
                        expected_revision: int | None = None) -> int:
        """Replace a draft's whole delegation list (which matters each township holds)."""
        self.editable(version_id, expected_revision)
        self.session.execute(sa.delete(DelegationRow).where(DelegationRow.version_id == version_id))
        self.session.flush()
        self._store_rules(version_id, [], delegations)
        return len(delegations)

    def retarget_rules(self, version_id: int, old: str, new: str) -> list[str]:
        """Point the unit-scoped rules of `old` at `new` (after a merge); returns their codes."""
        rows = [r for r in self.session.scalars(sa.select(RuleRow).where(RuleRow.version_id == version_id))
                if (r.scope or {}).get("unit_code") == old]
        for r in rows:
            r.scope = {**r.scope, "unit_code": new}
        held = set(self.session.scalars(sa.select(DelegationRow.matter_code).where(
            DelegationRow.version_id == version_id, DelegationRow.township_code == new)))
        for d in list(self.session.scalars(sa.select(DelegationRow).where(
                DelegationRow.version_id == version_id, DelegationRow.township_code == old))):
            if d.matter_code in held:  # the merged township holds the union of both lists
                self.session.delete(d)
            else:
                d.township_code = new
        self.session.flush()
        return [r.code for r in rows]

    def rules(self, version_id: int) -> list[Rule]:
        """Rules of a version, highest priority first."""
        rows = self.session.scalars(
            sa.select(RuleRow).where(RuleRow.version_id == version_id).order_by(RuleRow.priority.desc(), RuleRow.code))
        return [_rule(r) for r in rows]

    def delegations(self, version_id: int) -> list[Delegation]:
        """Delegations of a version."""
        rows = self.session.scalars(sa.select(DelegationRow).where(DelegationRow.version_id == version_id)
                                    .order_by(DelegationRow.township_code, DelegationRow.matter_code))
        return [Delegation(township_code=r.township_code, matter_code=r.matter_code, batch=r.batch or "",
                           effective_from=r.effective_from, situation=r.situation, note=r.note or "")  # type: ignore[arg-type]
                for r in rows]

    # -- incidents --------------------------------------------------------------------------------
    def add_incidents(self, incidents: list[Incident]) -> int:
        """Store incidents; matter codes must exist and external ids be new."""
        known = set(self.session.scalars(sa.select(MatterRow.code)))
        ids = [i.external_id for i in incidents if i.external_id is not None]
        taken: set[str] = set()
        for start in range(0, len(ids), 5000):  # stay under the drivers' bound-parameter limits
            chunk = ids[start:start + 5000]
            taken.update(self.session.scalars(
                sa.select(IncidentRow.external_id).where(IncidentRow.external_id.in_(chunk))))
        problems = [Problem(f"incident {i.external_id or n}", T("unknown matter code {code}", code=i.matter_code))
                    for n, i in enumerate(incidents) if i.matter_code not in known]
        problems += [Problem(f"incident {x}", T("external id already stored")) for x in sorted(taken)]
        problems += [Problem(f"incident {x}", T("external id listed twice")) for x, n in Counter(ids).items() if n > 1]
        raise_problems(problems, T("the incidents"))
        self.session.add_all(
            IncidentRow(geom=shapely.Point(i.lon, i.lat), **i.model_dump()) for i in incidents)
        self.session.flush()
        return len(incidents)

    def incidents(self, since: datetime | None = None, until: datetime | None = None) -> list[Incident]:
        """Incidents reported in [since, until), oldest first."""
        q = sa.select(IncidentRow)
        if since is not None:
            q = q.where(IncidentRow.reported_at >= since)
        if until is not None:
            q = q.where(IncidentRow.reported_at < until)
        return [Incident.model_validate(_row_dict(r, Incident))
                for r in self.session.scalars(q.order_by(IncidentRow.reported_at, IncidentRow.id))]

    def counts(self, version_id: int | None = None) -> dict[str, int]:
        """How many of each thing is stored (units per layer of one version)."""
        out: dict[str, int] = {}
        if version_id is not None:
            for layer, n in self.session.execute(
                sa.select(UnitRow.layer, sa.func.count()).where(UnitRow.version_id == version_id)
                .group_by(UnitRow.layer)):
                out[layer] = n
            out["rule"] = self.session.scalar(
                sa.select(sa.func.count()).select_from(RuleRow).where(RuleRow.version_id == version_id)) or 0
            out["delegation"] = self.session.scalar(
                sa.select(sa.func.count()).select_from(DelegationRow)
                .where(DelegationRow.version_id == version_id)) or 0
        for name, table in (("team", TeamRow), ("matter", MatterRow), ("incident", IncidentRow)):
            out[name] = self.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
        return out


def _version(row: VersionRow) -> Version:
    return Version(id=row.id, name=row.name, status=row.status,  # type: ignore[arg-type]
                   effective_from=row.effective_from, effective_to=row.effective_to, note=row.note,
                   based_on=row.based_on_id, revision=row.revision)


def _fill_unit_row(row: UnitRow, unit: Unit) -> None:
    row.name, row.layer, row.kind, row.parent_code = unit.name, unit.layer, unit.kind, unit.parent_code
    row.attributes, row.geom, row.cells, row.derived = unit.attributes, unit.geometry, unit.cells, unit.derived
    row.raw_geom, row.raw_crs = unit.raw_geometry, unit.raw_crs


def _unit(row: UnitRow) -> Unit:
    if row.geom is not None and row.geom.is_empty:
        raise InvalidInput(T("unit {code} has an empty geometry in the store", code=row.code))
    return Unit.model_construct(
        code=row.code, name=row.name, layer=row.layer, kind=row.kind, parent_code=row.parent_code,
        attributes=dict(row.attributes or {}), geometry=row.geom, cells=row.cells, derived=row.derived,
        raw_geometry=row.raw_geom, raw_crs=row.raw_crs,
    )  # validated when written; re-validating every read would cost seconds on detailed layers


def _rule(row: RuleRow) -> Rule:
    return Rule(
        code=row.code, priority=row.priority, scope=RuleScope.model_validate(row.scope),
        matters=MatterFilter.model_validate(row.matters), team_code=row.team_code,
        co_owner_codes=list(row.co_owner_codes or []), effective_from=row.effective_from,
        effective_to=row.effective_to, legal_basis=row.legal_basis, description=row.description,
    )


def _row_dict(row: Any, model: type[Any]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in model.model_fields}
