"""Prometheus metrics: request latency for every route, and gauges a service registers
(outbox backlog, consumer lag, …). Labels are route templates and codes, never ids or PII."""

import time
from collections.abc import Callable, Iterable

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One service's metric registry."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        # Process and runtime: CPU, memory, open files, garbage collections, Python version.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.requests = Histogram(
            "lianjie_http_request_seconds",
            "HTTP request latency by route template and status",
            ["service", "method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.nats_answers = Histogram(  # NATS's twin of `requests` (`Bus.count_answers`)
            "lianjie_nats_answer_seconds",
            "NATS requests answered, from decoding the request to the reply handed to NATS, by "
            "subject and status",
            ["service", "subject", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def histogram(self, name: str, documentation: str) -> Histogram:
        """A latency histogram labelled with this service."""
        return Histogram(
            name, documentation, ["service"], buckets=LATENCY_BUCKETS, registry=self.registry
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time."""
        gauge = Gauge(name, documentation, ["service"], registry=self.registry)
        gauge.labels(self.service).set_function(read)

    def gauges(
        self, name: str, documentation: str, label: str, read: Callable[[], dict[str, float]]
    ) -> None:
        """A gauge per value of `label` (e.g. referrals by state), all read at scrape time."""
        self.registry.register(_LabelledGauge(self.service, name, documentation, label, read))

    def install(self, app: FastAPI) -> None:
        """Time every request and serve `GET /metrics`."""
        app.add_middleware(_Timed, metrics=self)

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _Timed:
    """Times every HTTP request by method, route template and status. Plain ASGI: Starlette's
    `BaseHTTPMiddleware` (`@app.middleware("http")`) ran every request through a task group
    and memory streams, a tenth of the resources service's CPU per reservation. Each labelled
    histogram is looked up once (`labels()` validates, locks and builds its key every call)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self.observers: dict[tuple[str, str, int], Callable[[float], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.observer(scope["method"], route, status)(time.perf_counter() - started)

    def observer(self, method: str, route: str, status: int) -> Callable[[float], None]:
        """The `observe` of the histogram labelled so (routes are templates: a bounded set)."""
        key = (method, route, status)
        found = self.observers.get(key)
        if found is None:
            labels = (self.metrics.service, method, route, str(status))
            found = self.observers[key] = self.metrics.requests.labels(*labels).observe
        return found


class _LabelledGauge(Collector):
    def __init__(
        self,
        service: str,
        name: str,
        documentation: str,
        label: str,
        read: Callable[[], dict[str, float]],
    ) -> None:
        self.service, self.name, self.documentation = service, name, documentation
        self.label, self.read = label, read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=["service", self.label])
        for value, amount in sorted(self.read().items()):
            family.add_metric([self.service, value], amount)
        yield family
