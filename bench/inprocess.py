"""The matcher in-process: index build time, memory per resource, ranking latency."""

import gc
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import TopK
from bench.latency import Summary, now, summarize
from services.matcher.service import Ranker
from services.matcher.settings import MatcherSettings
from shared.contracts.matcher import RankReply, RankRequest
from shared.contracts.resources import ResourceUpserted
from shared.settings import CommonSettings


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
    """How long the index took to build from the stream's bytes, and the memory it holds."""

    resources: int
    apply_s: float
    rebuild_s: float
    rss_delta_bytes: int

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
            "rss_delta_bytes": self.rss_delta_bytes,
            "bytes_per_resource": round(self.bytes_per_resource, 1),
        }


def build_ranker(states: list[ResourceUpserted]) -> tuple[Ranker, BuildStats]:
    """Build the index as a starting matcher does: decode each stream message, apply it, then
    rebuild every shard. Timed and measured from the encoded messages, so the memory counted
    is everything the index keeps (the decoded states included)."""
    messages = [state.model_dump_json().encode() for state in states]
    ranker = Ranker(bench_settings())
    gc.collect()
    before = rss_bytes()
    start = now()
    for message in messages:
        ranker.index.apply(ResourceUpserted.model_validate_json(message))
    applied = now()
    ranker.index.rebuild_all()
    rebuilt = now()
    gc.collect()
    # Measured while the messages are still alive: freeing them first could hand their pages
    # back to the OS and make the index look smaller than it is.
    stats = BuildStats(len(states), applied - start, rebuilt - applied, rss_bytes() - before)
    del messages
    return ranker, stats


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
