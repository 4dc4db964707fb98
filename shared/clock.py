"""The one clock an app reads: the wall clock in UTC, or `app.state.clock` a test injects; and
the one "today" (今天) a county counts by, the calendar day in China."""

from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi import FastAPI

from shared.contracts.common import china_date


def utc_now() -> datetime:
    """Now, in UTC, with its offset."""
    return datetime.now(UTC)


def china_today(now: datetime | None = None) -> date:
    """Today as a social worker counts it: the calendar day in China at `now` (default: this
    moment). Servers keep UTC, whose date is still yesterday from 00:00 to 08:00 in China: a
    visit recorded at 07:30 on its own day was "in the future" by `date.today()`."""
    return china_date(now or utc_now())


def clock_of(app: FastAPI) -> Callable[[], datetime]:
    """`app.state.clock` when a test injects one, else `utc_now`."""
    clock: Callable[[], datetime] | None = getattr(app.state, "clock", None)
    return clock or utc_now


def today_of(app: FastAPI) -> date:
    """Today in China by the app's clock (`clock_of`)."""
    return china_today(clock_of(app)())
