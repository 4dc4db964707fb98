"""What referrals ask and hear on NATS: capacity at the resources service, the next match at
the matcher, and the resources service's waitlist promotions.

What referrals say (each transition's event, through the outbox) is `publication.py`: the
domain imports that, and the handlers here import the domain.

The asks are made outside any database transaction. Capacity requests are idempotent by
referral id at the resources service (the ledger answers a repeated reserve with the same
reservation) and a resource card is a read, so each is sent with one retry after a timeout
(`Bus.request`).
"""

from sqlalchemy.orm import Session, sessionmaker

from services.needs.events import ask_matcher
from services.needs.models import Need
from services.needs.referrals import service
from services.needs.schemas import MatchRequest
from services.needs.service import rank_request
from shared.consumers import DurableConsumer, Listeners
from shared.contracts.matcher import RankedResource
from shared.contracts.resources import (
    CAPACITY_CONSUME,
    CAPACITY_RELEASE,
    CAPACITY_RESERVE,
    RESERVATION_PROMOTED,
    RESOURCE_CARD,
    CapacityReply,
    CapacityRequest,
    ReservationPromoted,
    ResourceCard,
    ResourceCardRequest,
)
from shared.contracts.streams import NEEDS_PROMOTIONS_CONSUMER, RESERVATIONS_STREAM
from shared.db import run_in_transaction
from shared.errors import CapacityExhausted, RemoteError
from shared.messaging import Bus

ATTEMPTS = 2  # idempotent by referral id (capacity) or a read (card): a retry is safe
PROMOTIONS = NEEDS_PROMOTIONS_CONSUMER
"""The durable consumer that brings a referral's waitlisted reservation up to date."""


async def reserve(
    bus: Bus, *, resource_id: str, referral_id: str, units: int, unit: str | None = None
) -> CapacityReply:
    """Hold capacity for the referral; RemoteError 409 (reason no_capacity) when there is none,
    409 (rule unit_mismatch) when the resource counts in another `unit`."""
    request = CapacityRequest(
        resource_id=resource_id, referral_id=referral_id, units=units, unit=unit
    )
    return await bus.request(CAPACITY_RESERVE, request, CapacityReply, attempts=ATTEMPTS)


async def release(bus: Bus, *, resource_id: str, referral_id: str) -> CapacityReply:
    """Give the referral's capacity back (cancelled, failed, or an accept that did not commit)."""
    request = CapacityRequest(resource_id=resource_id, referral_id=referral_id)
    return await bus.request(CAPACITY_RELEASE, request, CapacityReply, attempts=ATTEMPTS)


async def consume(bus: Bus, *, resource_id: str, referral_id: str) -> CapacityReply:
    """Mark the referral's capacity as used: the service was delivered."""
    request = CapacityRequest(resource_id=resource_id, referral_id=referral_id)
    return await bus.request(CAPACITY_CONSUME, request, CapacityReply, attempts=ATTEMPTS)


async def resource_card(bus: Bus, *, resource_id: str) -> ResourceCard:
    """Who offers the resource (its organization); RemoteError 404 when there is none."""
    request = ResourceCardRequest(resource_id=resource_id)
    return await bus.request(RESOURCE_CARD, request, ResourceCard, attempts=ATTEMPTS)


def is_no_capacity(error: RemoteError) -> bool:
    """Whether the resources service refused for want of capacity.

    Its problem replies carry title, status and detail but not the `reason` extra (see
    `shared.messaging._problem_reply`), so the title is the signal until they do.
    """
    if error.status != 409:
        return False
    return error.extra.get("reason") == "no_capacity" or error.title == CapacityExhausted.title


async def ranked(
    bus: Bus, *, need: Need, exclude: list[str], k: int, known: list[str]
) -> list[RankedResource]:
    """The matcher's ranked list for a need, leaving out `exclude`; `known` personal values
    are taken out of the need's text (needs.service.personal_data_of)."""
    ask = rank_request(
        need=need, request=MatchRequest(k=k, exclude=exclude), default_k=k, known=known
    )
    reply = await ask_matcher(bus, ask)
    return reply.results


def reservation_promotions(sessions: sessionmaker[Session]) -> DurableConsumer[ReservationPromoted]:
    """Follows the resources service's waitlist promotions: the referral's reservation becomes
    `reserved` (idempotent: a referral no longer waitlisted is left as it is)."""

    async def handle(event: ReservationPromoted) -> None:
        await run_in_transaction(
            sessions,
            lambda s: service.reservation_promoted(
                session=s, referral_id=event.referral_id, now=event.occurred_at
            ),
        )

    return DurableConsumer(
        name=PROMOTIONS,
        stream=RESERVATIONS_STREAM.name,
        subject=RESERVATION_PROMOTED,
        event_type=ReservationPromoted,
        handle=handle,
    )


def listeners(sessions: sessionmaker[Session]) -> Listeners:
    """What the needs service hears on NATS, for its app factory to start and stop."""
    return Listeners(consumers=[reservation_promotions(sessions)])
