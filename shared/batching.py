"""Calls gathered into batches: what arrives while one batch is being worked on goes into the next.

A call never waits for a timer: an idle batcher starts on the first call at once (with whatever
else arrived in the same turn of the event loop), and under load each batch takes everything
queued meanwhile, up to `max_size`. The work runs on a worker thread (the app's database
threads), one batch at a time, and answers every call on its own: a result or an exception.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass
class _Lane(Generic[T, R]):
    """The calls waiting on one event loop, and the task working them off."""

    queue: list[tuple[T, "asyncio.Future[R]"]] = field(default_factory=list)
    worker: "asyncio.Task[None] | None" = None


class Batcher(Generic[T, R]):
    """Gathers concurrent `submit` calls and hands them to `work` in batches. `work` gets the
    items in the order they were submitted and returns one outcome per item, in that order:
    a result, or the exception that item's caller is to raise.

    A service runs one event loop; a test client may run each request on a loop of its own
    thread. Each loop has its own lane (queue and worker), so a future is only ever resolved
    on its own loop, and a lane lives only while it has work."""

    def __init__(
        self, work: Callable[[list[T]], Sequence[R | Exception]], *, max_size: int
    ) -> None:
        if max_size < 1:
            raise ValueError("a batch holds at least one item")
        self.work = work
        self.max_size = max_size
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane[T, R]] = {}

    async def submit(self, item: T) -> R:
        """The outcome of `item`, worked on with the others queued at the time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
            lane.worker = loop.create_task(self._drain(loop, lane), name="batcher")
        lane.queue.append((item, future))
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop, lane: _Lane[T, R]) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while lane.queue:
                # A caller that gave up (cancelled) before its batch started is not worked on.
                waiting = [(item, f) for item, f in lane.queue if not f.done()]
                batch, lane.queue = waiting[: self.max_size], waiting[self.max_size :]
                if batch:
                    await self._work_off(batch)
                batch = []
        finally:
            # Cancelled (the loop is stopping): no caller may wait for an answer that won't come.
            for _, future in [*batch, *lane.queue]:
                future.cancel()
            lane.queue = []
            if self._lanes.get(loop) is lane:
                del self._lanes[loop]

    async def _work_off(self, batch: list[tuple[T, "asyncio.Future[R]"]]) -> None:
        try:
            outcomes = await asyncio.to_thread(self.work, [item for item, _ in batch])
        except Exception as exc:  # the work itself failed: every caller is told so
            log.warning("a batch of %d failed: %s", len(batch), type(exc).__name__)
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller gave up meanwhile
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
