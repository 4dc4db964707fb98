"""Waiting in a test for what another task or process does, with a deadline that fails it."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from nats.errors import Error as NatsError

from shared.errors import ServiceUnavailable


async def until(
    condition: Callable[[], bool], timeout: float = 5.0, *, what: str = "the condition"
) -> None:
    """Return once `condition()` holds; fail the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never came within {timeout:g} s"
        await asyncio.sleep(0.01)


async def once_nats_is_back(action: Callable[[], Awaitable[object]], timeout: float = 20.0) -> None:
    """Do `action` (a publish, say) as soon as NATS answers again after a restart, retrying as
    an outbox would; fail the test if it never does within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await action()
            return
        except (NatsError, ServiceUnavailable):
            assert time.monotonic() < deadline, f"NATS never came back within {timeout:g} s"
            await asyncio.sleep(0.2)
