"""The batcher behind reserve requests (`shared.batching`): calls that arrive while a batch is
worked on go into the next one, each call gets its own outcome, and a caller that gave up
before its batch started is left out."""

import asyncio
import contextvars
import threading

import pytest

from shared.batching import ALONE, Alone, Batcher

WAIT_S = 10.0  # a bound for a busy machine: the tests never wait for it


class Work:
    """Tens each item (a negative one is refused with its own error); the first batch waits
    until the test lets it go, so the test can queue calls behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started, self.go_on = threading.Event(), threading.Event()

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.started.set()
            assert self.go_on.wait(WAIT_S)
        return [ValueError(f"refused {i}") if i < 0 else i * 10 for i in items]


async def test_calls_queued_while_a_batch_works_go_together_into_the_next() -> None:
    work = Work()
    batcher = Batcher(work, max_size=2)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.to_thread(work.started.wait, WAIT_S)
    queued = [asyncio.ensure_future(batcher.submit(i)) for i in (2, -3, 4, 5)]
    await asyncio.sleep(0)
    work.go_on.set()

    assert await first == 10
    outcomes = await asyncio.gather(*queued, return_exceptions=True)

    assert outcomes[0] == 20 and outcomes[2:] == [40, 50]
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "refused -3"
    assert work.batches == [[1], [2, -3], [4, 5]], "at most max_size a batch, in order"


async def test_a_caller_that_gave_up_before_its_batch_started_is_not_worked_on() -> None:
    work = Work()
    batcher = Batcher(work, max_size=10)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.to_thread(work.started.wait, WAIT_S)
    gave_up = asyncio.ensure_future(batcher.submit(2))
    kept = asyncio.ensure_future(batcher.submit(3))
    await asyncio.sleep(0)
    gave_up.cancel()
    work.go_on.set()

    assert (await first, await kept) == (10, 30)
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert work.batches == [[1], [3]]


async def test_work_that_fails_whole_fails_every_call_of_its_batch_and_no_other() -> None:
    calls = 0

    def flaky(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away")
        return items

    batcher = Batcher(flaky, max_size=10)
    with pytest.raises(RuntimeError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2, "the next batch is worked on as usual"


REQUEST = contextvars.ContextVar("request", default="none")


async def test_the_batch_runs_in_no_callers_context_and_a_call_left_alone_in_its_own() -> None:
    seen: list[tuple[str, str]] = []

    def work(items: list[str]) -> list[str | Exception | Alone]:
        seen.append(("batch", REQUEST.get()))
        return [ALONE if item.startswith("alone") else item for item in items]

    def alone(item: str) -> str:
        seen.append((item, REQUEST.get()))
        return item.upper()

    batcher = Batcher(work, alone=alone, max_size=10)

    async def ask(item: str) -> str:
        REQUEST.set(f"request of {item}")
        return await batcher.submit(item)

    answers = await asyncio.gather(ask("a"), ask("alone-b"), ask("alone-c"))
    answers += [await ask("d")]  # the lane may live on: the next batch is no one's either

    assert answers == ["a", "ALONE-B", "ALONE-C", "d"]
    assert ("alone-b", "request of alone-b") in seen and ("alone-c", "request of alone-c") in seen
    assert {context for who, context in seen if who == "batch"} == {"none"}
