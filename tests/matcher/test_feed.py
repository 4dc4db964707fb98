"""The index feed on a real nats-server: caught up only once the whole stream is applied,
then every new event reaches the index on its own."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from cli.stack import free_port
from services.matcher.events import IndexFeed, _pending
from services.matcher.index import ResourceIndex
from shared.contracts.resources import ResourceUpserted, resource_subject
from shared.messaging import Bus
from shared.settings import CommonSettings
from tests.matcher.conftest import running_nats
from tests.matcher.factories import north_of, state
from tests.support.waiting import once_nats_is_back, until


async def connected_bus(url: str) -> Bus:
    bus = Bus(CommonSettings(nats_url=url), name="matcher-test")
    await bus.start()
    await asyncio.wait_for(bus.ready.wait(), timeout=10)
    return bus


async def publish(bus: Bus, *states: ResourceUpserted) -> None:
    for s in states:
        await bus.js.publish(resource_subject(s.resource_id), s.model_dump_json().encode())


@pytest.mark.integration
async def test_the_feed_is_caught_up_only_with_every_resource_then_follows_each_event(
    nats_url: str,
) -> None:
    bus = await connected_bus(nats_url)
    try:
        resources = [state(f"f{i:03d}", lat=north_of(i * 0.05)[0]) for i in range(300)]
        await publish(bus, *resources)
        await publish(bus, state("f000", version=2, capacity_remaining=0))  # replaces version 1
        index = ResourceIndex(rebuild_min_pending=8)
        feed = IndexFeed(index)
        caught_up_with: list[int] = []
        waiter = asyncio.create_task(feed.caught_up.wait())
        waiter.add_done_callback(lambda _t: caught_up_with.append(len(index)))
        await feed.start(bus)
        await asyncio.wait_for(waiter, timeout=10)
        assert caught_up_with == [300], "ready before the whole stream was applied"
        assert (f000 := index.get("f000")) is not None and f000.capacity_remaining == 0
        assert not index.deferred
        shards = [s for by_reach in index.shards.values() for s in by_reach.values()]
        assert [s.rebuilds for s in shards] == [1], "each tree is built once, when caught up"

        await publish(bus, state("f001", version=2, capacity_remaining=3))
        await until(lambda: getattr(index.get("f001"), "capacity_remaining", None) == 3)
        await publish(bus, state("new", lat=north_of(2)[0]))
        await until(lambda: "new" in index)
        assert [s.rebuilds for s in shards] == [1], "a single change rebuilt a tree"
    finally:
        await bus.close()


@pytest.mark.integration
async def test_a_feed_over_an_empty_stream_is_caught_up_at_once(tmp_path: Path) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            feed = IndexFeed(ResourceIndex())
            await feed.start(bus)
            assert feed.caught_up.is_set()
        finally:
            await bus.close()


@pytest.mark.integration
async def test_a_replay_in_batches_skips_a_malformed_event_and_keeps_every_other(
    tmp_path: Path,
) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            good = [state(f"g{i:03d}", lat=north_of(i * 0.05)[0]) for i in range(25)]
            await publish(bus, *good[:10])
            await bus.js.publish(resource_subject("bad"), b'{"resource_id": "bad", "lat": 91}')
            await publish(bus, *good[10:], state("g000", version=2, capacity_remaining=1))
            index = ResourceIndex()
            feed = IndexFeed(index)
            feed.BATCH = 4  # several batches, one of them holding the malformed event
            await feed.start(bus)
            await asyncio.wait_for(feed.caught_up.wait(), timeout=10)
            assert (len(index), feed.skipped) == (25, 1)
            assert (g000 := index.get("g000")) is not None and g000.capacity_remaining == 1
            await until(lambda: index.text_backlog() == 0)
            assert index.text.documents == 25
        finally:
            await bus.close()


def test_pending_is_read_from_the_reply_subject_as_nats_py_reads_it() -> None:
    subjects = [
        "$JS.ACK.RESOURCES.c1.1.42.7.1700000000000000000.123",
        "$JS.ACK._.HASH.RESOURCES.c1.1.42.7.1700000000000000000.0.rnd",
        "$JS.ACK.dom.HASH.RESOURCES.c1.2.42.7.1700000000000000000.9",
    ]
    for subject in subjects:
        msg = Msg(_client=None, subject="s", reply=subject)  # type: ignore[arg-type]
        assert _pending(msg) == msg.metadata.num_pending


@contextlib.asynccontextmanager
async def bus_on_its_own_nats(tmp_path: Path) -> AsyncIterator[Bus]:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            yield bus
        finally:
            await bus.close()


@pytest.mark.integration
async def test_texts_are_counted_after_ready_in_small_steps_with_requests_answered_between(
    tmp_path: Path,
) -> None:
    async with bus_on_its_own_nats(tmp_path) as bus:
        await publish(bus, *[state(f"t{i:03d}", lat=north_of(i * 0.05)[0]) for i in range(120)])
        index = ResourceIndex()
        feed = IndexFeed(index)
        await feed.start(bus)
        await asyncio.wait_for(feed.caught_up.wait(), timeout=10)
        backlogs = []  # as a request answered between the steps sees it
        while index.text_backlog():
            backlogs.append(index.text_backlog())
            await asyncio.sleep(0)
        steps = sorted({120 - b for b in backlogs if b < 120})
        assert steps == [feed.TEXT_STEP * n for n in range(1, len(steps) + 1)]
        assert len(steps) >= 2, "120 texts counted in one step: a request waited for all"
        assert index.text.documents == 120
        # What the index built on being caught up is kept out of the collector's passes.
        collected = {id(o) for o in gc.get_objects()}
        shards = [s for by_reach in index.shards.values() for s in by_reach.values()]
        assert shards and not any(id(s) in collected for s in shards)


@pytest.mark.integration
async def test_the_replay_comes_on_a_connection_apart_from_the_one_answering_requests(
    nats_url: str,
) -> None:
    """nats-server keeps every delivered reply subject (a JetStream message's ack subject) of a
    connection whose user may answer requests, and scans them about once a second: a replay on
    the answering connection held every request to it 150-250 ms once a second at 1M."""
    bus = await connected_bus(nats_url)
    try:
        await publish(bus, *(state(f"c{i:03d}") for i in range(200)))
        answering_before = bus.nc.stats["in_msgs"] if bus.nc is not None else 0
        feed = IndexFeed(ResourceIndex())
        await feed.start(bus)
        await asyncio.wait_for(feed.caught_up.wait(), timeout=10)
        assert bus.feed_nc is not None and bus.feed_nc is not bus.nc
        assert bus.feed_nc.stats["in_msgs"] >= 200
        assert bus.nc is not None and bus.nc.stats["in_msgs"] - answering_before < 200
    finally:
        await bus.close()


@pytest.mark.integration
async def test_after_nats_restarts_the_feed_follows_new_changes_within_seconds(
    tmp_path: Path,
) -> None:
    """The index feed is an ordered consumer, which lives in nats-server's memory: nats-py
    makes it anew only after missed heartbeats. At its default heartbeat (5 s) the index went
    about 19 s without the changes written after NATS came back (`FOLLOW_HEARTBEAT_S`)."""
    store, port = tmp_path / "nats", free_port()
    index = ResourceIndex()
    feed = IndexFeed(index)
    with running_nats(store, port=port) as url:
        bus = await connected_bus(url)
        await publish(bus, state("before"))
        await feed.start(bus)
        await asyncio.wait_for(feed.caught_up.wait(), timeout=10)
    with running_nats(store, port=port):
        try:
            await once_nats_is_back(lambda: publish(bus, state("after")))
            await until(lambda: "after" in index, timeout=10, what="the change after the restart")
        finally:
            await bus.close()
