"""What the matcher does on NATS: follow the resources stream, answer rank requests."""

import asyncio
import logging

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from services.matcher.index import ResourceIndex
from services.matcher.service import Ranker
from shared.contracts.matcher import MATCHER_QUEUE, RANK, RankReply, RankRequest
from shared.contracts.resources import RESOURCE_UPSERTED, ResourceUpserted
from shared.contracts.streams import RESOURCES_STREAM
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
