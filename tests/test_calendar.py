"""Working time on a holiday calendar: days, hours, lunch, holidays, make-up days, loading."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cases.calendar import WorkCalendar, bundled_calendar, load_calendar
from gis.errors import InvalidInput, NotFound

H, D = "working_hours", "working_days"


@pytest.fixture(scope="module")
def plain() -> WorkCalendar:
    return WorkCalendar(set(), set())


@pytest.fixture(scope="module")
def cn() -> WorkCalendar:
    return bundled_calendar("cn")


# --- working days -------------------------------------------------------------------------------


def test_start_day_never_counts(plain: WorkCalendar) -> None:
    # 2026-03-02 is a Monday.
    assert plain.add_working_time(datetime(2026, 3, 2, 10), 1, D) == datetime(2026, 3, 3, 17)
    assert plain.add_working_time(datetime(2026, 3, 2, 8), 1, D) == datetime(2026, 3, 3, 17)
    assert plain.add_working_time(datetime(2026, 3, 2, 23, 59), 1, D) == datetime(2026, 3, 3, 17)


def test_weekends_are_skipped(plain: WorkCalendar) -> None:
    fri = datetime(2026, 3, 6, 10)
    assert plain.add_working_time(fri, 1, D) == datetime(2026, 3, 9, 17)  # Monday
    assert plain.add_working_time(fri, 5, D) == datetime(2026, 3, 13, 17)  # next Friday
    assert plain.add_working_time(datetime(2026, 3, 7, 11), 1, D) == datetime(2026, 3, 9, 17)  # from Saturday
    assert not plain.is_working_day(date(2026, 3, 7)) and not plain.is_working_day(date(2026, 3, 8))


def test_a_holiday_week_is_skipped(cn: WorkCalendar) -> None:
    # National Day 2025: Oct 1–8 off; Tuesday Sep 30 + 1 working day is Thursday Oct 9.
    assert cn.add_working_time(datetime(2025, 9, 30, 10), 1, D) == datetime(2025, 10, 9, 17)
    assert cn.add_working_time(datetime(2025, 9, 30, 10), 2, D) == datetime(2025, 10, 10, 17)
    # Spring Festival 2026: Feb 15–23 off; Tuesday Feb 24 is the first working day after.
    assert cn.add_working_time(datetime(2026, 2, 14, 10), 1, D) == datetime(2026, 2, 24, 17)


def test_a_makeup_saturday_is_counted(cn: WorkCalendar) -> None:
    assert cn.is_working_day(date(2025, 10, 11))  # Saturday, make-up for National Day
    assert cn.add_working_time(datetime(2025, 9, 30, 10), 3, D) == datetime(2025, 10, 11, 17)
    # Friday Feb 13 2026 + 1 working day is make-up Saturday Feb 14, not Monday.
    assert cn.add_working_time(datetime(2026, 2, 13, 10), 1, D) == datetime(2026, 2, 14, 17)
    assert cn.is_working_day(date(2026, 1, 4))  # a make-up Sunday
    assert not cn.is_working_day(date(2026, 1, 2))  # a holiday Friday


def test_days_must_be_whole_and_not_negative(plain: WorkCalendar) -> None:
    with pytest.raises(InvalidInput, match="whole"):
        plain.add_working_time(datetime(2026, 3, 2, 10), 1.5, D)
    with pytest.raises(InvalidInput, match="whole"):
        plain.add_working_time(datetime(2026, 3, 2, 10), -1, D)
    assert plain.add_working_time(datetime(2026, 3, 2, 10), 0, D) == datetime(2026, 3, 2, 10)


# --- working hours ------------------------------------------------------------------------------


def test_hours_across_lunch(plain: WorkCalendar) -> None:
    mon = date(2026, 3, 2)
    at = lambda h, m=0: datetime.combine(mon, time(h, m))  # noqa: E731
    assert plain.hours_per_day == 7
    assert plain.add_working_time(at(11), 2, H) == at(14)
    assert plain.add_working_time(at(11), 1, H) == at(12)  # used up at the window's end: 12:00, not 13:00
    assert plain.add_working_time(at(12, 30), 1, H) == at(14)  # a start in lunch waits for 13:00
    assert plain.working_time_between(at(11), at(14), H) == 2
    assert plain.working_time_between(at(12, 10), at(12, 50), H) == 0


def test_hours_across_days_and_nights(plain: WorkCalendar) -> None:
    assert plain.add_working_time(datetime(2026, 3, 2, 16), 3, H) == datetime(2026, 3, 3, 11)
    assert plain.add_working_time(datetime(2026, 3, 2, 18), 1, H) == datetime(2026, 3, 3, 10)
    assert plain.add_working_time(datetime(2026, 3, 2, 7), 1, H) == datetime(2026, 3, 2, 10)
    assert plain.add_working_time(datetime(2026, 3, 2, 9), 7, H) == datetime(2026, 3, 2, 17)
    assert plain.add_working_time(datetime(2026, 3, 6, 16), 2, H) == datetime(2026, 3, 9, 10)  # Fri → Mon
    assert plain.working_time_between(datetime(2026, 3, 6, 16), datetime(2026, 3, 9, 10), H) == 2
    assert plain.working_time_between(datetime(2026, 3, 9, 10), datetime(2026, 3, 6, 16), H) == -2
    assert plain.working_time_between(datetime(2026, 3, 2, 9), datetime(2026, 3, 4, 9), D) == 2


def test_hours_across_a_holiday(cn: WorkCalendar) -> None:
    assert cn.add_working_time(datetime(2025, 9, 30, 16), 2, H) == datetime(2025, 10, 9, 10)
    assert cn.working_time_between(datetime(2025, 9, 30, 16), datetime(2025, 10, 9, 10), H) == 2
    assert cn.add_working_time(datetime(2025, 10, 9, 10), -2, H) == datetime(2025, 9, 30, 16)


def test_no_lunch_means_one_window() -> None:
    cal = WorkCalendar(set(), set(), day_start=time(8, 30), day_end=time(17, 30), lunch=None)
    assert cal.hours_per_day == 9
    assert cal.add_working_time(datetime(2026, 3, 2, 11), 2, H) == datetime(2026, 3, 2, 13)


def test_aware_times_count_on_the_county_clock(plain: WorkCalendar) -> None:
    """An instant is counted on the county's wall clock (Asia/Shanghai by default), whatever zone it is given in,
    and the deadline comes back as an instant in the county's zone."""
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 3, 2, 2, tzinfo=UTC)  # Monday 10:00 in the county
    due = plain.add_working_time(start, 1, H)
    assert due == datetime(2026, 3, 2, 11, tzinfo=shanghai) and due.utcoffset() == timedelta(hours=8)
    # Sunday 20:00 UTC is Monday 04:00 in the county: counting starts at Monday 09:00 there, not on Sunday's clock.
    assert plain.add_working_time(datetime(2026, 3, 1, 20, tzinfo=UTC), 2, H) == datetime(2026, 3, 2, 11,
                                                                                            tzinfo=shanghai)
    # 1 working day: the start day is the county's Monday (Sunday in UTC), so it is due Tuesday 17:00.
    assert plain.add_working_time(datetime(2026, 3, 1, 20, tzinfo=UTC), 1, D) == datetime(2026, 3, 3, 17,
                                                                                           tzinfo=shanghai)
    new_york = datetime(2026, 3, 1, 21, tzinfo=ZoneInfo("America/New_York"))  # Monday 10:00 in the county
    assert plain.working_time_between(new_york, datetime(2026, 3, 2, 12, tzinfo=shanghai), H) == 2


def test_bad_arguments(plain: WorkCalendar) -> None:
    with pytest.raises(InvalidInput, match="expected a datetime"):
        plain.add_working_time(date(2026, 3, 2), 1, H)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="time unit"):
        plain.add_working_time(datetime(2026, 3, 2, 10), 1, "hours")
    with pytest.raises(InvalidInput, match="finite"):
        plain.add_working_time(datetime(2026, 3, 2, 10), float("nan"), H)


# --- property-style: an independent quarter-hour oracle ----------------------------------------

QUARTER = timedelta(minutes=15)


def _oracle_add(cal: WorkCalendar, start: datetime, quarters: int) -> datetime:
    """Walk quarter hours one by one, counting those inside the working windows of working days."""
    t = start
    windows = [(time(9), time(12)), (time(13), time(17))]
    while True:
        working = cal.is_working_day(t.date()) and any(s <= t.time() < e for s, e in windows)
        t += QUARTER
        if working:
            quarters -= 1
            if quarters == 0:
                return t


def _random_moment(rng: random.Random) -> datetime:
    base = datetime(2025, 1, 1) + timedelta(days=rng.randrange(0, 700))
    return base + QUARTER * rng.randrange(0, 96)


def test_add_matches_a_brute_force_oracle(cn: WorkCalendar) -> None:
    rng = random.Random(20260301)
    for _ in range(150):
        start, quarters = _random_moment(rng), rng.randrange(1, 160)
        assert cn.add_working_time(start, quarters / 4, H) == _oracle_add(cn, start, quarters), (start, quarters)


def test_add_and_between_are_inverse(cn: WorkCalendar) -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = datetime(2025, 1, 1) + timedelta(seconds=rng.randrange(0, 700 * 86400))
        x = rng.uniform(0, 120)
        b = cn.add_working_time(a, x, H)
        assert cn.working_time_between(a, b, H) == pytest.approx(x, abs=1e-6)
        assert cn.working_time_between(cn.add_working_time(a, -x, H), a, H) == pytest.approx(x, abs=1e-6)
        # And the other way: going `between` hours from a lands on b, or on the last working moment before b.
        c = a + timedelta(seconds=rng.randrange(0, 30 * 86400))
        back = cn.add_working_time(a, cn.working_time_between(a, c, H), H)
        assert back <= c + timedelta(microseconds=1)
        assert cn.working_time_between(back, c, H) == pytest.approx(0, abs=1e-6)
        if cn.is_working_day(c.date()) and any(s <= c < e for s, e in cn.windows(c.date())):
            assert abs(back - c) <= timedelta(microseconds=1)


def test_days_land_on_the_nth_working_day_end(cn: WorkCalendar) -> None:
    rng = random.Random(11)
    for _ in range(200):
        start, n = _random_moment(rng), rng.randrange(1, 25)
        due = cn.add_working_time(start, n, D)
        assert due.time() == time(17) and cn.is_working_day(due.date())
        counted = sum(cn.is_working_day(start.date() + timedelta(days=k))
                      for k in range(1, (due.date() - start.date()).days + 1))
        assert counted == n, (start, n, due)


# --- the shipped calendar -----------------------------------------------------------------------


def test_cn_calendar_agrees_with_the_notices(cn: WorkCalendar) -> None:
    assert cn.years == {2025, 2026}
    assert all(url.startswith("https://") for url in cn.source) and len(cn.source) == 2
    # Weekdays printed in the notices (国办发明电〔2024〕12号 and the 2025-11-04 notice).
    printed = {date(2025, 1, 28): 1, date(2025, 2, 4): 1, date(2025, 10, 1): 2, date(2025, 10, 8): 2,
               date(2026, 2, 15): 6, date(2026, 2, 23): 0, date(2026, 10, 7): 2}
    for d, weekday in printed.items():
        assert d.weekday() == weekday and d in cn.holidays
    # Every make-up working day in the notices falls on a weekend (周六/周日).
    assert all(d.weekday() >= 5 for d in cn.makeup_days)
    assert {d.year for d in cn.holidays | cn.makeup_days} == {2025, 2026}
    # 2025 Spring Festival: 8 days from Jan 28; 2026: 9 days from Feb 15.
    assert all(date(2025, 1, 28) + timedelta(days=k) in cn.holidays for k in range(8))
    assert date(2025, 2, 5) not in cn.holidays
    assert all(date(2026, 2, 15) + timedelta(days=k) in cn.holidays for k in range(9))
    assert cn.covers(date(2026, 12, 31)) and not cn.covers(date(2027, 1, 1))


def test_unknown_bundled_calendar() -> None:
    with pytest.raises(NotFound):
        bundled_calendar("atlantis")


# --- loading ------------------------------------------------------------------------------------


def test_load_from_dict_and_file(tmp_path: Path) -> None:
    data = {"holidays": ["2026-03-03"], "makeup_days": ["2026-03-07"], "day_start": "08:00", "day_end": "18:00",
            "lunch": ["12:00", "14:00"]}
    cal = load_calendar(data)
    assert cal.hours_per_day == 8 and not cal.is_working_day(date(2026, 3, 3)) and cal.is_working_day(date(2026, 3, 7))
    p = tmp_path / "cal.json"
    p.write_text(json.dumps(data), encoding="utf-8")
    assert load_calendar(p) == cal
    assert load_calendar({"lunch": None}).hours_per_day == 8


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"holidays": ["2026-01-01", "2026-02-30"]}, "holidays[1]", "not a date"),
        ({"holidays": [20260101]}, "holidays[0]", "date"),
        ({"makeup_days": ["2026-1-4x"]}, "makeup_days[0]", "not a date"),
        ({"holidays": ["2026-01-01", "2026-01-01"]}, "holidays[1]", "twice"),
        ({"holidays": ["2026-01-03"], "makeup_days": ["2026-01-04", "2026-01-03"]}, "makeup_days[1]",
         "2026-01-03 is both"),
        ({"holidays": "2026-01-01"}, "holidays", "list"),
        ({"day_start": "9 o'clock"}, "day_start", "not a time"),
        ({"day_start": "18:00"}, "day_start", "before day_end"),
        ({"lunch": ["08:00", "09:30"]}, "lunch", "inside"),
        ({"lunch": ["12:00"]}, "lunch", "null or"),
        ({"holiday": []}, "holiday", "unknown key"),
    ],
)
def test_loading_errors_name_the_entry(data: dict, where: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        load_calendar(data)
    assert info.value.where == where


def test_loading_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"holidays": ["2026-13-01"]}', encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_calendar(p)
    assert info.value.where == f"{p}: holidays[0]"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not JSON"):
        load_calendar(p)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_calendar(tmp_path / "missing.json")


def test_constructor_refuses_a_day_both_holiday_and_makeup() -> None:
    with pytest.raises(InvalidInput, match="2026-01-04 is both"):
        WorkCalendar({date(2026, 1, 4)}, {date(2026, 1, 4)})
