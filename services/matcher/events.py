"""What the matcher does on NATS: follow the resources stream, answer rank requests."""

import asyncio
import logging

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from services.matcher.index import ResourceIndex
from services.matcher.service import Ranker
from shared.contracts.matcher import MATCHER_QUEUE, RANK, RankReply, RankRequest
from shared.contracts.needs import REFERRAL_ALL_STATES, ReferralEvent
from shared.contracts.resources import RESOURCE_UPSERTED, ResourceUpserted
from shared.contracts.streams import NEEDS_STREAM, RESOURCES_STREAM
from shared.errors import ServiceUnavailable
from shared.messaging import Bus

log = logging.getLogger(__name__)


class IndexFeed:
    """Keeps the index current from the resources stream; `caught_up` once the replay is done.

    An ordered, ephemeral consumer starting from the last message of every subject: the matcher
    holds no state of its own, so each start rebuilds the index from the stream.
    """

    def __init__(self, index: ResourceIndex) -> None:
        self.index = index
        self.caught_up = asyncio.Event()
        self.skipped = 0

    async def start(self, bus: Bus) -> None:
        self.index.defer_rebuilds()
        info = await bus.js.stream_info(RESOURCES_STREAM.name)
        if info.state.messages == 0:
            self._mark_caught_up()
        await bus.js.subscribe(
            f"{RESOURCE_UPSERTED}.*",
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )

    async def _on_message(self, msg: Msg) -> None:
        try:
            self.index.apply(ResourceUpserted.model_validate_json(msg.data))
        except ValidationError:
            self.skipped += 1
            log.warning("skipped a malformed resource event on %s", msg.subject)
        if not self.caught_up.is_set() and msg.metadata.num_pending == 0:
            self._mark_caught_up()

    def _mark_caught_up(self) -> None:
        self.index.rebuild_all()
        self.caught_up.set()
        log.info("index caught up: %d resources", len(self.index))


async def serve_rank(bus: Bus, ranker: Ranker) -> None:
    """Answer `lianjie.matcher.rank.v1` in the `matcher` queue group, so replicas share load."""

    async def handle(request: RankRequest) -> RankReply:
        return ranker.rank(request)

    await bus.serve(RANK, queue=MATCHER_QUEUE, request_type=RankRequest, handler=handle)


async def read_referral_events(*, js: JetStreamContext, timeout_s: float) -> list[ReferralEvent]:
    """Every referral event on the needs stream so far, oldest first (for training).

    An ephemeral ordered consumer: training keeps no position, it reads the whole history.
    """
    info = await js.stream_info(NEEDS_STREAM.name, subjects_filter=REFERRAL_ALL_STATES)
    if not info.state.subjects:
        return []
    sub = await js.subscribe(
        REFERRAL_ALL_STATES, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
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
