"""What every service's FastAPI app shares: logging, problem+json errors, health endpoints."""

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, FastAPI, Header, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared import logs
from shared.access import AuthenticationMiddleware, Policy, check_complete, guard, load_public_key
from shared.db import create_db_engine, migrate, ping, run_in_transaction, run_read, session_factory
from shared.errors import PreconditionFailed, ValidationFailed
from shared.health import Check, health_router
from shared.idempotency import IdempotencyMiddleware, IdempotencyRecord
from shared.limits import BodyLimitMiddleware
from shared.messaging import Bus
from shared.metrics import Metrics
from shared.nul_guard import NulGuardMiddleware
from shared.outbox import OutboxRecord, OutboxRelay
from shared.problems import install_problem_handlers
from shared.settings import CommonSettings, ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
T = TypeVar("T")


def new_app(
    *,
    title: str,
    description: str,
    common: CommonSettings,
    lifespan: Callable[[FastAPI], AsyncIterator[None]] | Lifespan,
    checks: dict[str, Check],
) -> FastAPI:
    """A FastAPI app with Lianjie's logging, error handling and health endpoints.

    Refuses to build without the sign-in public key: a service that cannot verify tokens
    must not start (production has to configure it)."""
    service = title.split()[-1].lower()
    logs.configure(service, common.log_level)
    public_pem = load_public_key(common.auth_public_key_file)
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)  # type: ignore[arg-type]
    install_problem_handlers(app, retry_after_s=common.retry_after_s)
    app.include_router(health_router(checks))
    app.state.metrics = Metrics(service)
    app.state.metrics.install(app)
    app.add_middleware(NulGuardMiddleware)  # before the database can 500 on it
    app.state.public_pem = public_pem
    return app


def protect(app: FastAPI, *, router: APIRouter, policy: Policy, common: CommonSettings) -> None:
    """Include `router` behind `policy`, verify tokens, and cap body sizes; call last (the
    middlewares added here wrap every other one)."""
    app.include_router(router, dependencies=[guard(policy)])
    check_complete(policy, router.routes)
    app.add_middleware(AuthenticationMiddleware, public_pem=app.state.public_pem)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=common.max_body_bytes,
        max_import_bytes=common.max_import_body_bytes,
    )


def standard_checks(engine: Engine, bus: Bus) -> dict[str, Check]:
    """Readiness of a service with a database and a bus."""

    def database() -> str | None:
        ping(engine)
        return None

    def nats() -> str | None:
        return None if bus.connected and bus.ready.is_set() else "not connected"

    return {"database": database, "nats": nats}


@dataclass
class DatabaseService:
    """The parts of a service that owns a database: engine, sessions, bus and outbox relay."""

    settings: ServiceSettings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: Bus
    relay: OutboxRelay
    idempotency_type: type[IdempotencyRecord]

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        *,
        record_type: type[OutboxRecord],
        idempotency_type: type[IdempotencyRecord],
    ) -> "DatabaseService":
        engine = create_db_engine(settings.resolved_database_url())
        sessions = session_factory(engine)
        bus = Bus(settings.common, name=settings.service_name)
        relay = OutboxRelay(sessions=sessions, record_type=record_type, bus=bus)
        return cls(settings, engine, sessions, bus, relay, idempotency_type)

    def app(
        self,
        *,
        title: str,
        description: str,
        migrations: Path,
        router: APIRouter,
        policy: Policy,
    ) -> FastAPI:
        """The service's app: migrate, connect, relay the outbox; stop in reverse order."""

        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await asyncio.to_thread(migrate, self.engine, migrations)
            await self.bus.start()
            await self.relay.start()
            yield
            await self.relay.stop()
            await self.bus.close()
            self.engine.dispose()

        app = new_app(
            title=title,
            description=description,
            common=self.settings.common,
            lifespan=lifespan,
            checks=standard_checks(self.engine, self.bus),
        )
        app.state.settings = self.settings
        app.state.sessions = self.sessions
        app.state.bus = self.bus
        app.state.relay = self.relay
        app.state.metrics.gauge(
            "lianjie_outbox_backlog",
            "Events written but not yet acknowledged by JetStream",
            self.relay.backlog,
        )
        app.add_middleware(
            IdempotencyMiddleware, sessions=self.sessions, record_type=self.idempotency_type
        )
        protect(app, router=router, policy=policy, common=self.settings.common)
        return app


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
                "limit", "less_than_equal", f"a page has at most {cap} rows: ask for {cap} or fewer"
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
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this service")
    return int(found.group(1))
