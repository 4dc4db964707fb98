"""OpenTelemetry traces across HTTP and NATS. Off unless LIANJIE_OTEL_EXPORTER says `otlp`
(OTLP over HTTP, to LIANJIE_OTEL_ENDPOINT or the OTEL_EXPORTER_OTLP_* defaults) or `console`.

The trace context travels as W3C `traceparent` in HTTP and NATS headers (beside
`X-Request-ID`, shared/logs.py), and log records carry the trace id. Span names are subjects
and route templates, never ids or personal data.
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Literal

from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import Scope

Exporter = Literal["none", "otlp", "console"]
tracer = trace.get_tracer("lianjie")
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""`FastAPI(telemetry=...)`: FastAPI's own telemetry (0.165 on) is on whenever a tracer provider
is installed. It would make a second server span of each request beside ours (`server_span`),
and record validation failures with their messages (what a client sent: personal data). Left
on, it also looked up three global providers on every request with tracing off (about 5 % of
the app's CPU for a reservation, in process)."""


def configure(service: str, exporter: Exporter, endpoint: str | None) -> None:
    """Install a tracer provider exporting this service's spans; `none` leaves the no-op one."""
    if exporter == "none":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    provider = TracerProvider(resource=Resource.create({"service.name": f"lianjie-{service}"}))
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        compact = ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(compact))
    trace.set_tracer_provider(provider)


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), or None outside a sampled span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def inject(headers: dict[str, str]) -> None:
    """Add the current trace context to outgoing headers."""
    propagate.inject(headers)


@contextmanager
def span(
    name: str, *, kind: SpanKind, carrier: Mapping[str, str] | None = None
) -> Iterator[trace.Span]:
    """A span named `name`, continuing the trace `carrier`'s headers carry, if any."""
    context = propagate.extract(dict(carrier)) if carrier is not None else None
    with tracer.start_as_current_span(name, context=context, kind=kind) as current:
        yield current


class ServerSpan:
    """One HTTP request's server span, told of the response's status as it is sent."""

    def __init__(self, current: trace.Span) -> None:
        self.current = current

    def responded(self, status: int) -> None:
        self.current.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.current.set_status(Status(StatusCode.ERROR))


def traced(scope: Scope, *, recording: bool) -> bool:
    """Whether an HTTP request gets a server span: when spans are exported (`recording()`, read
    once by the caller), or its caller sent a trace context, whose id its log records then carry.
    Otherwise the span would be the no-op one (a tenth of a small request's CPU to make)."""
    return recording or _carries_context(scope)


@contextmanager
def server_span(scope: Scope) -> Iterator[ServerSpan]:
    """The server span of an HTTP request, continuing the caller's `traceparent`; named by its
    route template once the app has routed it."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    started = time.perf_counter()
    with span(f"HTTP {scope['method']}", kind=SpanKind.SERVER, carrier=headers) as current:
        try:
            yield ServerSpan(current)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            current.update_name(f"HTTP {scope['method']} {route}")
            current.set_attribute("http.route", route)
            current.set_attribute("lianjie.duration_s", time.perf_counter() - started)


_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


def recording() -> bool:
    """Whether a tracer provider is installed (`configure`, or OTEL_PYTHON_TRACER_PROVIDER):
    until one is, every span is the no-op one."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _carries_context(scope: Scope) -> bool:
    """Whether the request carries a caller's trace context (W3C headers), whose trace id the
    request's log records then carry even with no provider installed."""
    return any(name in _CONTEXT_HEADERS for name, _ in scope["headers"])
