"""Fixtures of the fault tests: each test gets a stack of its own, since it kills processes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import Stack
from tests.conftest import BACKENDS, Databases, start_stack

# How long a service told to stop may finish its requests in flight: a guard against a hang,
# not a speed target. A 300-row import answered 500 when it outlasted 25 s on a machine whose
# disk was busy (every row's commit waits for its fsync, and the fsync for others' writes).
GRACEFUL_SHUTDOWN_S = 120


@pytest.fixture(params=BACKENDS)
def own_stack(
    request: pytest.FixtureRequest, tmp_path: Path, databases: Databases
) -> Iterator[Stack]:
    """A stack of its own: these tests kill its processes."""
    stack, _logs = start_stack(
        tmp_path, databases, request.param, graceful_shutdown_s=GRACEFUL_SHUTDOWN_S
    )
    yield stack
    stack.stop()


@pytest.fixture
def sqlite_stack(tmp_path: Path, databases: Databases) -> Iterator[Stack]:
    """A stack of its own on SQLite, for faults where the database backend plays no part."""
    stack, _logs = start_stack(
        tmp_path, databases, "sqlite", graceful_shutdown_s=GRACEFUL_SHUTDOWN_S
    )
    yield stack
    stack.stop()
