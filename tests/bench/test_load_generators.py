"""The bench's NATS load generators say what they measure: an open loop counts queueing from
each request's scheduled send time, and a closed loop's throughput is what it claims."""

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from bench import data
from bench.cluster import Cluster, publish_states
from bench.nats_load import run_open_loop, schedule
from shared.contracts.matcher import RANK, RankRequest
from shared.contracts.streams import RESOURCES_STREAM

SERVICE_TIME_S = 0.01  # the stand-in matcher answers one request per 10 ms: 100/s at most


def test_an_even_schedule_offers_exactly_the_rate() -> None:
    times = schedule(rate=2000, seconds=10, poisson=False, seed=1)

    assert 19_998 <= len(times) <= 20_000
    assert times == sorted(times) and times[-1] < 10


def test_poisson_arrivals_offer_the_rate_on_average() -> None:
    times = schedule(rate=2000, seconds=10, poisson=True, seed=1)
    gaps = [b - a for a, b in itertools.pairwise(times)]

    assert 19_400 <= len(times) <= 20_600
    assert max(gaps) > 5 * (1 / 2000), "bursts and lulls, unlike an even schedule"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(service_env={}, sync_interval=None) as running:
        yield running


@pytest.fixture(scope="module")
def needs() -> list[RankRequest]:
    return data.load(seed=5, province="51", size=10, queries=20).needs


async def _open_loop_against_a_slow_responder(
    url: str, needs: list[RankRequest], *, rate: float
) -> tuple[float, float, float]:
    responder = await nats.connect(url)

    async def answer(msg: Msg) -> None:  # nats-py awaits one callback before the next
        await asyncio.sleep(SERVICE_TIME_S)
        await msg.respond(b'{"results": []}')

    await responder.subscribe(RANK, cb=answer)
    await responder.flush()
    try:
        result = await run_open_loop(url, needs, replicas=1, rate=rate, seconds=1.0, seed=3)
    finally:
        await responder.close()
    return result.latency.p50_ms, result.latency.max_ms, result.achieved_per_s


@pytest.mark.integration
def test_open_loop_below_capacity_sees_the_service_time(
    cluster: Cluster, needs: list[RankRequest]
) -> None:
    p50, _, achieved = asyncio.run(
        _open_loop_against_a_slow_responder(cluster.nats_url, needs, rate=30)
    )

    # The service time (10 ms) and no queue: bounds loose enough for a busy machine's
    # scheduling delays, still well apart from the queue the test below sees (p50 > 200 ms).
    assert 9 <= p50 < 150
    assert 15 <= achieved <= 40


@pytest.mark.integration
def test_open_loop_beyond_capacity_counts_the_queue(
    cluster: Cluster, needs: list[RankRequest]
) -> None:
    """Offered 200/s against 100/s: the queue grows for the whole second, and the latency from
    the scheduled send time shows it (a closed loop would have reported ~10 ms)."""
    p50, worst, achieved = asyncio.run(
        _open_loop_against_a_slow_responder(cluster.nats_url, needs, rate=200)
    )

    assert p50 > 200
    assert worst > 600
    assert achieved < 130


@pytest.mark.integration
def test_the_stream_survives_a_restart_with_another_sync_policy(cluster: Cluster) -> None:
    states = data.load(seed=6, province="51", size=300, queries=1).resources

    async def held() -> int:
        nc = await nats.connect(cluster.nats_url)
        try:
            info = await nc.jetstream().stream_info(RESOURCES_STREAM.name)
            return int(info.state.messages)
        finally:
            await nc.close()

    asyncio.run(publish_states(cluster.nats_url, states))
    cluster.restart_nats(sync_interval="always")

    config = Path(cluster.stack.config.var_dir / "nats" / "nats.conf").read_text()
    assert 'sync_interval: "always"' in config
    assert asyncio.run(held()) == len(states)
