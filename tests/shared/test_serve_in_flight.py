"""A NATS responder with room for several requests answers them at once: nats-py runs one
subscription's callbacks one after the other, and a capacity request waiting on its commit held
every request queued behind it."""

import asyncio

import pytest
from pydantic import BaseModel

from shared.messaging import Bus
from tests.referrals.domain import bus, nats_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
SUBJECT = "lianjie.test.in_flight.v1"
TOGETHER = 3


class Ask(BaseModel):
    n: int


class Answer(BaseModel):
    n: int
    together: int


async def answered(responder: Bus, in_flight: int) -> list[Answer] | None:
    """Send TOGETHER requests at once to a responder that answers only once TOGETHER of them
    are being handled; None when they timed out waiting for each other."""
    handling, all_in = 0, asyncio.Event()

    async def handle(ask: Ask) -> Answer:
        nonlocal handling
        handling += 1
        if handling == TOGETHER:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=1.0)
        return Answer(n=ask.n, together=handling)

    subject = f"{SUBJECT}.{in_flight}"
    await responder.serve(
        subject, queue="test", request_type=Ask, handler=handle, in_flight=in_flight
    )
    asks = [responder.request(subject, Ask(n=n), Answer, timeout=3.0) for n in range(TOGETHER)]
    replies = await asyncio.gather(*asks, return_exceptions=True)
    if any(isinstance(reply, BaseException) for reply in replies):
        return None
    return [reply for reply in replies if isinstance(reply, Answer)]


async def test_requests_are_answered_together_when_the_responder_has_room(bus: Bus) -> None:  # noqa: F811
    replies = await answered(bus, in_flight=TOGETHER)
    assert replies is not None
    assert sorted(r.n for r in replies) == list(range(TOGETHER))
    assert {r.together for r in replies} == {TOGETHER}


async def test_one_at_a_time_by_default(bus: Bus) -> None:  # noqa: F811
    assert await answered(bus, in_flight=1) is None, "the first request waits alone"
