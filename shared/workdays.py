"""Chinese working days (工作日): public holidays and adjusted working weekends (调休).

Legal clocks of assistance procedures count working days. The calendar comes from the
`chinese-calendar` package, which carries the State Council's yearly holiday notices; its
vintage is the last year it knows. Past that year a day counts as a working day when it is
Monday to Friday, and answers say the date is an estimate (`WorkdayCount.estimated`), so a
clock running into an unpublished year is visible rather than silently wrong.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import chinese_calendar


@cache
def vintage() -> int:
    """The last year whose holidays and adjusted working days the calendar knows."""
    return max(day.year for day in chinese_calendar.holidays)


def covers(day: date) -> bool:
    """Whether the calendar knows `day`'s year (holidays published)."""
    first = min(day.year for day in chinese_calendar.holidays)
    return first <= day.year <= vintage()


def is_working_day(day: date) -> bool:
    """A working day: a weekday that is no holiday, or a weekend made a working day (调休)."""
    if covers(day):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


@dataclass(frozen=True)
class WorkdayCount:
    """A date reached by counting working days, and whether the calendar was sure of it."""

    on: date
    estimated: bool


def add_working_days(start: date, days: int) -> WorkdayCount:
    """The day `days` working days after `start` (start itself not counted): a limit of 25
    working days from an application on `start` ends at the end of the returned day."""
    if days < 0:
        raise ValueError("days must be 0 or more")
    day, left, estimated = start, days, not covers(start)
    while left > 0:
        day += timedelta(days=1)
        estimated = estimated or not covers(day)
        if is_working_day(day):
            left -= 1
    return WorkdayCount(day, estimated)


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count
