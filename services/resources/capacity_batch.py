"""Reservations taken together (批量预留): the reserve requests that arrive while the ledger is
busy are committed in one transaction, each still answered on its own.

One at a time, every reservation of a popular resource queued behind the row lock the one before
it held until its commit, and paid its own round trips and commit. A batch locks the resources
it names once (in id order, as a period reset does, so two batches never deadlock), decides in
arrival order who gets units from the locked rows (first come, first served, exactly as one at a
time would), takes them with one conditional UPDATE for all its resources, writes the
reservations together and announces each resource once, at its state after the batch (one
version more). Nothing is overbooked: the rows stay locked until the commit, and the UPDATE
still checks every resource has the units it takes.

Every request keeps its own answer: reserved (with what remains after the batch), or its own
refusal (unknown resource, unit mismatch, not offered, inactive, no capacity). What a batch
does not decide is answered one at a time after it commits, by `capacity.apply_capacity`: a
referral id the ledger already knows or that the batch holds twice (the idempotent replay, or
the conflict of other units), a referral that joins a waitlist, and every later request for a
resource that a released referral asks for again (it may take units, and came first). When the
batch fails as a whole (a referral reserved at the same moment elsewhere, a deadlock), it rolls
back and every request is answered one at a time, so one request's trouble is never another's;
a busy database (its lock not free in time) answers every request busy (503, retried), rather
than making each wait its turn again.
"""

import functools
import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, Row, bindparam, case, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate

from services.resources.capacity import (
    ResourceState,
    apply_capacity,
    check_unit,
    offered,
    refuse_or_waitlist,
)
from services.resources.publication import (
    PUBLIC_COLUMNS,
    RESERVATION,
    RESOURCE,
    announce_rows,
    count_reservations_of,
)
from shared.batching import ALONE, Alone, Batcher, failure
from shared.busy import is_busy
from shared.clock import utc_now
from shared.contracts.common import available_on, china_date
from shared.contracts.resources import CapacityReply, CapacityRequest, ReservationState
from shared.db import SQLITE_BUSY_TIMEOUT_MS, transaction
from shared.errors import DomainError, unknown

log = logging.getLogger(__name__)

RESERVED = ReservationState.RESERVED.value
LOCK_WAIT_MS = SQLITE_BUSY_TIMEOUT_MS  # how long a batch waits for a locked resource


Outcome = CapacityReply | DomainError | Alone
Reservations = Batcher[CapacityRequest, CapacityReply]


class LedgerMoved(RuntimeError):
    """A locked resource no longer had the units the batch counted on (cannot happen while the
    rows are locked; if it does, the batch rolls back and its requests go one at a time)."""


def reservations(sessions: sessionmaker[Session], *, max_size: int) -> Reservations:
    """The service's reserve requests, HTTP and NATS alike, gathered into batches."""
    return Batcher(
        lambda requests: decide_all(sessions=sessions, requests=requests),
        alone=lambda request: reserve_alone(sessions=sessions, request=request),
        max_size=max_size,
    )


def reserve_all(
    *, sessions: sessionmaker[Session], requests: Sequence[CapacityRequest]
) -> list[CapacityReply | Exception]:
    """Answer every request of a batch as the batcher does: those the batch decides in one
    transaction, the rest one at a time after it."""
    return [
        reserve_alone(sessions=sessions, request=request) if isinstance(outcome, Alone) else outcome
        for request, outcome in zip(
            requests, decide_all(sessions=sessions, requests=requests), strict=True
        )
    ]


def decide_all(
    *, sessions: sessionmaker[Session], requests: Sequence[CapacityRequest]
) -> list[Outcome | Exception]:
    """The batch's transaction: an outcome per request, `ALONE` for those it leaves alone."""
    try:
        with transaction(sessions) as session:
            _wait_for_locks(session)
            return list(reserve_batch(session=session, requests=requests))
    except Exception as exc:
        if is_busy(exc):  # each alone would wait its turn again: all are told to retry
            return [exc] * len(requests)
        log.warning(
            "a batch of %d reservations is answered one at a time (%s)",
            len(requests),
            failure(exc),
        )
        return [ALONE] * len(requests)


def reserve_alone(
    *, sessions: sessionmaker[Session], request: CapacityRequest
) -> CapacityReply | Exception:
    """One request on its own transaction, as if it had never been batched."""
    try:
        with transaction(sessions) as session:
            return apply_capacity(session=session, operation="reserve", request=request)
    except Exception as exc:  # this request's own answer (a refusal, a busy database, …)
        return exc


def _wait_for_locks(session: Session) -> None:
    # A batch holds up every reservation behind it: on PostgreSQL it waits for a locked
    # resource no longer than SQLite's busy timeout, then answers busy (503, retried).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}"))


def reserve_batch(*, session: Session, requests: Sequence[CapacityRequest]) -> list[Outcome]:
    """Reserve what a batch can decide in the caller's transaction; one outcome per request.
    Every statement is SQLAlchemy Core on the tables: no `Resource` or `Reservation` object is
    loaded or flushed (the ORM's steps cost a batch more than its SQL)."""
    outcomes: list[Outcome] = [ALONE] * len(requests)
    batch = _decidable(session, requests)
    if not batch:
        return outcomes
    resources = _locked(session, {requests[i].resource_id for i in batch})
    today = china_date(utc_now())
    left = {resource_id: row.capacity_remaining for resource_id, row in resources.items()}
    taken: dict[str, int] = {}
    held: list[int] = []
    for i in sorted(batch):  # arrival order: first come, first served
        request = requests[i]
        resource = resources.get(request.resource_id)
        try:
            if resource is None:
                raise unknown("resource")
            if request.unit is not None:
                check_unit(resource, request.unit)
            if _offered(resource, today) and left[resource.id] >= request.units:
                left[resource.id] -= request.units
                taken[resource.id] = taken.get(resource.id, 0) + request.units
                held.append(i)
                continue
            refuse_or_waitlist(resource, request.units)  # returns when it may join a waitlist
        except DomainError as exc:
            outcomes[i] = exc
    if not taken:
        return outcomes
    now = utc_now()
    after = _take(session, taken, now=now, today=today)
    session.execute(
        insert(RESERVATION),
        [
            {
                "resource_id": requests[i].resource_id,
                "referral_id": requests[i].referral_id,
                "units": requests[i].units,
                "state": RESERVED,
                "created_at": now,
                "updated_at": now,
            }
            for i in held
        ],
    )
    ids = sorted(taken)
    announce_rows(
        session=session,
        rows=[{**resources[resource_id]._mapping, **after[resource_id]} for resource_id in ids],
        counts=count_reservations_of(session=session, resource_ids=ids),
    )
    for i in held:
        request = requests[i]
        outcomes[i] = CapacityReply(
            resource_id=request.resource_id,
            referral_id=request.referral_id,
            units=request.units,
            state=ReservationState.RESERVED,
            capacity_remaining=after[request.resource_id]["capacity_remaining"],
        )
    return outcomes


def _decidable(session: Session, requests: Sequence[CapacityRequest]) -> list[int]:
    """The requests the batch decides, by their place: each referral's first request, unless
    the ledger knows the referral, and unless a released referral asked again for its resource
    before it (that one may take units: one at a time it would have come first)."""
    first: dict[str, int] = {}
    for i, request in enumerate(requests):
        first.setdefault(request.referral_id, i)
    table = RESERVATION.c
    rows = session.execute(
        select(table.referral_id, table.state).where(table.referral_id.in_(first))
    )
    known: dict[str, str] = {referral_id: state for referral_id, state in rows}
    batch: list[int] = []
    deferred: set[str] = set()
    for i, request in enumerate(requests):
        if request.resource_id in deferred:
            continue
        state = known.get(request.referral_id)
        if state == ReservationState.RELEASED.value:
            deferred.add(request.resource_id)
        elif state is None and first[request.referral_id] == i:
            batch.append(i)
    return batch


LOCKED_COLUMNS = [RESOURCE.c[name] for name in ("id", *PUBLIC_COLUMNS)]
"""What the batch reads of a resource: what its rules check and what it announces. Contacts
are not read (the announcement leaves them out, and they are encrypted)."""


def _locked(session: Session, resource_ids: set[str]) -> dict[str, Row[Any]]:
    # Locked in id order (PostgreSQL locks the rows as the sort hands them out): every
    # statement that locks several resources takes them in that order, so none deadlocks.
    query = (
        select(*LOCKED_COLUMNS)
        .where(RESOURCE.c.id.in_(resource_ids))
        .order_by(RESOURCE.c.id)
        .with_for_update()
    )
    return {row.id: row for row in session.execute(query)}


def _offered(resource: ResourceState, today: date) -> bool:
    return bool(resource.active) and available_on(
        today, available_from=resource.available_from, available_until=resource.available_until
    )


def _take(
    session: Session, taken: dict[str, int], *, now: datetime, today: date
) -> dict[str, dict[str, Any]]:
    """Take every resource's units in one conditional UPDATE (its version grows by one); what
    it changed of each resource, by id."""
    params: dict[str, Any] = {"ids": list(taken), "now": now}
    for i, (resource_id, units) in enumerate(taken.items()):
        params[f"id_{i}"], params[f"units_{i}"] = resource_id, units
    rows = session.execute(_take_statement(len(taken), today), params).all()
    if len(rows) != len(taken):
        raise LedgerMoved(f"{len(taken) - len(rows)} resources changed under their lock")
    return {
        resource_id: {"capacity_remaining": remaining, "version": version, "updated_at": now}
        for resource_id, remaining, version in rows
    }


@functools.lru_cache(maxsize=256)
def _take_statement(size: int, today: date) -> "ReturningUpdate[str, int, int]":
    """`_take`'s UPDATE of `size` resources, built once per size and day: building it again
    for every batch (the CASE, the IN list, the offered dates) cost the batch more than
    running it. Its parameters: `ids`, `id_<i>` and `units_<i>` (i < size), and `now`."""
    table = RESOURCE.c
    units = case(
        *(
            (table.id == bindparam(f"id_{i}"), bindparam(f"units_{i}", type_=Integer))
            for i in range(size)
        )
    )
    return (
        update(RESOURCE)
        .where(
            table.id.in_(bindparam("ids", expanding=True)),
            *offered(today),
            table.capacity_remaining >= units,
        )
        .values(
            capacity_remaining=table.capacity_remaining - units,
            version=table.version + 1,
            updated_at=bindparam("now"),
        )
        .returning(table.id, table.capacity_remaining, table.version)
    )
