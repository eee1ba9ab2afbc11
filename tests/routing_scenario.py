"""A small county whose arrangements mirror real ones, with answers a person can check by hand.

    36.2 +-----------------------+-----------------------+
         |   V3 (T1, contested:  |                       |
         |   T2 claims it too)   |          V4           |
    36.1 +-----------+---+-------+----+      (T2)        |
         | V1 urban  |   V2  [DEV ZONE] |                 |
         | community |   (T1)  |        |                 |
    36.0 +-----------+---------+--------+-----------------+
       115.0       115.1    115.15  115.2  115.25       115.4
"""

from __future__ import annotations

from datetime import date

import h3
import shapely

from gis.model import Delegation, Matter, MatterFilter, Rule, RuleScope, Team, Unit, Version
from gis.routing import RoutingData
from store.repo import Repository

C = shapely.box(115.0, 36.0, 115.4, 36.2)
T1, T2 = shapely.box(115.0, 36.0, 115.2, 36.2), shapely.box(115.2, 36.0, 115.4, 36.2)
V1, V2 = shapely.box(115.0, 36.0, 115.1, 36.1), shapely.box(115.1, 36.0, 115.2, 36.1)
V3, V4 = shapely.box(115.0, 36.1, 115.2, 36.2), T2
DEV = shapely.box(115.15, 36.02, 115.25, 36.08)
MARKET_CELL = h3.latlng_to_cell(36.05, 115.13, 9)  # an open-air market in V2, assigned by H3 cells
MARKET = sorted(h3.grid_disk(MARKET_CELL, 1))


def units() -> list[Unit]:
    return [
        Unit(code="C", name="演示县", layer="county", geometry=C),
        Unit(code="T1", name="城关镇", layer="township", parent_code="C", geometry=T1),
        Unit(code="T2", name="东乡", layer="township", parent_code="C", geometry=T2),
        Unit(code="V1", name="城东社区", layer="village", parent_code="T1", geometry=V1, attributes={"ur_code": "111"}),
        Unit(code="V2", name="南关村", layer="village", parent_code="T1", geometry=V2, attributes={"ur_code": "220"}),
        Unit(code="V3", name="北河村", layer="village", parent_code="T1", geometry=V3, attributes={"ur_code": "220"}),
        Unit(code="V4", name="东村", layer="village", parent_code="T2", geometry=V4),
        Unit(code="Z-URBAN", name="城区", layer="zone", kind="urban_core", geometry=V1),
        Unit(code="Z-DEV", name="经济开发区", layer="zone", kind="dev_zone", geometry=DEV),
    ]


TEAMS = [
    Team(code="BUREAU", name="县综合行政执法局", kind="county_bureau"),
    Team(code="URBAN", name="城区中队", kind="squadron", parent_code="BUREAU"),
    Team(code="DEVSQ", name="开发区中队", kind="squadron", parent_code="BUREAU"),
    Team(code="TT1", name="城关镇综合执法队", kind="township_team", parent_code="BUREAU", unit_code="T1"),
    Team(code="TT2", name="东乡综合执法队", kind="township_team", parent_code="BUREAU", unit_code="T2"),
    Team(code="ENV", name="生态环境分局", kind="department"),
    Team(code="MARKET", name="市场监管所", kind="department"),
]
MATTERS = [
    Matter(code="M-STREET", name="占道经营", domain="城市管理", procedure="simple"),
    Matter(code="M-LAND", name="非法占地", domain="自然资源"),
    Matter(code="M-POLL", name="露天焚烧", domain="生态环境"),
    Matter(code="M-NOISE", name="噪声扰民", domain="城市管理"),
]
DELEGATIONS = [
    Delegation(township_code="T1", matter_code="M-STREET"),
    Delegation(township_code="T2", matter_code="M-STREET"),
    Delegation(township_code="T1", matter_code="M-NOISE"),  # only the seat town holds noise
]


def rules() -> list[Rule]:
    basis = "《乡镇综合行政执法事项目录》"
    return [
        Rule(code="R-BUREAU", priority=10, scope=RuleScope(type="everywhere"),
             matters=MatterFilter(type="not_delegated"), team_code="BUREAU", legal_basis=basis),
        Rule(code="R-T1", priority=20, scope=RuleScope(type="unit", unit_code="T1"),
             matters=MatterFilter(type="delegated"), team_code="TT1", legal_basis=basis),
        Rule(code="R-T2", priority=20, scope=RuleScope(type="unit", unit_code="T2"),
             matters=MatterFilter(type="delegated"), team_code="TT2", legal_basis=basis),
        Rule(code="R-V3-CLAIM", priority=20, scope=RuleScope(type="unit", unit_code="V3"),
             matters=MatterFilter(type="delegated"), team_code="TT2", description="东乡 claims 北河村"),
        Rule(code="R-URBAN", priority=30, scope=RuleScope(type="unit", unit_code="Z-URBAN"),
             matters=MatterFilter(type="delegated"), team_code="URBAN"),
        Rule(code="R-MARKET", priority=35, scope=RuleScope(type="cells", cells=MARKET),
             matters=MatterFilter(type="domain", domain="城市管理"), team_code="URBAN", co_owner_codes=["MARKET"]),
        Rule(code="R-DEV", priority=40, scope=RuleScope(type="unit", unit_code="Z-DEV"),
             matters=MatterFilter(type="all"), team_code="DEVSQ"),
        Rule(code="R-ENV", priority=50, scope=RuleScope(type="everywhere"),
             matters=MatterFilter(type="codes", codes=["M-POLL"]), team_code="ENV",
             effective_to=date(2026, 7, 1), description="until the environment matters moved to the bureau"),
    ]


def data() -> RoutingData:
    version = Version(id=1, name="2026", status="published", effective_from=date(2025, 1, 1))
    return RoutingData(version=version, units=units(), rules=rules(), delegations=DELEGATIONS,
                       matters=MATTERS, teams=TEAMS)


def load(repo: Repository) -> tuple[int, int]:
    """Store the scenario: v1 from 2025-01-01 without the claim on V3, v2 from 2026-01-01 adding it (a dispute).
    Returns the two version ids."""
    all_rules = rules()
    v1 = repo.create_version("2025")
    assert v1.id is not None
    repo.add_units(v1.id, units())
    repo.add_teams(TEAMS)
    repo.add_matters(MATTERS)
    repo.add_rules_and_delegations(v1.id, [r for r in all_rules if r.code != "R-V3-CLAIM"], DELEGATIONS)
    repo.publish(v1.id, date(2025, 1, 1))
    v2 = repo.create_version("2026", based_on=v1.id)
    assert v2.id is not None
    repo.add_rules_and_delegations(v2.id, [r for r in all_rules if r.code == "R-V3-CLAIM"], [])
    repo.publish(v2.id, date(2026, 1, 1))
    return v1.id, v2.id
