"""Domain operations on resources and their capacity ledger: plain functions over a session."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.resources.models import OutboxEvent, Reservation, Resource
from services.resources.schemas import ResourceCreate
from shared import taxonomy
from shared.contracts.resources import (
    CapacityMode,
    CapacityReply,
    CapacityRequest,
    ReservationState,
    ResourceUpserted,
    resource_subject,
)
from shared.errors import CapacityExhausted, Conflict, NotFound
from shared.outbox import add_event


def _now() -> datetime:
    return datetime.now(UTC)


def create(*, session: Session, data: ResourceCreate) -> Resource:
    """Register a resource and announce its state."""
    resource = Resource(
        id=str(uuid.uuid4()),
        name=data.name,
        kind=data.kind.value,
        organization=data.organization,
        categories=list(dict.fromkeys(data.categories)),
        description=data.description,
        lat=data.location.lat,
        lon=data.location.lon,
        radius_km=data.radius_km,
        adcodes=list(dict.fromkeys(data.adcodes)),
        eligible_groups=data.eligible_groups,
        capacity_total=data.capacity.total,
        capacity_remaining=data.capacity.total,
        capacity_unit=data.capacity.unit,
        capacity_period=data.capacity.period.value,
        capacity_mode=data.capacity.mode.value,
        contact_phone=data.contact_phone,
        verified=data.verified,
        active=True,
        version=1,
        created_at=_now(),
        updated_at=_now(),
    )
    session.add(resource)
    session.flush()
    announce(session=session, resource=resource)
    return resource


def get_or_raise(*, session: Session, resource_id: str) -> Resource:
    """The resource with this id, or NotFound."""
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound(f"no resource with id {resource_id}")
    return resource


def get_all(
    *,
    session: Session,
    kind: str | None = None,
    category: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Resource], int]:
    """A page of resources and the total that match; `category` includes its sub-categories."""
    query = select(Resource)
    if kind:
        query = query.where(Resource.kind == kind)
    if active is not None:
        query = query.where(Resource.active == active)
    rows = list(session.scalars(query.order_by(Resource.created_at, Resource.id)))
    if category:
        rows = [r for r in rows if any(_within(c, category) for c in r.categories)]
    return rows[offset : offset + limit], len(rows)


def _within(code: str, category: str) -> bool:
    return code == category or (taxonomy.top_level(code) == category and "." not in category)


def deactivate(*, session: Session, resource_id: str) -> Resource:
    """Take a resource out of matching; its history stays."""
    resource = get_or_raise(session=session, resource_id=resource_id)
    if resource.active:
        resource.active = False
        _touch(resource)
        announce(session=session, resource=resource)
    return resource


def _touch(resource: Resource) -> None:
    resource.version += 1
    resource.updated_at = _now()


def open_reservations(*, session: Session, resource_id: str) -> int:
    """How many referrals currently hold capacity of this resource."""
    query = select(func.count()).where(
        Reservation.resource_id == resource_id, Reservation.state == ReservationState.RESERVED
    )
    return int(session.scalar(query) or 0)


def announce(*, session: Session, resource: Resource) -> None:
    """Queue the resource's public state on its subject (no contact data)."""
    state = ResourceUpserted(
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
        open_referrals=open_reservations(session=session, resource_id=resource.id),
        active=resource.active,
        updated_at=resource.updated_at,
    )
    add_event(
        session,
        OutboxEvent,
        subject=resource_subject(resource.id),
        aggregate_id=resource.id,
        payload=state,
    )


def reserve(*, session: Session, resource_id: str, referral_id: str, units: int) -> Reservation:
    """Hold `units` for a referral. The same referral twice holds once; never overbooks."""
    existing = _reservation(session, referral_id)
    if existing is not None:
        return _same_or_conflict(existing, resource_id, units)
    resource = get_or_raise(session=session, resource_id=resource_id)
    if not resource.active:
        raise Conflict(f"resource {resource_id} is not active")
    # One conditional UPDATE: the database, not this process, decides who gets the last unit.
    taken = session.execute(
        update(Resource)
        .where(Resource.id == resource_id, Resource.capacity_remaining >= units)
        .values(capacity_remaining=Resource.capacity_remaining - units)
        .returning(Resource.capacity_remaining)
    ).first()
    if taken is None:
        raise CapacityExhausted(
            f"resource {resource_id} has fewer than {units} units left",
            extra={"reason": "no_capacity"},
        )
    reservation = Reservation(
        resource_id=resource_id,
        referral_id=referral_id,
        units=units,
        state=ReservationState.RESERVED.value,
        created_at=_now(),
        updated_at=_now(),
    )
    session.add(reservation)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"referral {referral_id} was reserved concurrently; retry") from exc
    _after_capacity_change(session, resource)
    return reservation


def release(*, session: Session, resource_id: str, referral_id: str) -> Reservation:
    """Give a referral's units back (cancelled, declined, failed). Releasing twice is a no-op."""
    reservation = _reservation_or_raise(session, resource_id, referral_id)
    if reservation.state == ReservationState.RELEASED:
        return reservation
    if reservation.state == ReservationState.CONSUMED:
        raise Conflict(f"referral {referral_id}'s units were already consumed")
    session.execute(
        update(Resource)
        .where(Resource.id == resource_id)
        .values(capacity_remaining=Resource.capacity_remaining + reservation.units)
    )
    reservation.state = ReservationState.RELEASED.value
    reservation.updated_at = _now()
    _after_capacity_change(session, get_or_raise(session=session, resource_id=resource_id))
    return reservation


def consume(*, session: Session, resource_id: str, referral_id: str) -> Reservation:
    """Mark a referral's units as used (the service was delivered). Consuming twice is a no-op."""
    reservation = _reservation_or_raise(session, resource_id, referral_id)
    if reservation.state == ReservationState.CONSUMED:
        return reservation
    if reservation.state == ReservationState.RELEASED:
        raise Conflict(f"referral {referral_id}'s units were released")
    reservation.state = ReservationState.CONSUMED.value
    reservation.updated_at = _now()
    _after_capacity_change(session, get_or_raise(session=session, resource_id=resource_id))
    return reservation


def _after_capacity_change(session: Session, resource: Resource) -> None:
    session.flush()
    session.refresh(resource)
    _touch(resource)
    announce(session=session, resource=resource)


def _reservation(session: Session, referral_id: str) -> Reservation | None:
    return session.scalar(select(Reservation).where(Reservation.referral_id == referral_id))


def _reservation_or_raise(session: Session, resource_id: str, referral_id: str) -> Reservation:
    reservation = _reservation(session, referral_id)
    if reservation is None or reservation.resource_id != resource_id:
        raise NotFound(f"no reservation of resource {resource_id} for referral {referral_id}")
    return reservation


def _same_or_conflict(existing: Reservation, resource_id: str, units: int) -> Reservation:
    if existing.resource_id != resource_id or existing.units != units:
        raise Conflict(
            f"referral {existing.referral_id} already holds {existing.units} units "
            f"of resource {existing.resource_id}"
        )
    return existing


def capacity_reply(reservation: Reservation, resource: Resource) -> CapacityReply:
    """The contract's view of a reservation and what remains."""
    return CapacityReply(
        resource_id=reservation.resource_id,
        referral_id=reservation.referral_id,
        units=reservation.units,
        state=ReservationState(reservation.state),
        capacity_remaining=resource.capacity_remaining,
    )


def apply_capacity(*, session: Session, operation: str, request: CapacityRequest) -> CapacityReply:
    """Reserve, release or consume, answering with the contract's reply."""
    if operation == "reserve":
        reservation = reserve(
            session=session,
            resource_id=request.resource_id,
            referral_id=request.referral_id,
            units=request.units,
        )
    elif operation == "release":
        reservation = release(
            session=session, resource_id=request.resource_id, referral_id=request.referral_id
        )
    elif operation == "consume":
        reservation = consume(
            session=session, resource_id=request.resource_id, referral_id=request.referral_id
        )
    else:
        raise NotFound(f"no capacity operation '{operation}'")
    resource = get_or_raise(session=session, resource_id=request.resource_id)
    return capacity_reply(reservation, resource)
