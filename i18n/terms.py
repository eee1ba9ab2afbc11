"""The words of the practice for the codes GridGov keeps as data: case states, actions, triage kinds, roles, layers,
version statuses, topology check kinds and severities.

The codes (JSON enum values) never change; `label(kind, code)` gives the word a person reads, in the current
language (Chinese as the practice says it: 上报 立案 派遣 到场 处置 反馈 核查 结案 评价 挂起 撤销, GB/T 30428).
"""

from __future__ import annotations

from i18n import N_, gettext

TERMS: dict[str, dict[str, str]] = {
    "status": {
        "reported": N_("reported"), "registered": N_("registered"), "dispatched": N_("dispatched"),
        "arrived": N_("arrived on site"), "handled": N_("handled"), "fed_back": N_("fed back"),
        "checked": N_("checked"), "closed": N_("closed"), "evaluated": N_("evaluated"),
        "suspended": N_("suspended"), "cancelled": N_("cancelled"), "duplicate": N_("duplicate report"),
    },
    "action": {
        "report": N_("report"), "register": N_("register"), "dispatch": N_("dispatch"), "arrive": N_("arrive"),
        "handle": N_("handle"), "feedback": N_("feed back"), "check": N_("check"), "close": N_("close"),
        "evaluate": N_("evaluate"), "transfer": N_("transfer"), "suspend": N_("suspend"), "resume": N_("resume"),
        "extend": N_("extend the deadline"), "add_co_owner": N_("add a co-owner (joint enforcement)"),
        "cancel": N_("cancel"), "escalate": N_("escalate"), "locate": N_("locate on the map"),
        "triage": N_("held for the command centre"), "link_duplicate": N_("linked as a duplicate"),
        "dispute_raised": N_("dispute raised"), "reroute": N_("re-routed after a redraw"),
        "duplicate_reported": N_("a duplicate was reported"), "dispute_ruled": N_("dispute ruled"),
        "dispute_dismissed": N_("dispute dismissed as unfounded"),
    },
    "triage": {
        "near_boundary": N_("near a boundary"), "dispute": N_("dispute"), "gap": N_("no rule (gap)"),
        "unlocated": N_("no location"), "duplicate": N_("duplicate"),
        "settled": N_("dispute settled, to register and dispatch"),
    },
    "routing_status": {"ok": N_("clear"), "dispute": N_("dispute"), "gap": N_("gap")},
    "role": {
        "grid_worker": N_("grid worker"), "team_member": N_("enforcement officer"), "dispatcher": N_("dispatcher"),
        "planner": N_("planner"), "auditor": N_("auditor"),
    },
    "layer": {"county": N_("county"), "township": N_("township"), "village": N_("village"), "grid": N_("grid"),
              "zone": N_("special zone")},
    "zone": {"urban_core": N_("urban core"), "dev_zone": N_("development zone"), "scenic_area": N_("scenic area"),
             "relocated_village": N_("relocated village")},
    "team_kind": {
        "county_bureau": N_("county enforcement bureau"), "squadron": N_("squadron"),
        "township_team": N_("township enforcement team"), "department": N_("county department"),
        "grid_worker": N_("grid worker"),
    },
    "procedure": {"simple": N_("simple procedure"), "ordinary": N_("ordinary procedure")},
    "version_status": {"draft": N_("draft"), "validated": N_("validated"), "published": N_("published")},
    "check": {
        "overlap": N_("overlap"), "gap": N_("gap between units"), "validity": N_("invalid geometry"),
        "outside_parent": N_("outside its parent"), "sliver": N_("sliver"), "cell_collision": N_("cell in two units"),
        "rule_gap": N_("no rule covers it"), "to_be_drawn": N_("units still to be drawn"),
        "detached": N_("in several pieces"),
    },
    "severity": {"error": N_("error"), "warning": N_("warning")},
    "dispute_status": {"open": N_("open (dispute)"), "ruled": N_("ruled"), "dismissed": N_("dismissed")},
    # First-violation lists (cases/first_violation.py): a matter's list, and the outcome recorded when handling.
    "first_violation": {"none": N_("on no first-violation list"), "no_penalty": N_("no penalty for a first violation"),
                        "correction_first": N_("correction ordered first"), "warning_only": N_("warning alone")},
    "outcome": {"no_penalty": N_("no penalty"), "correction_order": N_("order to correct"), "warning": N_("warning"),
                "penalty": N_("penalty")},
    # Emerging hot spot patterns (analytics/emerging.py) and Mann–Kendall trends.
    "hotspot_pattern": {
        "new_hot": N_("new hot spot"), "consecutive_hot": N_("consecutive hot spot"),
        "intensifying_hot": N_("intensifying hot spot"), "persistent_hot": N_("persistent hot spot"),
        "diminishing_hot": N_("diminishing hot spot"), "sporadic_hot": N_("sporadic hot spot"),
        "oscillating_hot": N_("oscillating hot spot"), "historical_hot": N_("historical hot spot"),
        "new_cold": N_("new cold spot"), "consecutive_cold": N_("consecutive cold spot"),
        "intensifying_cold": N_("intensifying cold spot"), "persistent_cold": N_("persistent cold spot"),
        "diminishing_cold": N_("diminishing cold spot"), "sporadic_cold": N_("sporadic cold spot"),
        "oscillating_cold": N_("oscillating cold spot"), "historical_cold": N_("historical cold spot"),
        "none": N_("no pattern"),
    },
    "trend": {"increasing": N_("rising"), "decreasing": N_("falling"), "no trend": N_("no clear trend")},
}


def label(kind: str, code: str | None, lang: str | None = None) -> str | None:
    """The word for a code in the current language (the code itself when it has none)."""
    if code is None:
        return None
    english = TERMS.get(kind, {}).get(code)
    return gettext(english, lang) if english is not None else code
