"""Reserve requests taken together (`capacity_batch`): what arrives at once is committed in one
transaction, never overbooks, and every request keeps its own answer — reserved, refused for
its own reason, the idempotent replay of its referral id, or waitlisted — on SQLite and
PostgreSQL, called directly, over a real nats-server and over HTTP."""

import asyncio
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity, capacity_batch
from services.resources.capacity_batch import reserve_all
from services.resources.events import serve_capacity
from services.resources.models import OutboxEvent, Reservation, Resource
from shared.busy import is_busy
from shared.clock import utc_now
from shared.contracts.common import china_date
from shared.contracts.resources import CAPACITY_RESERVE, CapacityReply, CapacityRequest
from shared.db import transaction
from shared.errors import CapacityExhausted, Conflict, DomainError, NotFound, RemoteError
from shared.messaging import Bus
from tests.referrals.domain import bus, nats_url  # noqa: F401 (fixtures)
from tests.resources.test_capacity_ledger import last_event, ledger, new_resource, reserve
from tests.resources.test_capacity_races import interleaved, postgres_only
from tests.support.factories import resource_body

NATS_WAIT_S = 20.0  # a generous bound for a busy machine; the tests never wait for it


def ask(
    resource_id: str, referral_id: str, units: int = 1, unit: str | None = None
) -> CapacityRequest:
    return CapacityRequest(resource_id=resource_id, referral_id=referral_id, units=units, unit=unit)


def said(answer: CapacityReply | Exception) -> str:
    """A reply's state, or a refusal's rule or reason (its class name when it has neither)."""
    if isinstance(answer, CapacityReply):
        return answer.state.value
    if isinstance(answer, DomainError):
        return str(answer.extra.get("reason") or answer.extra.get("rule") or type(answer).__name__)
    raise answer


def events_of(sessions: sessionmaker[Session], resource_id: str) -> int:
    with sessions() as s:
        query = select(func.count()).where(OutboxEvent.aggregate_id == resource_id)
        return int(s.scalar(query) or 0)


def change(sessions: sessionmaker[Session], resource_id: str, **values: object) -> None:
    with transaction(sessions) as s:
        resource = s.get(Resource, resource_id)
        assert resource is not None
        for name, value in values.items():
            setattr(resource, name, value)


def test_a_batch_takes_in_arrival_order_and_announces_each_resource_once(
    sessions: sessionmaker[Session],
) -> None:
    a = new_resource(sessions, total=3)
    b = new_resource(sessions, total=2)
    requests = [ask(a, "r1"), ask(b, "r2"), ask(a, "r3", units=2), ask(a, "r4"), ask(b, "r5")]
    requests += [ask(b, "r6"), ask(a, "r7")]

    answers = reserve_all(sessions=sessions, requests=requests)

    states = [said(answer) for answer in answers]
    assert states == ["reserved"] * 3 + ["no_capacity", "reserved", "no_capacity", "no_capacity"]
    assert {a.capacity_remaining for a in answers if isinstance(a, CapacityReply)} == {0}
    assert ledger(sessions, a) == (0, {"reserved": 3})
    assert ledger(sessions, b) == (0, {"reserved": 2})
    for resource_id, held in ((a, 2), (b, 2)):
        state = last_event(sessions, resource_id)
        assert (state.capacity_remaining, state.open_referrals, state.version) == (0, held, 2)
        assert events_of(sessions, resource_id) == 2, "created, then one announcement a batch"


def test_mixed_valid_and_invalid_requests_each_get_their_own_answer(
    sessions: sessionmaker[Session],
) -> None:
    ok = new_resource(sessions, total=5)
    inactive = new_resource(sessions, total=5)
    change(sessions, inactive, active=False)
    ended = new_resource(sessions, total=5)
    change(sessions, ended, available_until=china_date(utc_now()) - timedelta(days=1))
    queue = new_resource(sessions, total=1, mode="waitlist")
    assert reserve(sessions, queue, "holder") == "reserved"
    assert reserve(sessions, ok, "already", units=2) == "reserved"
    requests = [
        ask(ok, "first"),
        ask("no-such-resource", "lost"),
        ask(ok, "in-hours", unit="hours"),
        ask(inactive, "inactive"),
        ask(ended, "ended"),
        ask(ok, "too-many", units=3),
        ask(queue, "queued"),
        ask(ok, "already", units=2),
        ask(ok, "already", units=1),
        ask(ok, "second"),
    ]

    answers = reserve_all(sessions=sessions, requests=requests)

    assert isinstance(answers[1], NotFound)
    assert isinstance(answers[3], Conflict) and "not active" in answers[3].detail
    assert [said(answer) for answer in answers] == [
        "reserved",
        "NotFound",
        "unit_mismatch",
        "Conflict",
        "not_available",
        "no_capacity",
        "waitlisted",
        "reserved",  # the replay of the reservation made before the batch
        "Conflict",  # the same referral id with other units
        "reserved",
    ]
    assert isinstance(answers[5], CapacityExhausted)
    replay = answers[7]
    assert isinstance(replay, CapacityReply) and replay.units == 2
    assert ledger(sessions, ok) == (1, {"reserved": 4}), "nothing of the refused was written"
    assert ledger(sessions, queue) == (0, {"reserved": 1, "waitlisted": 1})
    for untouched in (inactive, ended):
        assert ledger(sessions, untouched) == (5, {})
        assert events_of(sessions, untouched) == 1, "a refused request announces nothing"


def test_the_same_referral_twice_in_one_batch_holds_its_units_once(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=5)
    requests = [ask(resource_id, "twice", units=2), ask(resource_id, "other")]
    requests += [ask(resource_id, "twice", units=2), ask(resource_id, "twice", units=4)]

    first, other, again, other_units = reserve_all(sessions=sessions, requests=requests)

    assert isinstance(first, CapacityReply) and isinstance(again, CapacityReply)
    assert first == again, "the second is the idempotent answer of the first"
    assert (first.state.value, first.units, first.capacity_remaining) == ("reserved", 2, 2)
    assert said(other) == "reserved"
    assert isinstance(other_units, Conflict)
    assert ledger(sessions, resource_id) == (2, {"reserved": 3})
    with sessions() as s:
        rows = s.scalar(select(func.count()).where(Reservation.referral_id == "twice"))
    assert rows == 1


def test_a_batch_that_fails_whole_is_answered_one_request_at_a_time(
    engine: Engine, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    postgres_only(engine)
    resource_id = new_resource(sessions, total=3)
    requests = [ask(resource_id, "raced"), ask(resource_id, "calm")]
    # The same referral is reserved and committed by another transaction after the batch
    # looked for known referral ids: its insert breaks the unique id and the batch rolls back.
    with interleaved(
        engine,
        "SELECT reservation.referral_id",
        lambda: reserve(sessions, resource_id, "raced"),
    ) as others:
        raced, calm = reserve_all(sessions=sessions, requests=requests)

    assert others == ["reserved"]
    assert "answered one at a time (IntegrityError at " in caplog.text
    assert isinstance(raced, CapacityReply) and isinstance(calm, CapacityReply)
    assert (raced.state.value, calm.state.value) == ("reserved", "reserved")
    assert ledger(sessions, resource_id) == (1, {"reserved": 2}), "the raced referral held twice"


def test_a_released_referral_asking_again_keeps_its_place_before_later_requests(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=2)
    assert reserve(sessions, resource_id, "back") == "reserved"
    with transaction(sessions) as s:
        capacity.release(session=s, resource_id=resource_id, referral_id="back")
    assert reserve(sessions, resource_id, "holder") == "reserved"  # one unit left

    back, later = reserve_all(
        sessions=sessions, requests=[ask(resource_id, "back"), ask(resource_id, "later")]
    )

    assert (said(back), said(later)) == ("reserved", "no_capacity"), "first come, first served"
    assert ledger(sessions, resource_id) == (0, {"reserved": 2})


def test_a_batch_kept_waiting_by_a_lock_answers_every_request_busy(
    engine: Engine, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_only(engine)
    monkeypatch.setattr(capacity_batch, "LOCK_WAIT_MS", 200)
    resource_id = new_resource(sessions, total=5)
    with sessions() as holder:  # another transaction holds the resource's row lock
        holder.execute(select(Resource).where(Resource.id == resource_id).with_for_update())

        answers = reserve_all(
            sessions=sessions, requests=[ask(resource_id, "one"), ask(resource_id, "two")]
        )

    assert all(isinstance(answer, Exception) and is_busy(answer) for answer in answers)
    assert ledger(sessions, resource_id) == (5, {}), "nothing taken"


async def over_nats(bus: Bus, requests: list[CapacityRequest]) -> list[CapacityReply | Exception]:  # noqa: F811
    asks = [bus.request(CAPACITY_RESERVE, r, CapacityReply, timeout=NATS_WAIT_S) for r in requests]
    return await asyncio.gather(*asks, return_exceptions=True)  # type: ignore[return-value]


async def served(bus: Bus, sessions: sessionmaker[Session], *, total: int) -> str:  # noqa: F811
    """The ledger answering over NATS, and a resource of `total` units in it: its id."""
    await serve_capacity(bus, sessions)
    return new_resource(sessions, total=total)


@pytest.mark.integration
async def test_fifty_reserves_at_once_over_nats_for_seven_units_reserve_exactly_seven(
    bus: Bus,  # noqa: F811
    sessions: sessionmaker[Session],
) -> None:
    resource_id = await served(bus, sessions, total=7)

    answers = await over_nats(bus, [ask(resource_id, f"nats-{i}") for i in range(50)])

    reserved = [a for a in answers if isinstance(a, CapacityReply)]
    refused = [a for a in answers if isinstance(a, RemoteError)]
    assert (len(reserved), len(refused)) == (7, 43), answers
    assert {(r.status, r.extra.get("reason")) for r in refused} == {(409, "no_capacity")}
    assert ledger(sessions, resource_id) == (0, {"reserved": 7})
    state = last_event(sessions, resource_id)
    assert (state.capacity_remaining, state.open_referrals) == (0, 7)
    assert state.version == events_of(sessions, resource_id), "one version per announcement"


@pytest.mark.integration
async def test_over_nats_a_referral_sent_twice_at_once_and_a_bad_request_beside_it(
    bus: Bus,  # noqa: F811
    sessions: sessionmaker[Session],
) -> None:
    resource_id = await served(bus, sessions, total=2)
    assert bus.nc is not None
    bad = asyncio.ensure_future(
        bus.nc.request(CAPACITY_RESERVE, b'{"resource_id": "x", "referral_id": "y", "units": 0}')
    )

    twice, again, other, refused = await over_nats(
        bus,
        [ask(resource_id, "dup"), ask(resource_id, "dup"), ask(resource_id, "o"), ask("none", "n")],
    )
    invalid = await bad

    assert isinstance(twice, CapacityReply) and twice == again
    assert isinstance(other, CapacityReply)
    assert isinstance(refused, RemoteError) and refused.status == 404
    assert (invalid.headers or {}).get("Lianjie-Status") == "422"
    assert ledger(sessions, resource_id) == (0, {"reserved": 2})


def test_reserve_over_http_answers_each_request_with_its_own_status(client: TestClient) -> None:
    one_place = resource_body(capacity={"total": 1, "unit": "persons", "period": "month"})
    created = client.post("/resources", json=one_place)
    assert created.status_code == 201, created.text
    resource_id = created.json()["id"]

    held = client.post("/capacity/reserve", json={"resource_id": resource_id, "referral_id": "h1"})
    full = client.post("/capacity/reserve", json={"resource_id": resource_id, "referral_id": "h2"})
    again = client.post("/capacity/reserve", json={"resource_id": resource_id, "referral_id": "h1"})
    lost = client.post("/capacity/reserve", json={"resource_id": "nope", "referral_id": "h3"})

    assert held.status_code == 200, held.text
    assert (held.json()["state"], held.json()["capacity_remaining"]) == ("reserved", 0)
    assert full.status_code == 409 and full.json()["reason"] == "no_capacity"
    assert full.headers["content-type"].startswith("application/problem+json")
    assert again.status_code == 200 and again.json() == held.json()
    assert lost.status_code == 404, lost.text
