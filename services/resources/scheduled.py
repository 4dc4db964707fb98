"""The resources service's timer: start new capacity periods as they come due."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity
from services.resources.settings import ResourcesSettings
from shared.clock import utc_now
from shared.db import run_in_transaction
from shared.timers import running

log = logging.getLogger(__name__)


async def reset_capacity_periodically(sessions: sessionmaker[Session], interval_s: float) -> None:
    """Start new capacity periods as they come due, every `interval_s` seconds."""
    while True:
        try:
            reset = await run_in_transaction(
                sessions, lambda s: capacity.reset_due_capacity(session=s, now=utc_now())
            )
            if reset:
                log.info("capacity period reset for %d resources", len(reset))
        except Exception as exc:  # the next round tries again; never take the service down
            log.warning("capacity reset failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run `reset_capacity_periodically` while the app serves (after its migrations)."""
    settings: ResourcesSettings = app.state.settings
    work = reset_capacity_periodically(app.state.sessions, settings.capacity_reset_interval_s)
    async with running(work, name="capacity-reset"):
        yield
