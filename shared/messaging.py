"""NATS: a connection that keeps trying, JetStream streams, request-reply with problem replies."""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from shared import logs, tracing
from shared.busy import is_busy
from shared.contracts.streams import SERVICE_STREAMS, STREAMS, StreamSpec, inbox_prefix
from shared.errors import (
    DomainError,
    RemoteError,
    ServiceUnavailable,
    ValidationFailed,
    field_errors,
)
from shared.settings import CommonSettings

if TYPE_CHECKING:
    from prometheus_client import Histogram

    from shared.metrics import Metrics

log = logging.getLogger(__name__)

STATUS_HEADER = "Lianjie-Status"
RETRY_BACKOFF_S = 0.05
DRAIN_TIMEOUT_S = 0.5
ANSWERING_TIMEOUT_S = 5.0  # a stopping service finishes the requests it is answering
ReplyT = TypeVar("ReplyT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound=BaseModel)
OnConnected = Callable[["Bus"], Awaitable[None]]


FOLLOW_HEARTBEAT_S = 1.0
"""The idle heartbeat of the ordered consumers that follow a stream (the matcher's index feed,
token revocations). An ordered consumer lives in nats-server's memory: after a restart of the
server nats-py makes it anew only once two heartbeats were missed, checked every two heartbeats.
At nats-py's default of 5 s the matcher's index went about 19 s without the changes written
after NATS came back (and a revoked token stayed good as long); at 1 s, about 3 s."""


class Bus:
    """This service's NATS connection. It connects in the background and never blocks start-up:
    while NATS is away, requests fail fast with ServiceUnavailable and /readyz says so."""

    def __init__(self, settings: CommonSettings, *, name: str) -> None:
        self.settings = settings
        self.name = name
        self.nc: NATS | None = None
        self.feed_nc: NATS | None = None  # `feed_js`
        self._on_connected: list[OnConnected] = []
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self._answering: set[asyncio.Task[None]] = set()  # requests served concurrently
        self._answers: Histogram | None = None

    def count_answers(self, metrics: "Metrics") -> None:
        """Count and time the requests this bus answers in `metrics`, by subject and status
        (`lianjie_nats_answer_seconds`): NATS's twin of the HTTP request histogram."""
        self._answers = metrics.nats_answers

    def on_connected(self, callback: OnConnected) -> None:
        """Run `callback` once, after the first successful connect (subscriptions go here)."""
        self._on_connected.append(callback)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self.nc is None:
            raise ServiceUnavailable("the message bus (NATS) is not connected")
        return self.nc.jetstream()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name=f"{self.name}-nats")

    async def _connect_until_done(self) -> None:
        self.nc = await self._connected(self.name)
        await wait_for_streams(self.nc.jetstream(), self._streams(), self.settings)
        for callback in self._on_connected:
            await callback(self)
        self.ready.set()
        log.info("connected to NATS as %s", self.name)

    async def _connected(self, name: str) -> NATS:
        """A connection named `name`, tried until NATS answers."""
        while True:
            try:
                return await nats.connect(**{**self._connect_options(), "name": name})
            except Exception as exc:
                log.warning("NATS connect failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self.settings.nats_reconnect_wait_s)

    async def feed_js(self) -> JetStreamContext:
        """JetStream on a second connection, on which every stream this service consumes is
        read (the matcher's replay and snapshot, durable consumers, token revocations), apart
        from the connection that answers requests.

        Why: for a user that may answer requests (`allow_responses`), nats-server keeps the
        reply subject of every message it delivers on a connection for two minutes (its
        default expiry), and about once a second scans them all while it holds that
        connection. A JetStream message's reply subject is its ack subject, which an ordered
        consumer never answers and an ack does not mark as answered: after replaying 1,000,000
        of them, every request to the same connection waited 150-250 ms once a second for two
        minutes (issue 21's open-loop stalls; tests/matcher/test_feed.py), and a durable
        consumer's burst (an import of 120,000 resources) would do the same to its service
        (tests/shared/test_feed_connection.py)."""
        if self.feed_nc is None:
            self.feed_nc = await self._connected(f"{self.name}-feed")
        return self.feed_nc.jetstream()

    async def follow(
        self, subject: str, *, stream: str, cb: Callable[[Msg], Awaitable[None]], **where: Any
    ) -> None:
        """Follow `subject` of `stream` (named: finding it would need $JS.API.STREAM.NAMES)
        with an ordered consumer on the feed connection, beating every `FOLLOW_HEARTBEAT_S`;
        `where` says where it starts (a deliver policy, or a config with a start sequence)."""
        feed = await self.feed_js()
        await feed.subscribe(
            subject,
            stream=stream,
            cb=cb,
            ordered_consumer=True,
            idle_heartbeat=FOLLOW_HEARTBEAT_S,
            **where,
        )

    def _streams(self) -> tuple[StreamSpec, ...]:
        use = SERVICE_STREAMS.get(self.name)
        return (*use.checks, *use.follows) if use is not None else tuple(STREAMS)

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "servers": self.settings.nats_url.split(","),
            "name": self.name,
            "connect_timeout": self.settings.nats_connect_timeout_s,
            "reconnect_time_wait": self.settings.nats_reconnect_wait_s,
            "max_reconnect_attempts": -1,
            "allow_reconnect": True,
            "error_cb": _log_error,
        }
        if self.settings.nats_user:
            options["user"] = self.settings.nats_user
            options["password"] = self.settings.nats_password
            # Replies come to this user's own inbox, which only it may subscribe to.
            options["inbox_prefix"] = inbox_prefix(self.settings.nats_user)
        return options

    async def answering(self) -> str | None:
        """Readiness: None when NATS answers a ping within the connect timeout, else why not.
        A frozen server (SIGSTOP, a stalled network) keeps the TCP connection open, so being
        connected is not enough."""
        if not self.connected or self.nc is None or not self.ready.is_set():
            return "not connected"
        try:
            await self.nc.flush(timeout=self.settings.nats_connect_timeout_s)  # type: ignore[arg-type]
        except Exception as exc:
            # A server that went away mid-ping is "not connected", as it is on the next call.
            return f"not answering: {type(exc).__name__}" if self.connected else "not connected"
        return None

    async def request(
        self,
        subject: str,
        payload: BaseModel,
        reply_type: type[ReplyT],
        *,
        timeout: float | None = None,
        attempts: int = 1,
    ) -> ReplyT:
        """Ask `subject` and decode the answer; no answer in time → ServiceUnavailable.

        Only idempotent requests (rank; capacity keyed by referral id) may pass `attempts` > 1:
        a retry after a timeout may reach a responder that already acted on the first try.
        """
        timeout = timeout or self.settings.nats_request_timeout_s
        data = payload.model_dump_json().encode()
        for attempt in range(1, attempts + 1):
            try:
                msg = await self._request_once(subject, data, timeout)
            except ServiceUnavailable:
                if attempt == attempts:
                    raise
                await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
                continue
            status = (msg.headers or {}).get(STATUS_HEADER)
            if status:
                raise RemoteError(int(status), json.loads(msg.data))
            return reply_type.model_validate_json(msg.data)
        raise ServiceUnavailable(f"no answer on {subject}")  # not reached: attempts >= 1

    async def _request_once(self, subject: str, data: bytes, timeout: float) -> Msg:
        if not self.connected or self.nc is None:
            raise ServiceUnavailable(f"cannot ask {subject}: the message bus is not connected")
        try:
            with tracing.span(f"ask {subject}", kind=SpanKind.CLIENT):
                headers = logs.nats_headers()
                return await self.nc.request(subject, data, timeout, headers=headers)
        except NoRespondersError as exc:
            raise ServiceUnavailable(f"no service is answering {subject}") from exc
        except NatsTimeout as exc:
            raise ServiceUnavailable(f"no answer on {subject} within {timeout:g}s") from exc

    async def serve(
        self,
        subject: str,
        *,
        queue: str,
        request_type: type[RequestT],
        handler: Callable[[RequestT], Awaitable[BaseModel]],
        in_flight: int = 1,
    ) -> None:
        """Answer `subject` in queue group `queue`: decode, call `handler`, encode or explain.
        nats-py runs a subscription's callbacks one after the other: with `in_flight` > 1, up
        to that many requests are answered at once (a handler that waits on the database
        would otherwise hold every request queued behind it)."""
        if self.nc is None:
            raise ServiceUnavailable("the message bus (NATS) is not connected")
        nc = self.nc
        room = asyncio.Semaphore(in_flight)

        async def on_request_in_turn(msg: Msg) -> None:
            try:
                await on_request(msg)
            finally:
                room.release()

        async def dispatch(msg: Msg) -> None:
            await room.acquire()  # full: the subscription waits, and NATS holds the rest
            task = asyncio.create_task(on_request_in_turn(msg))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

        async def on_request(msg: Msg) -> None:
            with logs.message_scope(f"answer {subject}", SpanKind.SERVER, msg.headers):
                started = time.perf_counter()
                body, headers = await _answer(msg.data, request_type, handler)
                if msg.reply:
                    await nc.publish(msg.reply, body, headers=headers)
                self._answered(subject, headers, time.perf_counter() - started)

        await nc.subscribe(subject, queue=queue, cb=on_request if in_flight == 1 else dispatch)

    def _answered(self, subject: str, headers: dict[str, str] | None, seconds: float) -> None:
        status = int((headers or {}).get(STATUS_HEADER, 200))
        if self._answers is not None:
            self._answers.labels(self.name, subject, str(status)).observe(seconds)
        log.info(
            "answered %s",
            subject,
            extra={"status": status, "duration_ms": round(seconds * 1000, 1)},
        )

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._answering:  # requests being answered get their replies out before the drain
            await asyncio.wait(set(self._answering), timeout=ANSWERING_TIMEOUT_S)
        # Drain (let in-flight handlers answer) only as long as a stop can wait: a frozen or
        # unreachable server never confirms, and nats-py would wait 30 s for it.
        # (asyncio.wait_for would not do: it waits for the cancelled drain, which nats-py
        # does not end until its own timeout.)
        # Both connections at once: the stop's budget counts one (shared/shutdown.py).
        await asyncio.gather(*(_drain(nc) for nc in (self.nc, self.feed_nc) if nc is not None))


async def _drain(nc: NATS) -> None:
    for step in (nc.drain, nc.close):
        if not nc.is_closed:
            await _within(step(), DRAIN_TIMEOUT_S)


async def _within(work: Awaitable[None], timeout_s: float) -> None:
    """Run `work` for at most `timeout_s`; past that it is cancelled and left behind, not
    awaited. Its errors are ignored (this is for stopping)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
    elif not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


async def _answer(
    data: bytes,
    request_type: type[RequestT],
    handler: Callable[[RequestT], Awaitable[BaseModel]],
) -> tuple[bytes, dict[str, str] | None]:
    try:
        request = request_type.model_validate_json(data)
        reply = await handler(request)
    except ValidationError as exc:
        return _problem_reply(ValidationFailed(field_errors(exc.errors())))
    except DomainError as exc:
        return _problem_reply(exc)
    except Exception as exc:
        if is_busy(exc):  # as over HTTP (problems.py): the asker answers 503, its client retries
            log.warning("request handler found the database busy (%s)", type(exc).__name__)
            return _problem_reply(ServiceUnavailable("the database is busy; try again shortly"))
        log.error("request handler failed with %s", type(exc).__name__)
        return _problem_reply(DomainError("the responder failed; it was logged"), status=500)
    return reply.model_dump_json().encode(), None


def _problem_reply(exc: DomainError, status: int | None = None) -> tuple[bytes, dict[str, str]]:
    status = status or exc.status
    body: dict[str, Any] = {**exc.extra, "title": exc.title, "status": status}
    body["detail"] = exc.detail
    if isinstance(exc, ValidationFailed):
        body["errors"] = [e.as_dict() for e in exc.errors]
    return json.dumps(body).encode(), {STATUS_HEADER: str(status)}


async def wait_for_streams(
    js: JetStreamContext, specs: tuple[StreamSpec, ...], settings: CommonSettings
) -> None:
    """Wait until every stream in `specs` exists. A service never creates or edits a stream
    (its NATS user may not): an operator's `lianjie streams provision` does, before or after
    the service starts."""
    while True:
        missing = []
        for spec in specs:
            try:
                await js.stream_info(spec.name)
            except NotFoundError:
                missing.append(spec.name)
        if not missing:
            return
        log.warning("waiting for streams %s (run `lianjie streams provision`)", missing)
        await asyncio.sleep(settings.nats_reconnect_wait_s * 4)


async def ensure_streams(
    js: JetStreamContext, specs: list[StreamSpec] = STREAMS, *, replicas: int = 1
) -> None:
    """Create the streams with `replicas` copies each (LIANJIE_JETSTREAM_REPLICAS: 3 on a NATS
    cluster), or bring their configuration up to date: an operator's step, as `admin`
    (`lianjie streams provision`, which `lianjie up` runs; compose and k8s run it as a job)."""
    for spec in specs:
        config = StreamConfig(
            name=spec.name,
            subjects=spec.subjects,
            max_msgs_per_subject=spec.max_msgs_per_subject,
            num_replicas=replicas,
            **spec.extra,  # type: ignore[arg-type]
        )
        try:
            await js.add_stream(config)  # idempotent when the stream exists with this config
        except BadRequestError:
            await js.update_stream(config)


async def _log_error(exc: Exception) -> None:
    log.warning("NATS: %s", type(exc).__name__)
