"""A restarted replica starts from the latest snapshot of the index and the stream after it, and
ranks exactly as one that replayed the whole stream; a snapshot in any doubt is not used."""

import asyncio
import hashlib
import json
import struct
from pathlib import Path

import msgspec
import pytest

from services.matcher import snapshot
from services.matcher.events import IndexFeed, keep_snapshots
from services.matcher.index import ResourceIndex
from services.matcher.ranking import rank_resources
from shared.contracts.matcher import RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.contracts.streams import MATCHER_SNAPSHOTS_BUCKET, MATCHER_SNAPSHOTS_STREAM
from shared.messaging import Bus
from tests.matcher.conftest import running_nats
from tests.matcher.factories import PARAMS, index_of, north_of, request, state
from tests.matcher.test_feed import connected_bus, publish
from tests.support.waiting import until

MARK = snapshot.StreamMark("LIANJIE_RESOURCES", "2026-01-01 00:00:00+00:00", 40)


def resources(count: int, version: int = 1) -> list[ResourceUpserted]:
    """Resources north of the centre: some serve divisions, some a second category, a few
    are inactive."""
    return [
        state(
            f"s{i:03d}",
            version=version,
            name=f"助餐点{i}",
            lat=north_of(i * 0.07)[0],
            categories=["elderly_care.meals"] + (["legal_aid"] if i % 3 == 0 else []),
            adcodes=["511523"] if i % 4 == 0 else [],
            radius_km=None if i % 8 == 0 else 5.0 + i % 5,
            eligible_groups=["elderly"] if i % 5 == 0 else [],
            capacity_remaining=i % 7,
            active=i % 11 != 5,
        )
        for i in range(count)
    ]


def tail_changes() -> list[ResourceUpserted]:
    """After the snapshot: an update, a move, deactivations, a reactivation, a new resource."""
    return [
        state("s001", version=2, name="改名助餐点", lat=north_of(0.07)[0], capacity_remaining=0),
        state("s002", version=2, lat=north_of(30)[0], categories=["legal_aid"]),
        state("s003", version=2, active=False),
        state("s004", version=2, active=False, adcodes=["511523"]),
        state("s005", version=2, categories=["elderly_care.meals"], lat=north_of(0.3)[0]),
        state("new", categories=["elderly_care.meals", "legal_aid"], adcodes=["511523"]),
        state("s006", version=3, capacity_remaining=9),  # its version 2 never published
    ]


REQUESTS = [
    request(k=50),
    request(category="legal_aid", k=50),
    request(k=50, adcode="511523", lat=north_of(40)[0]),
    request(category="legal_aid", k=50, adcode="511523"),
    request(k=50, text="助餐"),
    request(k=50, lat=north_of(2)[0], groups=["elderly"]),
]


def rankings(index: ResourceIndex, requests: list[RankRequest] = REQUESTS) -> list[object]:
    return [
        [(r.resource_id, round(r.score, 12), r.capacity_remaining, r.name) for r in reply.results]
        for reply in (rank_resources(index=index, query=q, params=PARAMS) for q in requests)
    ]


def test_a_snapshot_read_back_ranks_exactly_as_the_index_it_was_taken_of() -> None:
    original = index_of(*resources(60), *tail_changes()[:2])
    restored = ResourceIndex()
    found = snapshot.decode(snapshot.encode(snapshot.capture(original, MARK)))
    restored.restore(found.columns)
    restored.rebuild_all()
    assert found.mark == MARK
    assert len(restored) == len(original) == 60
    assert rankings(restored) == rankings(original)
    assert all(rankings(original)), "a request that ranks nothing proves little"
    # …and goes on taking in changes as the original does.
    for index in (original, restored):
        for change in tail_changes()[2:]:
            index.apply(change)
    assert rankings(restored) == rankings(original)


def test_a_snapshot_carries_no_replaced_name() -> None:
    index = index_of(state("v1", kind="volunteer", name="张三志愿者"))
    index.apply(state("v1", version=2, kind="volunteer", name="社区志愿服务队"))
    data = snapshot.encode(snapshot.capture(index, MARK))
    assert "张三".encode() not in data
    assert "社区志愿服务队".encode() in data


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a flipped bit in the body
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data.replace(b'"format": 2', b'"format": 3', 1),  # another version
        lambda data: data.replace(b'"lat", "<f8"', b'"lat", "<f4"', 1),  # another layout
        lambda data: b"not a snapshot",
    ],
    ids=["bit flipped", "truncated", "other format", "other layout", "garbage"],
)
def test_a_spoiled_snapshot_is_refused(spoil: object) -> None:
    data = snapshot.encode(snapshot.capture(index_of(*resources(20)), MARK))
    with pytest.raises(snapshot.SnapshotRefused):
        snapshot.decode(spoil(data))  # type: ignore[operator]


def format_1(captured: snapshot.Captured) -> bytes:
    """A snapshot as format 1 wrote it: the body's SHA-256 in the header, no closing digest."""
    parts = dict(captured.sections)
    parts["ids"] = msgspec.json.encode(parts["ids"])
    parts["tables"] = msgspec.json.encode(parts["tables"])
    body = [parts[name] for name in snapshot._SECTIONS]
    header = json.dumps(
        {
            "format": 1,
            "stream": captured.mark.stream,
            "stream_created": captured.mark.created,
            "sequence": captured.mark.sequence,
            "row_layout": snapshot._layout(),
            "sections": [
                [name, len(part)] for name, part in zip(snapshot._SECTIONS, body, strict=True)
            ],
            "sha256": hashlib.sha256(b"".join(body)).hexdigest(),
        }
    ).encode()
    return b"".join([snapshot.MAGIC, struct.pack("<I", len(header)), header, *body])


def test_a_snapshot_of_format_1_is_refused_for_its_format() -> None:
    captured = snapshot.capture(index_of(*resources(20)), MARK)
    with pytest.raises(snapshot.SnapshotRefused, match="format 1, this replica reads 2"):
        snapshot.decode(format_1(captured))


def test_the_closing_digest_covers_the_header() -> None:
    data = snapshot.encode(snapshot.capture(index_of(*resources(20)), MARK))
    assert b'"sequence": 40' in data
    with pytest.raises(snapshot.SnapshotRefused, match="checksum"):
        snapshot.decode(data.replace(b'"sequence": 40', b'"sequence": 30', 1))


def test_a_replaced_name_is_not_carried_into_the_snapshot() -> None:
    index = index_of(*resources(20))
    index.apply(state("s001", version=2, name="旧名字张三"))
    index.apply(state("s001", version=3, name="新名字"))
    captured = snapshot.capture(index, MARK)  # copied as held: the old name's bytes with it
    assert "旧名字张三".encode() in captured.sections["names"]

    data = snapshot.encode(captured)

    assert "旧名字张三".encode() not in data
    names = snapshot.decode(data).columns.names
    assert sorted(names[i] for i in range(len(names))) == sorted(
        index.columns.names[i] for i in range(len(index.columns.names))
    )


def test_a_snapshot_of_another_stream_or_beyond_it_is_refused() -> None:
    with pytest.raises(snapshot.SnapshotRefused):
        snapshot.check_covers(MARK, snapshot.StreamMark(MARK.stream, "2026-02-01", 100))
    with pytest.raises(snapshot.SnapshotRefused):
        snapshot.check_covers(MARK, snapshot.StreamMark(MARK.stream, MARK.created, 39))
    snapshot.check_covers(MARK, snapshot.StreamMark(MARK.stream, MARK.created, 40))


async def caught_up_feed(bus: Bus, *, load_snapshot: bool, batch: int = 4096) -> IndexFeed:
    feed = IndexFeed(ResourceIndex(), load_snapshot=load_snapshot)
    feed.BATCH = batch
    await feed.start(bus)
    await asyncio.wait_for(feed.caught_up.wait(), timeout=10)
    return feed


async def write_snapshot(bus: Bus, feed: IndexFeed) -> None:
    mark = snapshot.resources_mark(feed.stream_created, feed.sequence)
    await snapshot.save(bus.js, snapshot.capture(feed.index, mark))


@pytest.mark.integration
async def test_a_replica_from_snapshot_and_tail_ranks_as_one_that_replayed_everything(
    tmp_path: Path,
) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            await publish(bus, *resources(80))
            first = await caught_up_feed(bus, load_snapshot=True)
            assert first.restored_from == 0, "a snapshot where none was written"
            await write_snapshot(bus, first)
            await publish(bus, *tail_changes())

            restarted = await caught_up_feed(bus, load_snapshot=True, batch=3)
            replayed = await caught_up_feed(bus, load_snapshot=False)
            assert restarted.restored_from == 80
            assert restarted.sequence == replayed.sequence == 87
            assert len(restarted.index) == len(replayed.index) == 81
            assert rankings(restarted.index) == rankings(replayed.index)
            changed = [restarted.index.get(i) for i in ("s001", "s003", "s006")]
            assert [(c.version, c.active, c.capacity_remaining) for c in changed if c] == [
                (2, True, 0),
                (2, False, 10),
                (3, True, 9),
            ]
            await until(lambda: restarted.index.text_backlog() == 0)
            assert restarted.index.text.df == replayed.index.text.df

            # Both follow what comes next alike.
            later = state("s007", version=2, capacity_remaining=4)
            await publish(bus, later)
            for feed in (restarted, replayed):
                await until(lambda f=feed: f.sequence == 88)  # type: ignore[misc]
            assert rankings(restarted.index) == rankings(replayed.index)

            # A snapshot covering the whole stream: caught up with no tail at all.
            await write_snapshot(bus, restarted)
            again = await caught_up_feed(bus, load_snapshot=True)
            assert (again.restored_from, len(again.index)) == (88, 81)
            assert rankings(again.index) == rankings(replayed.index)
        finally:
            await bus.close()


@pytest.mark.integration
@pytest.mark.parametrize("spoiled", ["garbage", "other format", "format 1"])
async def test_a_spoiled_snapshot_in_the_store_falls_back_to_the_full_replay(
    tmp_path: Path, spoiled: str
) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            await publish(bus, *resources(30))
            first = await caught_up_feed(bus, load_snapshot=False)
            mark = snapshot.resources_mark(first.stream_created, first.sequence)
            data = snapshot.encode(snapshot.capture(first.index, mark))
            if spoiled == "garbage":
                data = data[:-100] + bytes(100)
            elif spoiled == "format 1":  # what a replica of the previous release wrote
                data = format_1(snapshot.capture(first.index, mark))
            else:
                data = data.replace(b'"format": 2', b'"format": 99', 1)
            store = await bus.js.object_store(MATCHER_SNAPSHOTS_BUCKET)
            await store.put(snapshot.OBJECT, data)
            await publish(bus, *tail_changes())

            restarted = await caught_up_feed(bus, load_snapshot=True)
            replayed = await caught_up_feed(bus, load_snapshot=False)
            assert restarted.restored_from == 0
            assert len(restarted.index) == len(replayed.index) == 31
            assert rankings(restarted.index) == rankings(replayed.index)
        finally:
            await bus.close()


def stream_of(feed: IndexFeed) -> snapshot.StreamMark:
    return snapshot.resources_mark(feed.stream_created, 0)


async def stored_within(bus: Bus, feed: IndexFeed, sequence: int, timeout: float = 5.0) -> int:
    """The stored snapshot's sequence once it is `sequence` or more (or when `timeout` is over)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (stored := await snapshot.stored_sequence(bus.js, stream_of(feed))) < sequence:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    return stored


@pytest.mark.integration
async def test_a_ready_replica_writes_snapshots_only_after_enough_changes(tmp_path: Path) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            await publish(bus, *resources(20))
            feed = await caught_up_feed(bus, load_snapshot=True)
            writer = asyncio.create_task(
                keep_snapshots(feed, bus.js, interval_s=0.05, min_changes=5)
            )
            try:
                assert await stored_within(bus, feed, 20) == 20
                await publish(bus, *[state(f"s{i:03d}", version=2) for i in range(3)])
                await until(lambda: feed.sequence == 23)
                await asyncio.sleep(0.5)  # ten turns: fewer changes than the bound
                assert await snapshot.stored_sequence(bus.js, stream_of(feed)) == 20
                await publish(bus, *[state(f"s{i:03d}", version=3) for i in range(3)])
                # The writer may take its turn between the fifth change and the sixth.
                assert await stored_within(bus, feed, 25) in (25, 26)
                store = await bus.js.object_store(MATCHER_SNAPSHOTS_BUCKET)
                info = await store.get_info(snapshot.OBJECT)
                assert json.loads(info.description or "{}")["format"] == snapshot.FORMAT
            finally:
                writer.cancel()
        finally:
            await bus.close()


@pytest.mark.integration
async def test_a_snapshot_written_purges_chunks_left_behind_and_names_its_stream(
    tmp_path: Path,
) -> None:
    with running_nats(tmp_path) as url:
        bus = await connected_bus(url)
        try:
            await publish(bus, *resources(20))
            feed = await caught_up_feed(bus, load_snapshot=True)
            left_behind = f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C.cut-short-put"
            await bus.js.publish(left_behind, b"a chunk of a put that never finished")
            await write_snapshot(bus, feed)
            await write_snapshot(bus, feed)  # replaces it

            stream = await bus.js.stream_info(
                MATCHER_SNAPSHOTS_STREAM.name,
                subjects_filter=f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C.>",
            )
            store = await bus.js.object_store(MATCHER_SNAPSHOTS_BUCKET)
            info = await store.get_info(snapshot.OBJECT)
            assert list(stream.state.subjects or {}) == [
                f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C.{info.nuid}"
            ], "only the stored snapshot's chunks are kept"
            assert await snapshot.stored_sequence(bus.js, stream_of(feed)) == 20
            recreated = snapshot.resources_mark("another creation time", 0)
            assert await snapshot.stored_sequence(bus.js, recreated) == 0, "another stream's"
        finally:
            await bus.close()
