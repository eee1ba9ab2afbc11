"""The catalogue workbook against the store: import (all or nothing), export, and team edits — audited.

An import upserts teams and matters (the catalogue is shared by every version; teams or matters the workbook
leaves out stay) and replaces the draft's whole delegation list and rule table with the workbook's (those
sheets are the version's lists). A changed team or matter is written as a new row, so cached routers, keyed
on the catalogue's row count and newest id, are rebuilt. Helpers never commit: the command or request does.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from cases import clock
from etl.catalogue import SHEETS, catalogue_rows, team_attribute_problems
from etl.catalogue_check import Catalogue, Known, check, parse, placed
from etl.workbook import SheetProblem, WorkbookProblems, read_sheets, read_xlsx
from gis.errors import Conflict, InvalidInput, NotFound
from gis.model import Matter, Team, Version
from i18n import N_, T
from i18n.units import listing
from store import audit
from store.repo import Repository
from store.schema import CaseRow, DelegationRow, MatterRow, RuleRow, TeamRow, UserRow


@dataclass
class CatalogueImport:
    """What an import wrote."""

    version_id: int
    revision: int
    counts: dict[str, int]
    teams_new: list[str] = field(default_factory=list)
    teams_changed: list[str] = field(default_factory=list)
    matters_new: list[str] = field(default_factory=list)
    matters_changed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The one line scripts parse."""
        c = self.counts
        return (f"imported team={c['team']} matter={c['matter']} delegation={c['delegation']} rule={c['rule']} "
                f"teams_new={len(self.teams_new)} teams_changed={len(self.teams_changed)} "
                f"matters_new={len(self.matters_new)} matters_changed={len(self.matters_changed)} "
                f"version={self.version_id} revision={self.revision}")

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version_id, "revision": self.revision, "counts": self.counts,
                "teams_new": self.teams_new, "teams_changed": self.teams_changed,
                "matters_new": self.matters_new, "matters_changed": self.matters_changed}


def known(repo: Repository, version_id: int) -> Known:
    """What the workbook may name without listing it: the version's units, the stored teams and matters."""
    repo.version(version_id)  # 404 for a missing one
    units, teams = repo.units(version_id), repo.teams()
    matters = repo.matters()
    return Known(unit_layers={u.code: u.layer for u in units}, unit_parents={u.code: u.parent_code for u in units},
                 unit_names={u.code: u.name for u in units}, team_parents={t.code: t.parent_code for t in teams},
                 team_units={t.code: t.unit_code for t in teams}, matter_domains={m.code: m.domain for m in matters},
                 matter_names={m.code: m.name for m in matters})


def read_catalogue(source: Path | IO[bytes], known_codes: Known, name: str = "workbook") -> Catalogue:
    """Parse and check a workbook (a path to an .xlsx file or a CSV folder, or .xlsx bytes); every problem
    raises together, by sheet, row and column."""
    if isinstance(source, Path):
        sheets, problems = read_sheets(source, SHEETS)
    else:
        sheets, problems = read_xlsx(source, SHEETS, name=name)
    # A missing sheet or column would make every reference to it look unknown: then the cells are checked, not
    # the references. Merged cells and formulas are cell problems; references are still checked around them.
    structural = any(p.structural for p in problems)
    cat = parse(sheets, problems)
    if not structural:
        problems += check(cat, known_codes)
    if problems:
        raise WorkbookProblems(placed(problems, sheets), T("the catalogue {name}", name=name))
    return cat


def import_catalogue(repo: Repository, source: Path | IO[bytes], *, version_id: int | None = None,
                     expected_revision: int | None = None, actor: str, name: str | None = None) -> CatalogueImport:
    """Import a workbook into a draft (the newest by default): teams and matters upserted, the draft's
    delegations and rules replaced; all or nothing; audited."""
    vid = version_id if version_id is not None else repo.working_draft().id
    assert vid is not None
    label = name or (source.name if isinstance(source, Path) else "workbook")
    repo.editable(vid, expected_revision)  # a published version or a stale revision: 409 before any reading
    if isinstance(source, Path):
        data = source.read_bytes() if source.is_file() else None
    else:
        data = source.read()
        source = io.BytesIO(data)
    cat = read_catalogue(source, known(repo, vid), label)
    result = CatalogueImport(vid, 0, cat.counts())
    result.teams_new, result.teams_changed = _upsert(repo, TeamRow, [t for _, t in cat.teams], Team)
    result.matters_new, result.matters_changed = _upsert(repo, MatterRow, [m for _, m in cat.matters], Matter)
    repo.session.execute(sa.delete(RuleRow).where(RuleRow.version_id == vid))
    repo.session.execute(sa.delete(DelegationRow).where(DelegationRow.version_id == vid))
    for _, r in cat.rules:
        repo.session.add(RuleRow(version_id=vid, **{
            **r.model_dump(exclude={"scope", "matters"}),
            "scope": r.scope.model_dump(exclude_none=True), "matters": r.matters.model_dump(exclude_none=True)}))
    repo.session.add_all(DelegationRow(version_id=vid, **d.model_dump()) for _, d in cat.delegations)
    repo.session.flush()
    result.revision = repo.version(vid).revision
    detail = result.as_dict()
    detail["file"] = label
    if data is not None:
        detail["sha256"] = hashlib.sha256(data).hexdigest()
    audit.record(repo.session, actor, "catalogue.import", f"version {vid}", detail)
    return result


def _upsert(repo: Repository, table: type[Any], items: list[Any], model: type[Any]) -> tuple[list[str], list[str]]:
    """Insert new codes; replace changed ones by a new row (a new id, so routers rebuild). (new, changed)."""
    stored = {r.code: r for r in repo.session.scalars(sa.select(table).where(table.code.in_([i.code for i in items])))}
    new, changed = [], []
    for item in items:
        row = stored.get(item.code)
        if row is not None:
            if model.model_validate({k: getattr(row, k) for k in model.model_fields}) == item:
                continue
            repo.session.delete(row)
            repo.session.flush()
            changed.append(item.code)
        else:
            new.append(item.code)
        repo.session.add(table(**item.model_dump()))
    repo.session.flush()
    return new, changed


def catalogue_version(repo: Repository, version_id: int | None) -> Version:
    """The version to export: the given one, else the one in force today, else the newest."""
    if version_id is not None:
        return repo.version(version_id)
    try:
        return repo.version_at(clock.today())
    except NotFound:
        versions = repo.versions()
        if not versions:
            raise NotFound(T("no boundary version yet: import units first (`gridgov import`)")) from None
        return versions[-1]


def export_rows(repo: Repository, version_id: int) -> dict[str, list[dict[str, Any]]]:
    """The workbook's rows for a version: every team and matter, its delegations and rules."""
    names = {u.code: u.name for u in repo.units(version_id, "township")}
    return catalogue_rows(repo.teams(), repo.matters(), repo.delegations(version_id), repo.rules(version_id), names)


# -- teams ------------------------------------------------------------------------------------------


def put_team(repo: Repository, team: Team, version_id: int | None, actor: str) -> bool:
    """Create or replace a team (parent and unit checked, no parent cycle); audited. Returns whether it was new."""
    teams = {t.code: t for t in repo.teams()}
    old = teams.get(team.code)
    wrong = team_attribute_problems(team.attributes)
    if wrong:
        raise InvalidInput("; ".join(wrong), where="attributes")
    problems = []
    if team.parent_code is not None:
        parents = {c: t.parent_code for c, t in teams.items()} | {team.code: team.parent_code}
        seen = [team.code]
        code: str | None = team.parent_code
        while code is not None and code not in seen:
            if code not in parents:
                problems.append(f"unknown parent team {code}")
                break
            seen.append(code)
            code = parents[code]
        if code is not None and code in seen:
            problems.append("a team cannot be its own parent" if team.parent_code == team.code
                            else f"parent cycle {' → '.join([*seen, code])}")
    if problems:
        raise InvalidInput("; ".join(problems), where="parent_code")
    units = [u for u in [team.unit_code, *team.attributes.get("also_serves", [])] if u]
    if units:
        version = catalogue_version(repo, version_id)
        assert version.id is not None
        codes = {u.code for u in repo.units(version.id)}
        missing = [u for u in units if u not in codes]
        if missing:
            raise InvalidInput(T("unknown unit {items} in version {id}",
                                 items=', '.join(missing), id=version.id), where="unit_code")
    if old == team:
        return False
    if old is not None:
        repo.session.execute(sa.delete(TeamRow).where(TeamRow.code == team.code))
    repo.session.add(TeamRow(**team.model_dump()))
    repo.session.flush()
    audit.record(repo.session, actor, "team.put", team.code, {
        "before": old.model_dump(mode="json") if old else None, "after": team.model_dump(mode="json")})
    return old is None


def team_references(repo: Repository, code: str) -> dict[str, list[str]]:
    """What still names a team: rules (any version), cases, users, child teams."""
    s = repo.session
    rules = [f"{r.code} (version {r.version_id})" for r in s.scalars(sa.select(RuleRow).order_by(RuleRow.version_id,
                                                                                                 RuleRow.code))
             if r.team_code == code or code in (r.co_owner_codes or [])]
    if s.get_bind().dialect.name == "postgresql":
        co_owned = sa.text("case_record.co_owners @> CAST(:codes AS jsonb)").bindparams(codes=f'["{code}"]')
    else:
        co_owned = sa.text("EXISTS (SELECT 1 FROM json_each(case_record.co_owners) WHERE json_each.value = :code)"
                           ).bindparams(code=code)
    cases = [f"#{i}" for i in s.scalars(sa.select(CaseRow.id).where(sa.or_(CaseRow.team_code == code, co_owned))
                                         .order_by(CaseRow.id))]
    users = list(s.scalars(sa.select(UserRow.username).where(UserRow.team_code == code).order_by(UserRow.username)))
    children = list(s.scalars(sa.select(TeamRow.code).where(TeamRow.parent_code == code).order_by(TeamRow.code)))
    return {k: v for k, v in (("rules", rules), ("cases", cases), ("users", users), ("teams", children)) if v}


def delete_team(repo: Repository, code: str, actor: str) -> Team:
    """Delete a team nothing names any more (409 listing what still does); audited."""
    row = repo.session.scalars(sa.select(TeamRow).where(TeamRow.code == code)).first()
    if row is None:
        raise NotFound(T("no team {code}; GET /teams lists them", code=code))
    refs = team_references(repo, code)
    if refs:
        words = {"rules": N_("{n} rule(s): {codes}"), "cases": N_("{n} case(s): {codes}"),
                 "users": N_("{n} user(s): {codes}"), "teams": N_("{n} child team(s): {codes}")}
        parts = [T(words[k], n=len(v), codes=listing(v, limit=10)) for k, v in refs.items()]
        raise Conflict(T("team {code} is still named by {parts}; change or remove them first", code=code,
                         parts=listing(parts, clauses=True)), where="code")
    team = Team.model_validate({k: getattr(row, k) for k in Team.model_fields})
    repo.session.delete(row)
    repo.session.flush()
    audit.record(repo.session, actor, "team.delete", code, {"before": team.model_dump(mode="json")})
    return team


def problems_json(exc: WorkbookProblems) -> list[dict[str, Any]]:
    """Each problem as {sheet, row, column, header, message}."""
    return [p.as_dict() for p in exc.problems]


__all__ = ["CatalogueImport", "SheetProblem", "catalogue_version", "delete_team", "export_rows", "import_catalogue",
           "known", "put_team", "read_catalogue", "team_references"]
