"""What the resources service hears on NATS: it answers capacity requests and resource cards,
and follows declined referrals to flag a resource's stated capacity.

What it says (resource state and waitlist promotions, through the outbox) is `publication.py`.
The two are a pair rather than one file because of the direction of imports: the domain
(`service.py`, `capacity.py`) imports what it says from there, while the handlers here call
the domain, so one file holding both would import itself in a cycle.
"""

from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity, capacity_batch, service
from services.resources.capacity_batch import Reservations
from services.resources.settings import ResourcesSettings
from shared.consumers import DurableConsumer, Listeners
from shared.contracts.needs import ReferralEvent, referral_subject
from shared.contracts.resources import (
    CAPACITY_CONSUME,
    CAPACITY_RELEASE,
    CAPACITY_RESERVE,
    RESOURCE_CARD,
    RESOURCES_QUEUE,
    CapacityReply,
    CapacityRequest,
    ResourceCard,
    ResourceCardRequest,
    ResourceKind,
)
from shared.contracts.streams import NEEDS_STREAM, RESOURCES_CAPACITY_FLAGS_CONSUMER
from shared.db import run_in_transaction, run_read
from shared.messaging import Bus

NO_CAPACITY = "no_capacity"
CAPACITY_FLAGS = RESOURCES_CAPACITY_FLAGS_CONSUMER
"""The durable consumer that flags a resource's stated capacity when it declined for none."""

CAPACITY_IN_FLIGHT = 32
"""Release and consume requests answered at once (each its own transaction on a database
thread): one at a time, 50 referrals accepted together waited for each other's commits."""

RESERVE_IN_FLIGHT = 256
"""Reserve requests taken at once: each only waits for its batch (`capacity_batch`), so what
arrives together is reserved together; more than the clients asking at once keeps them all in."""

CAPACITY_SUBJECTS = {
    "release": CAPACITY_RELEASE,
    "consume": CAPACITY_CONSUME,
}


async def serve_capacity(
    bus: Bus, sessions: sessionmaker[Session], reservations: Reservations | None = None
) -> None:
    """Answer reserve (in batches)/release/consume, and resource cards, in the `resources`
    queue group. The app passes the `reservations` its HTTP route shares; without them, the
    reserve requests are batched here alone."""
    if reservations is None:
        batch_max = ResourcesSettings.model_fields["reserve_batch_max"].default
        reservations = capacity_batch.reservations(sessions, max_size=batch_max)
    await bus.serve(
        CAPACITY_RESERVE,
        queue=RESOURCES_QUEUE,
        request_type=CapacityRequest,
        handler=reservations.submit,
        in_flight=RESERVE_IN_FLIGHT,
    )
    for operation, subject in CAPACITY_SUBJECTS.items():

        async def handle(request: CapacityRequest, operation: str = operation) -> CapacityReply:
            return await run_in_transaction(
                sessions,
                lambda s: capacity.apply_capacity(session=s, operation=operation, request=request),
            )

        await bus.serve(
            subject,
            queue=RESOURCES_QUEUE,
            request_type=CapacityRequest,
            handler=handle,
            in_flight=CAPACITY_IN_FLIGHT,
        )

    async def card(request: ResourceCardRequest) -> ResourceCard:
        return await run_read(
            sessions, lambda s: card_of(session=s, resource_id=request.resource_id)
        )

    await bus.serve(
        RESOURCE_CARD, queue=RESOURCES_QUEUE, request_type=ResourceCardRequest, handler=card
    )


def card_of(*, session: Session, resource_id: str) -> ResourceCard:
    """Who offers a resource, as a referral records it (404 when there is no such resource)."""
    resource = service.get_or_raise(session=session, resource_id=resource_id)
    return ResourceCard(
        resource_id=resource.id,
        name=resource.name,
        kind=ResourceKind(resource.kind),
        organization=resource.organization,
        active=resource.active,
    )


def capacity_flags(sessions: sessionmaker[Session]) -> DurableConsumer[ReferralEvent]:
    """Follows declined referrals (needs stream); one declined for no capacity flags its
    resource's stated capacity. Idempotent: a flag already set keeps its first time."""

    async def handle(event: ReferralEvent) -> None:
        if event.reason != NO_CAPACITY:
            return
        await run_in_transaction(
            sessions,
            lambda s: service.flag_capacity(
                session=s, resource_id=event.resource_id, at=event.occurred_at
            ),
        )

    return DurableConsumer(
        name=CAPACITY_FLAGS,
        stream=NEEDS_STREAM.name,
        subject=referral_subject("declined"),
        event_type=ReferralEvent,
        handle=handle,
    )


def listeners(sessions: sessionmaker[Session], reservations: Reservations) -> Listeners:
    """What the resources service hears on NATS, for its app factory to start and stop;
    `reservations` gathers reserve requests into batches (shared with the HTTP route)."""

    async def capacity_and_cards(bus: Bus) -> None:
        await serve_capacity(bus, sessions, reservations)

    return Listeners(responders=[capacity_and_cards], consumers=[capacity_flags(sessions)])
