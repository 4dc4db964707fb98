"""Durable JetStream consumers: explicit acks, bounded redelivery, a dead letter for poison.

A message that cannot be decoded is poison at once; one whose handler fails is redelivered
(nak with a growing delay) until its `max_deliver`-th delivery. Either way it is reported to
the dead-letter stream (`lianjie.deadletter.<consumer>.v1`) and then terminated, so it neither
blocks the consumer nor loops. Handlers must be idempotent: a message is redelivered when its
ack is lost, and events may arrive out of order (stale versions are the handler's to ignore).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from shared import logs
from shared.contracts.streams import DeadLetter, deadletter_subject
from shared.messaging import Bus, OnConnected

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=BaseModel)
MAX_REASON_FIELDS = 5


def malformed_reason(exc: ValidationError) -> str:
    """`malformed: <field>, …`: which fields broke, never their values."""
    fields = sorted({".".join(str(p) for p in e["loc"])[:64] or "body" for e in exc.errors()})
    return "malformed: " + ", ".join(fields[:MAX_REASON_FIELDS])


async def dead_letter(js: JetStreamContext, msg: Msg, *, consumer: str, reason: str) -> None:
    """Report `msg` to `consumer`'s dead-letter subject and wait for JetStream to store it.

    The `Nats-Msg-Id` names the original message, so replicas (or a restart within the
    stream's duplicate window) reporting the same poison message store it once."""
    meta = msg.metadata
    letter = DeadLetter(
        consumer=consumer,
        stream=meta.stream,
        stream_seq=meta.sequence.stream,
        subject=msg.subject,
        deliveries=meta.num_delivered,
        reason=reason,
        at=datetime.now(UTC),
    )
    await js.publish(
        deadletter_subject(consumer),
        letter.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"{consumer}:{meta.stream}:{meta.sequence.stream}"},
    )
    log.warning(
        "dead letter: %s gave up on %s #%d after %d deliveries (%s)",
        consumer,
        meta.stream,
        meta.sequence.stream,
        meta.num_delivered,
        reason,
    )


@dataclass
class ConsumerStats:
    """What one consumer did in this process, for metrics and tests."""

    handled: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lag: int = 0


class DurableConsumer(Generic[EventT]):
    """A durable pull consumer that decodes `event_type` and calls `handle` on each message.

    Durable, so a restart resumes where the last ack left off and replicas of one service share
    the work (each message is handled by one of them). `handle` raising means "try again later".
    """

    def __init__(
        self,
        *,
        name: str,
        stream: str,
        subject: str,
        event_type: type[EventT],
        handle: Callable[[EventT], Awaitable[None]],
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        retry_delay_s: float = 0.5,
        batch: int = 64,
    ) -> None:
        self.name = name
        self.stream = stream
        self.subject = subject
        self.event_type = event_type
        self.handle = handle
        self.max_deliver = max_deliver
        self.ack_wait_s = ack_wait_s
        self.retry_delay_s = retry_delay_s
        self.batch = batch
        self.stats = ConsumerStats()
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_deliver=self.max_deliver,
            filter_subject=self.subject,
        )

    async def start(self, js: JetStreamContext) -> None:
        """Create (or bind to) the consumer and start pulling."""
        sub = await js.pull_subscribe(
            self.subject, durable=self.name, stream=self.stream, config=self.config()
        )
        self._sub = sub
        self._task = asyncio.create_task(self._pull(js, sub), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            # Unsubscribed here: left to the connection's drain, a pull subscription holds it
            # for its whole timeout (30 s), and a stopping matcher outlasted its grace period.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _pull(self, js: JetStreamContext, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                messages = await sub.fetch(self.batch, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                # nats-py raises its own TimeoutError on an empty fetch, but the builtin one when
                # the wait itself times out (a busy event loop during a large replay): both idle.
                continue
            except Exception as exc:  # NATS away or restarting: the client reconnects
                log.warning("consumer %s paused: %s", self.name, type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for msg in messages:
                await self.process(js, msg)

    async def process(self, js: JetStreamContext, msg: Msg) -> None:
        """Decode, handle, ack; or retry; or dead-letter and terminate (logging under the
        request id the event carries)."""
        with logs.message_scope(f"handle {msg.subject}", SpanKind.CONSUMER, msg.headers):
            await self._process(js, msg)

    async def _process(self, js: JetStreamContext, msg: Msg) -> None:
        self.stats.lag = msg.metadata.num_pending
        try:
            event = self.event_type.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._give_up(js, msg, malformed_reason(exc))
            return
        try:
            await self.handle(event)
        except Exception as exc:
            deliveries = msg.metadata.num_delivered
            if deliveries >= self.max_deliver:
                await self._give_up(js, msg, f"failed: {type(exc).__name__}")
                return
            self.stats.retried += 1
            await msg.nak(delay=self.retry_delay_s * 2 ** (deliveries - 1))
            return
        self.stats.handled += 1
        await msg.ack()
        log.info("%s handled %s #%d", self.name, msg.subject, msg.metadata.sequence.stream)

    async def _give_up(self, js: JetStreamContext, msg: Msg, reason: str) -> None:
        try:
            await dead_letter(js, msg, consumer=self.name, reason=reason)
        except Exception as exc:  # not recorded: leave it to redelivery, never drop it silently
            log.warning("consumer %s could not dead-letter: %s", self.name, type(exc).__name__)
            await msg.nak(delay=self.retry_delay_s)
            return
        self.stats.dead_lettered += 1
        await msg.term()


@dataclass(frozen=True)
class Listeners:
    """Everything a service hears on NATS, in one list its app factory walks: request-reply
    responders (`Bus.serve`, ended with the connection) and durable consumers. Started once the
    bus has connected, since NATS may come up after the app; the consumers stop before the bus
    closes."""

    responders: Sequence[OnConnected] = ()
    consumers: Sequence[DurableConsumer[Any]] = ()

    async def start(self, bus: Bus) -> None:
        """Serve the responders, then start pulling for each consumer."""
        for serve in self.responders:
            await serve(bus)
        if self.consumers:  # on the feed connection, apart from the answering one (`Bus.feed_js`)
            feed = await bus.feed_js()
            for consumer in self.consumers:
                await consumer.start(feed)

    async def stop(self) -> None:
        """Stop every consumer (responders end with the connection)."""
        for consumer in self.consumers:
            await consumer.stop()
