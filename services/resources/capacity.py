"""The capacity ledger (容量台账): reservations keyed by referral id, waitlists and period resets.

Rules
- `capacity_remaining` = `capacity_total` − units held by open (reserved) referrals − units
  consumed in the current period. Only a conditional UPDATE changes it when units are taken,
  so the database decides who gets the last unit (no overbooking on SQLite or PostgreSQL).
- The same referral id reserves once; asking again answers with the same reservation.
- Mode `waitlist`: a reservation that does not fit is kept as `waitlisted` (no units taken)
  and promoted first-come first-served whenever units free up (release, reset, a larger
  total). Mode `capacity` answers 409 `no_capacity` instead. A request for more units than
  the total can never be promoted and is refused (409 `exceeds_total`).
- Release gives reserved units back (never above the total); a waitlisted referral just
  leaves the queue. Consume marks reserved units as used; consumed units stay used until
  the period ends. Releasing or consuming twice is a no-op, even at the same moment (the
  resource row is locked first); the other after one is a 409.
- Period reset (week, month, year; `once` never resets; periods turn at midnight China
  time): the new period starts with `total − units still held by open referrals`. A referral
  reserved in one period and delivered in the next keeps its units across the reset.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.resources.models import Reservation, Resource
from services.resources.publication import RESOURCE, announce, announce_promotion
from shared.clock import utc_now
from shared.contracts import vocabulary
from shared.contracts.common import CHINA_TIME, available_on, china_date
from shared.contracts.resources import (
    CapacityMode,
    CapacityReply,
    CapacityRequest,
    ReservationState,
)
from shared.errors import CapacityExhausted, Conflict, NotFound, unknown


def period_start(*, period: str, now: datetime) -> datetime | None:
    """The start (UTC) of the capacity period `now` falls in; None for `once`."""
    local = now.astimezone(CHINA_TIME)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = midnight - timedelta(days=local.weekday())
    elif period == "month":
        start = midnight.replace(day=1)
    elif period == "year":
        start = midnight.replace(month=1, day=1)
    else:
        return None
    return start.astimezone(UTC)


def _as_utc(moment: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without their zone; they were stored in UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


ResourceState = Resource | Row[Any]
"""A resource as the ledger's rules read it: loaded, or a row of its columns by name (the
batch's, `capacity_batch`, which reads them without loading `Resource` objects)."""


def _resource_or_raise(session: Session, resource_id: str) -> Resource:
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise unknown("resource")
    return resource


def check_unit(resource: ResourceState, unit: str) -> None:
    """Conflict (rule `unit_mismatch`) when the resource counts its capacity in another unit
    than the one asked for: 3 hours of counselling are not 3 persons' places."""
    if not vocabulary.units_compatible(unit, resource.capacity_unit):
        raise Conflict(
            f"the need counts in {unit}, resource {resource.id} in {resource.capacity_unit}",
            extra={"rule": "unit_mismatch", "unit": unit, "capacity_unit": resource.capacity_unit},
        )


def held_units(*, session: Session, resource_id: str) -> int:
    """Units held by open (reserved) referrals of this resource."""
    query = select(func.coalesce(func.sum(Reservation.units), 0)).where(
        Reservation.resource_id == resource_id,
        Reservation.state == ReservationState.RESERVED.value,
    )
    return int(session.scalar(query) or 0)


def used_units(*, session: Session, resource: Resource) -> int:
    """Units this period has used: held by open referrals, or consumed since it started."""
    consumed = select(func.coalesce(func.sum(Reservation.units), 0)).where(
        Reservation.resource_id == resource.id,
        Reservation.state == ReservationState.CONSUMED.value,
    )
    if resource.period_started_at is not None:
        consumed = consumed.where(Reservation.updated_at >= resource.period_started_at)
    ledger = held_units(session=session, resource_id=resource.id) + int(
        session.scalar(consumed) or 0
    )
    # Capacity carried over from another system (import) is known only by what remains.
    return max(ledger, resource.capacity_total - resource.capacity_remaining)


def _take(session: Session, resource_id: str, units: int) -> bool:
    # One conditional UPDATE: the database, not this process, decides who gets the last unit.
    taken = session.execute(
        update(Resource)
        .where(Resource.id == resource_id, Resource.capacity_remaining >= units)
        .values(capacity_remaining=Resource.capacity_remaining - units)
        .returning(Resource.capacity_remaining)
    ).first()
    return taken is not None


def _give_back(session: Session, resource_id: str, units: int) -> None:
    back = Resource.capacity_remaining + units
    session.execute(
        update(Resource)
        .where(Resource.id == resource_id)
        .values(
            capacity_remaining=case(
                (back > Resource.capacity_total, Resource.capacity_total), else_=back
            )
        )
    )


def promote_waitlist(*, session: Session, resource_id: str) -> int:
    """Move waitlisted referrals to reserved, first come first served, while units last."""
    waiting = session.scalars(
        select(Reservation)
        .where(
            Reservation.resource_id == resource_id,
            Reservation.state == ReservationState.WAITLISTED.value,
        )
        .order_by(Reservation.id)
    )
    promoted = 0
    for reservation in waiting:
        if not _take(session, resource_id, reservation.units):
            break
        reservation.state = ReservationState.RESERVED.value
        reservation.updated_at = utc_now()
        announce_promotion(session=session, reservation=reservation)
        promoted += 1
    return promoted


def reserve(*, session: Session, resource_id: str, referral_id: str, units: int) -> Reservation:
    """Hold `units` for a referral. The same referral twice holds once; never overbooks."""
    return _reserve(session, resource_id, referral_id, units)[0]


def _reserve(
    session: Session, resource_id: str, referral_id: str, units: int
) -> tuple[Reservation, Resource]:
    # The row lock the conditional UPDATE takes is held until commit, and every reservation
    # of a popular resource queues behind it: so one statement checks the resource (active,
    # offered today, enough left), takes the units, counts the change and returns the
    # resource; then come the reservation, one count and the outbox row. Only a refused take
    # reads the resource again, to say why.
    existing = _reservation(session, referral_id)
    if existing is not None:
        _same_or_conflict(existing, resource_id, units)
        if existing.state == ReservationState.RELEASED.value:  # look again, locked
            existing = _reservation_or_raise(session, resource_id, referral_id)
        if existing.state != ReservationState.RELEASED.value:  # held or used: the same answer
            return existing, _resource_or_raise(session, resource_id)
    state = ReservationState.RESERVED
    resource = _take_and_touch(session, resource_id, units)
    if resource is None:
        resource = _waitlisted_or_raise(session, resource_id, units)
        state = ReservationState.WAITLISTED
    if existing is not None:
        # Given back after its reserve went unanswered, now asked for again by the same
        # referral's retry: held anew, not answered "released".
        existing.state, existing.updated_at = state.value, utc_now()
        reservation = existing
    else:
        reservation = Reservation(
            resource_id=resource_id,
            referral_id=referral_id,
            units=units,
            state=state.value,
            created_at=utc_now(),
            updated_at=utc_now(),
        )
        session.add(reservation)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("the referral was reserved concurrently; retry") from exc
    # The failed take held no row lock, so a release may have committed since and found no
    # waitlisted referral to promote: this one. Now, under the lock `_touched` took, promote
    # whoever fits (this one included) before telling anyone what is left.
    freed = state == ReservationState.WAITLISTED and resource.capacity_remaining > 0
    if freed and promote_waitlist(session=session, resource_id=resource_id):
        session.refresh(resource)
    announce(session=session, resource=resource)
    return reservation, resource


def _available_or_raise(resource: ResourceState) -> None:
    """409 `not_available` when today (in China) lies outside the resource's offered dates."""
    today = china_date(utc_now())
    if not available_on(
        today, available_from=resource.available_from, available_until=resource.available_until
    ):
        raise Conflict(
            f"resource {resource.id} is offered {resource.available_from or '…'} to "
            f"{resource.available_until or '…'}, not on {today}",
            extra={
                "rule": "not_available",
                "reason": "not_available",
                "available_from": resource.available_from and resource.available_from.isoformat(),
                "available_until": resource.available_until
                and resource.available_until.isoformat(),
            },
        )


def _take_and_touch(session: Session, resource_id: str, units: int) -> Resource | None:
    """Take `units` of an active resource offered today and count the change, in one
    conditional UPDATE; the resource as it now is, or None when it is missing, inactive, not
    offered today or short of units (`_waitlisted_or_raise` tells which)."""
    return _touched(
        session,
        resource_id,
        *offered(china_date(utc_now())),
        Resource.capacity_remaining >= units,
        capacity_remaining=Resource.capacity_remaining - units,
    )


def offered(today: date) -> tuple[ColumnElement[bool], ...]:
    """What a resource must be for units to be taken of it: active and offered `today`. Said
    of the table's columns, so a Core statement (the batch's) stays Core."""
    table = RESOURCE.c
    return (
        table.active.is_(True),
        table.available_from.is_(None) | (table.available_from <= today),
        table.available_until.is_(None) | (table.available_until >= today),
    )


def _touched(
    session: Session, resource_id: str, *where: ColumnElement[bool], **values: Any
) -> Resource | None:
    # The version grows in SQL, under the row lock: two concurrent changes never announce
    # the same version (the matcher would keep whichever came first).
    return session.scalars(
        update(Resource)
        .where(Resource.id == resource_id, *where)
        .values(version=Resource.version + 1, updated_at=utc_now(), **values)
        .returning(Resource)
        .execution_options(populate_existing=True, synchronize_session=False)
    ).first()


def _waitlisted_or_raise(session: Session, resource_id: str, units: int) -> Resource:
    """Why no units were taken (`refuse_or_waitlist`); a resource that keeps a waitlist takes
    the referral on it (its version still grows)."""
    resource = _resource_or_raise(session, resource_id)
    refuse_or_waitlist(resource, units)
    return _touched(session, resource_id) or resource


def refuse_or_waitlist(resource: ResourceState, units: int) -> None:
    """Why `units` cannot be taken of `resource` as it is: not offered today or inactive, or no
    capacity (409); returns when the resource keeps a waitlist the referral may join."""
    _available_or_raise(resource)
    if not resource.active:
        raise Conflict("the resource is not active")
    if resource.capacity_mode != CapacityMode.WAITLIST.value:
        raise CapacityExhausted(
            f"resource {resource.id} has fewer than {units} units left",
            extra={"reason": "no_capacity"},
        )
    if units > resource.capacity_total:
        # It could never be promoted, and would hold up every referral queued after it.
        raise CapacityExhausted(
            f"resource {resource.id} has {resource.capacity_total} units in all, "
            f"fewer than the {units} asked for",
            extra={"reason": "exceeds_total"},
        )


def release(*, session: Session, resource_id: str, referral_id: str) -> Reservation:
    """Give a referral's units back (cancelled, declined, failed). Releasing twice is a no-op."""
    reservation = _reservation_or_raise(session, resource_id, referral_id)
    if reservation.state == ReservationState.RELEASED.value:
        return reservation
    if reservation.state == ReservationState.CONSUMED.value:
        raise Conflict("the referral's units were already consumed")
    was_holding = reservation.state == ReservationState.RESERVED.value
    reservation.state = ReservationState.RELEASED.value
    reservation.updated_at = utc_now()
    session.flush()
    if was_holding:
        _give_back(session, resource_id, reservation.units)
        promote_waitlist(session=session, resource_id=resource_id)
    _after_change(session, _resource_or_raise(session, resource_id))
    return reservation


def consume(*, session: Session, resource_id: str, referral_id: str) -> Reservation:
    """Mark a referral's units as used (the service was delivered). Consuming twice is a no-op."""
    reservation = _reservation_or_raise(session, resource_id, referral_id)
    if reservation.state == ReservationState.CONSUMED.value:
        return reservation
    if reservation.state == ReservationState.RELEASED.value:
        raise Conflict("the referral's units were released")
    if reservation.state == ReservationState.WAITLISTED.value:
        raise Conflict("the referral is still waitlisted: it holds no units")
    reservation.state = ReservationState.CONSUMED.value
    reservation.updated_at = utc_now()
    _after_change(session, _resource_or_raise(session, resource_id))
    return reservation


def reset_due_capacity(*, session: Session, now: datetime) -> list[str]:
    """Start a new period for every resource whose period has ended; returns their ids."""
    reset: list[str] = []
    query = select(Resource).where(Resource.capacity_period != "once").with_for_update()
    for resource in session.scalars(query.order_by(Resource.id)):
        start = period_start(period=resource.capacity_period, now=now)
        started = _as_utc(resource.period_started_at)
        if start is None or (started is not None and started >= start):
            continue
        resource.period_started_at = start
        if started is None:
            continue  # a resource from before periods were tracked adopts the current one
        held = held_units(session=session, resource_id=resource.id)
        resource.capacity_remaining = max(resource.capacity_total - held, 0)
        session.flush()
        promote_waitlist(session=session, resource_id=resource.id)
        _after_change(session, resource)
        reset.append(resource.id)
    return reset


def _after_change(session: Session, resource: Resource) -> None:
    session.flush()
    announce(session=session, resource=_touched(session, resource.id) or resource)


def _reservation(session: Session, referral_id: str) -> Reservation | None:
    return session.scalar(select(Reservation).where(Reservation.referral_id == referral_id))


def _reservation_or_raise(session: Session, resource_id: str, referral_id: str) -> Reservation:
    """The reservation as it is now, with the resource row locked until commit: a concurrent
    release or consume of the same referral waits, then sees this one's outcome (units are
    given back once). The resource first, as reserve, promotion and resets lock it, so the
    two row locks are always taken in the same order."""
    session.get(Resource, resource_id, with_for_update=True, populate_existing=True)
    reservation = session.scalar(
        select(Reservation)
        .where(Reservation.referral_id == referral_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if reservation is None or reservation.resource_id != resource_id:
        raise unknown("reservation")
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
        if request.unit is not None:
            check_unit(_resource_or_raise(session, request.resource_id), request.unit)
        reservation, resource = _reserve(
            session, request.resource_id, request.referral_id, request.units
        )
        return capacity_reply(reservation, resource)
    if operation == "release":
        reservation = release(
            session=session, resource_id=request.resource_id, referral_id=request.referral_id
        )
    elif operation == "consume":
        reservation = consume(
            session=session, resource_id=request.resource_id, referral_id=request.referral_id
        )
    else:
        raise NotFound("no such capacity operation")
    return capacity_reply(reservation, _resource_or_raise(session, request.resource_id))
