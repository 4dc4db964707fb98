"""The walking skeleton end to end over real processes and a real nats-server:
register a resource → the matcher indexes it from JetStream → a need asks for matches."""

import time
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.support.factories import OMIT, need_body, resource_body

NEAR = {"lat": 28.7300, "lon": 105.0700}  # in 江安县


def resource(**overrides: Any) -> dict[str, Any]:
    """The slice's resource: of no organization (the admin registers it)."""
    return resource_body(**{"organization": OMIT, "location": NEAR, **overrides})


def post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def matches_until(
    client: httpx.Client, stack: Stack, need_id: str, wanted: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Ask for matches until `wanted` is among them (the event is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.post(f"{stack.url('needs')}/needs/{need_id}/matches", json={})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if any(r["resource_id"] == wanted for r in body["results"]):
            return body
        assert time.monotonic() < deadline, f"{wanted} never reached the matcher: {body}"
        time.sleep(0.1)


def new_need(client: httpx.Client, stack: Stack, category: str, location: dict[str, float]) -> str:
    household = post(
        client,
        f"{stack.url('needs')}/households",
        {"address": "江安县江安镇红星村3组12号", "adcode": "511523101", "location": location},
    )
    need = post(
        client,
        f"{stack.url('needs')}/needs",
        need_body(household["id"], category=category),
    )
    return str(need["id"])


@pytest.mark.integration
def test_registered_resource_is_ranked_for_a_need_with_distance_and_capacity(stack: Stack) -> None:
    with httpx.Client(timeout=10, headers=bearer()) as client:
        meals = post(client, f"{stack.url('resources')}/resources", resource())
        far = post(
            client,
            f"{stack.url('resources')}/resources",
            resource(name="远处助餐点", location={"lat": 30.66, "lon": 104.06}),
        )
        other = post(
            client,
            f"{stack.url('resources')}/resources",
            resource(name="法律咨询站", categories=["legal_aid.consultation"]),
        )
        need_id = new_need(client, stack, "elderly_care.meals", {"lat": 28.74, "lon": 105.07})
        body = matches_until(client, stack, need_id, meals["id"])
    ids = [r["resource_id"] for r in body["results"]]
    assert far["id"] not in ids, "a resource whose radius does not reach the need was ranked"
    assert other["id"] not in ids, "a resource of another category was ranked"
    hit = next(r for r in body["results"] if r["resource_id"] == meals["id"])
    assert hit["capacity_remaining"] == 5
    assert hit["distance_km"] == pytest.approx(1.11, abs=0.05)
    assert hit["explanation"]["category_offered"] == "elderly_care.meals"
    assert "service_area" in hit["explanation"]["filters_passed"]


@pytest.mark.integration
def test_capacity_change_reaches_the_matcher(stack: Stack) -> None:
    with httpx.Client(timeout=10, headers=bearer()) as client:
        meals = post(client, f"{stack.url('resources')}/resources", resource(name="容量测试点"))
        need_id = new_need(client, stack, "elderly_care.meals", NEAR)
        matches_until(client, stack, need_id, meals["id"])
        reply = client.post(
            f"{stack.url('resources')}/capacity/reserve",
            json={"resource_id": meals["id"], "referral_id": "ref-capacity-1", "units": 2},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["capacity_remaining"] == 3
        deadline = time.monotonic() + 10
        while True:
            body = matches_until(client, stack, need_id, meals["id"])
            hit = next(r for r in body["results"] if r["resource_id"] == meals["id"])
            if hit["capacity_remaining"] == 3:
                break
            assert time.monotonic() < deadline, "the capacity change never reached the matcher"
            time.sleep(0.1)


@pytest.mark.integration
def test_every_service_reports_healthy_and_ready(stack: Stack) -> None:
    with httpx.Client(timeout=5, headers=bearer()) as client:
        for service in ("needs", "resources", "matcher"):
            assert client.get(f"{stack.url(service)}/healthz").json() == {"status": "ok"}
            ready = client.get(f"{stack.url(service)}/readyz")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"].values()) == {"ok"}
            assert client.get(f"{stack.url(service)}/openapi.json").status_code == 200


@pytest.mark.integration
def test_bad_input_is_a_problem_naming_field_and_rule(stack: Stack) -> None:
    with httpx.Client(timeout=5, headers=bearer()) as client:
        listing = f"{stack.url('resources')}/resources"
        before = client.get(listing).json()["total"]
        response = client.post(listing, json=resource(categories=["no_such"], radius_km=-1))
        after = client.get(listing).json()["total"]
    assert response.status_code == 422
    assert before == after, "a refused resource was written anyway"
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert ("categories.0", "unknown_category") in errors
    assert ("radius_km", "greater_than") in errors


@pytest.mark.integration
def test_matches_while_matcher_is_down_is_503_with_retry_after(stack: Stack) -> None:
    with httpx.Client(timeout=10, headers=bearer()) as client:
        need_id = new_need(client, stack, "elderly_care.meals", NEAR)
        stack.stop_process("matcher")
        try:
            started = time.monotonic()
            response = client.post(f"{stack.url('needs')}/needs/{need_id}/matches", json={})
            elapsed = time.monotonic() - started
        finally:
            stack.start_service("matcher")
            stack.wait_ready(services=("matcher",))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "3"
    assert "lianjie.matcher.rank.v1" in response.json()["detail"]
    assert elapsed < 5, "the caller waited far beyond the configured request timeout"
