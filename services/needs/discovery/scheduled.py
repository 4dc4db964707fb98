"""Early warning's timer: evaluate every rule over every case, on an interval."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from functools import partial

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from services.needs.discovery import service
from services.needs.discovery.models import VerificationTask
from shared.clock import china_today, clock_of
from shared.db import run_in_transaction
from shared.timers import running

log = logging.getLogger(__name__)


async def evaluate_forever(
    *,
    sessions: sessionmaker[Session],
    interval_s: float,
    clock: Callable[[], datetime],
    checklist: Mapping[str, object],
) -> None:
    """Evaluate the rules every `interval_s`, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            opened = await run_in_transaction(
                sessions, partial(_evaluate, now=clock(), checklist=checklist)
            )
        except Exception as exc:  # the timer must outlive a database hiccup; next round retries
            log.warning("evaluating early-warning rules failed: %s", type(exc).__name__)
            continue
        if opened:
            log.info("early warning opened %d verification tasks", len(opened))


def _evaluate(
    session: Session, *, now: datetime, checklist: Mapping[str, object]
) -> list[VerificationTask]:
    return service.evaluate(session=session, as_of=china_today(now), now=now, checklist=checklist)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `evaluate_forever` while the app serves."""
    settings = app.state.settings
    work = evaluate_forever(
        sessions=app.state.sessions,
        interval_s=settings.warning_evaluation_interval_s,
        clock=lambda: clock_of(app)(),
        checklist=settings.observation_checklist,
    )
    async with running(work, name="early-warning"):
        yield
