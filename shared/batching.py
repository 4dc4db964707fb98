"""Calls gathered into batches: what arrives while one batch is being worked on goes into the next.

A call never waits for a timer: an idle batcher starts on the first call at once (with whatever
else arrived in the same turn of the event loop), and under load each batch takes everything
queued meanwhile, up to `max_size`. The work runs on a worker thread (the app's database
threads), one batch at a time, and answers every call on its own: a result or an exception.

What the batch does for all its calls runs in a context of its own (no caller's request id on
its events and log lines); what the work leaves to a call alone (`ALONE`) runs in that caller's
context, as if the call had not been batched.
"""

import asyncio
import contextvars
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


def failure(exc: BaseException) -> str:
    """An exception's type and where it was raised, without its message (which may quote the
    rows' values: names, phones)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


class Alone:
    """The outcome `work` gives a call it leaves to be answered on its own, by `alone`."""


ALONE = Alone()


@dataclass(frozen=True)
class _Call(Generic[T, R]):
    item: T
    future: "asyncio.Future[R]"
    context: contextvars.Context


@dataclass
class _Lane(Generic[T, R]):
    """The calls waiting on one event loop, and the task working them off."""

    queue: list[_Call[T, R]] = field(default_factory=list)
    worker: "asyncio.Task[None] | None" = None


class Batcher(Generic[T, R]):
    """Gathers concurrent `submit` calls and hands them to `work` in batches. `work` gets the
    items in the order they were submitted and returns one outcome per item, in that order:
    a result, the exception that item's caller is to raise, or `ALONE`: then `alone(item)`
    answers it after the batch, in its caller's context.

    A service runs one event loop; a test client may run each request on a loop of its own
    thread. Each loop has its own lane (queue and worker), so a future is only ever resolved
    on its own loop, and a lane lives only while it has work."""

    def __init__(
        self,
        work: Callable[[list[T]], Sequence[R | Exception | Alone]],
        *,
        max_size: int,
        alone: Callable[[T], R | Exception] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("a batch holds at least one item")
        self.work = work
        self.alone = alone
        self.max_size = max_size
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane[T, R]] = {}

    async def submit(self, item: T) -> R:
        """The outcome of `item`, worked on with the others queued at the time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
            # The worker outlives the call that started it: it must not carry that call's
            # context (its request id) into the batches of others.
            worker = self._drain(loop, lane)
            lane.worker = loop.create_task(worker, name="batcher", context=contextvars.Context())
        lane.queue.append(_Call(item, future, contextvars.copy_context()))
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop, lane: _Lane[T, R]) -> None:
        batch: list[_Call[T, R]] = []
        try:
            while lane.queue:
                # A caller that gave up (cancelled) before its batch started is not worked on.
                waiting = [call for call in lane.queue if not call.future.done()]
                batch, lane.queue = waiting[: self.max_size], waiting[self.max_size :]
                if batch:
                    await self._work_off(batch)
                batch = []
        finally:
            # Cancelled (the loop is stopping): no caller may wait for an answer that won't come.
            for call in [*batch, *lane.queue]:
                call.future.cancel()
            lane.queue = []
            if self._lanes.get(loop) is lane:
                del self._lanes[loop]

    async def _work_off(self, batch: list[_Call[T, R]]) -> None:
        try:
            outcomes = await asyncio.to_thread(self._answer, batch)
        except Exception as exc:  # the work itself failed: every caller is told so
            log.warning("a batch of %d failed: %s", len(batch), failure(exc))
            outcomes = [exc] * len(batch)
        for call, outcome in zip(batch, outcomes, strict=True):
            if call.future.done():  # its caller gave up meanwhile
                continue
            if isinstance(outcome, Exception):
                call.future.set_exception(outcome)
            else:
                call.future.set_result(outcome)

    def _answer(self, batch: list[_Call[T, R]]) -> list[R | Exception]:
        outcomes = self.work([call.item for call in batch])
        return [
            self._alone(call) if isinstance(outcome, Alone) else outcome
            for call, outcome in zip(batch, outcomes, strict=True)
        ]

    def _alone(self, call: _Call[T, R]) -> R | Exception:
        if self.alone is None:
            return TypeError("the batch left a call alone, and there is no `alone`")
        return call.context.run(self.alone, call.item)
