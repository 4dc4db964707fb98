"""Operability of one real process: readiness notices a frozen NATS, and the matcher stops
within 2 s whether NATS is there or not."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.stack import Stack, StackConfig, free_port
from tests.conftest import KEYS_DIR, LogCapture

pytestmark = pytest.mark.integration

STOP_LIMIT_S = 2.0


@pytest.fixture
def matcher_alone(tmp_path: Path) -> Iterator[Stack]:
    """A nats-server and one matcher process, nothing else."""
    config = StackConfig(
        var_dir=tmp_path,
        nats_port=free_port(),
        ports={"matcher": free_port()},
        env={"LIANJIE_NATS_CONNECT_TIMEOUT_S": "1"},
        keys_dir=KEYS_DIR,
    )
    stack = Stack(config, sink=LogCapture(tmp_path / "stack.log"))
    try:
        stack.start_nats()
        stack.provision_streams()
        stack.start_service("matcher")
        stack.wait_ready(services=("matcher",))
        yield stack
    finally:
        stack.stop()


def _ready(stack: Stack) -> int:
    try:
        return httpx.get(f"{stack.url('matcher')}/readyz", timeout=5.0).status_code
    except httpx.HTTPError:
        return 0


def _wait_for(stack: Stack, status: int, within_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if _ready(stack) == status:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"/readyz did not answer {status} within {within_s:g}s")


def _stop_time(stack: Stack, name: str) -> float:
    started = time.monotonic()
    stack.stop_process(name, timeout=30)
    return time.monotonic() - started


def test_readiness_fails_while_nats_is_frozen_and_comes_back(matcher_alone: Stack) -> None:
    nats_pid = matcher_alone.processes["nats"].popen.pid
    os.kill(nats_pid, signal.SIGSTOP)
    try:
        _wait_for(matcher_alone, 503, within_s=5)
    finally:
        os.kill(nats_pid, signal.SIGCONT)
    _wait_for(matcher_alone, 200, within_s=5)


def test_matcher_stops_within_two_seconds_with_nats(matcher_alone: Stack) -> None:
    took = _stop_time(matcher_alone, "matcher")
    assert took < STOP_LIMIT_S


def test_matcher_stops_within_two_seconds_without_nats(matcher_alone: Stack) -> None:
    matcher_alone.stop_process("nats", kill=True)
    time.sleep(1.0)  # the client notices and starts reconnecting
    took = _stop_time(matcher_alone, "matcher")
    assert took < STOP_LIMIT_S


def test_matcher_stops_within_two_seconds_with_nats_frozen(matcher_alone: Stack) -> None:
    nats_pid = matcher_alone.processes["nats"].popen.pid
    os.kill(nats_pid, signal.SIGSTOP)
    try:
        took = _stop_time(matcher_alone, "matcher")
    finally:
        os.kill(nats_pid, signal.SIGCONT)
    assert took < STOP_LIMIT_S


def test_matcher_stops_within_two_seconds_with_a_client_connected(matcher_alone: Stack) -> None:
    with httpx.Client(timeout=5.0) as client:
        assert client.get(f"{matcher_alone.url('matcher')}/healthz").status_code == 200
        took = _stop_time(matcher_alone, "matcher")
    assert took < STOP_LIMIT_S


def test_matcher_that_never_reached_nats_stops_within_two_seconds(matcher_alone: Stack) -> None:
    matcher_alone.stop_process("nats", kill=True)
    matcher_alone.stop_process("matcher")
    matcher_alone.start_service("matcher")
    deadline = time.monotonic() + 60
    while _ready(matcher_alone) != 503:  # up, still trying to connect
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert _stop_time(matcher_alone, "matcher") < STOP_LIMIT_S
