"""What every service's FastAPI app shares: logging, problem+json errors, health endpoints.

Nothing here touches a database (the matcher has none, and SQLAlchemy is about a second of its
start on a busy machine): what a service owning one adds is in `shared.web_db`."""

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared import logs, tracing
from shared.access import AuthenticationMiddleware, Policy, check_complete, guard, load_public_key
from shared.docs_ui import install_docs
from shared.errors import PreconditionFailed, ValidationFailed
from shared.health import Check, health_router
from shared.limits import BodyLimitMiddleware
from shared.messaging import Bus
from shared.metrics import Metrics
from shared.nul_guard import NulGuardMiddleware
from shared.problems import install_problem_handlers
from shared.revocation import TokenRevocations
from shared.settings import CommonSettings
from shared.vocabulary_api import vocabulary_router

log = logging.getLogger(__name__)
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


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
        telemetry=tracing.FASTAPI_TELEMETRY_OFF,
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
    bus.count_answers(app.state.metrics)
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
    # Outermost: even a 401 or 413 carries its id; the access line has the trace.
    app.add_middleware(logs.RequestIdMiddleware)


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
