"""What the rule table says for one place and one matter: the matching rules, the winner and why.

The reading is deliberately plain (and mirrored, independently, by the tests):
- a rule applies on day D when effective_from ≤ D < effective_to (open ends allowed);
- scope: `unit` — that unit is among the place's selected units; `layer` — some unit of that layer is;
  `cells` — the point's H3 cell is in the set; `everywhere` — anywhere inside a county of the version;
- matters: `all`; `domain` — the matter's domain; `delegated` / `not_delegated` — whether the place's
  township holds the matter (no township: not delegated; a deferred (暂缓) delegation is not held yet);
  `codes` — an explicit list;
- the highest priority wins; two or more teams at that priority is a dispute; nothing is a gap.
  Disputes and gaps go to the fallback team and say so: the bureau of the county holding the place (a
  `county_bureau` team whose `unit_code` is that county), else the deployment's fallback team (the
  configured city-level team, or the first county bureau) — also for points outside every county.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gis.model import Delegation, Matter, Rule
from gis.routing.regions import Region

OK, DISPUTE, GAP = 0, 1, 2
STATUS_NAMES = {OK: "ok", DISPUTE: "dispute", GAP: "gap"}


@dataclass(frozen=True)
class Outcome:
    """The decision for one place and matter, before any explanation is attached."""

    team: str
    status: int
    winners: tuple[Rule, ...]  # the rules at the top priority (several: a dispute)
    matched: tuple[Rule, ...]  # every matching rule, highest priority first

    @property
    def co_owners(self) -> tuple[str, ...]:
        if self.status != OK:
            return ()
        seen: dict[str, None] = {}
        for rule in self.winners:
            for code in rule.co_owner_codes:
                if code != self.team:
                    seen[code] = None
        return tuple(seen)


def rule_in_force(rule: Rule, day: date) -> bool:
    """Whether the rule applies on `day`."""
    return (rule.effective_from is None or rule.effective_from <= day) and (
        rule.effective_to is None or day < rule.effective_to)


class RuleBook:
    """The rules, delegations and matters of one version, ready to be read for places."""

    def __init__(self, rules: list[Rule], delegations: list[Delegation], matters: list[Matter],
                 fallback_team: str, county_fallbacks: dict[str, str] | None = None) -> None:
        self.rules = sorted(rules, key=lambda r: (-r.priority, r.code))
        self.delegated = {(d.township_code, d.matter_code) for d in delegations if d.held}  # 暂缓: not yet
        self.matters = {m.code: m for m in matters}
        self.fallback_team = fallback_team
        self.county_fallbacks = county_fallbacks or {}

    def fallback_for(self, selected: list[Region]) -> str:
        """Who takes a gap or dispute here: the bureau of the county holding the place, else the default."""
        county = next((r.code for r in selected if r.layer == "county"), None)
        return self.county_fallbacks.get(county or "", self.fallback_team)

    def scope_matches(self, rule: Rule, selected: list[Region]) -> bool:
        """Whether the rule's scope covers a place with these selected regions."""
        scope = rule.scope
        if scope.type == "unit":
            return any(r.code == scope.unit_code for r in selected)
        if scope.type == "layer":
            return any(r.layer == scope.layer for r in selected)
        if scope.type == "cells":
            return any(r.code == f"rule:{rule.code}" for r in selected)
        return any(r.layer == "county" for r in selected)  # everywhere: inside the county

    def matter_matches(self, rule: Rule, matter: Matter, township: str | None) -> bool:
        """Whether the rule's matter filter covers this matter in this township."""
        f = rule.matters
        if f.type == "all":
            return True
        if f.type == "domain":
            return matter.domain == f.domain
        if f.type == "codes":
            return matter.code in (f.codes or [])
        held = township is not None and (township, matter.code) in self.delegated
        return held if f.type == "delegated" else not held

    def decide(self, selected: list[Region], matter_code: str, day: date) -> Outcome:
        """Read the rule table for a place (its selected regions), a matter and a day."""
        matter = self.matters[matter_code]
        township = next((r.code for r in selected if r.layer == "township"), None)
        matched = tuple(r for r in self.rules if rule_in_force(r, day)
                        and self.scope_matches(r, selected) and self.matter_matches(r, matter, township))
        if not matched:
            return Outcome(self.fallback_for(selected), GAP, (), ())
        top = tuple(r for r in matched if r.priority == matched[0].priority)
        teams = {r.team_code for r in top}
        if len(teams) > 1:
            return Outcome(self.fallback_for(selected), DISPUTE, top, matched)
        return Outcome(top[0].team_code, OK, top, matched)

    def change_days(self) -> list[date]:
        """Days on which some rule starts or stops: between them the active rule set is constant."""
        days = {d for r in self.rules for d in (r.effective_from, r.effective_to) if d is not None}
        return sorted(days)
