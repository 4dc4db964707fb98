"""The matcher in-process: index build time, memory per resource, ranking latency."""

import gc
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from pydantic import ValidationError

from bench import balltree
from bench.data import TopK
from bench.latency import Summary, now, summarize
from services.matcher.decode import State, decode_many
from services.matcher.events import IndexFeed
from services.matcher.index import ResourceIndex
from services.matcher.service import Ranker
from services.matcher.settings import MatcherSettings
from shared.contracts.matcher import RankReply, RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.settings import CommonSettings

FEED_BATCH = IndexFeed.BATCH


def bench_settings() -> MatcherSettings:
    """The matcher's settings (weights from the environment, as a replica reads them), with a
    var folder of its own: no trained re-ranker model, so the hand score alone orders."""
    nowhere = Path(tempfile.gettempdir()) / f"lianjie-bench-{uuid.uuid4().hex}"  # never created
    common = CommonSettings(var_dir=nowhere)
    return MatcherSettings(common=common)


def rss_bytes() -> int:
    """This process's resident set size, from /proc/self/status (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


@dataclass(frozen=True)
class BuildStats:
    """How long the index took to build from the stream's bytes, beside the floor (the same
    messages merely decoded by the fastest JSON decoder here), and the memory it holds."""

    resources: int
    apply_s: float
    rebuild_s: float
    rss_delta_bytes: int
    floor_s: float = 0.0  # the fastest of `FLOOR_DECODERS` over the same messages
    floor_decoder: str = ""
    text_s: float = 0.0  # counting the texts in, after ready (in the background in a replica)
    held_bytes: int = 0  # what the index's structures hold, counted object by object

    @property
    def build_s(self) -> float:
        return self.apply_s + self.rebuild_s

    @property
    def bytes_per_resource(self) -> float:
        return self.rss_delta_bytes / self.resources if self.resources else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "apply_s": round(self.apply_s, 3),
            "rebuild_s": round(self.rebuild_s, 3),
            "build_s": round(self.build_s, 3),
            "decode_floor_s": round(self.floor_s, 3),
            "decode_floor_decoder": self.floor_decoder,
            "build_over_floor": round(self.build_s / self.floor_s, 2) if self.floor_s else None,
            "text_after_ready_s": round(self.text_s, 3),
            "rss_delta_bytes": self.rss_delta_bytes,
            "bytes_per_resource": round(self.bytes_per_resource, 1),
            "held_bytes_per_resource": round(self.held_bytes / self.resources, 1)
            if self.resources
            else 0.0,
        }


def _floor_decoders() -> dict[str, Callable[[bytes], Any]]:
    """JSON decoders to plain values (no validation, nothing kept): the floor of any build."""
    decoders: dict[str, Callable[[bytes], Any]] = {"msgspec": msgspec.json.Decoder().decode}
    try:
        import orjson

        decoders["orjson"] = orjson.loads
    except ImportError:  # the bench extra brings it; without it the floor is msgspec's alone
        pass
    return decoders


def decode_floor(chunks: Iterable[list[bytes]]) -> tuple[float, str]:
    """Seconds the fastest decoder takes over every message (each decoder timed on each chunk)."""
    decoders = _floor_decoders()
    spent = dict.fromkeys(decoders, 0.0)
    for chunk in chunks:
        for name, decode in decoders.items():
            start = now()
            for message in chunk:
                decode(message)
            spent[name] += now() - start
    fastest = min(spent, key=spent.__getitem__)
    return spent[fastest], fastest


def build_ranker(
    states: list[ResourceUpserted] | None = None,
    *,
    chunks: Iterable[list[bytes]] | None = None,
    text: bool = True,
) -> tuple[Ranker, BuildStats]:
    """Build the index as a starting matcher replays the stream (`IndexFeed`): the messages
    decoded and applied in batches, then every shard built; timed from the encoded messages,
    beside the decode floor measured on the same messages. `chunks` (lists of messages) stream
    a size too large to hold encoded at once; each chunk is dropped before the next. The memory
    counted is everything the index keeps; the texts are counted in afterwards (a replica does
    that after it is ready), timed on their own."""
    if chunks is None:
        messages = [state.model_dump_json().encode() for state in states or []]
        chunks = [
            messages[i : i + FEED_BATCH * 64] for i in range(0, len(messages), FEED_BATCH * 64)
        ]
        del messages
    ranker = Ranker(bench_settings())
    index = ranker.index
    gc.collect()
    before = rss_bytes()
    apply_s = floor_s = 0.0
    floors: dict[str, float] = {}
    for chunk in chunks:
        start = now()
        for i in range(0, len(chunk), FEED_BATCH):
            index.apply_many(_valid(decode_many(chunk[i : i + FEED_BATCH])))
            gc.freeze()  # as the feed does after each batch
        apply_s += now() - start
        chunk_floor, decoder = decode_floor([chunk])
        floors[decoder] = floors.get(decoder, 0.0) + chunk_floor
        floor_s += chunk_floor
        del chunk
    start = now()
    index.rebuild_all()
    rebuild_s = now() - start
    start = now()
    if text:
        index.count_text()
    text_s = now() - start
    gc.collect()
    stats = BuildStats(
        len(index), apply_s, rebuild_s, rss_bytes() - before, floor_s,
        max(floors, key=floors.__getitem__) if floors else "", text_s, held_bytes(index),
    )  # fmt: skip
    return ranker, stats


def held_bytes(index: ResourceIndex) -> int:
    """Bytes the index's structures hold: arrays, and every Python object it keeps (ids, names,
    the slot map and its numbers, division sets, shared values, document frequencies). Not
    the allocator's free lists, which the RSS delta counts (and a process that freed memory
    before hides)."""
    columns = index.columns
    size = sys.getsizeof
    total = columns.in_use().nbytes + _deep(columns.ids) + columns.names.nbytes()
    total += size(columns.slots) + sum(map(size, columns.slots.values()))
    for by_reach in index.shards.values():
        for shard in by_reach.values():
            total += shard.keys.nbytes + shard.slots.nbytes + shard.versions.nbytes
            total += _deep(shard.pending)
    total += size(index.by_adcode) + sum(_deep(slots) for slots in index.by_adcode.values())
    for interned in (columns.categories, columns.adcodes, columns.groups, columns.descriptions):
        total += _deep(interned.values)
    total += _deep(index._text.df)  # not `text`: that would count the backlog in first
    return total


def _deep(container: Any) -> int:
    """A container and the objects it holds (one level: strings, numbers, small tuples)."""
    return sys.getsizeof(container) + sum(map(sys.getsizeof, container))


def _valid(decoded: list[State | ValidationError]) -> list[State]:
    return [d for d in decoded if not isinstance(d, ValidationError)]


def top_k(reply: RankReply) -> TopK:
    return [(r.resource_id, r.score) for r in reply.results]


def measure(
    ranker: Ranker, needs: list[RankRequest], *, sample: int, warmup: int = 20
) -> tuple[Summary, list[TopK]]:
    """Latency of `Ranker.rank` over every need, and the answers to the first `sample`."""
    for need in needs[:warmup]:
        ranker.rank(need)
    timings: list[float] = []
    answers: list[TopK] = []
    for i, need in enumerate(needs):
        start = now()
        reply = ranker.rank(need)
        timings.append(now() - start)
        if i < sample:
            answers.append(top_k(reply))
    return summarize(timings), answers


SPREAD = {  # name in the spread → how to read it from one run
    "build_s": lambda run: run["build"]["build_s"],
    "decode_floor_s": lambda run: run["build"]["decode_floor_s"],
    "build_over_floor": lambda run: run["build"]["build_over_floor"],
    "text_after_ready_s": lambda run: run["build"]["text_after_ready_s"],
    "bytes_per_resource": lambda run: run["build"]["bytes_per_resource"],
    "held_bytes_per_resource": lambda run: run["build"]["held_bytes_per_resource"],
    "p50_ms": lambda run: run["latency"]["p50_ms"],
    "p99_ms": lambda run: run["latency"]["p99_ms"],
    "balltree_p50_ms": lambda run: run["balltree"]["p50_ms"],
    "p50_over_balltree_p50": lambda run: round(
        run["latency"]["p50_ms"] / run["balltree"]["p50_ms"], 2
    ),
}


def spread(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """min / median / max of each figure over the runs, and every run's value."""
    result = {}
    for name, read in SPREAD.items():
        values = [read(run) for run in runs]
        result[name] = {
            "min": min(values),
            "median": float(np.median(values)),
            "max": max(values),
            "runs": values,
        }
    return result


def measure_runs(
    chunks: Callable[[], Iterable[list[bytes]]] | list[ResourceUpserted],
    needs: list[RankRequest],
    *,
    sample: int,
    repeat: int,
) -> tuple[Ranker, dict[str, Any], list[TopK]]:
    """Build and rank `repeat` times, each beside the same-run floors (decode, BallTree); the
    ranker of the last run, the section's results with their spread, the last run's answers."""
    runs: list[dict[str, Any]] = []
    tree = None
    for run in range(repeat):
        if isinstance(chunks, list):
            ranker, build = build_ranker(chunks)
        else:
            ranker, build = build_ranker(chunks=chunks())
        latency, reference = measure(ranker, needs, sample=sample)
        if tree is None:
            tree, tree_build_s = balltree.tree_of(ranker.index.columns.in_use())
        floor = balltree.measure(tree, needs)
        runs.append(
            {"build": build.as_dict(), "latency": latency.as_dict(), "balltree": floor.as_dict()}
        )
        if run < repeat - 1:
            del ranker
            gc.unfreeze()
            gc.collect()
    del tree
    section = {
        **runs[-1],
        "runs": len(runs),
        "spread": spread(runs),
        "balltree_build_s": round(tree_build_s, 2),
    }
    return ranker, section, reference
