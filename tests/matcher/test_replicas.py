"""The matcher as running processes on a real nats-server: replicas in one queue group share
rank requests, and a restarted matcher ranks exactly as before once it reports ready."""

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import nats
import pytest

from cli.stack import Stack, free_port
from services.matcher.learning import examples_from, train_reranker
from services.matcher.reranker import model_path, save_reranker
from shared.contracts.matcher import RANK, RankReply, RankRequest
from tests.auth import bearer
from tests.matcher.outcomes import WEIGHTS, referral_events

PLACES = [(28.7300, 105.0700), (28.7450, 105.0800), (28.7600, 105.0500), (28.7000, 105.1000)]
NEEDS = [
    RankRequest(category="legal_aid.consultation", lat=28.74, lon=105.07, k=20),
    RankRequest(category="legal_aid", lat=28.73, lon=105.06, k=20, text="法律咨询 维权"),
    RankRequest(category="legal_aid.consultation", lat=28.75, lon=105.08, quantity=2, k=3),
]


def register_resources(stack: Stack) -> set[str]:
    """Six legal-aid resources, of the exact category and of its parent, at several places."""
    ids = set()
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for i in range(6):
            lat, lon = PLACES[i % len(PLACES)]
            body: dict[str, Any] = {
                "name": f"复现测试法律服务点{i}",
                "kind": "charity",
                "categories": ["legal_aid.consultation"] if i % 2 else ["legal_aid"],
                "description": "法律咨询 维权" if i % 3 else "诉讼代理",
                "location": {"lat": lat + i * 0.001, "lon": lon},
                "radius_km": 8 + i,
                "capacity": {"total": 3 + i, "unit": "persons", "period": "month"},
            }
            response = client.post(f"{stack.url('resources')}/resources", json=body)
            assert response.status_code == 201, response.text
            ids.add(response.json()["id"])
    return ids


async def ask(url: str, requests: list[RankRequest]) -> list[RankReply]:
    """Ask `lianjie.matcher.rank.v1` over NATS, as any client would."""
    nc = await nats.connect(url, connect_timeout=5)
    try:
        replies = []
        for request in requests:
            msg = await nc.request(RANK, request.model_dump_json().encode(), timeout=5)
            replies.append(RankReply.model_validate_json(msg.data))
        return replies
    finally:
        await nc.close()


def ranked_ids(reply: RankReply) -> set[str]:
    return {r.resource_id for r in reply.results}


def rankings_once_indexed(stack: Stack, registered: set[str]) -> list[RankReply]:
    """The replies to NEEDS once every registered resource has reached the matcher."""
    deadline = time.monotonic() + 15
    while True:
        replies = asyncio.run(ask(stack.nats_url, NEEDS))
        if registered <= ranked_ids(replies[0]):
            return replies
        assert time.monotonic() < deadline, "the resources never reached the matcher"
        time.sleep(0.2)


def wait_for_replica(stack: Stack, name: str, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2, headers=bearer()) as client:
        while time.monotonic() < deadline:
            assert stack.processes[name].popen.poll() is None, f"{name} exited"
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise TimeoutError(f"{name} was not ready within {timeout:g}s")


@pytest.mark.integration
def test_two_matchers_in_one_queue_group_both_answer_rank_requests(stack: Stack) -> None:
    port = free_port()
    replica_url = f"http://127.0.0.1:{port}"
    stack.start_service("matcher", name="matcher-2", port=port)
    try:
        wait_for_replica(stack, "matcher-2", replica_url)
        replies = asyncio.run(ask(stack.nats_url, [NEEDS[0]] * 60))
        with httpx.Client(timeout=5, headers=bearer()) as client:
            replicas = {
                client.get(f"{url}/index").json()["replica"]
                for url in (stack.url("matcher"), replica_url)
            }
    finally:
        stack.stop_process("matcher-2")
    answered = Counter(reply.answered_by for reply in replies)
    assert len(replicas) == 2
    assert set(answered) == replicas, f"not every replica answered: {answered}"


@pytest.mark.integration
def test_a_restarted_matcher_ranks_identically_once_ready(stack: Stack) -> None:
    before = rankings_once_indexed(stack, register_resources(stack))
    stack.stop_process("matcher")
    stack.start_service("matcher")
    stack.wait_ready(services=("matcher",))
    with httpx.Client(timeout=5, headers=bearer()) as client:
        status = client.get(f"{stack.url('matcher')}/index").json()
    assert status["caught_up"] and status["resources"] == before[0].index_size
    after = asyncio.run(ask(stack.nats_url, NEEDS))
    for old, new in zip(before, after, strict=True):
        assert old.answered_by != new.answered_by, "the same process answered: no restart"
        assert new.model_dump(exclude={"answered_by"}) == old.model_dump(exclude={"answered_by"})
    assert len(before[2].results) == 3 and len(before[1].results) >= 6


@pytest.mark.integration
def test_a_trained_model_is_applied_after_reload_and_explained(stack: Stack) -> None:
    rankings_once_indexed(stack, register_resources(stack))
    examples = examples_from(events=referral_events(needs=150), weights=WEIGHTS)
    reranker = train_reranker(examples=examples, min_examples=200, held_out=0.25)
    path = model_path(var_dir=stack.config.var_dir)
    matcher = stack.url("matcher")
    with httpx.Client(timeout=5, headers=bearer()) as client:
        try:
            save_reranker(reranker=reranker, path=path)
            status = client.post(f"{matcher}/model/reload").json()
            assert status["model_id"] == reranker.model_id and status["applied"] is True
            response = client.post(f"{matcher}/rank", json=NEEDS[1].model_dump())
        finally:
            path.unlink(missing_ok=True)
            client.post(f"{matcher}/model/reload")
        assert client.get(f"{matcher}/index").json()["model"]["model_id"] is None
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results, "nothing was ranked"
    notes = [r["explanation"]["reranker"] for r in results]
    assert all(n["model_id"] == reranker.model_id for n in notes)
    probabilities = [n["probability"] for n in notes]
    assert probabilities == sorted(probabilities, reverse=True)
