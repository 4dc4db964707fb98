"""The capacity ledger: never overbooked under concurrency, idempotent by referral id,
waitlists, release/consume rules and period resets."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity, service
from services.resources.models import OutboxEvent, Reservation, Resource
from services.resources.scheduled import reset_capacity_periodically
from services.resources.schemas import ResourceCreate
from shared.contracts.resources import ResourceUpserted
from shared.db import transaction
from shared.errors import CapacityExhausted, Conflict, DomainError
from tests.support.factories import resource_body


def new_resource(
    sessions: sessionmaker[Session], *, created: datetime | None = None, **capacity_in: object
) -> str:
    body = resource_body(
        capacity={"total": 10, "unit": "persons", "period": "month", **capacity_in}
    )
    with transaction(sessions) as s:
        resource = service.create(session=s, data=ResourceCreate.model_validate(body))
        if created is not None:
            resource.period_started_at = capacity.period_start(period="month", now=created)
        return resource.id


def reserve(
    sessions: sessionmaker[Session], resource_id: str, referral_id: str, units: int = 1
) -> str:
    with transaction(sessions) as s:
        return capacity.reserve(
            session=s, resource_id=resource_id, referral_id=referral_id, units=units
        ).state


def ledger(sessions: sessionmaker[Session], resource_id: str) -> tuple[int, dict[str, int]]:
    with sessions() as s:
        remaining = s.get(Resource, resource_id).capacity_remaining  # type: ignore[union-attr]
        rows = s.execute(
            select(Reservation.state, func.sum(Reservation.units))
            .where(Reservation.resource_id == resource_id)
            .group_by(Reservation.state)
        )
        return remaining, {state: int(units) for state, units in rows}


def test_200_concurrent_reservations_of_capacity_10_reserve_exactly_10(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions)

    def attempt(i: int) -> str:
        try:
            return reserve(sessions, resource_id, f"referral-{i}")
        except CapacityExhausted:
            return "exhausted"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(200)))

    assert outcomes.count("reserved") == 10
    assert outcomes.count("exhausted") == 190
    remaining, units = ledger(sessions, resource_id)
    assert remaining == 0
    assert units == {"reserved": 10}
    with sessions() as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == resource_id))
        last = max(
            (ResourceUpserted.model_validate_json(e.payload) for e in events),
            key=lambda e: e.version,
        )
    assert (last.capacity_remaining, last.open_referrals, last.version) == (0, 10, 11)


def test_the_same_referral_twice_reserves_once_even_concurrently(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions)

    def attempt(_: int) -> str:
        try:
            return reserve(sessions, resource_id, "referral-same", units=2)
        except Conflict:
            return "retry"  # lost the race for the same id: the winner's row is now visible

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("reserved") >= 1
    assert reserve(sessions, resource_id, "referral-same", units=2) == "reserved"
    assert ledger(sessions, resource_id) == (8, {"reserved": 2})


def test_release_returns_units_and_consume_keeps_them_used(sessions: sessionmaker[Session]) -> None:
    resource_id = new_resource(sessions)
    reserve(sessions, resource_id, "a", units=3)
    reserve(sessions, resource_id, "b", units=2)
    with transaction(sessions) as s:
        assert (
            capacity.release(session=s, resource_id=resource_id, referral_id="a").state
            == "released"
        )
        assert (
            capacity.consume(session=s, resource_id=resource_id, referral_id="b").state
            == "consumed"
        )
    assert ledger(sessions, resource_id) == (8, {"released": 3, "consumed": 2})
    with transaction(sessions) as s:  # twice is a no-op
        capacity.release(session=s, resource_id=resource_id, referral_id="a")
        capacity.consume(session=s, resource_id=resource_id, referral_id="b")
    assert ledger(sessions, resource_id)[0] == 8
    with pytest.raises(Conflict), transaction(sessions) as s:
        capacity.consume(session=s, resource_id=resource_id, referral_id="a")
    with pytest.raises(Conflict), transaction(sessions) as s:
        capacity.release(session=s, resource_id=resource_id, referral_id="b")


def test_waitlist_mode_queues_and_promotes_first_come_first_served(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=2, mode="waitlist")
    states = [reserve(sessions, resource_id, f"w{i}") for i in range(4)]
    assert states == ["reserved", "reserved", "waitlisted", "waitlisted"]
    assert ledger(sessions, resource_id) == (0, {"reserved": 2, "waitlisted": 2})
    with pytest.raises(Conflict), transaction(sessions) as s:
        capacity.consume(session=s, resource_id=resource_id, referral_id="w3")
    with transaction(sessions) as s:
        capacity.release(session=s, resource_id=resource_id, referral_id="w0")
        w2 = s.scalar(select(Reservation).where(Reservation.referral_id == "w2"))
        w3 = s.scalar(select(Reservation).where(Reservation.referral_id == "w3"))
        assert (w2.state, w3.state) == ("reserved", "waitlisted")  # type: ignore[union-attr]
    with transaction(sessions) as s:  # leaving the queue gives back nothing
        capacity.release(session=s, resource_id=resource_id, referral_id="w3")
    assert ledger(sessions, resource_id) == (0, {"reserved": 2, "released": 2})


def last_event(sessions: sessionmaker[Session], resource_id: str) -> ResourceUpserted:
    with sessions() as s:
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == resource_id))
        return max(
            (ResourceUpserted.model_validate_json(e.payload) for e in events),
            key=lambda e: e.version,
        )


def test_every_reservation_announces_the_counts_it_leaves(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=2, mode="waitlist")
    for i in range(3):
        reserve(sessions, resource_id, f"w{i}")
        event = last_event(sessions, resource_id)
        assert event.version == 2 + i, "one version per reservation, held or waitlisted"
    assert (event.capacity_remaining, event.open_referrals, event.waitlisted) == (0, 2, 1)
    with sessions() as s:
        assert s.get(Resource, resource_id).version == 4  # type: ignore[union-attr]


def test_concurrent_waitlisted_reservations_each_announce_a_version_of_their_own(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=1, mode="waitlist")
    reserve(sessions, resource_id, "holder")
    with ThreadPoolExecutor(max_workers=10) as pool:
        states = list(pool.map(lambda i: reserve(sessions, resource_id, f"q{i}"), range(20)))
    assert states == ["waitlisted"] * 20
    with sessions() as s:
        payloads = s.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.aggregate_id == resource_id)
        )
        versions = sorted(ResourceUpserted.model_validate_json(p).version for p in payloads)
    assert versions == list(range(1, 23)), "two changes announced the same version"
    assert last_event(sessions, resource_id).waitlisted == 20


def test_hard_mode_refuses_when_out_of_capacity(sessions: sessionmaker[Session]) -> None:
    resource_id = new_resource(sessions, total=1)
    reserve(sessions, resource_id, "first")
    with pytest.raises(CapacityExhausted) as refused:
        reserve(sessions, resource_id, "second")
    assert refused.value.extra == {"reason": "no_capacity"}
    assert ledger(sessions, resource_id) == (0, {"reserved": 1})


def test_a_new_month_restores_capacity_but_open_referrals_keep_their_units(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, created=datetime(2026, 10, 15, tzinfo=UTC))
    reserve(sessions, resource_id, "open", units=3)
    reserve(sessions, resource_id, "done", units=4)
    with transaction(sessions) as s:
        capacity.consume(session=s, resource_id=resource_id, referral_id="done")
    assert ledger(sessions, resource_id)[0] == 3

    with transaction(sessions) as s:  # still October in China: nothing to do
        assert (
            capacity.reset_due_capacity(session=s, now=datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
            == []
        )
    with transaction(sessions) as s:  # 1 November 00:00 China time is 31 October 16:00 UTC
        reset = capacity.reset_due_capacity(
            session=s, now=datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
        )
    assert reset == [resource_id]
    assert ledger(sessions, resource_id) == (7, {"reserved": 3, "consumed": 4})
    with transaction(sessions) as s:  # running again in the same period changes nothing
        assert capacity.reset_due_capacity(session=s, now=datetime(2026, 11, 2, tzinfo=UTC)) == []


def test_once_capacity_never_resets(sessions: sessionmaker[Session]) -> None:
    resource_id = new_resource(sessions, period="once")
    reserve(sessions, resource_id, "x", units=10)
    with transaction(sessions) as s:
        capacity.consume(session=s, resource_id=resource_id, referral_id="x")
        assert capacity.reset_due_capacity(session=s, now=datetime(2030, 1, 1, tzinfo=UTC)) == []
    assert ledger(sessions, resource_id)[0] == 0


def test_unknown_resource_or_inactive_one_is_refused(sessions: sessionmaker[Session]) -> None:
    resource_id = new_resource(sessions)
    with transaction(sessions) as s:
        service.deactivate(session=s, resource_id=resource_id)
    for target in (resource_id, "no-such-resource"):
        with pytest.raises(DomainError), transaction(sessions) as s:
            capacity.reserve(session=s, resource_id=target, referral_id="r", units=1)
    assert ledger(sessions, resource_id) == (10, {})


def test_the_background_task_starts_new_periods_as_they_come_due(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, created=datetime(2020, 1, 15, tzinfo=UTC))
    reserve(sessions, resource_id, "last-year", units=4)
    with transaction(sessions) as s:
        capacity.consume(session=s, resource_id=resource_id, referral_id="last-year")

    async def run_until_reset() -> int:
        task = asyncio.create_task(reset_capacity_periodically(sessions, interval_s=0.05))
        try:
            for _ in range(200):  # a generous bound: 10 s
                remaining = ledger(sessions, resource_id)[0]
                if remaining == 10:
                    return remaining
                await asyncio.sleep(0.05)
            return remaining
        finally:
            task.cancel()

    assert asyncio.run(run_until_reset()) == 10


def test_a_released_reservation_asked_for_again_is_held_anew(
    sessions: sessionmaker[Session],
) -> None:
    """The needs side gives back a reservation whose reserve went unanswered; the referral's
    retried accept then reserves under the same id and must hold units again, not be told
    "released" (it would be accepted with nothing held)."""
    resource_id = new_resource(sessions, total=2)
    assert reserve(sessions, resource_id, "a", units=2) == "reserved"
    with transaction(sessions) as s:
        capacity.release(session=s, resource_id=resource_id, referral_id="a")
    assert reserve(sessions, resource_id, "a", units=2) == "reserved"
    assert ledger(sessions, resource_id) == (0, {"reserved": 2})
    assert reserve(sessions, resource_id, "a", units=2) == "reserved"  # once held, idempotent
    assert ledger(sessions, resource_id) == (0, {"reserved": 2})
    with pytest.raises(CapacityExhausted):
        reserve(sessions, resource_id, "b")
