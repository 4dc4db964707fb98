"""The needs service's own timer (its packages keep theirs in their own scheduled.py): ledger
imports whose process stopped are marked interrupted (`ledger_jobs.interrupt_stale_forever`)."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI

from services.needs import ledger_jobs
from services.needs.settings import NeedsSettings
from shared.timers import running


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `ledger_jobs.interrupt_stale_forever` while the app serves."""
    settings: NeedsSettings = app.state.settings
    sweep = ledger_jobs.interrupt_stale_forever(
        sessions=app.state.sessions,
        interval_s=settings.ledger_job_sweep_interval_s,
        stale_after=timedelta(seconds=settings.ledger_job_stale_s),
    )
    async with running(sweep, name="ledger-import-interruptions"):
        yield
