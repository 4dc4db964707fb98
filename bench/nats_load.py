"""The matcher over NATS request-reply (`lianjie.matcher.rank.v1`, queue group `matcher`):
latency one request at a time; throughput with N requests in flight (closed loop: a new request
only when one is answered, so its latencies are mostly queueing in the generator); latency at a
fixed offered rate (open loop), which is what the issue's latency targets under load mean."""

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.data import TopK
from bench.latency import Summary, now, summarize
from shared.contracts.matcher import RANK, RankRequest
from shared.messaging import STATUS_HEADER

REQUEST_TIMEOUT_S = 10.0
DRAIN_S = 300.0  # the longest an open loop waits for the replicas to work off the last one


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


@dataclass(frozen=True)
class OpenLoopResult:
    """Requests sent on a schedule fixed in advance, whatever the answers do. Each latency is
    counted from the request's scheduled send time, not from when it was actually sent: a
    generator or a system that falls behind shows as latency instead of hiding it (coordinated
    omission). A request unanswered within REQUEST_TIMEOUT_S counts with the time it waited (a
    lower bound) and as a timeout: dropping it would flatter the percentiles. `send_lag` says how
    late the generator itself sent; `errors` are problem replies and no responders."""

    replicas: int
    offered_per_s: float
    seconds: float
    arrivals: str
    latency: Summary
    send_lag: Summary
    achieved_per_s: float
    timeouts: int
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "offered_per_s": self.offered_per_s,
            "seconds": self.seconds,
            "arrivals": self.arrivals,
            "latency": self.latency.as_dict(),
            "send_lag": self.send_lag.as_dict(),
            "achieved_per_s": round(self.achieved_per_s, 1),
            "timeouts": self.timeouts,
            "errors": self.errors,
        }


def schedule(*, rate: float, seconds: float, poisson: bool, seed: int) -> list[float]:
    """Send times in seconds from the start: Poisson arrivals at `rate`, or evenly spaced."""
    rng = random.Random(seed)
    times: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate) if poisson else 1.0 / rate
        if t >= seconds:
            return times
        times.append(t)


class _Tally:
    """Replies of the open loop, matched to their requests by the reply subject's last token:
    latencies from the scheduled send times, how late each request went out, how each ended.
    One subscription for all replies, no task or timer per request, so the generator stays
    cheap and keeps to its schedule."""

    def __init__(self, scheduled: list[float]) -> None:
        self.scheduled = scheduled
        self.unanswered = set(range(len(scheduled)))
        self.timings: list[float] = []
        self.lags: list[float] = []
        self.answered = self.errors = 0
        self.last_answer = 0.0
        self.done = asyncio.Event()

    async def on_reply(self, msg: Msg) -> None:
        i = int(msg.subject.rsplit(".", 1)[1])
        if i not in self.unanswered:
            return
        self.unanswered.discard(i)
        headers = msg.headers or {}
        if headers.get(STATUS_HEADER) or headers.get("Status"):  # a problem, or no responders
            self.errors += 1
        else:
            self.last_answer = now()
            self.answered += 1
            self.timings.append(self.last_answer - self.scheduled[i])
        if not self.unanswered:
            self.done.set()

    def censor_unanswered(self) -> int:
        """Count what never came back with the time it has waited (a lower bound)."""
        waited = now()
        self.timings.extend(waited - self.scheduled[i] for i in self.unanswered)
        return len(self.unanswered)


async def _send_on_schedule(
    nc: nats.NATS, payloads: list[bytes], tally: _Tally, inbox: str
) -> None:
    for i, scheduled in enumerate(tally.scheduled):
        ahead = scheduled - now()
        if ahead > 0:
            await asyncio.sleep(ahead)
        elif i % 32 == 0:  # behind: still let replies in now and then; the lateness counts
            await asyncio.sleep(0)
        tally.lags.append(now() - scheduled)
        await nc.publish(RANK, payloads[i % len(payloads)], reply=f"{inbox}.{i}")
    await nc.flush()


async def _drained(nc: nats.NATS, payload: bytes) -> None:
    """Wait until the replicas answer again: an offered rate they could not keep up with (the
    2,000/s run before a sweep) leaves requests queued in them for a while after it ends."""
    deadline = now() + DRAIN_S
    while True:
        try:
            await nc.request(RANK, payload, timeout=REQUEST_TIMEOUT_S)
            return
        except nats.errors.TimeoutError:
            if now() > deadline:
                raise


async def run_open_loop(
    nats_url: str,
    needs: list[RankRequest],
    *,
    replicas: int,
    rate: float,
    seconds: float,
    poisson: bool = True,
    seed: int = 0,
) -> OpenLoopResult:
    """Offer `rate` rank requests per second for `seconds`, cycling through the needs; wait
    REQUEST_TIMEOUT_S after the last for the stragglers."""
    payloads = [need.model_dump_json().encode() for need in needs]
    offsets = schedule(rate=rate, seconds=seconds, poisson=poisson, seed=seed)
    nc = await nats.connect(nats_url)
    try:
        await _drained(nc, payloads[0])
        for payload in payloads[:20]:  # warm up the connection and the replicas
            await nc.request(RANK, payload, timeout=REQUEST_TIMEOUT_S)
        inbox = nc.new_inbox()
        start = now() + 0.05
        tally = _Tally([start + offset for offset in offsets])
        await nc.subscribe(f"{inbox}.*", cb=tally.on_reply)
        await _send_on_schedule(nc, payloads, tally, inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tally.done.wait(), timeout=REQUEST_TIMEOUT_S)
        timeouts = tally.censor_unanswered()
    finally:
        await nc.close()
    elapsed = tally.last_answer - start
    return OpenLoopResult(
        replicas=replicas,
        offered_per_s=rate,
        seconds=seconds,
        arrivals="poisson" if poisson else "evenly spaced",
        latency=summarize(tally.timings),
        send_lag=summarize(tally.lags),
        achieved_per_s=tally.answered / elapsed if elapsed > 0 else 0.0,
        timeouts=timeouts,
        errors=tally.errors,
    )
