"""What the needs service says and hears on NATS: it asks the matcher, and announces needs
through the outbox (in the transaction that changes the need). Referrals' bus I/O is
`referrals/events.py`."""

from sqlalchemy.orm import Session

from services.needs.models import Need, OutboxEvent
from shared.contracts.matcher import (
    RANK,
    REVERSE,
    RankReply,
    RankRequest,
    ReverseReply,
    ReverseRequest,
)
from shared.contracts.needs import NeedEvent
from shared.messaging import Bus
from shared.outbox import add_event


async def ask_matcher(bus: Bus, request: RankRequest) -> RankReply:
    """Rank resources for a need over `lianjie.matcher.rank.v1`; 503 if nobody answers in time."""
    # Ranking has no side effects, so one retry (e.g. a replica restarting) is safe.
    return await bus.request(RANK, request, RankReply, attempts=2)


async def ask_reverse(bus: Bus, request: ReverseRequest) -> ReverseReply:
    """Which of these needs may the resource serve, over `lianjie.matcher.reverse.v1`; 503 if
    nobody answers in time. Read-only, so one retry is safe."""
    return await bus.request(REVERSE, request, ReverseReply, attempts=2)


def announce_need(session: Session, need: Need, subject: str) -> None:
    """Queue the need's event on `subject`: ids, codes and the township, never personal data."""
    event = NeedEvent(
        need_id=need.id,
        household_id=need.household_id,
        category=need.category,
        status=need.status,
        urgency=need.urgency,
        adcode=need.adcode[:9],
        version=need.version,
        occurred_at=need.updated_at,
    )
    add_event(session, OutboxEvent, subject=subject, aggregate_id=need.id, payload=event)
