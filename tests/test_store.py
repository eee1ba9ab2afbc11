"""Repository behaviour, run identically on SQLite and PostGIS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cases import clock
from gis.errors import Conflict, InvalidInput, NotFound
from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit
from store.db import downgrade, schema_revision, session_factory, transaction, upgrade
from store.repo import Repository
from tests.conftest import table_counts

COUNTY = shapely.box(115.0, 36.6, 115.4, 37.0)
WEST, EAST = shapely.box(115.0, 36.6, 115.2, 37.0), shapely.box(115.2, 36.6, 115.4, 37.0)


def small_county() -> list[Unit]:
    """A county split into two townships along lon 115.2, a village in each, a zone and an H3 grid."""
    cell = "89319e2e92bffff"  # an H3 resolution-9 cell
    return [
        Unit(code="C", name="县", layer="county", geometry=COUNTY, attributes={"名称": "测试"}),
        Unit(code="T1", name="西镇", layer="township", parent_code="C", geometry=WEST),
        Unit(code="T2", name="东乡", layer="township", parent_code="C", geometry=EAST),
        Unit(code="V1", name="西村", layer="village", parent_code="T1", geometry=WEST, attributes={"ur_code": "220"}),
        Unit(code="V2", name="东村", layer="village", parent_code="T2", geometry=EAST),
        Unit(code="Z1", name="开发区", layer="zone", kind="dev_zone", geometry=shapely.box(115.15, 36.7, 115.25, 36.8)),
        Unit(code="G1", name="网格一", layer="grid", parent_code="V1", cells=[cell]),
    ]


def test_migrations_go_up_and_down(engine: Engine) -> None:
    current, head = schema_revision(engine)
    assert current == head and head is not None
    downgrade(engine, "base")
    assert schema_revision(engine)[0] is None
    with pytest.raises(sa.exc.DatabaseError):
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT count(*) FROM unit"))
    upgrade(engine)
    assert table_counts(engine)["unit"] == 0


def test_0003_keeps_cases_stored_by_0002(engine: Engine) -> None:
    """Cases and events written under 0002 survive the rebuild of case_record, and the log stays append-only."""
    downgrade(engine, "0002")
    point = sa.text("ST_GeomFromText('POINT(115.1 36.1)', 4326)") if engine.dialect.name == "postgresql" else \
        sa.literal(shapely.to_wkb(shapely.Point(115.1, 36.1)))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO boundary_version (id, name, status, note, created_at, revision) "
                             "VALUES (1, 'v', 'published', '', '2026-01-01', 0)"))
        conn.execute(sa.insert(sa.table("case_record", *(sa.column(c) for c in (
            "id", "status", "matter_code", "procedure", "team_code", "co_owners", "lon", "lat", "geom", "raw_x",
            "raw_y", "raw_crs", "description", "reporter", "reported_at", "routing", "version_id", "state",
            "revision", "updated_at", "idempotency_key")))).values(
            id=7, status="reported", matter_code="M-X", procedure="simple", team_code="TT1", co_owners="[]",
            lon=115.1, lat=36.1, geom=point, raw_x=115.1, raw_y=36.1, raw_crs="wgs84", description="旧案",
            reporter="w", reported_at=datetime(2026, 3, 2, 9), routing="{}", version_id=1,
            state='{"time_limit": 2, "time_unit": "working_hours", "escalation_level": 0}', revision=0,
            updated_at=datetime(2026, 3, 2, 9), idempotency_key="old-key-0001"))
        conn.execute(sa.text("INSERT INTO case_event (case_id, at, actor, action, reason, detail) "
                             "VALUES (7, '2026-03-02 09:00', 'w', 'report', '', '{}')"))
    upgrade(engine)
    with engine.connect() as conn:  # 0006: the key moved to report_key, scoped to its reporter
        assert conn.execute(sa.text("SELECT reporter, idempotency_key, case_id FROM report_key")).all() == [
            ("w", "old-key-0001", 7)]
        assert conn.execute(sa.text("SELECT idempotency_key FROM case_record WHERE id = 7")).scalar_one() is None
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state FROM case_record WHERE id = 7")).scalar_one()
        state = state if isinstance(state, dict) else json.loads(state)
        assert (state["status"], state["time_limit"], state["time_unit"]) == ("reported", 2, "working_hours")
        assert conn.execute(sa.text("SELECT count(*) FROM case_event WHERE case_id = 7")).scalar_one() == 1
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM case_event"))
    with engine.begin() as conn:  # 0003 allows cases known only by an address
        conn.execute(sa.text("UPDATE case_record SET lon = NULL, lat = NULL, geom = NULL WHERE id = 7"))


def test_units_round_trip_exactly(repo: Repository) -> None:
    v = repo.create_version("v1")
    assert v.id is not None and v.status == "draft"
    # Inside the county: a zone without parent_code is checked against it.
    wiggly = shapely.Polygon([(115.1 + 0.1 * np.cos(t) / 3, 36.8 + 0.1 * np.sin(t) / 3)
                              for t in np.linspace(0, 2 * np.pi, 997)[:-1]])
    units = small_county()
    units[0] = units[0].model_copy(update={"raw_geometry": shapely.box(1, 2, 3, 4), "raw_crs": "EPSG:32650"})
    counts = repo.add_units(v.id, units)
    assert counts == {"county": 1, "township": 2, "village": 2, "zone": 1, "grid": 1}
    repo.add_units(v.id, [Unit(code="Z2", name="景区", layer="zone", kind="scenic_area", geometry=wiggly)])
    got = {u.code: u for u in repo.units(v.id)}
    assert got["Z2"].geometry is not None and got["Z2"].geometry.equals_exact(shapely.MultiPolygon([wiggly]), 0)
    assert got["C"].attributes == {"名称": "测试"}
    assert got["C"].raw_geometry is not None and got["C"].raw_geometry.equals(shapely.box(1, 2, 3, 4))
    assert got["C"].raw_crs == "EPSG:32650"
    assert got["G1"].cells == ["89319e2e92bffff"] and got["G1"].geometry is None
    assert got["Z1"].kind == "dev_zone" and got["V1"].attributes["ur_code"] == "220"
    assert [u.code for u in repo.units(v.id, "township")] == ["T1", "T2"]


def test_duplicate_unknown_parent_and_outside_parent_are_refused(repo: Repository) -> None:
    v = repo.create_version("v1")
    assert v.id is not None
    repo.add_units(v.id, small_county()[:3])
    with pytest.raises(InvalidInput, match="already exists"):
        repo.add_units(v.id, [Unit(code="T1", name="x", layer="township", parent_code="C", geometry=WEST)])
    with pytest.raises(InvalidInput, match="duplicate code V9"):
        repo.add_units(v.id, [Unit(code="V9", name="a", layer="village", parent_code="T1", geometry=WEST),
                              Unit(code="V9", name="b", layer="village", parent_code="T1", geometry=WEST)])
    with pytest.raises(InvalidInput, match="unknown parent code T9"):
        repo.add_units(v.id, [Unit(code="V3", name="c", layer="village", parent_code="T9")])
    with pytest.raises(InvalidInput, match=r"outside its parent 西镇 \(T1\)"):
        repo.add_units(v.id, [Unit(code="V4", name="d", layer="village", parent_code="T1", geometry=EAST)])
    with pytest.raises(InvalidInput, match="needs a township"):
        repo.add_units(v.id, [Unit(code="V5", name="e", layer="village", parent_code="C")])
    assert len(repo.units(v.id)) == 3


def test_failed_write_leaves_store_unchanged(engine: Engine) -> None:
    factory = session_factory(engine)
    with transaction(factory) as session:
        v = Repository(session).create_version("v1")
    before = table_counts(engine)
    with pytest.raises(InvalidInput):
        with transaction(factory) as session:
            repo = Repository(session)
            repo.add_units(v.id or 0, small_county()[:2])  # valid, flushed ...
            repo.add_units(v.id or 0, [Unit(code="X", name="x", layer="village", parent_code="nope")])
    assert table_counts(engine) == before


def test_points_on_shared_edges_find_every_covering_unit(repo: Repository) -> None:
    v = repo.create_version("v1")
    assert v.id is not None
    repo.add_units(v.id, small_county())
    edge = repo.units_covering(v.id, 115.2, 36.75)  # on the T1/T2 and V1/V2 shared edge, inside Z1
    assert {u.code for u in edge} == {"C", "T1", "T2", "V1", "V2", "Z1"}
    corner = repo.units_covering(v.id, 115.0, 36.6)  # the county's corner vertex
    assert {u.code for u in corner} == {"C", "T1", "V1"}
    assert repo.units_covering(v.id, 116.0, 36.8) == []
    rng = np.random.default_rng(3)
    polygons = {u.code: u.geometry for u in repo.units(v.id) if u.geometry is not None}
    for lon, lat in zip(rng.uniform(114.95, 115.45, 40), rng.uniform(36.55, 37.05, 40), strict=True):
        expected = {c for c, g in polygons.items() if g.covers(shapely.Point(lon, lat))}
        assert {u.code for u in repo.units_covering(v.id, lon, lat)} == expected


def test_versions_publish_dates_and_immutability(repo: Repository) -> None:
    v1 = repo.create_version("2025")
    assert v1.id is not None
    repo.add_units(v1.id, small_county()[:1])
    with pytest.raises(NotFound, match="none is published"):
        repo.version_at(date(2025, 6, 1))
    repo.publish(v1.id, date(2025, 1, 1))
    with pytest.raises(Conflict, match="is published"):
        repo.add_units(v1.id, [Unit(code="T1", name="西镇", layer="township", parent_code="C", geometry=WEST)])
    v2 = repo.create_version("2026", based_on=v1.id)
    assert v2.id is not None
    assert [u.code for u in repo.units(v2.id)] == ["C"]  # content copied
    repo.add_units(v2.id, small_county()[1:3])
    with pytest.raises(Conflict, match="rewrite that history"):
        repo.publish(v2.id, date(2024, 12, 1))
    repo.publish(v2.id, date(2026, 3, 1))
    assert repo.version_at(date(2026, 2, 28)).id == v1.id
    assert repo.version_at(date(2026, 3, 1)).id == v2.id
    assert repo.version(v1.id).effective_to == date(2026, 3, 1)
    with pytest.raises(NotFound, match="2025-01-01"):
        repo.version_at(date(2024, 5, 1))
    assert len(repo.units(v1.id)) == 1 and len(repo.units(v2.id)) == 3


def test_stale_edit_is_a_conflict(repo: Repository) -> None:
    v = repo.create_version("draft")
    assert v.id is not None
    row = repo.editable(v.id)
    seen = row.revision
    repo.editable(v.id, expected_revision=seen)
    with pytest.raises(Conflict, match="changed since revision"):
        repo.editable(v.id, expected_revision=seen)


def test_teams_matters_rules_and_delegations_validate_references(repo: Repository) -> None:
    v = repo.create_version("v1")
    assert v.id is not None
    repo.add_units(v.id, small_county())
    teams = [Team(code="BUREAU", name="县综合行政执法局", kind="county_bureau"),
             Team(code="T1-TEAM", name="西镇综合执法队", kind="township_team", parent_code="BUREAU", unit_code="T1")]
    assert repo.add_teams(teams, v.id) == 2
    with pytest.raises(InvalidInput, match="unknown parent team"):
        repo.add_teams([Team(code="X", name="x", kind="squadron", parent_code="NOPE")])
    with pytest.raises(InvalidInput, match="duplicate team code"):
        repo.add_teams([Team(code="BUREAU", name="again", kind="county_bureau")])
    repo.add_matters([Matter(code="M1", name="占道经营", domain="城市管理", procedure="simple", time_limit=24,
                             time_unit="working_hours"),
                      Matter(code="M2", name="露天晾晒煤泥", domain="生态环境")])
    rules = [Rule(code="R1", priority=10, scope=RuleScope(type="everywhere"),
                  matters=MatterFilter(type="not_delegated"), team_code="BUREAU", legal_basis="目录"),
             Rule(code="R2", priority=20, scope=RuleScope(type="unit", unit_code="T1"),
                  matters=MatterFilter(type="delegated"), team_code="T1-TEAM")]
    assert repo.add_rules_and_delegations(v.id, rules, [Delegation(township_code="T1", matter_code="M1")]) == (2, 1)
    assert [r.code for r in repo.rules(v.id)] == ["R2", "R1"]
    assert repo.rules(v.id)[1] == rules[0]
    assert repo.delegations(v.id) == [Delegation(township_code="T1", matter_code="M1")]
    bad = [Rule(code="R3", priority=5, scope=RuleScope(type="unit", unit_code="NOWHERE"),
                matters=MatterFilter(type="codes", codes=["M9"]), team_code="GHOST")]
    with pytest.raises(InvalidInput) as info:
        repo.add_rules_and_delegations(v.id, bad, [Delegation(township_code="V1", matter_code="M1")])
    text = str(info.value)
    for expected in ("unknown team code GHOST", "unknown unit code NOWHERE", "unknown matter code M9",
                     "V1 is not a township"):
        assert expected in text
    with pytest.raises(InvalidInput, match="duplicate rule code"):
        repo.add_rules_and_delegations(v.id, rules[:1], [])
    with pytest.raises(NotFound, match="unknown matter code M7"):
        repo.matter("M7")


@pytest.mark.parametrize("engine", ["postgis"], indirect=True)
def test_postgis_columns_have_srid_and_gist_index(engine: Engine) -> None:
    with engine.connect() as conn:
        srid = conn.execute(sa.text("SELECT Find_SRID('public', 'unit', 'geom')")).scalar_one()
        indexes = conn.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE tablename IN ('unit', 'incident')"))
        gist = [d for (d,) in indexes if "USING gist" in d]
    assert srid == 4326
    assert len(gist) == 2


def race(engine: Engine, first: Callable[[Repository], object], second: Callable[[Repository], object]) -> object:
    """A race, not a sequence: `first` runs and holds its transaction open while `second` starts in another
    session (its reads see nothing of `first`); `first` commits half a second later. Returns what `second`
    came to: "passed" or the Conflict it raised."""
    import threading
    import time

    sessions = session_factory(engine)
    one = sessions()
    first(Repository(one))  # not yet committed: holds its rows (or SQLite's write lock)
    outcome: list[object] = []

    def run() -> None:
        with sessions() as other:
            try:
                second(Repository(other))
                other.commit()
                outcome.append("passed")
            except Conflict as exc:
                other.rollback()
                outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    one.commit()
    one.close()
    t.join(timeout=60)
    assert len(outcome) == 1, outcome
    return outcome[0]


def test_two_edits_based_on_one_revision_cannot_both_pass(engine: Engine) -> None:
    """The second edit waits for the first's lock, then gets its 409."""
    with transaction(session_factory(engine)) as session:
        v = Repository(session).create_version("draft")
    assert v.id is not None
    vid = v.id
    # revision 0 → 1 in the first; the second read revision 0 before the first committed, so a check alone passes
    outcome = race(engine, lambda repo: repo.editable(vid, 0), lambda repo: repo.editable(vid, 0))
    assert isinstance(outcome, Conflict) and "changed since revision 0 (now 1)" in str(outcome), outcome
    with transaction(session_factory(engine)) as session:
        assert Repository(session).version(vid).revision == 1


def published_base_and_drafts(engine: Engine, n: int) -> tuple[int, list[int]]:
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        base = repo.create_version("base")
        assert base.id is not None
        repo.publish(base.id, date(2026, 1, 1))
        drafts = [repo.create_version(f"draft {i}").id for i in range(n)]
    return base.id, [d for d in drafts if d is not None]


def test_two_publishes_at_once_leave_one_version_in_force(engine: Engine) -> None:
    base, (a, b) = published_base_and_drafts(engine, 2)
    day = clock.today() + timedelta(days=3)
    outcome = race(engine, lambda repo: repo.publish(a, day), lambda repo: repo.publish(b, day))
    # PostgreSQL: the second waits for the publish lock, then sees the first in force; SQLite: its conditional
    # UPDATE of the version in force finds it ended already.
    assert isinstance(outcome, Conflict), outcome
    assert "succeeded by another publish" in str(outcome) or "already in force" in str(outcome), outcome
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        assert [v.id for v in repo.versions() if v.status == "published" and v.effective_to is None] == [a]
        assert repo.version(base).effective_to == day and repo.version(b).status == "draft"


def test_two_first_publishes_at_once_leave_one_version_in_force(engine: Engine) -> None:
    """With no version in force yet, neither publish has a version to end: the second still loses."""
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        a, b = (repo.create_version(name).id for name in ("a", "b"))
    assert a is not None and b is not None
    day = clock.today() + timedelta(days=3)
    outcome = race(engine, lambda repo: repo.publish(a, day), lambda repo: repo.publish(b, day))
    assert isinstance(outcome, Conflict), outcome
    with transaction(session_factory(engine)) as session:
        assert [v.id for v in Repository(session).versions() if v.status == "published"] == [a]


def test_an_edit_during_publish_is_not_published_unseen(engine: Engine) -> None:
    """The planner publishes revision 0 while another edit (revision 0 → 1) is being written: one of them
    loses with a 409, never a publish of content the planner did not see."""
    base, (draft,) = published_base_and_drafts(engine, 1)
    day = clock.today() + timedelta(days=3)
    outcome = race(engine, lambda repo: repo.editable(draft, 0), lambda repo: repo.publish(draft, day, 0))
    assert isinstance(outcome, Conflict) and "changed while publishing" in str(outcome), outcome
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        assert (repo.version(draft).status, repo.version(draft).revision) == ("draft", 1)
        assert repo.version(base).effective_to is None  # the half of the publish that ended it is rolled back
