"""What the resources service says on NATS: a resource's public state (for the matcher) and
waitlist promotions (for needs), queued through the transactional outbox.

The other half, what it hears, is `events.py`; they are a pair, not one file, because the
domain imports this module while `events.py`'s handlers import the domain (see there).
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.resources.models import OutboxEvent, Reservation, Resource
from shared.clock import utc_now
from shared.contracts.resources import (
    RESERVATION_PROMOTED,
    CapacityMode,
    ReservationPromoted,
    ReservationState,
    ResourceUpserted,
    resource_subject,
)
from shared.outbox import add_event, add_events


def touch(resource: Resource) -> None:
    """Count a change: the version grows by one, which is also the resource's ETag."""
    resource.version += 1
    resource.updated_at = utc_now()


def count_reservations(*, session: Session, resource_id: str) -> dict[ReservationState, int]:
    """How many referrals are open (reserved) and waitlisted on this resource, in one query."""
    query = select(
        func.count().filter(Reservation.state == ReservationState.RESERVED.value),
        func.count().filter(Reservation.state == ReservationState.WAITLISTED.value),
    ).where(Reservation.resource_id == resource_id)
    row = session.execute(query).one()
    return {ReservationState.RESERVED: int(row[0]), ReservationState.WAITLISTED: int(row[1])}


def public_state(*, session: Session, resource: Resource, new: bool = False) -> ResourceUpserted:
    """The resource as the matcher sees it: no contact name, no phone. A `new` resource has
    no reservations: they are not counted (a query less for every imported row)."""
    counts = (
        dict.fromkeys((ReservationState.RESERVED, ReservationState.WAITLISTED), 0)
        if new
        else count_reservations(session=session, resource_id=resource.id)
    )
    return ResourceUpserted(
        resource_id=resource.id,
        version=resource.version,
        name=resource.name,
        kind=resource.kind,  # type: ignore[arg-type]
        organization=resource.organization,
        categories=resource.categories,
        description=resource.description,
        lat=resource.lat,
        lon=resource.lon,
        radius_km=resource.radius_km,
        adcodes=resource.adcodes,
        eligible_groups=resource.eligible_groups,
        capacity_total=resource.capacity_total,
        capacity_remaining=resource.capacity_remaining,
        capacity_unit=resource.capacity_unit,
        capacity_mode=CapacityMode(resource.capacity_mode),
        capacity_period=resource.capacity_period,
        open_referrals=counts[ReservationState.RESERVED],
        available_from=resource.available_from,
        available_until=resource.available_until,
        waitlisted=counts[ReservationState.WAITLISTED],
        active=resource.active,
        updated_at=resource.updated_at,
    )


def announce(*, session: Session, resource: Resource, new: bool = False) -> None:
    """Queue the resource's public state on its own subject (the stream keeps the last one)."""
    add_event(
        session,
        OutboxEvent,
        subject=resource_subject(resource.id),
        aggregate_id=resource.id,
        payload=public_state(session=session, resource=resource, new=new),
    )


def announce_new(*, session: Session, resources: list[Resource]) -> None:
    """Queue the public state of resources just registered, in one INSERT."""
    add_events(
        session,
        OutboxEvent,
        [
            (resource_subject(r.id), r.id, public_state(session=session, resource=r, new=True))
            for r in resources
        ],
    )


def announce_promotion(*, session: Session, reservation: Reservation) -> None:
    """Queue the news that a waitlisted reservation now holds its units (needs follows it)."""
    event = ReservationPromoted(
        resource_id=reservation.resource_id,
        referral_id=reservation.referral_id,
        units=reservation.units,
        occurred_at=reservation.updated_at,
    )
    add_event(
        session,
        OutboxEvent,
        subject=RESERVATION_PROMOTED,
        aggregate_id=reservation.referral_id,
        payload=event,
    )
