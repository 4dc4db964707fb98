"""Procedures' timer: escalate steps past their legal limit; at start, say whether the holiday
calendar reaches far enough for the clocks it will count."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from functools import partial

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from services.needs.procedures import service
from shared import workdays
from shared.clock import china_today, clock_of
from shared.db import run_in_transaction
from shared.timers import running

log = logging.getLogger(__name__)

HORIZON_DAYS = 90  # the furthest a 40-working-day limit reaches, with holidays, and some


def check_vintage(today: datetime) -> bool:
    """Warn when limits counted from today may run past the calendar's last known year."""
    reach = (today + timedelta(days=HORIZON_DAYS)).year
    if workdays.vintage() >= reach:
        return True
    log.warning(
        "the holiday calendar (chinese-calendar) knows holidays up to %d; limits running into "
        "%d count weekdays only and are marked estimated until the package is updated",
        workdays.vintage(),
        reach,
    )
    return False


def _escalate(session: Session, *, now: datetime) -> int:
    return service.escalate_overdue(session=session, today=china_today(now), now=now)


async def escalate_forever(
    *, sessions: sessionmaker[Session], interval_s: float, clock: Callable[[], datetime]
) -> None:
    """Escalate overdue steps every `interval_s`, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            done = await run_in_transaction(sessions, partial(_escalate, now=clock()))
        except Exception as exc:  # the timer must outlive a database hiccup; next round retries
            log.warning("escalating overdue procedure steps failed: %s", type(exc).__name__)
            continue
        if done:
            log.info("escalated %d overdue procedure steps", done)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Check the calendar's vintage, then run `escalate_forever` while the app serves."""
    clock = clock_of(app)
    check_vintage(clock())
    work = escalate_forever(
        sessions=app.state.sessions,
        interval_s=app.state.settings.procedure_escalation_interval_s,
        clock=lambda: clock_of(app)(),
    )
    async with running(work, name="procedure-escalation"):
        yield
