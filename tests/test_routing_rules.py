"""The real arrangements, each on a point whose answer can be read off the scenario map."""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pytest

from gis.errors import InvalidInput
from gis.routing import Router
from i18n import language
from tests import routing_scenario as sc

DAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(sc.data())


@pytest.mark.parametrize(
    ("lon", "lat", "matter", "team", "status", "rule"),
    [
        # The county squadron covers the seat town's urban community; the town team its other villages.
        (115.05, 36.05, "M-STREET", "URBAN", "ok", "R-URBAN"),
        (115.17, 36.09, "M-STREET", "TT1", "ok", "R-T1"),
        # A development zone has its own squadron, for every matter, across the township line.
        (115.16, 36.05, "M-LAND", "DEVSQ", "ok", "R-DEV"),
        (115.24, 36.05, "M-STREET", "DEVSQ", "ok", "R-DEV"),
        # A matter not delegated to the township goes to the county bureau wherever the point is.
        (115.30, 36.15, "M-NOISE", "BUREAU", "ok", "R-BUREAU"),
        (115.05, 36.05, "M-LAND", "BUREAU", "ok", "R-BUREAU"),
        # …while the seat town, which holds noise, keeps it.
        (115.17, 36.09, "M-NOISE", "TT1", "ok", "R-T1"),
        # A matter kept by a department goes there, whoever holds the place.
        (115.05, 36.05, "M-POLL", "ENV", "ok", "R-ENV"),
        # H3-cell jurisdiction: the market's cells go to the urban squadron for urban-management matters.
        (115.13, 36.05, "M-STREET", "URBAN", "ok", "R-MARKET"),
        (115.13, 36.05, "M-LAND", "BUREAU", "ok", "R-BUREAU"),
        # Same priority, two teams: a dispute, routed to the fallback (the county bureau).
        (115.10, 36.15, "M-STREET", "BUREAU", "dispute", None),
        # Outside the county: a gap, routed to the fallback, never an error.
        (116.00, 36.10, "M-STREET", "BUREAU", "gap", None),
    ],
)
def test_real_arrangements(router: Router, lon: float, lat: float, matter: str, team: str, status: str,
                           rule: str | None) -> None:
    d = router.explain(lon, lat, matter, DAY)
    assert (d.team, d.status) == (team, status)
    assert (d.winning_rule.code if d.winning_rule else None) == rule
    assert router.owner(lon, lat, matter, DAY) == team
    teams, statuses = router.route_many(np.array([lon]), np.array([lat]), matter, DAY)
    assert (teams[0], statuses[0]) == (team, status)
    assert d.fallback_used == (status != "ok")


def test_dispute_names_both_teams_and_the_fallback(router: Router) -> None:
    d = router.explain(115.10, 36.15, "M-STREET", DAY)
    assert d.candidates == ["TT1", "TT2"]
    assert {r.code for r in d.matched_rules} == {"R-T1", "R-V3-CLAIM"}
    # In words officials read: names first, codes second, Chinese unless English is asked for.
    assert d.reason.startswith("由兜底队伍县综合行政执法局（BUREAU）负责") and "存在管辖争议" in d.reason
    assert "城关镇综合执法队（TT1）" in d.reason and "东乡综合执法队（TT2）" in d.reason and "城关镇北河村" in d.reason
    with language("en"):
        english = router.explain(115.10, 36.15, "M-STREET", DAY).reason
    assert english.startswith("县综合行政执法局 (BUREAU) takes it as the fallback team") and "a dispute" in english


def test_a_clear_decision_reads_as_a_sentence_with_names() -> None:
    from gis.demo import build_demo_county
    from gis.model import Version
    from gis.routing import Router as DemoRouter
    from gis.routing import RoutingData

    demo = build_demo_county(seed=7, months=1)
    r = DemoRouter(RoutingData(version=Version(id=1, name="演示"), units=demo.units, rules=demo.rules,
                               delegations=demo.delegations, matters=demo.matters, teams=demo.teams))
    township = next(u for u in demo.units if u.layer == "township" and u.name != "城关镇")
    village = next(u for u in demo.units if u.layer == "village" and u.parent_code == township.code)
    assert village.geometry is not None
    p = village.geometry.representative_point()
    d = r.explain(p.x, p.y, "M-ENV-COAL", DAY)
    team = next(t for t in demo.teams if t.code == d.team)
    assert d.reason.startswith(
        f"{team.name}（{team.code}）负责：该点位于{township.name}{village.name}，露天晾晒煤泥属已赋权乡镇的事项")
    assert f"依据规则 {d.winning_rule.code}（适用于{township.name}，优先级 20）" in d.reason  # type: ignore[union-attr]


def test_co_owners_come_from_the_winning_rule(router: Router) -> None:
    d = router.explain(115.13, 36.05, "M-NOISE", DAY)
    assert d.team == "URBAN" and d.co_owners == ["MARKET"]


def test_rules_follow_their_dates(router: Router) -> None:
    assert router.owner(115.05, 36.05, "M-POLL", date(2026, 6, 30)) == "ENV"
    after = router.explain(115.05, 36.05, "M-POLL", date(2026, 7, 1))
    assert (after.team, after.winning_rule and after.winning_rule.code) == ("BUREAU", "R-BUREAU")


def test_shared_vertex_resolves_by_the_documented_tie_break(router: Router) -> None:
    # (115.1, 36.1) is a vertex of V1, V2 and V3 (all in T1): the smallest code, V1, wins; V1 is the urban core.
    d = router.explain(115.1, 36.1, "M-STREET", DAY)
    covering = {u.code for u in d.units}
    assert {"V1", "V2", "V3", "T1", "C", "Z-URBAN"} <= covering
    assert {u.code for u in d.units if u.selected} == {"C", "T1", "V1", "Z-URBAN"}
    assert d.on_boundary and d.near_boundary and d.distance_to_boundary_m < 0.01
    assert d.team == "URBAN"


def test_shared_township_edge_is_never_unassigned(router: Router) -> None:
    # On the T1/T2 line, outside the dev zone: T1 has the smaller code; its village V2 follows.
    d = router.explain(115.2, 36.01, "M-STREET", DAY)
    assert {u.code for u in d.units if u.layer == "township"} == {"T1", "T2"}
    assert [u.code for u in d.units if u.selected and u.layer in ("township", "village")] == ["T1", "V2"]
    assert (d.team, d.status) == ("TT1", "ok")
    edge = np.linspace(36.0, 36.2, 2001)
    teams, statuses = router.route_many(np.full(edge.size, 115.2), edge, "M-STREET", DAY)
    assert "gap" not in statuses


def test_near_boundary_follows_the_reported_accuracy(router: Router) -> None:
    # 0.0002° of longitude west of the T1/T2 line ≈ 17.9 m at 36°N.
    close = router.explain(115.1998, 36.15, "M-LAND", DAY, accuracy_m=30)
    assert 17 < close.distance_to_boundary_m < 19 and close.near_boundary and not close.on_boundary
    assert not router.explain(115.1998, 36.15, "M-LAND", DAY, accuracy_m=10).near_boundary


def test_h3_membership_is_exact_at_the_cell_edge(router: Router) -> None:
    boundary = h3.cell_to_boundary(sc.MARKET[0])  # (lat, lng) vertices of a market cell
    for (la1, lo1), (la2, lo2) in zip(boundary, boundary[1:] + boundary[:1], strict=True):
        for t in (0.25, 0.5, 0.75):
            lat, lon = la1 + t * (la2 - la1), lo1 + t * (lo2 - lo1)
            inside = h3.latlng_to_cell(lat, lon, 9) in sc.MARKET
            assert (router.owner(lon, lat, "M-STREET", DAY) == "URBAN") == inside


def test_unknown_matter_is_refused_with_a_hint(router: Router) -> None:
    with pytest.raises(InvalidInput, match="unknown matter code 'M-NOPE'"):
        router.owner(115.1, 36.1, "M-NOPE", DAY)


def test_many_points_agree_with_single_point_answers(router: Router) -> None:
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(114.95, 115.45, 5000), rng.uniform(35.95, 36.25, 5000)
    for matter in ("M-STREET", "M-LAND", "M-NOISE", "M-POLL"):
        teams, _ = router.route_many(lon, lat, matter, DAY)
        assert teams == [router.explain(x, y, matter, DAY).team for x, y in zip(lon[:300], lat[:300], strict=True)] \
            + teams[300:]
