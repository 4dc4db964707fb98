"""What the resources service does on NATS: it answers capacity requests.

Resource state goes out through the outbox (`publication.announce`), one subject per resource.
"""

from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity
from shared.contracts.resources import (
    CAPACITY_CONSUME,
    CAPACITY_RELEASE,
    CAPACITY_RESERVE,
    RESOURCES_QUEUE,
    CapacityReply,
    CapacityRequest,
)
from shared.db import run_in_transaction
from shared.messaging import Bus

CAPACITY_SUBJECTS = {
    "reserve": CAPACITY_RESERVE,
    "release": CAPACITY_RELEASE,
    "consume": CAPACITY_CONSUME,
}


async def serve_capacity(bus: Bus, sessions: sessionmaker[Session]) -> None:
    """Answer reserve/release/consume in the `resources` queue group."""
    for operation, subject in CAPACITY_SUBJECTS.items():

        async def handle(request: CapacityRequest, operation: str = operation) -> CapacityReply:
            return await run_in_transaction(
                sessions,
                lambda s: capacity.apply_capacity(session=s, operation=operation, request=request),
            )

        await bus.serve(
            subject, queue=RESOURCES_QUEUE, request_type=CapacityRequest, handler=handle
        )
