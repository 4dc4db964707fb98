"""What the matcher does on NATS: follow the resources stream, answer rank requests, and follow
referral outcomes for learning."""

import asyncio
import gc
import logging
import random
import time
from collections import Counter
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client import Histogram
from pydantic import ValidationError

from services.matcher import snapshot
from services.matcher.decode import State, decode_many
from services.matcher.index import ResourceIndex
from services.matcher.reverse import qualifying
from services.matcher.service import Ranker
from shared.consumers import DurableConsumer, dead_letter, malformed_reason
from shared.contracts.matcher import (
    MATCHER_QUEUE,
    RANK,
    REVERSE,
    RankReply,
    RankRequest,
    ReverseReply,
    ReverseRequest,
)
from shared.contracts.needs import REFERRAL_ALL_STATES, ReferralEvent
from shared.contracts.resources import RESOURCE_UPSERTED
from shared.contracts.streams import (
    MATCHER_INDEX_CONSUMER,
    MATCHER_OUTCOMES_CONSUMER,
    NEEDS_STREAM,
    RESOURCES_STREAM,
)
from shared.errors import ServiceUnavailable
from shared.messaging import Bus

log = logging.getLogger(__name__)


class IndexFeed:
    """Keeps the index current from the resources stream; `caught_up` once the replay is done.

    An ordered, ephemeral consumer starting from the last message of every subject: the matcher
    holds no record of its own, so each start rebuilds the index from the stream. Redelivered or
    out-of-order states are harmless: the index ignores a version it has already passed.

    With `load_snapshot`, the feed first takes in the latest valid snapshot of the index
    (`snapshot`) and replays only the stream after the sequence it covers: every message after
    it, in order, so a later version (an update, a deactivation) overrides the snapshot's, and
    an older one is ignored, as in the full replay. Any doubt about the snapshot: full replay.

    A malformed event is skipped (the replay never wedges on it) and reported to the dead-letter
    subject `lianjie.deadletter.matcher_index.v1`. Every replica and every restart meets it
    again; the report's `Nats-Msg-Id` keeps that to one dead letter per duplicate window.
    """

    CONSUMER = MATCHER_INDEX_CONSUMER

    # Replayed messages are decoded and applied in batches of this many (see `decode`).
    BATCH = 4096
    # Texts counted in per step after the replay (about half a millisecond on a quiet machine),
    # and the pause after each: requests waiting are answered first, and a request that comes
    # in waits for about one step. The text model is complete in a few times the time the
    # counting alone takes (a request with text counts in the rest at once, see `text`).
    TEXT_STEP = 50
    TEXT_PAUSE_S = 0.001

    def __init__(self, index: ResourceIndex, *, load_snapshot: bool = False) -> None:
        self.index = index
        self.load_snapshot = load_snapshot
        self.sequence = 0  # the resources stream's sequence of the last message taken in
        self.stream_created = ""  # its creation time (a snapshot names the stream it covers)
        self.restored_from = 0  # the sequence of the snapshot it started from (0: none)
        self.caught_up = asyncio.Event()
        self._replayed: list[Msg] = []
        self._counting: asyncio.Task[None] | None = None
        self.skipped = 0
        self.stale = 0
        self.lag = 0
        self._js: JetStreamContext | None = None

    async def start(self, bus: Bus) -> None:
        self.index.defer_rebuilds()
        self._js = bus.js
        info = await bus.js.stream_info(RESOURCES_STREAM.name)
        self.stream_created = str(info.created)
        last = info.state.last_seq
        after = 0
        # Read on a connection of its own, as every consumer is (`Bus.feed_js`): the snapshot's
        # chunks and the replay's million deliveries must not slow the one answering ranks.
        feed = await bus.feed_js()
        if self.load_snapshot and info.state.messages:
            after = self.restored_from = await self._restore(feed, last)
        self.sequence = after
        if info.state.messages == 0 or after >= last:
            self._mark_caught_up()
        else:
            self.lag = last - after if after else info.state.messages
        # The tail after a snapshot: every message from the next sequence on.
        where: dict[str, Any] = (
            {
                "config": ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
                )
            }
            if after
            else {"deliver_policy": DeliverPolicy.LAST_PER_SUBJECT}
        )
        await bus.follow(
            f"{RESOURCE_UPSERTED}.*", stream=RESOURCES_STREAM.name, cb=self._on_message, **where
        )

    async def _restore(self, js: JetStreamContext, last: int) -> int:
        """Take in the latest snapshot covering this stream; its sequence, 0 if none is used."""
        started = time.perf_counter()
        try:
            found = await snapshot.load(js)
            if found is None:
                log.info("no index snapshot: replaying the whole stream")
                return 0
            stream = snapshot.resources_mark(self.stream_created, last)
            snapshot.check_covers(found.mark, stream)
        except Exception as exc:  # any doubt: the whole stream, never a wrong index
            reason = str(exc) if isinstance(exc, snapshot.SnapshotRefused) else type(exc).__name__
            log.warning("index snapshot not used (%s): replaying the whole stream", reason)
            return 0
        self.index.restore(found.columns)
        log.info(
            "index snapshot at sequence %d: %d resources in %.1f s; replaying %d after it",
            found.mark.sequence,
            len(self.index),
            time.perf_counter() - started,
            last - found.mark.sequence,
        )
        return found.mark.sequence

    async def _on_message(self, msg: Msg) -> None:
        sequence, self.lag = _position(msg)
        if self.caught_up.is_set():
            await self._apply([msg])
            self.sequence = sequence
            return
        self._replayed.append(msg)
        if self.lag == 0 or len(self._replayed) >= self.BATCH:
            batch, self._replayed = self._replayed, []
            await self._apply(batch)
            self.sequence = sequence
            # What the index holds lives as long as the process: kept out of the collector's
            # full passes, which otherwise walk millions of objects (a pause in every request
            # they interrupt, and a growing share of the replay itself).
            gc.freeze()
        if self.lag == 0:
            self._mark_caught_up()

    async def _apply(self, batch: list[Msg]) -> None:
        """Decode and apply messages in order; a malformed one is skipped and reported."""
        states: list[State] = []
        for msg, decoded in zip(batch, decode_many([m.data for m in batch]), strict=True):
            if isinstance(decoded, ValidationError):
                self.skipped += 1
                await self._report(msg, malformed_reason(decoded))
            else:
                states.append(decoded)
        if len(states) == 1:
            self.stale += not self.index.apply(states[0])
        elif states:
            self.stale += len(states) - self.index.apply_many(states)

    async def _report(self, msg: Msg, reason: str) -> None:
        if self._js is None:
            return
        try:
            await dead_letter(self._js, msg, consumer=self.CONSUMER, reason=reason)
        except Exception as exc:  # the skip is counted and logged either way
            log.warning("could not dead-letter a resource event: %s", type(exc).__name__)

    def _mark_caught_up(self) -> None:
        self.index.rebuild_all()
        gc.freeze()  # the shards just built, like the replay's batches (see `_on_message`)
        self.caught_up.set()
        log.info("index caught up: %d resources", len(self.index))
        self._counting = asyncio.get_running_loop().create_task(self._count_text())

    async def _count_text(self) -> None:
        """Count the replayed texts in, a step at a time, answering requests in between."""
        while self.index.count_text(self.TEXT_STEP):
            await asyncio.sleep(self.TEXT_PAUSE_S)
        log.info("text model complete: %d documents", self.index.text.documents)


async def keep_snapshots(
    feed: IndexFeed, js: JetStreamContext, *, interval_s: float, min_changes: int
) -> None:
    """Write a snapshot of the feed's index every `interval_s` (±20 %, so replicas started
    together drift apart) when at least `min_changes` states were applied since the last one.

    Every ready replica may write; the one object is replaced whole (nats-py's put), and a
    replica skips its turn when the stored snapshot already covers as much of the stream.
    Two replicas writing at the same moment cannot leave a wrong snapshot (each is checked
    whole on reading), at worst a replaced snapshot's chunks left behind.
    """
    await feed.caught_up.wait()
    written = feed.index.applied if feed.restored_from else -min_changes
    while True:
        await asyncio.sleep(interval_s * random.uniform(0.8, 1.2))
        if feed.index.applied - written < min_changes:
            continue
        try:
            mark = snapshot.resources_mark(feed.stream_created, feed.sequence)
            if await snapshot.stored_sequence(js, mark) >= mark.sequence:
                written = feed.index.applied
                continue
            started = time.perf_counter()
            applied = feed.index.applied
            size = await snapshot.save(js, snapshot.capture(feed.index, mark))
            written = applied
            log.info(
                "index snapshot at sequence %d written: %d resources, %.0f MB in %.1f s",
                mark.sequence,
                len(feed.index),
                size / 1e6,
                time.perf_counter() - started,
            )
        except Exception as exc:  # serving goes on; the next turn tries again
            log.warning("index snapshot not written: %s", type(exc).__name__)


# $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
_V1_TOKENS, _V1_SEQUENCE, _V1_PENDING = 9, 5, 8


def _position(msg: Msg) -> tuple[int, int]:
    """The message's stream sequence and the messages left after it, read from its reply
    subject alone: `msg.metadata` also builds a timestamp and two dataclasses, a fifth of the
    replay's time at a million."""
    tokens = (msg.reply or "").split(".")
    try:
        if len(tokens) == _V1_TOKENS:
            return int(tokens[_V1_SEQUENCE]), int(tokens[_V1_PENDING])
        if len(tokens) >= _V2_TOKENS_AT_LEAST:
            return int(tokens[Msg.Ack.StreamSeq]), int(tokens[Msg.Ack.NumPending])
    except ValueError:
        pass
    metadata = msg.metadata  # an odd subject: let nats-py parse (or refuse) it
    return metadata.sequence.stream, metadata.num_pending


def _pending(msg: Msg) -> int:
    """Messages left after this one (see `_position`)."""
    return _position(msg)[1]


_V2_TOKENS_AT_LEAST = Msg.Ack.NumPending + 1


async def serve_rank(bus: Bus, ranker: Ranker, latency: Histogram | None = None) -> None:
    """Answer `lianjie.matcher.rank.v1` in the `matcher` queue group, so replicas share load."""

    async def handle(request: RankRequest) -> RankReply:
        started = time.perf_counter()
        try:
            return ranker.rank(request)
        finally:
            if latency is not None:
                latency.labels(ranker.settings.service_name).observe(time.perf_counter() - started)

    await bus.serve(RANK, queue=MATCHER_QUEUE, request_type=RankRequest, handler=handle)


async def serve_reverse(bus: Bus, ranker: Ranker) -> None:
    """Answer `lianjie.matcher.reverse.v1` (which needs may a resource serve) in the queue."""

    async def handle(request: ReverseRequest) -> ReverseReply:
        return qualifying(index=ranker.index, request=request)

    await bus.serve(REVERSE, queue=MATCHER_QUEUE, request_type=ReverseRequest, handler=handle)


class OutcomeFeed:
    """Follows referral transitions as they happen, for outcome learning: how many referrals
    ended with a labelled outcome (met, partly met, not met) since this replica started.

    A durable consumer (`matcher_outcomes`) with explicit acks, shared by the matcher's
    replicas, so each event is counted once across them (sum the replicas' metrics). Redelivery
    and reordering are harmless: a referral's version at or below one already seen is ignored.
    A malformed event, or one that fails `max_deliver` times, goes to the dead letter.
    """

    CONSUMER = MATCHER_OUTCOMES_CONSUMER

    def __init__(self, *, max_deliver: int = 5) -> None:
        self.versions: dict[str, int] = {}
        self.outcomes: Counter[str] = Counter()
        self.stale = 0
        self.consumer = DurableConsumer(
            name=self.CONSUMER,
            stream=NEEDS_STREAM.name,
            subject=REFERRAL_ALL_STATES,
            event_type=ReferralEvent,
            handle=self.apply,
            max_deliver=max_deliver,
        )

    async def start(self, bus: Bus) -> None:
        await self.consumer.start(await bus.feed_js())

    async def stop(self) -> None:
        await self.consumer.stop()

    async def apply(self, event: ReferralEvent) -> None:
        """Take in one transition; a version already passed is ignored."""
        if self.versions.get(event.referral_id, 0) >= event.version:
            self.stale += 1
            return
        self.versions[event.referral_id] = event.version
        if event.outcome is not None:
            self.outcomes[event.outcome.result] += 1


async def read_referral_events(*, js: JetStreamContext, timeout_s: float) -> list[ReferralEvent]:
    """Every referral event on the needs stream so far, oldest first (for training).

    An ephemeral ordered consumer: training keeps no position, it reads the whole history.
    """
    try:
        info = await js.stream_info(NEEDS_STREAM.name, subjects_filter=REFERRAL_ALL_STATES)
    except NotFoundError:  # not provisioned yet: no referral has been published
        return []
    if not info.state.subjects:
        return []
    sub = await js.subscribe(
        REFERRAL_ALL_STATES,
        stream=NEEDS_STREAM.name,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    events: list[ReferralEvent] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout_s)
            except NatsTimeout as exc:
                raise ServiceUnavailable(
                    f"no referral event arrived within {timeout_s:g}s"
                ) from exc
            try:
                events.append(ReferralEvent.model_validate_json(msg.data))
            except ValidationError:
                log.warning("skipped a malformed referral event on %s", msg.subject)
            if msg.metadata.num_pending == 0:
                return events
    finally:
        await sub.unsubscribe()
