"""What a service owning a database adds to its app (`shared.web`'s): the engine, sessions,
outbox relay and Idempotency-Key store, migrations at start, and routes' reads and writes."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.access import Policy
from shared.consumers import Listeners
from shared.db import (
    create_db_engine,
    migrate,
    ping,
    pool_options,
    run_in_transaction,
    run_read,
    session_factory,
)
from shared.health import Check
from shared.idempotency import IdempotencyMiddleware
from shared.idempotency_store import IdempotencyRecord, IdempotencyStore
from shared.messaging import Bus
from shared.outbox import OutboxRecord, OutboxRelay
from shared.outbox_admin import outbox_router
from shared.settings import ServiceSettings
from shared.web import new_app, protect

log = logging.getLogger(__name__)
T = TypeVar("T")


def standard_checks(engine: Engine, bus: Bus) -> dict[str, Check]:
    """Readiness of a service with a database and a bus."""

    def database() -> str | None:
        ping(engine)
        return None

    return {"database": database, "nats": bus.answering}


@dataclass
class DatabaseService:
    """The parts of a service that owns a database: engine, sessions, bus and outbox relay."""

    settings: ServiceSettings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: Bus
    relay: OutboxRelay
    idempotency: IdempotencyStore

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        *,
        record_type: type[OutboxRecord],
        idempotency_type: type[IdempotencyRecord],
    ) -> "DatabaseService":
        url = settings.resolved_database_url()
        engine = create_db_engine(url, **pool_options(url, settings.common.db_workers))
        sessions = session_factory(engine)
        bus = Bus(settings.common, name=settings.service_name)
        common = settings.common
        relay = OutboxRelay(
            sessions=sessions,
            record_type=record_type,
            bus=bus,
            max_attempts=common.outbox_max_attempts,
            retry_pause_s=common.outbox_retry_pause_s,
        )
        idempotency = IdempotencyStore(
            idempotency_type,
            ttl=timedelta(seconds=common.idempotency_ttl_s),
            stale_after=timedelta(seconds=60),
        )
        return cls(settings, engine, sessions, bus, relay, idempotency)

    async def purge_idempotency_keys(self) -> None:
        """Delete expired Idempotency-Key results every LIANJIE_IDEMPOTENCY_PURGE_INTERVAL_S."""
        while True:
            try:
                await run_in_transaction(self.sessions, self.idempotency.purge_expired)
            except Exception as exc:  # the next round tries again; look-ups ignore them anyway
                log.warning("idempotency purge failed: %s", type(exc).__name__)
            await asyncio.sleep(self.settings.common.idempotency_purge_interval_s)

    def app(
        self,
        *,
        title: str,
        description: str,
        migrations: Path,
        router: APIRouter,
        policy: Policy,
        listeners: Listeners | None = None,
    ) -> FastAPI:
        """The service's app: migrate, connect, relay the outbox, and start `listeners` (what
        the service hears, from its `events.py`) once the bus connects; stop in reverse order."""
        listeners = listeners or Listeners()
        self.bus.on_connected(listeners.start)

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            # asyncio.to_thread's default pool has min(32, cores + 4) threads: 6 on two cores,
            # and 50 concurrent requests queued for a thread while PostgreSQL sat idle.
            workers = ThreadPoolExecutor(self.settings.common.db_workers, thread_name_prefix="db")
            asyncio.get_running_loop().set_default_executor(workers)
            await asyncio.to_thread(migrate, self.engine, migrations)
            await self.bus.start()
            await self.relay.start()
            purge = asyncio.create_task(self.purge_idempotency_keys(), name="idempotency-purge")
            yield
            await listeners.stop()
            purge.cancel()
            await self.relay.stop(timeout_s=self.settings.common.outbox_drain_s)
            await self.bus.close()
            self.engine.dispose()

        app = new_app(
            title=title,
            description=description,
            common=self.settings.common,
            lifespan=lifespan,
            checks=standard_checks(self.engine, self.bus) | {"outbox": self._outbox_check},
            bus=self.bus,
        )
        app.state.settings = self.settings
        app.state.sessions = self.sessions
        app.state.bus = self.bus
        app.state.relay = self.relay
        app.state.listeners = listeners
        app.state.metrics.gauge(
            "lianjie_outbox_backlog",
            "Events written but not yet acknowledged by JetStream",
            self.relay.backlog,
        )
        app.state.metrics.gauge(
            "lianjie_outbox_oldest_age_seconds",
            "How long the oldest unsent event has waited (0 when none waits)",
            self.relay.oldest_unsent_age_s,
        )
        app.state.metrics.gauge(
            "lianjie_outbox_parked",
            "Events the relay gave up on after their attempts, waiting for an operator's re-drive",
            self.relay.parked_count,
        )
        app.add_middleware(IdempotencyMiddleware, sessions=self.sessions, store=self.idempotency)
        routers = [router, outbox_router()]
        protect(app, routers=routers, policy=policy, common=self.settings.common)
        return app

    def _outbox_check(self) -> str | None:
        """Not ready while the oldest unsent event waits longer than the setting allows (a
        stuck relay); parked events do not block the others and are reported by the metric."""
        age = self.relay.oldest_unsent_age_s()
        limit = self.settings.common.outbox_max_age_s
        if age <= limit:
            return None
        return f"stuck: the oldest unsent event is {age:.0f}s old (limit {limit:g}s)"


async def read(request: Request, work: Callable[[Session], T]) -> T:
    """Run read-only `work` on the app's sessions, off the event loop (a route's read)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return await run_read(sessions, work)


async def write(request: Request, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction on the app's sessions, off the event loop (a route's
    change: all of it commits, or none)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return await run_in_transaction(sessions, work)
