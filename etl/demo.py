"""Load the generated demo county into the store as one published version."""

from __future__ import annotations

from collections import Counter
from datetime import date

from gis.demo import DemoCounty
from gis.layers import LOAD_ORDER
from store.repo import Repository


def load_demo(repo: Repository, demo: DemoCounty, *, effective_from: date, second_county: bool = False) -> Counter[str]:
    """Store every part of the demo county and publish its version; counts per kind. With `second_county`,
    a neighbouring county sharing its border exactly goes into the same version (gis/demo_neighbour.py)."""
    units, teams, rules, delegations = list(demo.units), list(demo.teams), list(demo.rules), list(demo.delegations)
    if second_county:
        from gis.demo_catalogue import COUNTY_CODE
        from gis.demo_neighbour import build_neighbour, scope_to_county

        nb = build_neighbour(demo.units)
        units += nb.units
        teams += nb.teams
        rules = scope_to_county(rules, COUNTY_CODE) + nb.rules
        delegations += nb.delegations
    version = repo.create_version("演示县 demo", note=f"gridgov demo, seed {demo.seed}")
    assert version.id is not None
    counts: Counter[str] = Counter()
    order = {layer: i for i, layer in enumerate(LOAD_ORDER)}
    counts.update(repo.add_units(version.id, sorted(units, key=lambda u: order[u.layer])))
    counts["team"] = repo.add_teams(teams, version.id)
    counts["matter"] = repo.add_matters(demo.matters)
    counts["rule"], counts["delegation"] = repo.add_rules_and_delegations(version.id, rules, delegations)
    repo.publish(version.id, effective_from)
    counts["incident"] = repo.add_incidents(demo.incidents)
    return counts
