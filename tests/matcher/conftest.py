"""A nats-server of the matcher tests' own (no services), for feed and training tests."""

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.stack import free_port, nats_server_binary
from cli.streams import provision_now


def _provision(url: str, timeout: float = 10.0) -> None:
    """The streams, as `lianjie up` provisions them (services only wait for them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            provision_now(url, timeout_s=1.0)
            return
        except Exception:  # the server is still starting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def running_nats(store: Path, port: int | None = None) -> Iterator[str]:
    """A nats-server with JetStream storing under `store` (on `port`, or a free one); yields
    its URL, stops it after."""
    port = port or free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"nats://127.0.0.1:{port}"
        _provision(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server for one test module."""
    with running_nats(tmp_path_factory.mktemp("nats")) as url:
        yield url
