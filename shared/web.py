"""What every service's FastAPI app shares: logging, problem+json errors, health endpoints."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, FastAPI, Header, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import logs, tracing
from shared.access import AuthenticationMiddleware, Policy, check_complete, guard, load_public_key
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
from shared.docs_ui import install_docs
from shared.errors import PreconditionFailed, ValidationFailed
from shared.health import Check, health_router
from shared.idempotency import IdempotencyMiddleware
from shared.idempotency_store import IdempotencyRecord, IdempotencyStore
from shared.limits import BodyLimitMiddleware
from shared.messaging import Bus
from shared.metrics import Metrics
from shared.nul_guard import NulGuardMiddleware
from shared.outbox import OutboxRecord, OutboxRelay
from shared.outbox_admin import outbox_router
from shared.problems import install_problem_handlers
from shared.revocation import TokenRevocations
from shared.settings import CommonSettings, ServiceSettings
from shared.vocabulary_api import vocabulary_router

log = logging.getLogger(__name__)
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
T = TypeVar("T")


def new_app(
    *,
    title: str,
    description: str,
    common: CommonSettings,
    lifespan: Callable[[FastAPI], AsyncIterator[None]] | Lifespan,
    checks: dict[str, Check],
    bus: Bus,
) -> FastAPI:
    """A FastAPI app with Lianjie's logging, error handling and health endpoints, following
    token revocations over `bus` (ready once they are replayed).

    Refuses to build without the sign-in public key: a service that cannot verify tokens
    must not start (production has to configure it)."""
    service = title.split()[-1].lower()
    logs.configure(service, common.log_level)
    tracing.configure(service, common.otel_exporter, common.otel_endpoint)
    public_pem = load_public_key(common.auth_public_key_file)
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,  # type: ignore[arg-type]
        docs_url=None,  # served from local assets (docs_ui.py), not a CDN
        redoc_url=None,  # ReDoc has no local bundle: /docs is the one API page
    )
    install_docs(app)
    install_problem_handlers(app, retry_after_s=common.retry_after_s)
    app.include_router(vocabulary_router())
    revocations = TokenRevocations()
    bus.on_connected(revocations.start)
    app.state.revocations = revocations
    app.include_router(health_router({**checks, "tokens": revocations.readiness}))
    app.state.metrics = Metrics(service)
    app.state.metrics.install(app)
    app.add_middleware(NulGuardMiddleware)  # before the database can 500 on it
    app.state.public_pem = public_pem
    return app


def protect(
    app: FastAPI, *, routers: Sequence[APIRouter], policy: Policy, common: CommonSettings
) -> None:
    """Include `routers` behind `policy`, verify tokens, and cap body sizes; call last (the
    middlewares added here wrap every other one). Each router is included in the app itself:
    a request is matched against the routes of every router it passes through, again at each
    level (FastAPI), so a router nested in another cost its routes twice."""
    enforce = guard(policy)
    for router in routers:
        app.include_router(router, dependencies=[enforce])
    check_complete(policy, [route for router in routers for route in router.routes])
    app.add_middleware(
        AuthenticationMiddleware,
        public_pem=app.state.public_pem,
        revocations=app.state.revocations,
    )
    if common.trusted_proxies:  # X-Forwarded-For names the client only behind these proxies
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=common.trusted_proxies)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=common.max_body_bytes,
        max_import_bytes=common.max_import_body_bytes,
    )
    app.add_middleware(logs.RequestIdMiddleware)  # even a 401 or 413 carries its id
    app.add_middleware(tracing.TracingMiddleware)  # outermost: the access line has the trace


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
            await self.relay.stop()
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


MAX_OFFSET = 2**31 - 1  # a larger offset overflows the database's integer (a 500, not a 422)


@dataclass(frozen=True)
class Page:
    """Which slice of a list to answer: at most `limit` rows after `offset`."""

    limit: int
    offset: int = 0


def pages(cap_of: Callable[[Request], int], *, default: int, cap_name: str) -> Callable[..., Page]:
    """A route dependency reading `limit` and `offset`: `default` rows unless given (or the cap,
    if smaller); a `limit` above `cap_of(request)`, a setting named `cap_name`, is a 422 naming
    `limit` (rule `less_than_equal`, as a fixed bound would say)."""

    def page(
        request: Request,
        limit: int | None = Query(
            None, ge=1, description=f"Rows per page: {default} unless given, at most {cap_name}"
        ),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip"),
    ) -> Page:
        cap = cap_of(request)
        if limit is not None and limit > cap:
            raise ValidationFailed.one(
                "limit",
                "less_than_equal",
                f"a page has at most {cap} rows: ask for {cap} or fewer",
                le=cap,
            )
        return Page(limit=limit or min(default, cap), offset=offset)

    return page


IfMatch = Annotated[str | None, Header(description='The ETag you read, e.g. "3"')]


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None for no header or `*` (optimistic concurrency: a
    record's version is its ETag, and a change sent with a stale one is refused with 412)."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', if_match)
    if found is None:
        raise PreconditionFailed("If-Match is not an ETag of this service")
    return int(found.group(1))
