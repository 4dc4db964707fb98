"""Waiting in a test for what another task or process does, with a deadline that fails it."""

import asyncio
import time
from collections.abc import Callable


async def until(
    condition: Callable[[], bool], timeout: float = 5.0, *, what: str = "the condition"
) -> None:
    """Return once `condition()` holds; fail the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} never came within {timeout:g} s"
        await asyncio.sleep(0.01)
