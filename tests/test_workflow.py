"""The case workflow: happy paths, the legal-action table, the clock, extensions and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from cases.calendar import TimeUnit, WorkCalendar, bundled_calendar
from cases.workflow import (
    ACTIONS,
    AddCoOwner,
    Arrive,
    Cancel,
    CaseState,
    Check,
    Close,
    Dispatch,
    Escalate,
    Evaluate,
    Event,
    Extend,
    Feedback,
    Handle,
    Procedure,
    Register,
    Resume,
    Suspend,
    TeamKind,
    TeamRef,
    Transfer,
    allowed_actions,
    apply,
    is_overdue,
    needs_escalation,
    open_case,
    parse_action,
)
from gis.errors import Conflict, InvalidInput
from gis.model import TEAM_KINDS, Matter

CN = ZoneInfo("Asia/Shanghai")  # the county's zone (cases.clock's default)


def local(*parts: int) -> datetime:
    """A wall-clock time in the county."""
    return datetime(*parts, tzinfo=CN)


PLAIN = WorkCalendar(set(), set())
TOWN = TeamRef(code="T-TOWN1", kind="township_team")
TOWN2 = TeamRef(code="T-TOWN2", kind="township_team")
SQUAD = TeamRef(code="SQ-URBAN", kind="squadron")
MON = local(2026, 3, 2, 10)  # a Monday with no holiday nearby


def matter(procedure: Procedure = "ordinary", limit: int = 5, unit: TimeUnit = "working_days") -> Matter:
    return Matter(code="M-ENV-COAL", name="coal slurry drying", domain="environment", procedure=procedure,
                  time_limit=limit, time_unit=unit)


def run(case: CaseState, *steps: tuple[Any, datetime], cal: WorkCalendar = PLAIN) -> tuple[CaseState, list[Event]]:
    events = []
    for action, at in steps:
        case, event = apply(case, action, at, cal)
        events.append(event)
    return case, events


def hours(n: float) -> datetime:
    return MON + timedelta(hours=n)


# --- happy paths --------------------------------------------------------------------------------


def test_ordinary_happy_path() -> None:
    case, first = open_case(matter("ordinary"), MON)
    assert first.action == "report" and first.to_status == "reported" and case.revision == 0
    case, events = run(case, (Register(), hours(0)), (Dispatch(team=TOWN), hours(1)), (Arrive(), hours(2)),
                       (Handle(), hours(3)), (Feedback(), hours(4)), (Check(passed=True), hours(5)),
                       (Close(), hours(6)), (Evaluate(score=5), hours(7)))
    assert [e.to_status for e in events] == ["registered", "dispatched", "arrived", "handled", "fed_back", "checked",
                                             "closed", "evaluated"]
    assert [e.from_status for e in events[1:]] == [e.to_status for e in events[:-1]]
    assert [e.revision for e in events] == list(range(1, 9)) and case.revision == 8
    # Registered Monday 10:00 with 5 working days: due the following Monday 17:00 (start day not counted).
    assert case.registered_at == MON and case.deadline == local(2026, 3, 9, 17)
    assert case.team == TOWN and case.score == 5
    assert case.closed_at == hours(6) and case.on_time is True and case.handled_on_time is True
    assert events[6].detail["checked"] is True


def test_simple_procedure_may_skip_the_check() -> None:
    case, _ = open_case(matter("simple", 3, "working_hours"), MON)
    case, events = run(case, (Register(), hours(0)), (Dispatch(team=TOWN), hours(0.1)), (Arrive(), hours(0.2)),
                       (Handle(), hours(0.3)), (Feedback(), hours(0.4)), (Close(), hours(0.5)),
                       (Evaluate(score=3), hours(0.6)))
    assert case.status == "evaluated" and events[5].from_status == "fed_back" and events[5].detail["checked"] is False
    assert case.deadline == local(2026, 3, 2, 14)  # 10:00 + 3 working hours, across lunch


def test_ordinary_procedure_must_be_checked() -> None:
    case, _ = open_case(matter("ordinary"), MON)
    case, _ = run(case, (Register(), MON), (Dispatch(team=TOWN), MON), (Arrive(), MON), (Handle(), MON),
                  (Feedback(), MON))
    with pytest.raises(Conflict, match=r"cannot close: case is fed_back; allowed: check \(ordinary procedure"):
        apply(case, Close(), MON, PLAIN)


def test_closing_late_but_fed_back_on_time() -> None:
    case, _ = open_case(matter("ordinary", 1), MON)
    case, _ = run(case, (Register(), MON), (Dispatch(team=TOWN), MON), (Arrive(), MON), (Handle(), MON),
                  (Feedback(), local(2026, 3, 3, 16)), (Check(passed=True), local(2026, 3, 4, 9)),
                  (Close(), local(2026, 3, 4, 9, 30)))
    assert case.deadline == local(2026, 3, 3, 17)
    assert case.on_time is False and case.handled_on_time is True


def test_failed_check_goes_back_to_dispatched_and_needs_a_reason() -> None:
    case, _ = open_case(matter(), MON)
    case, _ = run(case, (Register(), MON), (Dispatch(team=TOWN), MON), (Arrive(), MON), (Handle(), MON),
                  (Feedback(), MON))
    with pytest.raises(InvalidInput, match="failed check needs a reason"):
        apply(case, Check(passed=False), MON, PLAIN)
    back, event = apply(case, Check(passed=False, reason="slurry still on the field"), hours(1), PLAIN)
    assert back.status == "dispatched" and back.team == TOWN and back.fed_back_at is None
    assert event.reason == "slurry still on the field" and event.detail == {"passed": False}
    again, _ = run(back, (Arrive(), hours(2)), (Handle(), hours(3)), (Feedback(), hours(4)))
    assert again.status == "fed_back" and again.fed_back_at == hours(4)


def test_cancel_a_false_report_before_dispatch() -> None:
    case, _ = open_case(matter(), MON)
    cancelled, event = apply(case, Cancel(reason="false report"), MON, PLAIN)
    assert cancelled.status == "cancelled" and event.reason == "false report"
    registered, _ = apply(case, Register(), MON, PLAIN)
    assert apply(registered, Cancel(reason="duplicate of #12"), MON, PLAIN)[0].status == "cancelled"
    dispatched, _ = apply(registered, Dispatch(team=TOWN), MON, PLAIN)
    with pytest.raises(Conflict, match="cannot cancel: case is dispatched"):
        apply(dispatched, Cancel(reason="false report"), MON, PLAIN)
    with pytest.raises(InvalidInput, match="cancel needs a reason"):
        apply(case, Cancel(reason="   "), MON, PLAIN)


# --- the legal actions per state, against an independent table ----------------------------------

# Written from the GB/T 30428 flow in DESIGN.md §2, not from the implementation's table: the platform
# registers or cancels reports; cancels or dispatches registered cases; the owning team arrives, handles
# and feeds back, and while it holds the case it can be transferred, extended, escalated or suspended, and
# joined by co-owners until it is handled; the platform checks (simple procedure may close unchecked),
# closes, and the reporter evaluates.
EXPECTED_LEGAL: dict[tuple[str, Procedure], set[str]] = {
    ("reported", "ordinary"): {"register", "cancel"},
    ("registered", "ordinary"): {"dispatch", "suspend", "cancel"},
    ("dispatched", "ordinary"): {"arrive", "transfer", "add_co_owner", "suspend", "extend", "escalate"},
    ("arrived", "ordinary"): {"handle", "transfer", "add_co_owner", "suspend", "extend", "escalate"},
    ("handled", "ordinary"): {"feedback", "transfer", "suspend", "extend", "escalate"},
    ("fed_back", "ordinary"): {"check"},
    ("fed_back", "simple"): {"check", "close"},
    ("checked", "ordinary"): {"close"},
    ("closed", "ordinary"): {"evaluate"},
    ("evaluated", "ordinary"): set(),
    ("suspended", "ordinary"): {"resume"},
    ("cancelled", "ordinary"): set(),
}

TO_DISPATCHED = [Register(), Dispatch(team=TOWN)]
TO_FED_BACK = [*TO_DISPATCHED, Arrive(), Handle(), Feedback()]
PATHS: dict[str, list[Any]] = {
    "reported": [],
    "registered": [Register()],
    "dispatched": TO_DISPATCHED,
    "arrived": [*TO_DISPATCHED, Arrive()],
    "handled": [*TO_DISPATCHED, Arrive(), Handle()],
    "fed_back": TO_FED_BACK,
    "checked": [*TO_FED_BACK, Check(passed=True)],
    "closed": [*TO_FED_BACK, Check(passed=True), Close()],
    "evaluated": [*TO_FED_BACK, Check(passed=True), Close(), Evaluate(score=4)],
    "suspended": [*TO_DISPATCHED, Suspend(reason="awaiting the land survey")],
    "cancelled": [Cancel(reason="false report")],
}
# One valid example of every action, so that only the state can make it illegal.
SAMPLES: dict[str, Any] = {
    "register": Register(), "dispatch": Dispatch(team=TOWN2), "arrive": Arrive(), "handle": Handle(),
    "feedback": Feedback(), "check": Check(passed=True), "close": Close(), "evaluate": Evaluate(score=5),
    "transfer": Transfer(team=SQUAD, reason="inside the urban core"), "add_co_owner": AddCoOwner(team=SQUAD),
    "suspend": Suspend(reason="court ruling pending"), "resume": Resume(),
    "extend": Extend(amount=2, unit="working_days", reason="expert appraisal"),
    "escalate": Escalate(level=1, reason="overdue"), "cancel": Cancel(reason="duplicate"),
}


def reach(status: str, procedure: Procedure = "ordinary") -> CaseState:
    case, _ = open_case(matter(procedure), MON)
    case, _ = run(case, *[(a, MON) for a in PATHS[status]])
    assert case.status == status
    return case


def test_samples_cover_every_action() -> None:
    assert set(SAMPLES) == set(ACTIONS)


@pytest.mark.parametrize(("status", "procedure"), sorted(EXPECTED_LEGAL))
def test_legal_actions_per_state(status: str, procedure: Procedure) -> None:
    case = reach(status, procedure)
    later = MON + timedelta(hours=1)
    legal = set()
    for name, action in SAMPLES.items():
        try:
            apply(case, action, later, PLAIN)
        except Conflict as exc:
            # Every refusal names the action, the state and what is allowed instead.
            assert str(exc).startswith(f"action: cannot {name}: case is {status}; allowed: ")
        else:
            legal.add(name)
    assert legal == EXPECTED_LEGAL[(status, procedure)]
    assert set(allowed_actions(case)) == legal  # what the error messages and UIs show is the truth


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("registered", Arrive(), "cannot arrive: case is registered; allowed: dispatch, suspend, cancel"),
        ("reported", Dispatch(team=TOWN), "cannot dispatch: case is reported; allowed: register, cancel"),
        ("closed", Close(), "cannot close: case is closed; allowed: evaluate"),
        ("evaluated", Evaluate(score=1), "cannot evaluate: case is evaluated; allowed: none"),
        ("cancelled", Register(), "cannot register: case is cancelled; allowed: none"),
        ("dispatched", Resume(), "cannot resume: case is dispatched; allowed: arrive, transfer"),
        ("suspended", Arrive(), "cannot arrive: case is suspended; allowed: resume (resume it first)"),
        ("fed_back", Transfer(team=SQUAD, reason="x"), "cannot transfer: case is fed_back; allowed: check"),
        ("handled", AddCoOwner(team=SQUAD), "cannot add_co_owner: case is handled"),
        ("checked", Extend(amount=1, unit="working_days", reason="x"), "cannot extend: case is checked"),
        ("registered", Escalate(level=1, reason="x"), "cannot escalate: case is registered"),
    ],
)
def test_illegal_examples(status: str, action: Any, message: str) -> None:
    with pytest.raises(Conflict) as info:
        apply(reach(status), action, MON + timedelta(hours=1), PLAIN)
    assert message in info.value.message and info.value.status == 409


# --- team changes ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["dispatched", "arrived", "handled"])
def test_transfer_changes_the_owner_and_keeps_the_clock(status: str) -> None:
    case = reach(status)
    case, _ = apply(case, AddCoOwner(team=SQUAD), MON, PLAIN) if status != "handled" else (case, None)
    moved, event = apply(case, Transfer(team=SQUAD, reason="inside the urban core"), hours(1), PLAIN)
    assert moved.status == "dispatched" and moved.team == SQUAD and SQUAD not in moved.co_owners
    assert moved.deadline == case.deadline
    assert event.detail == {"from_team": "T-TOWN1", "to_team": "SQ-URBAN"}
    with pytest.raises(InvalidInput, match="already owns"):
        apply(moved, Transfer(team=SQUAD, reason="again"), hours(2), PLAIN)
    with pytest.raises(InvalidInput, match="transfer needs a reason"):
        apply(case, Transfer(team=SQUAD), hours(1), PLAIN)


def test_co_owners_for_joint_enforcement() -> None:
    case, _ = run(reach("dispatched"), (AddCoOwner(team=SQUAD), MON), (AddCoOwner(team=TOWN2), MON))
    assert case.co_owners == (SQUAD, TOWN2) and case.team == TOWN
    with pytest.raises(Conflict, match="already a co-owner"):
        apply(case, AddCoOwner(team=SQUAD), MON, PLAIN)
    with pytest.raises(Conflict, match="already owns"):
        apply(case, AddCoOwner(team=TOWN), MON, PLAIN)


# --- the clock: suspension and extension --------------------------------------------------------


def test_suspension_stops_the_clock() -> None:
    case = reach("dispatched")  # registered Monday 2026-03-02 10:00, due Monday 03-09 17:00
    wed = local(2026, 3, 4, 10)
    suspended, event = apply(case, Suspend(reason="court ruling pending"), wed, PLAIN)
    # Wed 10–17 (6 h) + Thu 7 + Fri 7 + Mon 7 = 27 working hours left.
    assert suspended.remaining_hours == 27 and event.detail["remaining_hours"] == 27
    assert suspended.deadline is None and suspended.previous_status == "dispatched"
    far = local(2026, 6, 1, 12)
    assert not is_overdue(suspended, far) and needs_escalation(suspended, far) is None
    resume_at = local(2026, 3, 16, 14)
    resumed, event = apply(suspended, Resume(), resume_at, PLAIN)
    assert resumed.status == "dispatched" and resumed.remaining_hours is None and resumed.suspended_at is None
    # Mon 14–17 (3) + Tue..Thu (21) + Fri 9–12 (3) = 27.
    assert resumed.deadline == local(2026, 3, 20, 12) == PLAIN.add_working_time(resume_at, 27, "working_hours")
    assert event.detail["suspended_hours"] == PLAIN.working_time_between(wed, resume_at, "working_hours")


def test_suspending_an_overdue_case_keeps_it_overdue() -> None:
    case = reach("dispatched")
    late = local(2026, 3, 10, 11)  # two working hours past Monday 17:00
    suspended, _ = apply(case, Suspend(reason="awaiting survey"), late, PLAIN)
    assert suspended.remaining_hours == -2 and is_overdue(suspended, late)
    resumed, _ = apply(suspended, Resume(), local(2026, 3, 12, 9), PLAIN)
    assert resumed.deadline == local(2026, 3, 11, 15)  # still two working hours behind (Wed 15–17)
    assert is_overdue(resumed, local(2026, 3, 12, 9))


def test_extension_moves_the_deadline() -> None:
    case = reach("arrived")
    assert case.deadline == local(2026, 3, 9, 17)
    ext, event = apply(case, Extend(amount=2, unit="working_days", reason="expert appraisal"), MON, PLAIN)
    assert ext.deadline == local(2026, 3, 11, 17) and ext.status == "arrived"
    assert event.detail["deadline_was"] == "2026-03-09T17:00:00+08:00"
    ext, _ = apply(ext, Extend(amount=3, unit="working_hours", reason="rain"), MON, PLAIN)
    assert ext.deadline == local(2026, 3, 12, 12)
    assert not is_overdue(ext, local(2026, 3, 12, 11)) and is_overdue(ext, local(2026, 3, 12, 12, 1))
    for bad in (Extend(amount=0, unit="working_days", reason="x"), Extend(amount=-3, unit="working_hours", reason="x"),
                Extend(amount=1.5, unit="working_days", reason="x")):
        with pytest.raises(InvalidInput):
            apply(case, bad, MON, PLAIN)
    with pytest.raises(InvalidInput, match="extend needs a reason"):
        apply(case, Extend(amount=1, unit="working_days"), MON, PLAIN)


# --- escalation on a holiday calendar -----------------------------------------------------------


@pytest.fixture(scope="module")
def cn() -> WorkCalendar:
    return bundled_calendar("cn")


def test_not_overdue_during_a_holiday(cn: WorkCalendar) -> None:
    # Registered Tuesday 2025-09-30, the day before the Oct 1–8 holiday, with 1 working day.
    case, _ = open_case(matter("ordinary", 1), local(2025, 9, 30, 10))
    case, _ = run(case, (Register(), local(2025, 9, 30, 10)), (Dispatch(team=TOWN), local(2025, 9, 30, 11)),
                  cal=cn)
    assert case.deadline == local(2025, 10, 9, 17)
    for now in (local(2025, 10, 1, 9), local(2025, 10, 5, 12), local(2025, 10, 9, 16, 59)):
        assert not is_overdue(case, now) and needs_escalation(case, now) is None
    assert needs_escalation(case, local(2025, 10, 9, 17, 1)) == 1
    case, _ = apply(case, Escalate(level=1, reason="overdue, township supervision"), local(2025, 10, 9, 17, 1), cn)
    assert case.escalation_level == 1 and needs_escalation(case, local(2025, 10, 10, 16)) is None
    # Overdue by more than the full time limit (1 working day) again: after Friday Oct 10 17:00.
    assert case.level2_at == local(2025, 10, 10, 17)
    assert needs_escalation(case, local(2025, 10, 10, 17, 1)) == 2
    case, _ = apply(case, Escalate(level=2, reason="county platform"), local(2025, 10, 10, 17, 1), cn)
    assert needs_escalation(case, local(2025, 12, 1)) is None


def test_escalation_in_working_hours_across_the_holiday(cn: WorkCalendar) -> None:
    case, _ = open_case(matter("simple", 4, "working_hours"), local(2025, 9, 30, 15))
    case, _ = run(case, (Register(), local(2025, 9, 30, 15)), (Dispatch(team=TOWN), local(2025, 9, 30, 15)),
                  cal=cn)
    assert case.deadline == local(2025, 10, 9, 11)  # 15–17 on Sep 30, then 9–11 after the holiday
    assert needs_escalation(case, local(2025, 10, 8, 23)) is None
    assert needs_escalation(case, local(2025, 10, 9, 15, 59)) == 1
    assert needs_escalation(case, local(2025, 10, 9, 16, 1)) == 2  # 11–12 + 13–16 = 4 more working hours


def test_a_county_team_goes_straight_to_the_county_platform() -> None:
    case = reach("dispatched")
    case, _ = apply(case, Transfer(team=SQUAD, reason="urban core"), MON, PLAIN)
    assert needs_escalation(case, local(2026, 3, 9, 16)) is None
    assert needs_escalation(case, local(2026, 3, 9, 18)) == 2


def test_no_escalation_once_the_team_has_fed_back() -> None:
    case = reach("fed_back")
    assert is_overdue(case, local(2026, 4, 1)) and needs_escalation(case, local(2026, 4, 1)) is None
    closed = reach("closed")
    assert not is_overdue(closed, local(2026, 4, 1))


def test_manual_escalation_rules() -> None:
    case = reach("dispatched")
    with pytest.raises(InvalidInput, match="level must be 1"):
        apply(case, Escalate(level=3, reason="x"), MON, PLAIN)
    with pytest.raises(InvalidInput, match="escalate needs a reason"):
        apply(case, Escalate(level=1), MON, PLAIN)
    up, event = apply(case, Escalate(level=2, reason="media attention"), MON, PLAIN)
    assert up.escalation_level == 2 and up.status == "dispatched" and event.detail == {"level": 2, "level_was": 0}
    with pytest.raises(Conflict, match="already escalated to level 2"):
        apply(up, Escalate(level=1, reason="x"), MON, PLAIN)


# --- inputs and immutability --------------------------------------------------------------------


def test_other_invalid_inputs() -> None:
    with pytest.raises(InvalidInput, match="score"):
        apply(reach("closed"), Evaluate(score=6), hours(1), PLAIN)
    with pytest.raises(InvalidInput, match="before the case's last change"):
        apply(reach("registered"), Dispatch(team=TOWN), MON - timedelta(minutes=1), PLAIN)
    with pytest.raises(InvalidInput, match="must be a datetime"):
        apply(reach("registered"), Dispatch(team=TOWN), "2026-03-02T10:00", PLAIN)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="suspend needs a reason"):
        apply(reach("registered"), Suspend(reason=""), MON, PLAIN)


def test_states_are_immutable() -> None:
    case = reach("registered")
    after, _ = apply(case, Dispatch(team=TOWN), MON, PLAIN)
    assert case.status == "registered" and case.team is None and after.status == "dispatched"
    with pytest.raises(ValidationError):
        case.status = "closed"  # type: ignore[misc]
    assert CaseState.model_validate_json(after.model_dump_json()) == after


def test_parse_action() -> None:
    action = parse_action({"action": "dispatch", "team": {"code": "T-TOWN1", "kind": "township_team"}})
    assert action == Dispatch(team=TOWN)
    with pytest.raises(InvalidInput):
        parse_action({"action": "teleport"})
    with pytest.raises(InvalidInput) as info:
        parse_action({"action": "dispatch", "team": {"code": "T", "kind": "police"}})
    assert "team" in (info.value.where or "")


def test_team_kinds_mirror_the_model() -> None:
    assert get_args(TeamKind) == TEAM_KINDS


def test_times_are_instants_in_the_county_zone() -> None:
    """The same instant given in UTC, in New York or as the county's naive wall-clock time is one moment: the
    state keeps it in the county's zone and the deadline is counted on the county's calendar."""
    in_utc = MON.astimezone(UTC)
    for start in (MON, in_utc, MON.astimezone(ZoneInfo("America/New_York")), MON.replace(tzinfo=None)):
        case, _ = open_case(matter("ordinary"), start)
        case, _ = apply(case, Register(), start, PLAIN)
        assert case.registered_at == MON and case.registered_at.utcoffset() == timedelta(hours=8)
        assert case.deadline == local(2026, 3, 9, 17)
    # Sunday 20:00 UTC is already Monday 04:00 in the county: the start day not counted is Monday, not Sunday.
    case, _ = open_case(matter("ordinary"), datetime(2026, 3, 1, 20, tzinfo=UTC))
    case, _ = apply(case, Register(), datetime(2026, 3, 1, 20, tzinfo=UTC), PLAIN)
    assert case.deadline == local(2026, 3, 9, 17)
    assert is_overdue(apply(case, Dispatch(team=TOWN), MON, PLAIN)[0], datetime(2026, 3, 9, 9, 1, tzinfo=UTC))
