"""Load the generated demo county into the store as one published version."""

from __future__ import annotations

from collections import Counter
from datetime import date

from gis.demo import DemoCounty
from gis.layers import LOAD_ORDER
from store.repo import Repository


def load_demo(repo: Repository, demo: DemoCounty, *, effective_from: date) -> Counter[str]:
    """Store every part of the demo county and publish its version; counts per kind."""
    version = repo.create_version("演示县 demo", note=f"gridgov demo, seed {demo.seed}")
    assert version.id is not None
    counts: Counter[str] = Counter()
    order = {layer: i for i, layer in enumerate(LOAD_ORDER)}
    counts.update(repo.add_units(version.id, sorted(demo.units, key=lambda u: order[u.layer])))
    counts["team"] = repo.add_teams(demo.teams, version.id)
    counts["matter"] = repo.add_matters(demo.matters)
    counts["rule"], counts["delegation"] = repo.add_rules_and_delegations(version.id, demo.rules, demo.delegations)
    repo.publish(version.id, effective_from)
    counts["incident"] = repo.add_incidents(demo.incidents)
    return counts
