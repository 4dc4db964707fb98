"""The one clock an app reads: the wall clock in UTC, or `app.state.clock` a test injects."""

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI


def utc_now() -> datetime:
    """Now, in UTC, with its offset."""
    return datetime.now(UTC)


def clock_of(app: FastAPI) -> Callable[[], datetime]:
    """`app.state.clock` when a test injects one, else `utc_now`."""
    clock: Callable[[], datetime] | None = getattr(app.state, "clock", None)
    return clock or utc_now
