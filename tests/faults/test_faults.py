"""Fault tests: real processes are killed and restarted; every count is asserted."""

import asyncio
import time

import httpx
import nats
import pytest

from cli.stack import Stack, free_port
from shared.contracts.matcher import RANK, RankReply, RankRequest
from tests.auth import bearer

JIANGAN = {"lat": 28.7300, "lon": 105.0700}


def _resource(name: str) -> dict[str, object]:
    return {
        "name": name,
        "kind": "volunteer",
        "categories": ["elderly_care.companionship"],
        "location": JIANGAN,
        "radius_km": 20,
        "capacity": {"total": 3},
    }


def _indexed(stack: Stack) -> int:
    return int(
        httpx.get(f"{stack.url('matcher')}/index", timeout=5, headers=bearer()).json()["resources"]
    )


def _wait_indexed(stack: Stack, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _indexed(stack) < count:
        assert time.monotonic() < deadline, f"matcher has {_indexed(stack)} of {count}"
        time.sleep(0.2)


@pytest.mark.integration
def test_writes_survive_nats_down_and_a_killed_service(own_stack: Stack) -> None:
    """NATS is down: writes still succeed. The service is then killed before it could publish.
    After NATS and the service come back, every event goes out exactly once."""
    stack = own_stack
    stack.stop_process("nats")
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for i in range(20):
            created = client.post(f"{stack.url('resources')}/resources", json=_resource(f"队{i}"))
            assert created.status_code == 201, created.text
    stack.stop_process("resources", kill=True)
    stack.start_nats()
    stack.start_service("resources")
    stack.wait_ready()
    _wait_indexed(stack, 20)
    status = httpx.get(f"{stack.url('matcher')}/index", timeout=5, headers=bearer()).json()
    assert status["resources"] == 20
    assert status["events_applied"] == 20, "an event was applied twice or lost"
    metrics = httpx.get(f"{stack.url('resources')}/metrics", timeout=5).text
    assert 'lianjie_outbox_backlog{service="resources"} 0.0' in metrics


async def _rank_load(url: str, total: int, concurrency: int) -> tuple[int, int]:
    """Send `total` rank requests; count answers and failures (each retried once)."""
    nc = await nats.connect(url)
    query = RankRequest(category="elderly_care.companionship", lat=28.73, lon=105.07)
    answered = failed = 0
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        nonlocal answered, failed
        async with gate:
            for attempt in range(2):
                try:
                    msg = await nc.request(RANK, query.model_dump_json().encode(), timeout=2)
                    RankReply.model_validate_json(msg.data)
                    answered += 1
                    return
                except Exception:  # counted below
                    if attempt == 1:
                        failed += 1
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(total)))
    await nc.drain()
    return answered, failed


@pytest.mark.integration
def test_killing_one_of_two_matcher_replicas_mid_load_loses_no_request(
    own_stack: Stack,
) -> None:
    stack = own_stack
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for i in range(5):
            client.post(f"{stack.url('resources')}/resources", json=_resource(f"陪伴{i}"))
    _wait_indexed(stack, 5)
    stack.start_service("matcher", name="matcher-2", port=free_port())
    time.sleep(0.5)

    async def scenario() -> tuple[int, int]:
        load = asyncio.create_task(_rank_load(stack.nats_url, total=600, concurrency=16))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(stack.stop_process, "matcher-2", kill=True)
        return await load

    answered, failed = asyncio.run(scenario())
    assert (answered, failed) == (600, 0)
