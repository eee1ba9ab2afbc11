"""Evaluation indicators of the GB/T 30428.4 family per region, team and post, with a composite score and grade.

Definitions, exactly as computed (the module's claim of exactness; tests/test_indicators.py checks each against an
independent computation over cases made through the API):

- The **cohort** of a period [from, to) is the cases *reported* in it (like `/stats`). Everything is judged as of
  `as_of` = min(to, now): a closure, escalation, check or suspension after `as_of` has not happened yet.
- `reported`: every case of the cohort. `registered` (立案): cases registered by `as_of`, cancelled ones aside.
- `closed` (结案): closed (or evaluated) by `as_of`. `closure_rate` = closed ÷ registered.
- `due` (应结案): registered cases whose deadline is at or before `as_of`, or that were closed by `as_of` — but not a
  case suspended (挂账) at `as_of`: its clock is stopped, so it is out of the denominator. A case's deadline is its
  current one (extensions and resumptions included; while suspended, the deadline it had when suspended).
- `closed_on_time` (按期结案): closed by `as_of` and by its deadline (the workflow's `on_time`).
  `on_time_rate` (按期结案率) = closed_on_time ÷ due.
- `overdue` (超期) = due − closed_on_time: closed late (`closed_late`) or still open past the deadline
  (`open_overdue`). `overdue_rate` = overdue ÷ due.
- `escalated` (督办): cases with an escalation by `as_of`. `escalation_rate` = escalated ÷ registered.
- `rework` (返工): cases whose check (核查) failed at least once by `as_of` (sent back for handling again);
  `rework_rate` = rework ÷ cases checked at least once.
- `mean_hours_to_close`: working hours (the county's calendar, `cases.calendar`) from registration to closure,
  minus the working hours the case spent suspended, averaged over closed cases.
- `first_violation` (首违): cases whose handling (处置, the officer's page) recorded the lenient outcome of the
  matter's first-violation list for a first violation — 不予处罚 on the no-penalty list, 责令改正 on the
  correction-first list, a warning on the warning-only list (`cases.first_violation.FIRST_OUTCOME`); the last
  handling counts. None when no case in the data recorded any (the outcome record is not in use).
- Levels: `county` (one row per county), `township`, `village`, `grid` (the case's place), `team` (the owning team),
  `grid_worker` (the reporter, a grid worker's account) and `officer` (each team member who reported arrival,
  handling or feedback on the case: a case counts once for each officer who worked it).

The composite score and grade are data (`config/indicators.json`, see `load_scoring`): a weighted mean of rates
(inverted where lower is better) × 100, weights renormalised over the rates a row has; rows with fewer registered
cases than `min_registered` get no score (too few to judge).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cases import clock
from cases.calendar import WorkCalendar
from cases.first_violation import FIRST_OUTCOME
from gis.errors import InvalidInput
from i18n import N_, T, gettext

LEVELS: tuple[str, ...] = ("county", "township", "village", "grid", "team", "grid_worker", "officer")
RATES: tuple[str, ...] = ("closure_rate", "on_time_rate", "overdue_rate", "escalation_rate", "rework_rate")


def first_violation_outcome(recorded: dict[str, Any]) -> str | None:
    """The outcome a handling step recorded (its log's `outcome` detail), when it is the first-violation list's own
    lenient outcome for a first violation; else None (a penalty, a repeat, a matter on no list)."""
    klass, outcome = recorded.get("list"), recorded.get("outcome")
    if klass in FIRST_OUTCOME and outcome == FIRST_OUTCOME[klass] and recorded.get("first") is not False:
        return str(outcome)
    return None
NONE = "(none)"
# The columns of a row, in order, with the header a person reads (message ids; Chinese in indicators.po).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("code", N_("Code")), ("name", N_("Name")), ("reported", N_("Reported")), ("registered", N_("Registered")),
    ("closed", N_("Closed")), ("closure_rate", N_("Closure rate")), ("due", N_("Due to close")),
    ("closed_on_time", N_("Closed on time")), ("on_time_rate", N_("On-time closure rate")),
    ("overdue", N_("Overdue cases")), ("closed_late", N_("Closed late")), ("open_overdue", N_("Open and overdue")),
    ("overdue_rate", N_("Overdue rate")), ("suspended", N_("Suspended")), ("escalated", N_("Escalated cases")),
    ("escalation_rate", N_("Escalation rate")), ("checked", N_("Checked")), ("rework", N_("Rework")),
    ("rework_rate", N_("Rework rate")), ("mean_hours_to_close", N_("Mean working hours to close")),
    ("first_violation", N_("First-violation outcomes")), ("score", N_("Composite score")), ("grade", N_("Grade")),
)
LEVEL_NAMES = {"county": N_("County"), "township": N_("Township"), "village": N_("Village"), "grid": N_("Grid"),
               "team": N_("Team"), "grid_worker": N_("Grid worker"), "officer": N_("Officer")}


@dataclass(frozen=True)
class CaseFacts:
    """What the indicators need of one case: its place, owners and the instants of its history."""

    id: int
    status: str
    team: str
    township: str | None
    village: str | None
    grid: str | None
    reporter: str
    reported_at: datetime
    registered_at: datetime | None
    deadline: datetime | None  # current; while suspended, the deadline it had when suspended
    closed_at: datetime | None
    on_time: bool | None
    escalated_at: datetime | None = None  # first escalation
    checks: tuple[tuple[datetime, bool], ...] = ()  # (when, passed)
    suspensions: tuple[tuple[datetime, datetime | None], ...] = ()  # (suspended, resumed or None)
    officers: tuple[tuple[str, datetime], ...] = ()  # (username, first team step)
    outcome: tuple[str, datetime] | None = None  # the first-violation outcome recorded, and when
    recorded: str | None = None  # the outcome the last handling recorded, whatever it was (no_penalty … penalty)
    matter: str = ""
    procedure: str = ""
    county: str | None = None


@dataclass(frozen=True)
class Scoring:
    """Weights and grade thresholds of the composite score (config/indicators.json)."""

    weights: Mapping[str, float]
    invert: frozenset[str]
    grades: tuple[tuple[str, float], ...]  # (grade, minimum score), best first
    min_registered: int
    source: str = ""
    delegation: Mapping[str, Any] = field(default_factory=dict)


def load_scoring(path: str | Path | None = None) -> Scoring:
    """The scoring configuration from a JSON file (default: the bundled config/indicators.json)."""
    where = str(path) if path else "config/indicators.json"
    try:
        text = (Path(path).read_text(encoding="utf-8") if path
                else (resources.files("config") / "indicators.json").read_text(encoding="utf-8"))
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(T("cannot read the scoring configuration: {error}", error=str(exc)), where=where) from None
    try:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        invert = frozenset(str(k) for k in data.get("invert", []))
        grades = tuple((str(g), float(m)) for g, m in data["grades"])
        min_registered = int(data.get("min_registered", 1))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(T("the scoring configuration is malformed: {error}", error=repr(exc)), where=where) from None
    unknown = sorted(set(weights) - set(RATES))
    if unknown:
        raise InvalidInput(T("unknown indicator {name} in the weights; one of {known}", name=unknown[0],
                             known=", ".join(RATES)), where=f"{where}: weights")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise InvalidInput(T("weights must be ≥ 0 and not all 0"), where=f"{where}: weights")
    if not grades or [m for _, m in grades] != sorted((m for _, m in grades), reverse=True):
        raise InvalidInput(T("grades must be listed best first with falling minimum scores"),
                           where=f"{where}: grades")
    return Scoring(weights, invert, grades, min_registered, str(data.get("source", "")),
                   dict(data.get("delegation", {})))


class Tally:
    """The counts of one row."""

    def __init__(self) -> None:
        self.reported = self.registered = self.closed = self.due = self.on_time = self.closed_late = 0
        self.open_overdue = self.suspended = self.escalated = self.checked = self.rework = self.first_violation = 0
        self.hours = 0.0

    def add(self, f: CaseFacts, as_of: datetime, calendar: WorkCalendar) -> None:
        self.reported += 1
        if f.status == "cancelled" or f.registered_at is None or f.registered_at > as_of:
            return
        self.registered += 1
        closed = f.closed_at is not None and f.closed_at <= as_of
        suspended = not closed and _suspended_at(f, as_of)
        self.suspended += suspended
        if closed:
            assert f.closed_at is not None
            self.closed += 1
            paused = sum(calendar.working_time_between(s, min(r or f.closed_at, f.closed_at), "working_hours")
                         for s, r in f.suspensions if s <= f.closed_at)
            self.hours += calendar.working_time_between(f.registered_at, f.closed_at, "working_hours") - paused
        if not suspended and (closed or (f.deadline is not None and f.deadline <= as_of)):
            self.due += 1
            if closed and f.on_time:
                self.on_time += 1
            elif closed:
                self.closed_late += 1
            else:
                self.open_overdue += 1
        self.escalated += f.escalated_at is not None and f.escalated_at <= as_of
        checks = [passed for at, passed in f.checks if at <= as_of]
        self.checked += bool(checks)
        self.rework += any(not p for p in checks)
        self.first_violation += f.outcome is not None and f.outcome[1] <= as_of

    def view(self, scoring: Scoring, outcomes_recorded: bool) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 6) if d else None

        row: dict[str, Any] = {
            "reported": self.reported, "registered": self.registered, "closed": self.closed,
            "closure_rate": rate(self.closed, self.registered), "due": self.due, "closed_on_time": self.on_time,
            "on_time_rate": rate(self.on_time, self.due), "overdue": self.closed_late + self.open_overdue,
            "closed_late": self.closed_late, "open_overdue": self.open_overdue,
            "overdue_rate": rate(self.closed_late + self.open_overdue, self.due), "suspended": self.suspended,
            "escalated": self.escalated, "escalation_rate": rate(self.escalated, self.registered),
            "checked": self.checked, "rework": self.rework, "rework_rate": rate(self.rework, self.checked),
            "mean_hours_to_close": round(self.hours / self.closed, 4) if self.closed else None,
            "first_violation": self.first_violation if outcomes_recorded else None,
        }
        row["score"], row["grade"] = composite(row, scoring)
        return row


def _suspended_at(f: CaseFacts, at: datetime) -> bool:
    return any(s <= at and (r is None or r > at) for s, r in f.suspensions)


def composite(row: Mapping[str, Any], scoring: Scoring) -> tuple[float | None, str | None]:
    """The score (0–100) and grade of a row, or (None, None) when it has too few cases or no rate to judge."""
    if row["registered"] < scoring.min_registered:
        return None, None
    parts = [(k, w, float(row[k])) for k, w in scoring.weights.items() if w > 0 and row.get(k) is not None]
    total = sum(w for _, w, _ in parts)
    if not total:
        return None, None
    score = sum(w * ((1 - v) if k in scoring.invert else v) for k, w, v in parts) / total * 100
    score = round(score, 2)
    grade = next((g for g, minimum in scoring.grades if score >= minimum), scoring.grades[-1][0])
    return score, grade


def _keys(f: CaseFacts, level: str, workers: frozenset[str] | None, as_of: datetime) -> list[str]:
    if level == "county":
        return [f.county or NONE]
    if level == "township":
        return [f.township or NONE]
    if level == "village":
        return [f.village or NONE]
    if level == "grid":
        return [f.grid or NONE]
    if level == "team":
        return [f.team]
    if level == "grid_worker":
        return [f.reporter] if workers is None or f.reporter in workers else []
    return sorted({who for who, at in f.officers if at <= as_of})


def indicators(facts: Iterable[CaseFacts], level: str, as_of: datetime, calendar: WorkCalendar, scoring: Scoring,
               names: Callable[[str], str | None] = lambda code: None,
               grid_workers: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """One row per unit, team or person of `level` (sorted by code), each {code, name, …counts, rates, score}."""
    if level not in LEVELS:
        raise InvalidInput(T("level must be one of {levels}, got {level}", levels=", ".join(LEVELS),
                             level=repr(level)), where="level")
    as_of = clock.to_local(as_of)
    facts = list(facts)
    outcomes_recorded = any(f.outcome is not None for f in facts)
    tallies: defaultdict[str, Tally] = defaultdict(Tally)
    for f in facts:
        for key in _keys(f, level, grid_workers, as_of):
            tallies[key].add(f, as_of, calendar)
    return [{"code": key, "name": names(key) if key != NONE else gettext(N_("(no place)")),
             **t.view(scoring, outcomes_recorded)} for key, t in sorted(tallies.items())]


def headers(lang: str | None = None) -> list[str]:
    """The column headers in the reader's language."""
    return [gettext(label, lang) for _, label in COLUMNS]


def rows_to_csv(rows: list[dict[str, Any]], lang: str | None = None) -> str:
    """The rows as CSV with headers in the reader's language (UTF-8 with a BOM, so Excel reads the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers(lang))
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row[k] for k, _ in COLUMNS])
    return "\ufeff" + out.getvalue()
