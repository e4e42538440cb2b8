"""Business-hours arithmetic: properties across hours, weekends, DST changes and holidays."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import BusinessCalendar
from tests.dialog import ny

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = {day: ((time(9), time(18)),) for day in range(5)}
SHOP = BusinessCalendar(
    "America/New_York",
    {**WEEKDAYS, 5: ((time(10), time(14)),)},
    frozenset({date(2026, 12, 25)}),
)
SPLIT = BusinessCalendar(
    "Europe/London", {d: ((time(8), time(12)), (time(13), time(17))) for d in range(6)}, frozenset()
)
CALENDARS = st.sampled_from([SHOP, SPLIT, BusinessCalendar("Asia/Kolkata", WEEKDAYS)])
# 2025-2027: covers both DST changes of both zones several times.
MOMENTS = st.floats(min_value=1_735_689_600, max_value=1_830_297_600, allow_nan=False)
SECONDS = st.floats(min_value=1, max_value=40 * 3600, allow_nan=False)


def test_always_open_adds_plain_seconds():
    calendar = BusinessCalendar()
    assert calendar.add(1000.0, 900) == 1900.0
    assert calendar.open_seconds(1000.0, 1900.0) == 900.0
    assert calendar.is_open(0.0)


@settings(max_examples=150, deadline=None)
@given(CALENDARS, MOMENTS, SECONDS)
def test_adding_open_time_then_measuring_it_gives_it_back(calendar, start, seconds):
    end = calendar.add(start, seconds)
    assert end >= start + min(seconds, 1) - 1e-6
    assert abs(calendar.open_seconds(start, end) - seconds) < 1e-3


@settings(max_examples=150, deadline=None)
@given(CALENDARS, MOMENTS, SECONDS, SECONDS)
def test_more_open_time_is_never_earlier(calendar, start, first, second):
    low, high = sorted((first, second))
    assert calendar.add(start, low) <= calendar.add(start, high)


@settings(max_examples=150, deadline=None)
@given(CALENDARS, MOMENTS, SECONDS)
def test_a_due_moment_falls_inside_opening_hours(calendar, start, seconds):
    end = calendar.add(start, seconds)
    assert calendar.is_open(end - 0.5)


@settings(max_examples=100, deadline=None)
@given(MOMENTS)
def test_next_open_is_open_and_nothing_before_it_is(start):
    opens = SHOP.next_open(start)
    assert opens is not None and opens >= start
    assert SHOP.is_open(opens)
    assert SHOP.open_seconds(start, opens) == 0


def test_after_closing_the_clock_waits_for_the_next_morning():
    # Friday 17:55 + 15 min of open time: 5 min Friday, 10 min on Saturday from 10:00.
    assert SHOP.add(ny(2026, 11, 20, 17, 55), 15 * 60) == ny(2026, 11, 21, 10, 10)
    # Saturday 13:50 + 1 h: 10 min Saturday, then Monday 9:00 + 50 min (Sunday closed).
    assert SHOP.add(ny(2026, 11, 21, 13, 50), 3600) == ny(2026, 11, 23, 9, 50)


def test_holidays_are_closed():
    assert not SHOP.is_open(ny(2026, 12, 25, 12, 0))
    assert SHOP.add(ny(2026, 12, 24, 17, 30), 3600) == ny(2026, 12, 26, 10, 30)


def test_dst_days_count_real_time():
    # Sunday 2027-03-14, New York springs forward at 02:00: 01:00-05:00 is 3 real hours.
    night = BusinessCalendar("America/New_York", {6: ((time(1), time(5)),)})
    start = ny(2027, 3, 14, 0, 0)
    assert night.open_seconds(start, start + 86400) == 3 * 3600
    # Sunday 2026-11-01, it falls back at 02:00: the same hours are 5 real hours.
    start = ny(2026, 11, 1, 0, 0)
    assert night.open_seconds(start, start + 86400) == 5 * 3600


def test_a_calendar_with_no_open_day_never_comes_due():
    closed = BusinessCalendar("UTC", {0: ((time(9), time(10)),)}, frozenset())
    assert closed.add(0.0, 7200) > 0
    nothing = BusinessCalendar("UTC", {0: ((time(9), time(9, 0, 1)),)})
    assert nothing.add(0.0, 10**9) == float("inf")
