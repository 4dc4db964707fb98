"""The matcher over NATS request-reply (`lianjie.matcher.rank.v1`, queue group `matcher`):
latency one request at a time, then latency and throughput under a concurrent load."""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import nats

from bench.data import TopK
from bench.latency import Summary, now, summarize
from shared.contracts.matcher import RANK, RankRequest
from shared.messaging import STATUS_HEADER

REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LoadResult:
    """One run: how many requests were in flight, their latencies, and the rate achieved."""

    replicas: int
    concurrency: int
    latency: Summary
    ranks_per_s: float
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "concurrency": self.concurrency,
            "latency": self.latency.as_dict(),
            "ranks_per_s": round(self.ranks_per_s, 1),
            "errors": self.errors,
        }


def _top_k(data: bytes) -> TopK:
    return [(r["resource_id"], r["score"]) for r in json.loads(data)["results"]]


async def run_load(
    nats_url: str,
    needs: list[RankRequest],
    *,
    replicas: int,
    concurrency: int,
    sample: int = 0,
) -> tuple[LoadResult, list[TopK]]:
    """Send every need once with `concurrency` requests in flight; the answers to the first
    `sample` needs are decoded for the agreement check."""
    payloads = [need.model_dump_json().encode() for need in needs]
    answers: dict[int, TopK] = {}
    timings: list[float] = []
    errors = 0
    nc = await nats.connect(nats_url)
    try:
        for payload in payloads[:20]:  # warm up the connection and the replicas
            await nc.request(RANK, payload, timeout=REQUEST_TIMEOUT_S)
        queue = iter(range(len(payloads)))

        async def worker() -> None:
            nonlocal errors
            for i in queue:
                start = now()
                try:
                    msg = await nc.request(RANK, payloads[i], timeout=REQUEST_TIMEOUT_S)
                except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    errors += 1
                    continue
                timings.append(now() - start)
                if msg.headers and msg.headers.get(STATUS_HEADER):
                    errors += 1
                elif i < sample:
                    answers[i] = _top_k(msg.data)

        began = now()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = now() - began
    finally:
        await nc.close()
    result = LoadResult(replicas, concurrency, summarize(timings), len(timings) / elapsed, errors)
    return result, [answers.get(i, []) for i in range(min(sample, len(payloads)))]
