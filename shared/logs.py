"""Logging set-up: one JSON object per line, naming the service and the request it serves.

A request id is taken from the caller's `X-Request-ID` (or made here), echoed in the response,
and carried over NATS in the same header (request-reply, and events through the outbox), so an
operator can follow one request across the services by its id. Records carry ids, never PII.
"""

import logging
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.trace import SpanKind
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.asgi import header

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.lower().encode()
# A caller's id is kept only if it is short and plain: it is echoed and logged, so it must not
# carry anything a log reader would trip over (or personal data hidden in a long string).
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")

access = logging.getLogger("lianjie.access")
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestContext(logging.Filter):
    """Adds the service name and the current request id to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id.get()
        record.trace_id = tracing.current_trace_id()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy
        return True


def configure(service: str, level: str) -> None:
    """JSON lines on stderr for this process, uvicorn's own loggers included."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestContext(service))
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(service)s %(levelname)s %(name)s %(message)s %(request_id)s"
            " %(trace_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # RequestIdMiddleware writes the access line (with the route template and the request id).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False


def accepted(value: str | None) -> str | None:
    """`value` if it is usable as a request id, else None (a fresh one is made instead)."""
    return value if value is not None and _ACCEPTED_ID.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def request_scope(value: str | None) -> Iterator[str]:
    """Run the body with `value` (if usable, else a fresh id) as the current request id."""
    rid = accepted(value) or new_request_id()
    token = request_id.set(rid)
    try:
        yield rid
    finally:
        request_id.reset(token)


@contextmanager
def message_scope(name: str, kind: SpanKind, headers: Mapping[str, str] | None) -> Iterator[None]:
    """Handle a NATS message under the request id and in the trace its headers carry."""
    with request_scope(from_headers(headers)), tracing.span(name, kind=kind, carrier=headers or {}):
        yield


def from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The request id a NATS message carries, if any."""
    return (headers or {}).get(REQUEST_ID_HEADER)


def nats_headers(extra: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Headers for an outgoing NATS message: `extra` plus the current request id and trace
    context, if any."""
    headers = dict(extra or {})
    rid = request_id.get()
    if rid is not None:
        headers[REQUEST_ID_HEADER] = rid
    tracing.inject(headers)
    return headers or None


class RequestIdMiddleware:
    """ASGI, the services' outermost layer: every HTTP request runs with a request id (the
    caller's `X-Request-ID` if usable, else a new one), every response says which, and an
    access line names the method, route template and status. When spans are recorded, or
    the caller sent a trace context, the request runs in a server span (`tracing.server_span`)
    around all that, so the access line carries the trace. One layer for both: each layer a
    request walks is a call and a `send` wrapper more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Read once: the app's middlewares are built on its first request, after `configure`.
        self.recording = tracing.recording()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif tracing.traced(scope, recording=self.recording):
            with tracing.server_span(scope) as server:
                await self._serve(scope, receive, send, server)
        else:
            await self._serve(scope, receive, send, None)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, server: tracing.ServerSpan | None
    ) -> None:
        started = time.perf_counter()
        status = 500
        with request_scope(header(scope.get("headers", []), _REQUEST_ID_BYTES)) as rid:
            echoed = (_REQUEST_ID_BYTES, rid.encode())

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k != _REQUEST_ID_BYTES
                    ]
                    headers.append(echoed)
                    message = {**message, "headers": headers}
                    if server is not None:
                        server.responded(status)
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # The route template, not the path: a path may hold a searched-for value.
                route = getattr(scope.get("route"), "path", "unmatched")
                access.log(
                    logging.DEBUG if route in _QUIET_ROUTES else logging.INFO,
                    "%s %s %d",
                    scope["method"],
                    route,
                    status,
                    extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
                )
