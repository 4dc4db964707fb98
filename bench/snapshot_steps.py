"""Where a restarted replica's time goes at scale, in-process: a snapshot of an index built from
the bench's data is captured, encoded, decoded and restored, the stream's tail applied and the
shards built, each step timed (`python -m bench.snapshot_steps --size 1000000`).

The resources' messages are generated once and kept in a file (`--messages`), so runs of two
versions of the code (before and after a change, interleaved) read the same data.
"""

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from bench import data
from bench.inprocess import FEED_BATCH
from bench.restart import changed
from services.matcher import snapshot
from services.matcher.decode import State, decode_many
from services.matcher.index import ResourceIndex
from shared.contracts.resources import ResourceUpserted

MARK = snapshot.StreamMark("LIANJIE_RESOURCES", "2026-01-01 00:00:00+00:00", 1)


def messages(path: Path, *, size: int, seed: int, province: str) -> list[bytes]:
    """The resources' messages, generated on first use and kept in `path`."""
    if path.exists():
        found: list[bytes] = msgspec.msgpack.decode(path.read_bytes(), type=list[bytes])
        if len(found) == size:
            return found
    resources = data.load(seed=seed, province=province, size=size, queries=1).resources
    encoded = [state.model_dump_json().encode() for state in resources]
    path.write_bytes(msgspec.msgpack.encode(encoded))
    return encoded


def built(encoded: list[bytes]) -> ResourceIndex:
    """The index a replica builds from the whole stream (before its shards)."""
    index = ResourceIndex()
    index.defer_rebuilds()
    for i in range(0, len(encoded), FEED_BATCH):
        index.apply_many(
            [s for s in decode_many(encoded[i : i + FEED_BATCH]) if isinstance(s, State)]
        )
    return index


def steps(index: ResourceIndex, tail: list[bytes]) -> dict[str, float]:
    """Seconds of each step from an index to a restored replica ready to answer."""
    times: dict[str, float] = {}

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        gc.collect()
        start = time.perf_counter()
        yield
        times[name] = round(time.perf_counter() - start, 3)

    with timed("capture"):
        captured = snapshot.capture(index, MARK)
    with timed("encode"):
        encoded = snapshot.encode(captured)
    times["mb"] = round(len(encoded) / 1e6, 1)
    received = bytearray(encoded)  # as `_read` hands it over
    del captured, encoded
    with timed("decode"):
        found = snapshot.decode(received)
    del received
    restored = ResourceIndex()
    with timed("restore"):
        restored.restore(found.columns)
    del found
    with timed("tail"):
        for i in range(0, len(tail), FEED_BATCH):
            batch = decode_many(tail[i : i + FEED_BATCH])
            restored.apply_many([s for s in batch if isinstance(s, State)])
    with timed("rebuild_all"):
        restored.rebuild_all()
    times["ready"] = round(sum(times[s] for s in ("decode", "restore", "tail", "rebuild_all")), 3)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--province", default="51")
    p.add_argument("--messages", type=Path, help="kept messages (default: one file a dataset)")
    p.add_argument("--tail-share", type=float, default=0.01)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    kept = args.messages or Path(tempfile.gettempdir()) / (
        f"lianjie-snapshot-steps-{args.province}-{args.seed}-{args.size}.msgpack"
    )
    encoded = messages(kept, size=args.size, seed=args.seed, province=args.province)
    resources = [
        ResourceUpserted.model_validate_json(m) for m in encoded[:: round(1 / args.tail_share)]
    ]
    tail = [r.model_dump_json().encode() for r in changed(resources, 1.0)]
    del resources
    index = built(encoded)
    del encoded
    gc.collect()
    for _ in range(args.repeat):
        print(json.dumps(steps(index, tail)), flush=True)


if __name__ == "__main__":
    main()
