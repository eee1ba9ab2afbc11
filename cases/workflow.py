"""The case state machine (GB/T 30428 grid-management flow) as a pure function over immutable states.

Main flow: reported → registered → dispatched → arrived → handled → fed_back → checked → closed →
evaluated. Beside it: `suspended` (挂账; remembers where it came from, the clock stops), `cancelled`
(a false or duplicate report, before dispatch), `transfer` (移送, back to dispatched with a new
owner), co-owners (联合执法), `extend` (延期) and escalation (督办: a level on the case, not a state).

Choices worth knowing:
- Simple procedure (简易程序) may close straight from fed_back (no 核查); it may still be checked.
  Ordinary procedure (普通程序) must be checked before closing.
- The deadline is set at registration from the matter's time limit on the calendar, and is kept on
  transfer (the clock is the case's, not the team's; `extend` is the way to give more time).
- While suspended, `deadline` is None and `remaining_hours` holds the working hours that were left
  (negative if the case was already overdue); resume sets deadline = resume moment + remaining.
- Escalation levels: 1 = township supervision (乡镇督办), 2 = county platform supervision (县级平台督办).
  `needs_escalation` asks for level 1 when a township team's case is overdue, and level 2 when any
  case is overdue by more than its full time limit again — or as soon as it is overdue when the owner
  is a county-level team, which has no township level above it.
- Times are instants (timezone-aware) held in the county's zone (`cases.clock`): a naive time given to
  `open_case`/`apply` or found in stored JSON is read as the county's wall-clock time.
- Closing records `on_time` (closed by the deadline: 按期结案) and `handled_on_time` (the accepted
  feedback was by the deadline: 按期处置 — the team's own measure, untouched by the check's delay).
- Refusals are marked for translation (`i18n.T`) and read in the reader's language; states and actions in them
  are the practice's words in Chinese (上报 立案 派遣 …, `i18n.units.term`) and the stable codes in English.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from cases import clock
from cases.calendar import TimeUnit, WorkCalendar, check_unit
from gis.errors import Conflict, InvalidInput, validation_message
from i18n import T, Text
from i18n.units import listing, term

Status = Literal["reported", "registered", "dispatched", "arrived", "handled", "fed_back", "checked",
                 "closed", "evaluated", "suspended", "cancelled"]
STATUSES: tuple[str, ...] = get_args(Status)
# Mirrors gis.model.Team.kind; repeated here so the workflow does not import the geometry stack.
TeamKind = Literal["county_bureau", "squadron", "township_team", "department", "grid_worker"]
Procedure = Literal["simple", "ordinary"]
FINISHED = frozenset({"closed", "evaluated", "cancelled"})
# The states in which the owning team holds the case: where transfer, extension and escalation make sense.
WITH_TEAM = ("dispatched", "arrived", "handled")


MAX_REASON = 4000  # characters of a step's reason, as of a note and a dispute's reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TeamRef(_Frozen):
    """A team as the case knows it: its code and kind (the kind decides escalation)."""

    code: str = Field(min_length=1, max_length=64)
    kind: TeamKind


class Register(_Frozen):
    """立案: accept the report as a case; starts the clock."""

    action: Literal["register"] = "register"


class Dispatch(_Frozen):
    """派遣 to the owning team."""

    action: Literal["dispatch"] = "dispatch"
    team: TeamRef


class Arrive(_Frozen):
    """报到: the team reports arrival on site."""

    action: Literal["arrive"] = "arrive"


class Handle(_Frozen):
    """处置: the team has dealt with it."""

    action: Literal["handle"] = "handle"


class Feedback(_Frozen):
    """反馈: the team reports the result to the platform."""

    action: Literal["feedback"] = "feedback"


class Check(_Frozen):
    """核查: the platform verifies; a failed check (with a reason) sends it back to dispatched."""

    action: Literal["check"] = "check"
    passed: bool
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class Close(_Frozen):
    """结案."""

    action: Literal["close"] = "close"


class Evaluate(_Frozen):
    """评价: satisfaction score 1..5."""

    action: Literal["evaluate"] = "evaluate"
    score: int


class Transfer(_Frozen):
    """移送 to another team (back to dispatched)."""

    action: Literal["transfer"] = "transfer"
    team: TeamRef
    reason: str = Field(default="", max_length=MAX_REASON)


class Suspend(_Frozen):
    """挂账: stop the clock."""

    action: Literal["suspend"] = "suspend"
    reason: str = Field(default="", max_length=MAX_REASON)


class Resume(_Frozen):
    """Restart the clock from now with the working time that was left."""

    action: Literal["resume"] = "resume"


class Extend(_Frozen):
    """延期: move the deadline by working time."""

    action: Literal["extend"] = "extend"
    amount: float
    unit: TimeUnit
    reason: str = Field(default="", max_length=MAX_REASON)


class AddCoOwner(_Frozen):
    """联合执法: another team joins the case."""

    action: Literal["add_co_owner"] = "add_co_owner"
    team: TeamRef


class Cancel(_Frozen):
    """Withdraw a report before dispatch (false report, duplicate)."""

    action: Literal["cancel"] = "cancel"
    reason: str = Field(default="", max_length=MAX_REASON)


class Escalate(_Frozen):
    """督办: raise the supervision level (1 township, 2 county platform)."""

    action: Literal["escalate"] = "escalate"
    level: int
    reason: str = Field(default="", max_length=MAX_REASON)


Action = Annotated[
    Register | Dispatch | Arrive | Handle | Feedback | Check | Close | Evaluate | Transfer | Suspend | Resume
    | Extend | AddCoOwner | Cancel | Escalate,
    Field(discriminator="action"),
]
ACTIONS: tuple[str, ...] = ("register", "dispatch", "arrive", "handle", "feedback", "check", "close", "evaluate",
                            "transfer", "add_co_owner", "suspend", "resume", "extend", "escalate", "cancel")
_ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

# Legal actions per state (listed in ACTIONS order). fed_back also allows close under simple procedure.
_FLOW: dict[str, tuple[str, ...]] = {
    "reported": ("register", "cancel"),
    "registered": ("dispatch", "suspend", "cancel"),
    "dispatched": ("arrive", "transfer", "add_co_owner", "suspend", "extend", "escalate"),
    "arrived": ("handle", "transfer", "add_co_owner", "suspend", "extend", "escalate"),
    "handled": ("feedback", "transfer", "suspend", "extend", "escalate"),
    "fed_back": ("check",),
    "checked": ("close",),
    "closed": ("evaluate",),
    "evaluated": (),
    "suspended": ("resume",),
    "cancelled": (),
}


class CaseState(_Frozen):
    """One case at one revision; `apply` returns the next one."""

    status: Status
    matter_code: str
    procedure: Procedure
    time_limit: float = Field(gt=0)
    time_unit: TimeUnit
    team: TeamRef | None = None
    co_owners: tuple[TeamRef, ...] = ()
    previous_status: Status | None = None  # where a suspended case resumes to
    reported_at: datetime
    registered_at: datetime | None = None
    deadline: datetime | None = None  # None before registration and while suspended
    level2_at: datetime | None = None  # past this an open case is overdue by its full time limit again
    suspended_at: datetime | None = None
    remaining_hours: float | None = None  # working hours left when suspended (negative: already overdue)
    escalation_level: int = 0
    fed_back_at: datetime | None = None
    closed_at: datetime | None = None
    on_time: bool | None = None
    handled_on_time: bool | None = None
    score: int | None = None
    updated_at: datetime
    revision: int = 0  # +1 per applied action: the store's optimistic-concurrency check

    @field_validator("reported_at", "registered_at", "deadline", "level2_at", "suspended_at", "fed_back_at",
                     "closed_at", "updated_at")
    @classmethod
    def _instant(cls, value: datetime | None) -> datetime | None:
        """In the county's zone; a naive time (JSON written before migration 0010) is the county's wall clock."""
        return clock.to_local(value) if value is not None else None


class Event(_Frozen):
    """What one action did, for the case's audit log."""

    action: str
    from_status: Status | None
    to_status: Status
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None
    revision: int

    @field_validator("at")
    @classmethod
    def _instant(cls, value: datetime) -> datetime:
        return clock.to_local(value)


class MatterTerms(Protocol):
    """What a case needs from a matter (gis.model.Matter fits)."""

    @property
    def code(self) -> str: ...
    @property
    def procedure(self) -> str: ...
    @property
    def time_limit(self) -> float: ...
    @property
    def time_unit(self) -> str: ...


def parse_action(data: Any) -> Action:
    """An action from JSON-like data ({"action": "dispatch", "team": {...}}); bad data → InvalidInput."""
    try:
        return _ACTION_ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        # The discriminated union puts the step's kind first in the location ("transfer.reason"): the field is what
        # a person fixes. The words are the reader's language's, as for a request body (gis.errors).
        loc = [str(p) for p in err["loc"]]
        if len(loc) > 1 and isinstance(data, dict) and loc[0] == data.get("action"):
            loc = loc[1:]
        where = ".".join(loc) or "action"
        raise InvalidInput(validation_message([{**err, "loc": tuple(loc)}]), where=where) from None


def open_case(matter: MatterTerms, at: datetime) -> tuple[CaseState, Event]:
    """A new case in `reported`, with the matter's procedure and time limit."""
    at = _check_at(at)
    if matter.procedure not in get_args(Procedure):
        raise InvalidInput(T("procedure must be simple or ordinary, got {value}", value=repr(matter.procedure)),
                           where="procedure")
    if not (isinstance(matter.time_limit, int | float) and math.isfinite(matter.time_limit) and matter.time_limit > 0):
        raise InvalidInput(T("time limit must be a positive number, got {value}", value=repr(matter.time_limit)),
                           where="time_limit")
    case = CaseState(status="reported", matter_code=matter.code, procedure=matter.procedure,  # type: ignore[arg-type]
                     time_limit=matter.time_limit, time_unit=check_unit(matter.time_unit), reported_at=at,
                     updated_at=at)
    return case, Event(action="report", from_status=None, to_status="reported", at=at,
                       detail={"matter": matter.code}, revision=0)


def allowed_actions(case: CaseState) -> tuple[str, ...]:
    """The actions legal in the case's current state and procedure."""
    allowed = _FLOW[case.status]
    if case.status == "fed_back" and case.procedure == "simple":
        allowed = ("check", "close")
    return allowed


def is_open(case: CaseState) -> bool:
    """Not closed, evaluated or cancelled."""
    return case.status not in FINISHED


def is_overdue(case: CaseState, now: datetime) -> bool:
    """An open case past its deadline; a suspended one only if it was already overdue when suspended."""
    if case.status == "suspended":
        return (case.remaining_hours or 0.0) < 0
    return is_open(case) and case.deadline is not None and clock.to_local(now) > case.deadline


def needs_escalation(case: CaseState, now: datetime) -> int | None:
    """The supervision level a scheduler should raise the case to now, or None (see module notes)."""
    now = clock.to_local(now)
    if case.status not in WITH_TEAM or case.deadline is None or not now > case.deadline:
        return None
    if case.level2_at is not None and now > case.level2_at:
        level = 2
    else:
        level = 1 if case.team is not None and case.team.kind == "township_team" else 2
    return level if level > case.escalation_level else None


def apply(case: CaseState, action: Action, at: datetime, calendar: WorkCalendar) -> tuple[CaseState, Event]:
    """Apply one action at `at`: the next state and its event, or Conflict / InvalidInput."""
    at = _check_at(at)
    if at < case.updated_at:
        raise InvalidInput(T("{at} is before the case's last change at {last}", at=at.isoformat(),
                             last=case.updated_at.isoformat()), where="at")
    name = action.action
    allowed = allowed_actions(case)
    if name not in allowed:
        hint: str | Text = ""
        if name == "close" and case.status == "fed_back":
            hint = T(" (ordinary procedure must be checked before closing)")
        elif case.status == "suspended":
            hint = T(" (resume it first)")
        # The allowed actions named in the reader's words (立案、撤销 / register, cancel).
        raise Conflict(T("cannot {action}: case is {status}; allowed: {allowed}{hint}", action=term("action", name),
                         status=term("status", case.status),
                         allowed=listing([term("action", a) for a in allowed]) if allowed else T("none"),
                         hint=hint), where="action")
    reason = getattr(action, "reason", None)
    reason = reason.strip() if isinstance(reason, str) else None
    failed_check = isinstance(action, Check) and not action.passed
    if name in {"transfer", "suspend", "extend", "cancel", "escalate"} or failed_check:
        if not reason:
            raise InvalidInput(T("a failed check needs a reason") if failed_check else
                               T("{action} needs a reason", action=term("action", name)), where="reason")
    changes, detail, to = _HANDLERS[name](case, action, at, calendar)
    new = case.model_copy(update={**changes, "status": to, "updated_at": at, "revision": case.revision + 1})
    event = Event(action=name, from_status=case.status, to_status=to, at=at, detail=detail, reason=reason or None,
                  revision=new.revision)
    return new, event


def _check_at(at: datetime) -> datetime:
    """The action's instant in the county's zone (a naive time is the county's wall-clock time)."""
    if not isinstance(at, datetime):
        raise InvalidInput(T("the action time must be a datetime"), where="at")
    return clock.to_local(at)


_Result = tuple[dict[str, Any], dict[str, Any], str]


def _iso(dt: datetime | None) -> str | None:
    return clock.iso(dt)


def _register(case: CaseState, a: Any, at: datetime, cal: WorkCalendar) -> _Result:
    deadline = cal.add_working_time(at, case.time_limit, case.time_unit)
    level2 = cal.add_working_time(deadline, case.time_limit, case.time_unit)
    return ({"registered_at": at, "deadline": deadline, "level2_at": level2},
            {"deadline": _iso(deadline), "covered_by_calendar": cal.covers(deadline.date())}, "registered")


def _dispatch(case: CaseState, a: Dispatch, at: datetime, cal: WorkCalendar) -> _Result:
    return {"team": a.team}, {"team": a.team.code}, "dispatched"


def _step(to: str) -> Any:
    def handler(case: CaseState, a: Any, at: datetime, cal: WorkCalendar) -> _Result:
        return {}, {}, to
    return handler


def _feedback(case: CaseState, a: Any, at: datetime, cal: WorkCalendar) -> _Result:
    return {"fed_back_at": at}, {}, "fed_back"


def _check(case: CaseState, a: Check, at: datetime, cal: WorkCalendar) -> _Result:
    if a.passed:
        return {}, {"passed": True}, "checked"
    # The rejected feedback no longer counts: the team must arrive, handle and feed back again.
    return {"fed_back_at": None}, {"passed": False}, "dispatched"


def _close(case: CaseState, a: Any, at: datetime, cal: WorkCalendar) -> _Result:
    assert case.deadline is not None and case.fed_back_at is not None  # set at register / feedback
    on_time, handled = at <= case.deadline, case.fed_back_at <= case.deadline
    return ({"closed_at": at, "on_time": on_time, "handled_on_time": handled},
            {"on_time": on_time, "handled_on_time": handled, "checked": case.status == "checked"}, "closed")


def _evaluate(case: CaseState, a: Evaluate, at: datetime, cal: WorkCalendar) -> _Result:
    if isinstance(a.score, bool) or not 1 <= a.score <= 5:
        raise InvalidInput(T("score must be 1..5, got {score}", score=a.score), where="score")
    return {"score": a.score}, {"score": a.score}, "evaluated"


def _transfer(case: CaseState, a: Transfer, at: datetime, cal: WorkCalendar) -> _Result:
    old = case.team.code if case.team else None
    if a.team.code == old:
        raise InvalidInput(T("team {team} already owns the case", team=old), where="team")
    co = tuple(t for t in case.co_owners if t.code != a.team.code)  # a co-owner taking over is no longer "co"
    return {"team": a.team, "co_owners": co}, {"from_team": old, "to_team": a.team.code}, "dispatched"


def _suspend(case: CaseState, a: Suspend, at: datetime, cal: WorkCalendar) -> _Result:
    assert case.deadline is not None  # every suspendable state is registered
    left = cal.working_time_between(at, case.deadline, "working_hours")
    return ({"previous_status": case.status, "suspended_at": at, "remaining_hours": left, "deadline": None,
             "level2_at": None}, {"remaining_hours": left, "deadline_was": _iso(case.deadline)}, "suspended")


def _resume(case: CaseState, a: Resume, at: datetime, cal: WorkCalendar) -> _Result:
    assert case.previous_status is not None and case.remaining_hours is not None and case.suspended_at is not None
    deadline = cal.add_working_time(at, case.remaining_hours, "working_hours")
    level2 = cal.add_working_time(deadline, case.time_limit, case.time_unit)
    paused = cal.working_time_between(case.suspended_at, at, "working_hours")
    return ({"previous_status": None, "suspended_at": None, "remaining_hours": None, "deadline": deadline,
             "level2_at": level2}, {"deadline": _iso(deadline), "suspended_hours": paused}, case.previous_status)


def _extend(case: CaseState, a: Extend, at: datetime, cal: WorkCalendar) -> _Result:
    assert case.deadline is not None
    if not (math.isfinite(a.amount) and a.amount > 0):
        raise InvalidInput(T("an extension must be positive, got {amount}", amount=a.amount), where="amount")
    deadline = cal.add_working_time(case.deadline, a.amount, a.unit)
    level2 = cal.add_working_time(deadline, case.time_limit, case.time_unit)
    return ({"deadline": deadline, "level2_at": level2},
            {"amount": a.amount, "unit": a.unit, "deadline_was": _iso(case.deadline), "deadline": _iso(deadline)},
            case.status)


def _add_co_owner(case: CaseState, a: AddCoOwner, at: datetime, cal: WorkCalendar) -> _Result:
    if case.team is not None and a.team.code == case.team.code:
        raise Conflict(T("team {team} already owns the case", team=a.team.code), where="team")
    if any(t.code == a.team.code for t in case.co_owners):
        raise Conflict(T("team {team} is already a co-owner", team=a.team.code), where="team")
    return {"co_owners": (*case.co_owners, a.team)}, {"team": a.team.code}, case.status


def _cancel(case: CaseState, a: Cancel, at: datetime, cal: WorkCalendar) -> _Result:
    return {}, {}, "cancelled"


def _escalate(case: CaseState, a: Escalate, at: datetime, cal: WorkCalendar) -> _Result:
    if isinstance(a.level, bool) or a.level not in (1, 2):
        raise InvalidInput(T("escalation level must be 1 (township) or 2 (county platform), got {level}",
                             level=a.level), where="level")
    if a.level <= case.escalation_level:
        raise Conflict(T("case is already escalated to level {level}", level=case.escalation_level), where="level")
    return {"escalation_level": a.level}, {"level": a.level, "level_was": case.escalation_level}, case.status


_HANDLERS: dict[str, Any] = {
    "register": _register, "dispatch": _dispatch, "arrive": _step("arrived"), "handle": _step("handled"),
    "feedback": _feedback, "check": _check, "close": _close, "evaluate": _evaluate, "transfer": _transfer,
    "suspend": _suspend, "resume": _resume, "extend": _extend, "add_co_owner": _add_co_owner, "cancel": _cancel,
    "escalate": _escalate,
}
