"""The explained decision: one owner plus everything that shows why."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class UnitRef(BaseModel):
    """A unit (or a rule's cell set) covering the point; `selected` marks the ones the decision used."""

    code: str
    name: str
    layer: str
    kind: str
    selected: bool


class RuleRef(BaseModel):
    """A rule that matched, with what made it match."""

    code: str
    priority: int
    team: str
    co_owners: list[str]
    scope: str
    matters: str
    legal_basis: str


class VersionRef(BaseModel):
    """The boundary version the decision was made under."""

    id: int
    name: str
    effective_from: date | None
    effective_to: date | None


class Decision(BaseModel):
    """Who is responsible for a point and a matter on a day, and why."""

    lon: float
    lat: float
    matter: str
    day: date
    team: str = Field(description="the responsible team (the fallback team for disputes and gaps)")
    team_name: str
    co_owners: list[str] = Field(description="teams that share the case (joint enforcement)")
    status: str = Field(description="ok, dispute (same-priority teams) or gap (no rule)")
    reason: str
    fallback_used: bool
    candidates: list[str] = Field(description="the teams in dispute, when status is dispute")
    winning_rule: RuleRef | None
    matched_rules: list[RuleRef]
    units: list[UnitRef]
    version: VersionRef
    distance_to_boundary_m: float = Field(description="metres to the nearest boundary of any region")
    on_boundary: bool = Field(description="the point lies on a shared edge or vertex; a tie-break chose")
    accuracy_m: float | None = Field(description="the reported GPS accuracy")
    near_boundary: bool = Field(description="closer to a boundary than the GPS accuracy: confirm the place")
