"""What the needs service does on NATS: asks the matcher; need events go out via the outbox."""

from shared.contracts.matcher import (
    RANK,
    REVERSE,
    RankReply,
    RankRequest,
    ReverseReply,
    ReverseRequest,
)
from shared.messaging import Bus


async def ask_matcher(bus: Bus, request: RankRequest) -> RankReply:
    """Rank resources for a need over `lianjie.matcher.rank.v1`; 503 if nobody answers in time."""
    # Ranking has no side effects, so one retry (e.g. a replica restarting) is safe.
    return await bus.request(RANK, request, RankReply, attempts=2)


async def ask_reverse(bus: Bus, request: ReverseRequest) -> ReverseReply:
    """Which of these needs may the resource serve, over `lianjie.matcher.reverse.v1`; 503 if
    nobody answers in time. Read-only, so one retry is safe."""
    return await bus.request(REVERSE, request, ReverseReply, attempts=2)
