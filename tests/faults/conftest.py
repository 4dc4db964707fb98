"""Fixtures of the fault tests: each test gets a stack of its own, since it kills processes."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import Stack
from tests.conftest import BACKENDS, Databases, start_stack


@pytest.fixture(params=BACKENDS)
def own_stack(
    request: pytest.FixtureRequest, tmp_path: Path, databases: Databases
) -> Iterator[Stack]:
    """A stack of its own: these tests kill its processes."""
    stack, _logs = start_stack(tmp_path, databases, request.param)
    yield stack
    stack.stop()


@pytest.fixture
def sqlite_stack(tmp_path: Path, databases: Databases) -> Iterator[Stack]:
    """A stack of its own on SQLite, for faults where the database backend plays no part."""
    stack, _logs = start_stack(tmp_path, databases, "sqlite")
    yield stack
    stack.stop()
