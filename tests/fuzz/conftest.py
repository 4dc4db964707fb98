"""A stack of the fuzz tests' own, per backend, shared by their modules: fuzzing writes odd but
valid data (resources with any radius, say) that other tests' matches must not meet."""

from collections.abc import Iterator

import pytest

from cli.stack import Stack
from tests.conftest import BACKENDS, Databases, start_stack


@pytest.fixture(scope="session", params=BACKENDS)
def fuzz_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[Stack]:
    stack, _logs = start_stack(
        tmp_path_factory.mktemp(f"fuzz_{request.param}"), databases, request.param
    )
    yield stack
    stack.stop()
