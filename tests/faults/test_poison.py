"""Poison messages: a consumer gives up on what it cannot decode, or what keeps failing, reports
it to its dead-letter subject (ids and codes only), and goes on with the good events."""

import asyncio
import time
from pathlib import Path

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from cli.stack import Stack
from shared.contracts.needs import ReferralEvent, referral_subject
from shared.contracts.resources import resource_subject
from shared.contracts.streams import (
    DEADLETTER_STREAM,
    NEEDS_STREAM,
    DeadLetter,
    deadletter_subject,
)
from shared.messaging import ensure_streams
from tests.auth import bearer
from tests.matcher.conftest import running_nats
from tests.support.factories import referral_consumer, referral_event


async def _dead_letters(js: JetStreamContext, consumer: str, timeout: float) -> list[DeadLetter]:
    """Every dead letter of `consumer` so far (waits up to `timeout` for the first)."""
    sub = await js.subscribe(
        deadletter_subject(consumer), ordered_consumer=True, stream=DEADLETTER_STREAM.name
    )
    letters: list[DeadLetter] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout if not letters else 0.5)
            except nats.errors.TimeoutError:
                return letters
            letters.append(DeadLetter.model_validate_json(msg.data))
    finally:
        await sub.unsubscribe()


def _metric(stack: Stack, name: str) -> float:
    text = httpx.get(f"{stack.url('matcher')}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


@pytest.mark.integration
def test_poison_goes_to_the_dead_letter_and_good_events_still_flow(sqlite_stack: Stack) -> None:
    stack = sqlite_stack

    async def publish() -> dict[str, int]:
        nc = await nats.connect(stack.nats_url)
        js = nc.jetstream()
        seqs: dict[str, int] = {}
        completed = referral_subject("completed")
        seqs["not_json"] = (await js.publish(completed, b"{not json")).seq
        seqs["missing"] = (await js.publish(completed, b'{"referral_id": "r-bad"}')).seq
        good = referral_event("r-good", version=3).model_dump_json().encode()
        seqs["good"] = (await js.publish(completed, good)).seq
        await js.publish(completed, good)  # redelivered, in effect: counted once
        stale = referral_event("r-good", version=2, state="accepted").model_dump_json().encode()
        await js.publish(referral_subject("accepted"), stale)  # late and stale: ignored
        seqs["bad_resource"] = (await js.publish(resource_subject("bad-1"), b"[]")).seq
        await nc.close()
        return seqs

    seqs = asyncio.run(publish())
    with httpx.Client(timeout=10, headers=bearer()) as client:
        created = client.post(
            f"{stack.url('resources')}/resources",
            json={
                "name": "毒消息测试点",
                "kind": "charity",
                "categories": ["elderly_care.meals"],
                "location": {"lat": 28.73, "lon": 105.07},
                "radius_km": 5,
                "capacity": {"total": 2},
            },
        )
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 20
        while client.get(f"{stack.url('matcher')}/index").json()["resources"] < 1:
            assert time.monotonic() < deadline, "the good resource never reached the index"
            time.sleep(0.2)
    deadline = time.monotonic() + 20
    while _metric(stack, "lianjie_matcher_outcomes_labelled") < 1:
        assert time.monotonic() < deadline, "the good referral event was never handled"
        time.sleep(0.2)

    async def inspect() -> tuple[list[DeadLetter], list[DeadLetter], int, int]:
        nc = await nats.connect(stack.nats_url)
        js = nc.jetstream()
        outcomes = await _dead_letters(js, "matcher_outcomes", timeout=10)
        index = await _dead_letters(js, "matcher_index", timeout=10)
        info = await js.consumer_info(NEEDS_STREAM.name, "matcher_outcomes")
        await nc.close()
        return outcomes, index, info.num_pending or 0, info.num_ack_pending or 0

    outcomes, index, pending, unacked = asyncio.run(inspect())
    assert [(d.stream_seq, d.reason) for d in outcomes] == [
        (seqs["not_json"], "malformed: body"),
        (seqs["missing"], "malformed: adcode, category, need_id, occurred_at, resource_id"),
    ]
    assert {d.stream for d in outcomes} == {NEEDS_STREAM.name}
    assert [(d.stream_seq, d.reason, d.subject) for d in index] == [
        (seqs["bad_resource"], "malformed: body", resource_subject("bad-1"))
    ]
    # Everything was acked or terminated: nothing is stuck, nothing waits for redelivery.
    assert (pending, unacked) == (0, 0)
    assert _metric(stack, "lianjie_matcher_outcomes_labelled") == 1, "the duplicate was counted"
    assert _metric(stack, "lianjie_matcher_index_skipped") == 1
    assert _metric(stack, "lianjie_matcher_index_lag") == 0


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_deliver(
    tmp_path: Path,
) -> None:
    """The handler fails for one referral every time: it is tried `max_deliver` times, then
    reported and terminated, while the referral after it is handled."""
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def handle(event: ReferralEvent) -> None:
        attempts[event.referral_id] = attempts.get(event.referral_id, 0) + 1
        if event.referral_id == "r-cursed":
            raise KeyError("always")
        handled.append(event.referral_id)

    with running_nats(tmp_path / "nats") as url:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await ensure_streams(js)
        consumer = referral_consumer("test_outcomes", handle, max_deliver=3, retry_delay_s=0.05)
        await consumer.start(js)
        try:
            cursed = await js.publish(
                referral_subject("sent"),
                referral_event("r-cursed", 1, "sent").model_dump_json().encode(),
            )
            await js.publish(
                referral_subject("sent"),
                referral_event("r-fine", 1, "sent").model_dump_json().encode(),
            )
            letters = await _dead_letters(js, "test_outcomes", timeout=10)
            info = await js.consumer_info(NEEDS_STREAM.name, "test_outcomes")
        finally:
            await consumer.stop()
            await nc.close()
    assert attempts == {"r-cursed": 3, "r-fine": 1}
    assert handled == ["r-fine"]
    assert [(d.stream_seq, d.deliveries, d.reason) for d in letters] == [
        (cursed.seq, 3, "failed: KeyError")
    ]
    assert (consumer.stats.handled, consumer.stats.retried, consumer.stats.dead_lettered) == (
        1,
        2,
        1,
    )
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
