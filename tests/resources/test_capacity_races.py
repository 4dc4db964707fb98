"""The capacity ledger where two transactions interleave: a release committing while a
reservation is being waitlisted, the same referral released twice at once, release racing
consume. Each race is forced deterministically: one thread's transaction is paused right after
a chosen statement while another thread runs its whole transaction on the same PostgreSQL
database (SQLite serialises whole write transactions, so these interleavings cannot happen
there). Also: requests no ledger can ever honour are refused."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from services.resources import capacity
from shared.db import transaction
from shared.errors import CapacityExhausted, Conflict, DomainError
from tests.resources.test_capacity_ledger import last_event, ledger, new_resource, reserve
from tests.support.factories import resource_body

OTHERS_COMMIT_WITHIN = 2.0  # seconds the paused thread waits for the other transaction


@contextmanager
def interleaved(engine: Engine, after: str, other: Callable[[], object]) -> Iterator[list[object]]:
    """While the body runs, the first statement of this thread starting with `after` is
    followed by `other` run whole in another thread; this thread waits for it to finish
    (or to block on a lock this thread holds: then it goes on after a moment). Yields the
    list that will hold what `other` returned or raised."""
    me, fired, outcome = threading.get_ident(), threading.Event(), []

    def run_other() -> None:
        try:
            outcome.append(other())
        except DomainError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run_other)

    def after_execute(*args: Any) -> None:
        statement = args[2]
        if threading.get_ident() != me or fired.is_set():
            return
        if statement.lstrip().upper().startswith(after.upper()):
            fired.set()
            worker.start()
            worker.join(OTHERS_COMMIT_WITHIN)

    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield outcome
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
        if fired.is_set():
            worker.join()
    assert fired.is_set(), f"no statement starting with {after!r} ran"


def postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions: this interleaving cannot happen")


def release(sessions: sessionmaker[Session], resource_id: str, referral_id: str) -> str:
    with transaction(sessions) as s:
        return capacity.release(session=s, resource_id=resource_id, referral_id=referral_id).state


def consume(sessions: sessionmaker[Session], resource_id: str, referral_id: str) -> str:
    with transaction(sessions) as s:
        return capacity.consume(session=s, resource_id=resource_id, referral_id=referral_id).state


def test_a_release_committing_while_a_referral_is_waitlisted_promotes_it(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    postgres_only(engine)
    resource_id = new_resource(sessions, total=1, mode="waitlist")
    reserve(sessions, resource_id, "holder")
    # The newcomer's conditional UPDATE finds no unit; the holder's release commits before
    # the newcomer's waitlisted reservation exists.
    with interleaved(engine, "UPDATE resource ", lambda: release(sessions, resource_id, "holder")):
        state = reserve(sessions, resource_id, "newcomer")
    assert state == "reserved", "the reply must say the referral was promoted"
    assert ledger(sessions, resource_id) == (0, {"reserved": 1, "released": 1})
    assert capacity_event(sessions, resource_id) == (0, 1, 0)


def capacity_event(sessions: sessionmaker[Session], resource_id: str) -> tuple[int, int, int]:
    event_ = last_event(sessions, resource_id)
    return event_.capacity_remaining, event_.open_referrals, event_.waitlisted


@pytest.mark.parametrize("second", ["release", "consume"])
def test_a_referral_released_while_released_or_consumed_gives_its_units_back_once(
    engine: Engine, sessions: sessionmaker[Session], second: str
) -> None:
    postgres_only(engine)
    resource_id = new_resource(sessions, total=10)
    reserve(sessions, resource_id, "a", units=3)
    reserve(sessions, resource_id, "b", units=5)
    other = {"release": release, "consume": consume}[second]
    # The first release has read the reservation as reserved when the other commits.
    with interleaved(
        engine, "SELECT reservation.", lambda: other(sessions, resource_id, "a")
    ) as others:
        first = release(sessions, resource_id, "a")
    assert first == "released"
    if second == "release":
        assert others == ["released"], "the second release is the idempotent answer"
    else:
        [refused] = others
        assert isinstance(refused, Conflict), "units released cannot be consumed"
    assert ledger(sessions, resource_id) == (5, {"released": 3, "reserved": 5})
    assert capacity_event(sessions, resource_id)[0] == 5


def test_consume_racing_release_consumes_and_gives_nothing_back(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    postgres_only(engine)
    resource_id = new_resource(sessions, total=10)
    reserve(sessions, resource_id, "a", units=3)
    with interleaved(
        engine, "SELECT reservation.", lambda: release(sessions, resource_id, "a")
    ) as others:
        assert consume(sessions, resource_id, "a") == "consumed"
    [refused] = others
    assert isinstance(refused, Conflict), "consumed units cannot be released"
    assert ledger(sessions, resource_id) == (7, {"consumed": 3})


def test_a_waitlisted_request_larger_than_the_total_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    resource_id = new_resource(sessions, total=2, mode="waitlist")
    reserve(sessions, resource_id, "holder", units=2)
    with pytest.raises(CapacityExhausted) as refused:
        reserve(sessions, resource_id, "too-many", units=3)
    assert refused.value.extra["reason"] == "exceeds_total"
    assert reserve(sessions, resource_id, "fits-later", units=1) == "waitlisted"
    with transaction(sessions) as s:
        capacity.release(session=s, resource_id=resource_id, referral_id="holder")
    assert ledger(sessions, resource_id) == (1, {"released": 2, "reserved": 1})


def test_units_beyond_any_capacity_are_a_422_not_a_500(client: TestClient) -> None:
    created = client.post("/resources", json=resource_body())
    assert created.status_code == 201, created.text
    body = {"resource_id": created.json()["id"], "referral_id": "r-1", "units": 2**70}
    answer = client.post("/capacity/reserve", json=body)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["rule"]) == ("units", "less_than_equal")
