"""What referrals ask on NATS: capacity at the resources service, the next match at the matcher.

Referral transitions go out through the outbox (`service._publish`). These calls are made
outside any database transaction, and every one is idempotent by referral id at the resources
service, so a retry after a timeout is safe.
"""

from services.needs.events import ask_matcher
from services.needs.models import Need
from services.needs.schemas import MatchRequest
from services.needs.service import rank_request
from shared.contracts.matcher import RankedResource
from shared.contracts.resources import (
    CAPACITY_CONSUME,
    CAPACITY_RELEASE,
    CAPACITY_RESERVE,
    CapacityReply,
    CapacityRequest,
)
from shared.errors import CapacityExhausted, RemoteError
from shared.messaging import Bus


async def reserve(bus: Bus, *, resource_id: str, referral_id: str, units: int) -> CapacityReply:
    """Hold capacity for the referral; RemoteError 409 (reason no_capacity) when there is none."""
    request = CapacityRequest(resource_id=resource_id, referral_id=referral_id, units=units)
    return await bus.request(CAPACITY_RESERVE, request, CapacityReply)


async def release(bus: Bus, *, resource_id: str, referral_id: str) -> CapacityReply:
    """Give the referral's capacity back (cancelled, failed, or an accept that did not commit)."""
    request = CapacityRequest(resource_id=resource_id, referral_id=referral_id)
    return await bus.request(CAPACITY_RELEASE, request, CapacityReply)


async def consume(bus: Bus, *, resource_id: str, referral_id: str) -> CapacityReply:
    """Mark the referral's capacity as used: the service was delivered."""
    request = CapacityRequest(resource_id=resource_id, referral_id=referral_id)
    return await bus.request(CAPACITY_CONSUME, request, CapacityReply)


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
