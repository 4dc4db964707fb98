"""A restarted replica: ready from the latest index snapshot and the stream's tail after it,
beside one replaying the whole stream, each started `repeat` times in the same run (the decode
floor of the in-process section is the third figure beside them).

The first replica (started by the bench with a short snapshot interval) writes the snapshot
once it is ready; then a tail of changed states is published (a share of the resources, as
changes between two snapshots would be), and replicas are started and stopped in turn, one
loading the snapshot, one told not to (LIANJIE_MATCHER_SNAPSHOT_LOAD=false).
"""

import asyncio
import re
from typing import Any

import nats
import numpy as np

from bench.cluster import Cluster, publish_states
from services.matcher import snapshot
from shared.contracts.resources import ResourceUpserted
from shared.contracts.streams import RESOURCES_STREAM

SNAPSHOT_WAIT_S = 600.0
FIRST_REPLICA_ENV = {
    # The bench's first replica writes one snapshot soon after it is ready, then no more: the
    # tail published after it stays below this many changes.
    "LIANJIE_MATCHER_SNAPSHOT_INTERVAL_S": "2",
    "LIANJIE_MATCHER_SNAPSHOT_MIN_CHANGES": "100000000",
}
_RESTARTED = {"LIANJIE_MATCHER_SNAPSHOT_INTERVAL_S": "0"}  # they write none
_READ = re.compile(r"index snapshot read: [\d.]+ MB in ([\d.]+) s, decoded in ([\d.]+) s")


def snapshot_read(cluster: Cluster, name: str) -> tuple[float, float] | None:
    """Seconds replica `name` took to read its snapshot and to decode it, from its own log
    (`snapshot.load`'s line); None if it logged none."""
    found = _READ.search((cluster.log_path / f"{name}.log").read_text("utf-8", "replace"))
    return (float(found[1]), float(found[2])) if found else None


async def wait_for_snapshot(nats_url: str) -> tuple[int, int]:
    """The stored snapshot's sequence once it covers the whole stream, and the stream's last."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(RESOURCES_STREAM.name)
        last = info.state.last_seq
        mark = snapshot.resources_mark(info.created, last)  # the replicas' own mark of it
        for _ in range(int(SNAPSHOT_WAIT_S * 2)):
            stored = await snapshot.stored_sequence(js, mark)
            if stored >= last:
                store = await js.object_store(snapshot.MATCHER_SNAPSHOTS_BUCKET)
                stored_info = await store.get_info(snapshot.OBJECT)
                return stored, int(stored_info.size or 0)
            await asyncio.sleep(0.5)
        raise TimeoutError(f"no snapshot covering sequence {last} within {SNAPSHOT_WAIT_S:g}s")
    finally:
        await nc.close()


def changed(resources: list[ResourceUpserted], share: float) -> list[ResourceUpserted]:
    """A new version of every n-th resource (`share` of them): fewer places left."""
    step = max(1, round(1 / share))
    return [
        r.model_copy(
            update={"version": r.version + 1, "capacity_remaining": r.capacity_remaining // 2}
        )
        for r in resources[::step]
    ]


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(values), 2),
        "median": round(float(np.median(values)), 2),
        "max": round(max(values), 2),
        "runs": [round(v, 2) for v in values],
    }


async def measure(
    cluster: Cluster, resources: list[ResourceUpserted], *, repeat: int, tail_share: float
) -> dict[str, Any]:
    """Seconds until a restarted replica is ready, from the snapshot and tail and by the full
    replay, `repeat` times each, alternating."""
    sequence, size = await wait_for_snapshot(cluster.nats_url)
    tail = changed(resources, tail_share)
    await publish_states(cluster.nats_url, tail)
    from_snapshot: list[float] = []
    full_replay: list[float] = []
    restored_from: list[float | None] = []
    read_decode: list[tuple[float, float]] = []
    for _ in range(repeat):
        for env, times in (
            (_RESTARTED, from_snapshot),
            ({**_RESTARTED, "LIANJIE_MATCHER_SNAPSHOT_LOAD": "false"}, full_replay),
        ):
            ready_s = await asyncio.to_thread(cluster.start_matcher, env)
            name = cluster.newest_matcher()
            if times is from_snapshot:
                restored_from.append(cluster.metric(name, "lianjie_matcher_index_restored_from"))
            times.append(ready_s)
            cluster.stop_matcher(name)  # its log written out (lines are written in batches)
            if times is from_snapshot and (phases := snapshot_read(cluster, name)):
                read_decode.append(phases)
    if any(value != sequence for value in restored_from):
        raise RuntimeError(f"a replica did not start from the snapshot: {restored_from}")
    return {
        "snapshot_sequence": sequence,
        "snapshot_mb": round(size / 1e6, 1),
        "tail_messages": len(tail),
        "snapshot_and_tail_ready_s": _spread(from_snapshot),
        "full_replay_ready_s": _spread(full_replay),
        # Where a snapshot start's time goes, from the replicas' logs (not the tail and build).
        "snapshot_read_s": _spread([read for read, _ in read_decode]) if read_decode else None,
        "snapshot_decode_s": _spread([dec for _, dec in read_decode]) if read_decode else None,
        "snapshot_over_full_replay": round(
            float(np.median(from_snapshot)) / float(np.median(full_replay)), 3
        ),
    }
