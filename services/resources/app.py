"""The resources service's FastAPI app."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity
from services.resources.access import POLICY
from services.resources.api import router
from services.resources.events import capacity_flags, serve_capacity
from services.resources.models import IdempotencyKey, OutboxEvent
from services.resources.publication import now_utc
from services.resources.settings import ResourcesSettings
from shared import crypto
from shared.db import run_in_transaction
from shared.messaging import Bus
from shared.web import DatabaseService

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


async def reset_capacity_periodically(sessions: sessionmaker[Session], interval_s: float) -> None:
    """Start new capacity periods as they come due, every `interval_s` seconds."""
    while True:
        try:
            reset = await run_in_transaction(
                sessions, lambda s: capacity.reset_due_capacity(session=s, now=now_utc())
            )
            if reset:
                log.info("capacity period reset for %d resources", len(reset))
        except Exception as exc:  # the next round tries again; never take the service down
            log.warning("capacity reset failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_s)


def create_app(settings: ResourcesSettings | None = None) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts. Refuses to build without
    the personal-data keys: contact names and phones are encrypted columns."""
    settings = settings or ResourcesSettings()
    crypto.configure(crypto.cipher_from_settings(settings.common))
    parts = DatabaseService.build(
        settings, record_type=OutboxEvent, idempotency_type=IdempotencyKey
    )

    flags = capacity_flags(parts.sessions)

    async def on_connected(bus: Bus) -> None:
        await serve_capacity(bus, parts.sessions)
        await flags.start(bus.js)

    parts.bus.on_connected(on_connected)
    app = parts.app(
        title="Lianjie resources",
        description="The county's resource library (资源库) and its capacity ledger.",
        migrations=MIGRATIONS,
        router=router,
        policy=POLICY,
    )
    standard = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(inner: FastAPI) -> AsyncIterator[None]:
        async with standard(inner):  # migrations run first, then the resets may start
            task = asyncio.create_task(
                reset_capacity_periodically(parts.sessions, settings.capacity_reset_interval_s),
                name="capacity-reset",
            )
            try:
                yield
            finally:
                await flags.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
    app.state.capacity_flags = flags
    return app
