"""Working time on a holiday calendar: deadlines in working hours or working days.

Conventions (explicit because deadlines are legal facts):

- A **working day** is Mon–Fri that is not a holiday, or any make-up working day (调休上班).
- **Working hours** are the day window minus lunch (09:00–12:00 and 13:00–17:00 by default: 7 h).
- **Working days**: `add_working_time(start, n, "working_days")` is the *end* (`day_end`) of the n-th
  working day after the start's calendar date. The start day itself never counts, whatever the hour,
  as in Chinese administrative law (期间开始的日不计算在期间内): registered Monday 10:00 (or 08:00)
  with 1 working day is due Tuesday 17:00; registered on Saturday, due Monday 17:00. Only whole days.
- **Working hours**: only time inside the windows counts; a start outside hours begins at the next
  window start, and an amount used up exactly at a window's end gives that end (17:00, not 09:00 the
  next morning). Negative amounts walk backwards (used to restore a deadline that was already passed).
- `working_time_between(a, b, unit)` is signed (negative when b < a). In hours it is the exact inverse
  of `add_working_time`; in days it is working hours / hours per day (a fraction, not rounded).

Times are counted on the county's wall clock (`cases.clock`): an aware datetime is first seen in the
county's zone (whatever the server's TZ) and the result is given back aware, in that zone; a naive one is
taken as the county's wall-clock time and the result is naive too.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from cases import clock
from gis.errors import InvalidInput, NotFound
from i18n import T

TimeUnit = Literal["working_hours", "working_days"]
TIME_UNITS: tuple[str, ...] = get_args(TimeUnit)
# Longest run of non-working days we accept before calling the calendar broken (no infinite loops).
MAX_IDLE_DAYS = 366
_KEYS = {"holidays", "makeup_days", "day_start", "day_end", "lunch", "source", "years", "notes"}


def check_unit(unit: str) -> TimeUnit:
    """Refuse anything but working_hours / working_days."""
    if unit not in TIME_UNITS:
        raise InvalidInput(T("time unit must be one of {items}, got {unit}",
                             items=', '.join(TIME_UNITS), unit=repr(unit)), where="unit")
    return unit  # type: ignore[return-value]


def _naive(dt: datetime, where: str) -> datetime:
    """The county's wall-clock time of `dt` (naive), on which working time is counted."""
    if not isinstance(dt, datetime):
        raise InvalidInput(T("expected a datetime, got {kind}", kind=type(dt).__name__), where=where)
    return clock.wall(dt) if dt.tzinfo is not None else dt


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and working-hour windows of one jurisdiction."""

    holidays: AbstractSet[date] = field(default_factory=frozenset)  # stored as a frozenset
    makeup_days: AbstractSet[date] = field(default_factory=frozenset)
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    lunch: tuple[time, time] | None = (time(12, 0), time(13, 0))
    years: AbstractSet[int] = field(default_factory=frozenset)  # years whose holiday list is complete
    source: tuple[str, ...] = ()  # where the dates come from (URLs)

    def __post_init__(self) -> None:
        # Accept plain sets/lists from callers but keep the instance hashable and immutable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_days", frozenset(self.makeup_days))
        object.__setattr__(self, "years", frozenset(self.years))
        object.__setattr__(self, "source", tuple(self.source))
        both = sorted(self.holidays & self.makeup_days)
        if both:
            raise InvalidInput(T("{both} is both a holiday and a make-up working day", both=both[0].isoformat()),
                               where="holidays")
        if not self.day_start < self.day_end:
            raise InvalidInput(T("day_start {day_start} must be before day_end {day_end}",
                                 day_start=self.day_start, day_end=self.day_end), where="day_start")
        if self.lunch is not None:
            lo, hi = self.lunch
            if not self.day_start < lo < hi < self.day_end:
                raise InvalidInput(T("lunch {lo}–{hi} must lie strictly inside {day_start}–{day_end}",
                                     lo=lo, hi=hi, day_start=self.day_start, day_end=self.day_end),
                                   where="lunch")

    @property
    def hours_per_day(self) -> float:
        """Working hours in one working day (the window minus lunch)."""
        return sum((e - s).total_seconds() for s, e in self.windows(date(2000, 1, 3))) / 3600

    def covers(self, d: date) -> bool:
        """Whether the holiday list for d's year is known complete (any year when `years` is empty)."""
        return not self.years or d.year in self.years

    def is_working_day(self, d: date) -> bool:
        """Mon–Fri and not a holiday, or a make-up working day."""
        return d in self.makeup_days or (d.weekday() < 5 and d not in self.holidays)

    def windows(self, d: date) -> list[tuple[datetime, datetime]]:
        """The working windows of a date, ignoring whether it is a working day."""
        if self.lunch is None:
            spans = [(self.day_start, self.day_end)]
        else:
            spans = [(self.day_start, self.lunch[0]), (self.lunch[1], self.day_end)]
        return [(datetime.combine(d, s), datetime.combine(d, e)) for s, e in spans]

    def _working_days(self, first: date, step: int) -> Iterator[date]:
        """Working days from `first` (inclusive) forwards (step 1) or backwards (step -1)."""
        d, idle = first, 0
        while True:
            if self.is_working_day(d):
                idle = 0
                yield d
            else:
                idle += 1
                if idle > MAX_IDLE_DAYS:
                    raise InvalidInput(T("the calendar has no working day within {MAX_IDLE_DAYS} days of {first}",
                                         MAX_IDLE_DAYS=MAX_IDLE_DAYS, first=first))
            d += timedelta(days=step)

    def add_working_time(self, start: datetime, amount: float, unit: str) -> datetime:
        """The deadline `amount` working hours/days after `start` (see the module conventions)."""
        end = self._add_working_time(_naive(start, "start"), amount, unit)
        return clock.from_wall(end) if start.tzinfo is not None else end

    def _add_working_time(self, start: datetime, amount: float, unit: str) -> datetime:
        unit = check_unit(unit)
        if not isinstance(amount, int | float) or not math.isfinite(amount):
            raise InvalidInput(T("amount must be a finite number, got {amount}", amount=repr(amount)), where="amount")
        if unit == "working_days":
            if amount < 0 or amount != int(amount):
                raise InvalidInput(T("working days must be a whole number ≥ 0, got {amount}", amount=amount),
                                   where="amount")
            if amount == 0:
                return start
            days = self._working_days(start.date() + timedelta(days=1), 1)
            for _ in range(int(amount) - 1):
                next(days)
            return datetime.combine(next(days), self.day_end)
        return self._shift_hours(start, timedelta(hours=amount))

    def _shift_hours(self, start: datetime, delta: timedelta) -> datetime:
        if delta == timedelta(0):
            return start
        left = abs(delta)
        if delta > timedelta(0):
            for d in self._working_days(start.date(), 1):
                for ws, we in self.windows(d):
                    s = max(ws, start)
                    if s >= we:
                        continue
                    if left <= we - s:
                        return s + left
                    left -= we - s
        else:
            for d in self._working_days(start.date(), -1):
                for ws, we in reversed(self.windows(d)):
                    e = min(we, start)
                    if e <= ws:
                        continue
                    if left <= e - ws:
                        return e - left
                    left -= e - ws
        raise AssertionError("unreachable: _working_days never ends")  # pragma: no cover

    def working_time_between(self, a: datetime, b: datetime, unit: str) -> float:
        """Working hours (or days = hours / hours_per_day) from a to b; negative when b is before a."""
        a, b = _naive(a, "a"), _naive(b, "b")
        unit = check_unit(unit)
        if b < a:
            return -self.working_time_between(b, a, unit)
        total = timedelta(0)
        d = a.date()
        while d <= b.date():
            if self.is_working_day(d):
                for ws, we in self.windows(d):
                    lo, hi = max(ws, a), min(we, b)
                    if hi > lo:
                        total += hi - lo
            d += timedelta(days=1)
        hours = total.total_seconds() / 3600
        return hours if unit == "working_hours" else hours / self.hours_per_day

    def to_hours(self, amount: float, unit: str) -> float:
        """An amount in working hours (days count as full working days)."""
        return amount if check_unit(unit) == "working_hours" else amount * self.hours_per_day


def _parse_date(value: Any, where: str) -> date:
    if not isinstance(value, str):
        raise InvalidInput(T("expected a date as 'YYYY-MM-DD', got {value}", value=repr(value)), where=where)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T("{value} is not a date (YYYY-MM-DD)", value=repr(value)), where=where) from None


def _parse_time(value: Any, where: str) -> time:
    if not isinstance(value, str):
        raise InvalidInput(T("expected a time as 'HH:MM', got {value}", value=repr(value)), where=where)
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T("{value} is not a time (HH:MM)", value=repr(value)), where=where) from None


def _dates(data: Mapping[str, Any], key: str, prefix: str) -> frozenset[date]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        raise InvalidInput(T("{key} must be a list of dates", key=key), where=f"{prefix}{key}")
    out: set[date] = set()
    for i, value in enumerate(raw):
        d = _parse_date(value, f"{prefix}{key}[{i}]")
        if d in out:
            raise InvalidInput(T("{value} is listed twice", value=value), where=f"{prefix}{key}[{i}]")
        out.add(d)
    return frozenset(out)


def _urls(source: Any) -> tuple[str, ...]:
    """The source URLs: "source" may be a URL, a list of URLs, or a list of {"url": …, …} notes."""
    items = source if isinstance(source, list) else [] if source is None else [source]
    return tuple(str(i.get("url", "")) if isinstance(i, Mapping) else str(i) for i in items)


def load_calendar(src: str | Path | Mapping[str, Any]) -> WorkCalendar:
    """A WorkCalendar from a JSON file or an already-parsed dict; errors name the bad entry."""
    prefix = ""
    if isinstance(src, str | Path):
        prefix = f"{src}: "
        try:
            data = json.loads(Path(src).read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(T("cannot read calendar: {strerror}", strerror=exc.strerror), where=str(src)) from None
        except json.JSONDecodeError as exc:
            raise InvalidInput(T("not JSON: {msg} (line {lineno})", msg=exc.msg, lineno=exc.lineno),
                               where=str(src)) from None
    else:
        data = src
    if not isinstance(data, Mapping):
        raise InvalidInput(T("a calendar must be a JSON object"), where=prefix.rstrip(": ") or None)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidInput(T("unknown key(s) {items}; expected {items2}",
                             items=', '.join(unknown), items2=', '.join(sorted(_KEYS))),
                           where=f"{prefix}{unknown[0]}")
    holidays = _dates(data, "holidays", prefix)
    makeup = _dates(data, "makeup_days", prefix)
    both = sorted(holidays & makeup)
    if both:
        i = data["makeup_days"].index(both[0].isoformat())
        raise InvalidInput(T("{both} is both a holiday and a make-up working day", both=both[0].isoformat()),
                           where=f"{prefix}makeup_days[{i}]")
    kwargs: dict[str, Any] = {}
    for key in ("day_start", "day_end"):
        if key in data:
            kwargs[key] = _parse_time(data[key], f"{prefix}{key}")
    if "lunch" in data:
        lunch = data["lunch"]
        if lunch is None:
            kwargs["lunch"] = None
        elif isinstance(lunch, list) and len(lunch) == 2:
            kwargs["lunch"] = (_parse_time(lunch[0], f"{prefix}lunch[0]"), _parse_time(lunch[1], f"{prefix}lunch[1]"))
        else:
            raise InvalidInput(T("lunch must be null or [start, end]"), where=f"{prefix}lunch")
    years = data.get("years", [])
    if not isinstance(years, list) or not all(isinstance(y, int) for y in years):
        raise InvalidInput(T("years must be a list of whole years"), where=f"{prefix}years")
    try:
        return WorkCalendar(holidays, makeup, years=frozenset(years), source=_urls(data.get("source")), **kwargs)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, where=f"{prefix}{exc.where}") from None


@functools.cache
def bundled_calendar(name: str = "cn") -> WorkCalendar:
    """A calendar shipped in cases/calendars/ (e.g. "cn": mainland China's official schedule)."""
    ref = resources.files("cases") / "calendars" / f"{name}.json"
    if not ref.is_file():
        raise NotFound(T("no bundled calendar {name}", name=repr(name)), where="name")
    return load_calendar(json.loads(ref.read_text(encoding="utf-8")))
