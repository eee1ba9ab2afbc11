"""The delegation review: which township matters to hand back and which to hand down, from the case record.

Practice: 泉州 delegates "as each batch matures" (成熟一批、赋予一批); 海曙 delegates what is frequent, in demand and
close to the people and easy to judge and handle (三高两易), and adjusts away matters with no case at all (零办件).

Per township × matter over a span (default three years, ending at the period's end), as computed:
- `cases`: cases of the matter reported in the span at a place in the township (cancelled ones aside);
- `by_township`: those owned by a township team (`township_team`); `by_county`: the rest (county bureau, squadrons,
  departments). `township_share` = by_township ÷ cases;
- `due`, `overdue`, `overdue_rate`: as in `analytics.indicators` (suspended cases out of the denominator);
- `simple_share`: the share handled under the simple procedure (简易程序: "easy to judge and handle");
- `delegated`: the matter is on the township's delegation list in the version in force at the span's end;
- `flag`: `withdraw` (撤回候选) for a delegated matter with at most `withdraw_max_cases` cases in the span;
  `delegate` (赋权候选) for a matter not delegated with at least `delegate_min_cases_per_year` cases a year in the
  township and a simple share of at least `delegate_min_simple_share`; otherwise None.
Rows are every delegated pair plus every pair with a case, sorted by township then matter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.indicators import CaseFacts, Tally
from cases.calendar import WorkCalendar
from gis.errors import InvalidInput
from i18n import N_, T, gettext

FLAGS = {"withdraw": N_("withdrawal candidate"), "delegate": N_("delegation candidate")}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("township", N_("Township code")), ("township_name", N_("Township")), ("matter", N_("Matter code")),
    ("matter_name", N_("Matter")), ("domain", N_("Domain")), ("delegated", N_("Delegated")),
    ("cases", N_("Cases")), ("by_township", N_("Handled by the township")), ("by_county", N_("Handled by the county")),
    ("township_share", N_("Township share")), ("due", N_("Due to close")), ("overdue", N_("Overdue cases")),
    ("overdue_rate", N_("Overdue rate")), ("simple_share", N_("Simple-procedure share")),
    ("flag", N_("Suggestion")),
)


@dataclass(frozen=True)
class Thresholds:
    """When a pair is flagged (config/indicators.json → delegation)."""

    span_years: int = 3
    withdraw_max_cases: int = 0
    delegate_min_cases_per_year: float = 10.0
    delegate_min_simple_share: float = 0.0

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Thresholds:
        try:
            t = cls(int(data.get("span_years", 3)), int(data.get("withdraw_max_cases", 0)),
                    float(data.get("delegate_min_cases_per_year", 10)),
                    float(data.get("delegate_min_simple_share", 0.0)))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(T("the delegation thresholds are malformed: {error}", error=str(exc)),
                               where="delegation") from None
        if not 1 <= t.span_years <= 20:
            raise InvalidInput(T("the span must be 1 to 20 years, got {years}", years=t.span_years), where="years")
        return t


def review(facts: Iterable[CaseFacts], townships: Iterable[tuple[str, str]],
           matters: Iterable[tuple[str, str, str, str]], delegated: set[tuple[str, str]],
           team_kinds: Mapping[str, str], as_of: datetime, years: float, calendar: WorkCalendar,
           thresholds: Thresholds) -> list[dict[str, Any]]:
    """The review's rows (see the module notes). `years` is the span's length, for the yearly rate."""
    if years <= 0:
        raise InvalidInput(T("the span is empty"), where="years")
    names = dict(townships)
    catalogue = {code: (name, domain) for code, name, domain, _ in matters}
    tallies: defaultdict[tuple[str, str], Tally] = defaultdict(Tally)
    own: defaultdict[tuple[str, str], int] = defaultdict(int)
    simple: defaultdict[tuple[str, str], int] = defaultdict(int)
    for f in facts:
        if f.township is None or f.status == "cancelled":
            continue
        key = (f.township, f.matter)
        tallies[key].add(f, as_of, calendar)
        own[key] += team_kinds.get(f.team) == "township_team"
        simple[key] += f.procedure == "simple"
    rows = []
    for key in sorted(set(tallies) | {d for d in delegated if d[0] in names or not names}):
        township, matter = key
        t = tallies.get(key) or Tally()
        cases = t.reported
        is_delegated = key in delegated
        simple_share = simple[key] / cases if cases else None
        flag = None
        if is_delegated and cases <= thresholds.withdraw_max_cases:
            flag = "withdraw"
        elif (not is_delegated and cases / years >= thresholds.delegate_min_cases_per_year
              and (simple_share or 0.0) >= thresholds.delegate_min_simple_share):
            flag = "delegate"
        overdue = t.closed_late + t.open_overdue
        rows.append({
            "township": township, "township_name": names.get(township, township), "matter": matter,
            "matter_name": catalogue.get(matter, (matter, ""))[0], "domain": catalogue.get(matter, ("", ""))[1],
            "delegated": is_delegated, "cases": cases, "by_township": own[key], "by_county": cases - own[key],
            "township_share": round(own[key] / cases, 6) if cases else None, "due": t.due, "overdue": overdue,
            "overdue_rate": round(overdue / t.due, 6) if t.due else None,
            "simple_share": round(simple_share, 6) if simple_share is not None else None, "flag": flag,
        })
    return rows


def headers(lang: str | None = None) -> list[str]:
    """The column headers in the reader's language."""
    return [gettext(label, lang) for _, label in COLUMNS]


def cell(key: str, value: Any, lang: str | None = None) -> Any:
    """A value as a workbook or page shows it: yes/no and the flag in words, the rest as it is."""
    if key == "delegated":
        return gettext(N_("yes") if value else N_("no"), lang)
    if key == "flag":
        return gettext(FLAGS[value], lang) if value else ""
    return value
