"""Logging set-up: one JSON object per line, naming the service and the request it serves.

A request id is taken from the caller's `X-Request-ID` (or made here), echoed in the response,
and carried over NATS in the same header (request-reply, and events through the outbox), so an
operator can follow one request across the services by its id. Records carry ids, never PII.

The lines are formatted and written by a thread of their own (`configure`): a request never
waits on stderr, which may be a pipe its reader drains late, or a file on a busy disk.
"""

import atexit
import copy
import logging
import queue
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from logging.handlers import QueueHandler
from typing import TextIO

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
# Records waiting for the writer; past this many a record is dropped and counted (the writer
# says how many), rather than a request waiting for a reader of stderr that has stopped reading.
QUEUE_MOST = 10_000
# The writer takes what has come in over this long before it writes: one wake-up (and one turn
# of the GIL) for a batch of lines, not one for each (on 2 busy cores a wake-up a line cost
# more than the write it saved, issue 21 round 4).
WRITE_EVERY_S = 0.05
# The longest a stop waits for the writer to finish: a stderr nobody reads any more must not
# hold a stopping process (shared/shutdown.py counts this in its exit).
STOP_WAIT_S = 1.0

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


class _Enqueue(QueueHandler):
    """The caller's side: the record gets its message and its request context (the context
    variables are the caller's) and goes on the queue; a full queue drops it, counted. Once
    its writer has stopped (at exit), a record is written at once, by the caller."""

    def __init__(self, records: "queue.SimpleQueue[logging.LogRecord | None]") -> None:
        super().__init__(records)
        self.records = records
        self.dropped = 0
        self.writer: _Writer | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is made now, from its arguments as they are at the call; a copy, as
        # another handler (pytest's) may see the same record.
        record = copy.copy(record)
        if not isinstance(record.msg, dict):
            record.msg, record.args = record.getMessage(), None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.writer is not None and self.writer.stopped:
            self.writer.write([record])
            return
        # SimpleQueue (in C) is unbounded: the bound is checked here, give or take the records
        # other threads put at the same moment. A lost update of the count is a miscount by one.
        if self.records.qsize() < QUEUE_MOST:
            self.records.put(record)
        else:
            self.dropped += 1


class _Writer:
    """The writer thread: takes the queued records in batches, formats them as JSON lines and
    writes each batch to stderr in one call. `stop` writes what is queued, then ends it."""

    def __init__(self, source: _Enqueue, formatter: logging.Formatter, stream: TextIO) -> None:
        self.source = source
        self.formatter = formatter
        # The stderr of the moment logging is configured, as StreamHandler keeps it: a batch
        # written later must not land in whatever stands in for sys.stderr by then (a CLI
        # runner capturing its command's output, another test's capture).
        self.stream = stream
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="lianjie-log-writer", daemon=True)
        source.writer = self

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True  # records from now on are written by their callers
        self.source.records.put(None)
        self.thread.join(STOP_WAIT_S)

    def _run(self) -> None:
        records = self.source.records
        while True:
            batch = [records.get()]
            if batch[0] is not None:
                time.sleep(WRITE_EVERY_S)  # let the batch gather
            while batch[-1] is not None:
                try:
                    batch.append(records.get_nowait())
                except queue.Empty:
                    break
            self.write([record for record in batch if record is not None])
            if batch[-1] is None:
                return

    def write(self, batch: list[logging.LogRecord]) -> None:
        lines = [self._line(record) for record in batch]
        dropped, self.source.dropped = self.source.dropped, 0
        if dropped:
            lines.insert(0, self._dropped_line(dropped, batch))
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except Exception:  # a closed or broken stderr: nowhere left to say so
            pass

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self.formatter.format(record) + "\n"
        except Exception:  # a record that cannot be formatted costs its line, not the writer
            return ""

    def _dropped_line(self, dropped: int, batch: list[logging.LogRecord]) -> str:
        note = logging.makeLogRecord(
            {
                "name": __name__,
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": f"{dropped} log records dropped: the queue was full (stderr not read)",
                "service": getattr(batch[0], "service", None) if batch else None,
                "request_id": None,
                "trace_id": None,
            }
        )
        return self._line(note)


_writer: _Writer | None = None
_writer_lock = threading.Lock()


def configure(service: str, level: str) -> None:
    """JSON lines on stderr for this process, uvicorn's own loggers included, written by a
    thread of their own (`_Writer`)."""
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    handler = _Enqueue(records)
    handler.addFilter(_RequestContext(service))  # here: the request context is the caller's
    formatter = JsonFormatter(
        "%(asctime)s %(service)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )
    _start_writer(_Writer(handler, formatter, sys.stderr))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # RequestIdMiddleware writes the access line (with the route template and the request id).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False


def _start_writer(writer: _Writer) -> None:
    """Start `writer` in place of the one before (configuring again), which first writes what
    it holds."""
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer.stop()
        _writer = writer
        writer.start()


def flush() -> None:
    """Write every record logged so far and stop the writer (at exit: the last lines of a
    stopping service are not lost). Records logged after this are written by their callers."""
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer.stop()
        _writer = None


atexit.register(flush)  # runs before logging's own shutdown (atexit runs the last first)


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
