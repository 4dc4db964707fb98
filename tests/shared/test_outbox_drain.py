"""The outbox relay's stop publishes what is pending for as long as it is given, and no longer:
what it could not send stays in the table, and the next start sends it, each event once.

JetStream is a real nats-server behind a slow link (tests/support/slow_link.py): every publish
waits at least DELAY_S for its ack, so what the relay can send in a given time has a ceiling
that holds on any machine."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.resources.app import MIGRATIONS
from services.resources.models import OutboxEvent
from shared.db import session_factory
from shared.messaging import Bus
from shared.outbox import OutboxRelay
from shared.settings import CommonSettings
from tests.conftest import Databases
from tests.matcher.conftest import running_nats
from tests.support.outbox import queue_events, stream_event_ids
from tests.support.slow_link import SlowLink

pytestmark = pytest.mark.integration

EVENTS = 60
DELAY_S = 0.05  # each publish waits this long for its ack: the relay sends ≤ 20 a second
LIMIT_S = 1.0  # the stop's drain: at most LIMIT_S / DELAY_S events, fewer than EVENTS


@pytest.fixture
def sessions(engine: Engine, databases: Databases) -> Iterator[sessionmaker[Session]]:
    databases.migrated(engine, MIGRATIONS)
    yield session_factory(engine)


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A nats-server of this test's own: the stream holds this test's events only."""
    with running_nats(tmp_path / "nats") as url:
        yield url


@pytest.fixture
def slow_url(nats_url: str) -> Iterator[str]:
    host, port = nats_url.removeprefix("nats://").split(":")
    with SlowLink(host, int(port), DELAY_S).running() as link:
        yield link.url()


async def connected_bus(url: str) -> Bus:
    bus = Bus(CommonSettings(nats_url=url), name="drain-test")
    await bus.start()
    await asyncio.wait_for(bus.ready.wait(), timeout=15)
    return bus


@pytest.fixture
async def slow_bus(slow_url: str) -> AsyncIterator[Bus]:
    bus = await connected_bus(slow_url)
    yield bus
    await bus.close()


async def test_stop_drains_no_longer_than_its_limit_and_the_next_start_sends_the_rest(
    sessions: sessionmaker[Session], slow_bus: Bus, nats_url: str
) -> None:
    event_ids = queue_events(sessions, EVENTS)
    relay = OutboxRelay(sessions=sessions, record_type=OutboxEvent, bus=slow_bus)
    await relay.start()
    started = time.monotonic()
    await relay.stop(timeout_s=LIMIT_S)
    stopped_after = time.monotonic() - started

    left = await asyncio.to_thread(relay.backlog)
    sent = EVENTS - left
    # It drained until its limit (sending all would take EVENTS × DELAY_S = 3 s), then stopped:
    # no more went out than one publish per DELAY_S allows, and the one in flight at the limit.
    assert stopped_after >= LIMIT_S
    assert 0 < sent <= LIMIT_S / DELAY_S + 1, sent
    assert left > 0
    # What it marked sent is in the stream (an ack came for each); none is there twice.
    in_stream = await stream_event_ids(nats_url)
    assert set(event_ids[:sent]) <= set(in_stream)
    assert len(in_stream) == len(set(in_stream))

    # The next start (a fast link now) sends the rest: every event once, in order.
    bus = await connected_bus(nats_url)
    again = OutboxRelay(sessions=sessions, record_type=OutboxEvent, bus=bus)
    try:
        await again.flush()
    finally:
        await bus.close()
    assert await asyncio.to_thread(again.backlog) == 0
    assert await stream_event_ids(nats_url) == event_ids


async def test_stop_sends_everything_pending_when_its_limit_allows(
    sessions: sessionmaker[Session], slow_bus: Bus, nats_url: str
) -> None:
    event_ids = queue_events(sessions, EVENTS // 3)  # 1 s of publishes at least
    relay = OutboxRelay(sessions=sessions, record_type=OutboxEvent, bus=slow_bus)
    await relay.start()
    await relay.stop(timeout_s=30)

    assert await asyncio.to_thread(relay.backlog) == 0
    assert await stream_event_ids(nats_url) == event_ids
