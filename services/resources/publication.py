"""What the resources service says on NATS: a resource's public state (for the matcher) and
waitlist promotions (for needs), queued through the transactional outbox.

The other half, what it hears, is `events.py`; they are a pair, not one file, because the
domain imports this module while `events.py`'s handlers import the domain (see there).
"""

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from services.resources.models import OutboxEvent, Reservation, Resource
from shared.clock import utc_now
from shared.contracts.resources import (
    RESERVATION_PROMOTED,
    ReservationPromoted,
    ReservationState,
    ResourceUpserted,
    resource_subject,
)
from shared.outbox import add_event, add_events

RESOURCE = cast(Table, Resource.__table__)
RESERVATION = cast(Table, Reservation.__table__)
"""The tables, for statements in SQLAlchemy Core: the ORM's own compile and load steps cost a
batch of reservations more than its SQL (`capacity_batch`)."""


def touch(resource: Resource) -> None:
    """Count a change: the version grows by one, which is also the resource's ETag."""
    resource.version += 1
    resource.updated_at = utc_now()


Counts = dict[ReservationState, int]


def count_reservations(*, session: Session, resource_id: str) -> Counts:
    """How many referrals are open (reserved) and waitlisted on this resource, in one query."""
    return count_reservations_of(session=session, resource_ids=[resource_id])[resource_id]


def count_reservations_of(*, session: Session, resource_ids: list[str]) -> dict[str, Counts]:
    """`count_reservations` of several resources, in one query (Core: no ORM step)."""
    table = RESERVATION.c
    query = (
        select(
            table.resource_id,
            func.count().filter(table.state == ReservationState.RESERVED.value),
            func.count().filter(table.state == ReservationState.WAITLISTED.value),
        )
        .where(table.resource_id.in_(resource_ids))
        .group_by(table.resource_id)
    )
    counts = {resource_id: _no_reservations() for resource_id in resource_ids}
    for resource_id, reserved, waitlisted in session.execute(query):
        counts[resource_id] = {
            ReservationState.RESERVED: int(reserved),
            ReservationState.WAITLISTED: int(waitlisted),
        }
    return counts


def _no_reservations() -> Counts:
    return dict.fromkeys((ReservationState.RESERVED, ReservationState.WAITLISTED), 0)


PUBLIC_COLUMNS = (
    "version",
    "name",
    "kind",
    "organization",
    "categories",
    "description",
    "lat",
    "lon",
    "radius_km",
    "adcodes",
    "eligible_groups",
    "capacity_total",
    "capacity_remaining",
    "capacity_unit",
    "capacity_mode",
    "capacity_period",
    "available_from",
    "available_until",
    "active",
    "updated_at",
)
"""The resource's columns the matcher hears of (ResourceUpserted names them alike)."""


def public_state(
    *, session: Session, resource: Resource, new: bool = False, counts: Counts | None = None
) -> ResourceUpserted:
    """The resource as the matcher sees it: no contact name, no phone. A `new` resource has
    no reservations: they are not counted (a query less for every imported row); `counts`,
    when given, were counted by the caller (several resources at once)."""
    if counts is None:
        counts = (
            _no_reservations()
            if new
            else count_reservations(session=session, resource_id=resource.id)
        )
    columns = {column: getattr(resource, column) for column in ("id", *PUBLIC_COLUMNS)}
    return _public_state_of(columns, counts)


def _public_state_of(columns: Mapping[str, Any], counts: Counts) -> ResourceUpserted:
    """`public_state` of a resource given by its columns (by column name)."""
    return ResourceUpserted.model_validate(
        {
            "resource_id": columns["id"],
            **{column: columns[column] for column in PUBLIC_COLUMNS},
            "open_referrals": counts[ReservationState.RESERVED],
            "waitlisted": counts[ReservationState.WAITLISTED],
        }
    )


def announce(
    *, session: Session, resource: Resource, new: bool = False, counts: Counts | None = None
) -> None:
    """Queue the resource's public state on its own subject (the stream keeps the last one)."""
    add_event(
        session,
        OutboxEvent,
        subject=resource_subject(resource.id),
        aggregate_id=resource.id,
        payload=public_state(session=session, resource=resource, new=new, counts=counts),
    )


def announce_new(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue the public state of resources just registered (their columns, by column name),
    in one INSERT."""
    announce_rows(session=session, rows=rows, counts={})


def announce_rows(
    *, session: Session, rows: Sequence[Mapping[str, Any]], counts: Mapping[str, Counts]
) -> None:
    """Queue the public state of resources given by their columns (by column name), in one
    INSERT; `counts` of their reservations by resource id (none for a resource left out)."""
    none = _no_reservations()
    add_events(
        session,
        OutboxEvent,
        [
            (resource_subject(r["id"]), r["id"], _public_state_of(r, counts.get(r["id"], none)))
            for r in rows
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
