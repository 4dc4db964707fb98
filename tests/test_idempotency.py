"""Idempotency-Key on POST: a retried create returns the first result, once."""

import threading
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.support.factories import OMIT, resource_body

RESOURCE = resource_body(
    name="幂等测试爱心企业",
    organization=OMIT,
    categories=["basic_living.food"],
    description=OMIT,
    location={"lat": 28.72, "lon": 105.06},
    capacity={"total": 4},
)


def _count(client: httpx.Client, stack: Stack, name: str) -> int:
    page = client.get(f"{stack.url('resources')}/resources", params={"limit": 200}).json()
    return sum(1 for item in page["items"] if item["name"] == name)


@pytest.mark.integration
def test_retried_create_returns_the_first_result(stack: Stack) -> None:
    body = {**RESOURCE, "name": "幂等重试"}
    headers = {"Idempotency-Key": "create-once-1"}
    with httpx.Client(timeout=10, headers=bearer()) as client:
        first = client.post(f"{stack.url('resources')}/resources", json=body, headers=headers)
        again = client.post(f"{stack.url('resources')}/resources", json=body, headers=headers)
        count = _count(client, stack, "幂等重试")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert count == 1


@pytest.mark.integration
def test_same_key_with_another_body_is_refused(stack: Stack) -> None:
    headers = {"Idempotency-Key": "reused-key-1"}
    with httpx.Client(timeout=10, headers=bearer()) as client:
        url = f"{stack.url('needs')}/households"
        base = {"address": "江安县江安镇红星村1组1号", "adcode": "511523101"}
        first = client.post(url, json=base, headers=headers)
        other = client.post(
            url, json={**base, "address": "江安县江安镇红星村2组2号"}, headers=headers
        )
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.integration
def test_double_click_creates_one_resource(stack: Stack) -> None:
    body = {**RESOURCE, "name": "双击测试"}
    results: list[Any] = []

    def click() -> None:
        with httpx.Client(timeout=10, headers=bearer()) as client:
            response = client.post(
                f"{stack.url('resources')}/resources",
                json=body,
                headers={"Idempotency-Key": "double-click-1"},
            )
            results.append(response)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(timeout=10, headers=bearer()) as client:
        count = _count(client, stack, "双击测试")
    statuses = sorted(r.status_code for r in results)
    assert count == 1
    assert set(statuses) <= {201, 409}
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1, "every successful answer must name the same resource"


@pytest.mark.integration
def test_a_validation_error_is_replayed_not_rerun(stack: Stack) -> None:
    bad = {**RESOURCE, "categories": ["nope"]}
    headers = {"Idempotency-Key": "bad-input-1"}
    with httpx.Client(timeout=10, headers=bearer()) as client:
        first = client.post(f"{stack.url('resources')}/resources", json=bad, headers=headers)
        again = client.post(f"{stack.url('resources')}/resources", json=bad, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
