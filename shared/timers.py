"""Timers: a service's periodic work, run beside the app while it serves.

Every timer lives in its package's `scheduled.py` as a `lifespan(app)`, registered one way: as
the lifespan of the package's router (`APIRouter(lifespan=scheduled.lifespan)`). FastAPI runs
a router's lifespan inside the app's, so migrations have run before a timer's first round.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs; then cancel it and wait until it has ended."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
