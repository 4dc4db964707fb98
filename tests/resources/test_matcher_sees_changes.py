"""Over real processes and a real nats-server: edits, deactivations and bulk imports reach
the matcher without a restart; a restarted matcher rebuilds the same index from the stream;
200 concurrent NATS reservations of a resource with capacity 10 reserve exactly 10."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from typer.testing import CliRunner

from cli.resources import resources_app
from cli.stack import Stack
from services.resources.hsds import documents
from shared.contracts.resources import CAPACITY_RESERVE
from tests.auth import bearer, token
from tests.resources.hsds_documents import full_service
from tests.support.factories import resource_body

DATA = Path(__file__).parent / "data"
CANTEEN = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c03"  # 红星社区食堂, 3 km radius


def rank(client: httpx.Client, stack: Stack, category: str) -> dict[str, dict[str, Any]]:
    """What the matcher ranks for a need at the centre of 江安县, by resource id."""
    response = client.post(
        f"{stack.url('matcher')}/rank",
        json={"category": category, "lat": 28.7300, "lon": 105.0700, "k": 100},
    )
    assert response.status_code == 200, response.text
    return {r["resource_id"]: r for r in response.json()["results"]}


def eventually(
    check: Callable[[], dict[str, dict[str, Any]]],
    until: Callable[[dict[str, dict[str, Any]]], bool],
    what: str,
    timeout: float = 15.0,
) -> dict[str, dict[str, Any]]:
    """Ask again until `until` holds (events are asynchronous); fail after a generous bound."""
    deadline = time.monotonic() + timeout
    while True:
        seen = check()
        if until(seen):
            return seen
        assert time.monotonic() < deadline, f"{what}: never seen; last {seen}"
        time.sleep(0.1)


@pytest.mark.integration
def test_edits_and_deactivation_reach_the_matcher_and_survive_its_restart(stack: Stack) -> None:
    resources = f"{stack.url('resources')}/resources"
    name = f"江安镇助餐点-{uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=10, headers=bearer()) as client:
        created = client.post(resources, json=resource_body(name=name))
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        meals = lambda: rank(client, stack, "elderly_care.meals")  # noqa: E731
        eventually(meals, lambda seen: rid in seen, "the new resource")

        edited = client.patch(
            f"{resources}/{rid}",
            json={"name": f"{name}（扩容）", "capacity": {"total": 12}},
            headers={"If-Match": created.headers["etag"]},
        )
        assert edited.status_code == 200, edited.text
        seen = eventually(
            meals,
            lambda seen: seen.get(rid, {}).get("capacity_remaining") == 12,
            "the edit",
        )
        assert seen[rid]["name"] == f"{name}（扩容）"

        moved = client.patch(f"{resources}/{rid}", json={"categories": ["legal_aid.consultation"]})
        assert moved.status_code == 200, moved.text
        eventually(meals, lambda seen: rid not in seen, "the category change")
        legal = lambda: rank(client, stack, "legal_aid.consultation")  # noqa: E731
        eventually(legal, lambda seen: rid in seen, "the new category")

        other = client.post(resources, json=resource_body(name=f"停用测试-{uuid.uuid4().hex[:6]}"))
        oid = other.json()["id"]
        eventually(meals, lambda seen: oid in seen, "the second resource")
        off = client.post(f"{resources}/{oid}/deactivate")
        assert off.status_code == 200, off.text
        eventually(meals, lambda seen: oid not in seen, "the deactivation")

        stack.stop_process("matcher")
        stack.start_service("matcher")
        stack.wait_ready(services=("matcher",))
        after_meals, after_legal = meals(), legal()
    assert oid not in after_meals, "a restarted matcher brought a deactivated resource back"
    assert rid not in after_meals and after_legal[rid]["name"] == f"{name}（扩容）"
    assert after_legal[rid]["capacity_remaining"] == 12


@pytest.mark.integration
def test_cli_import_reaches_the_matcher_and_reports_rejected_rows(
    stack: Stack, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        resources_app,
        [
            "import",
            str(DATA / "hsds_example.json"),
            "--url",
            stack.url("resources"),
            "--token",
            token(),
        ],
    )
    assert result.exit_code == 1, result.output  # one row of the example is meant to fail
    assert "3 accepted" in result.output or "updated" in result.output, result.output
    assert "outside_china" in result.output and "unknown_category" in result.output
    with httpx.Client(timeout=10, headers=bearer()) as client:
        meals = lambda: rank(client, stack, "elderly_care.meals")  # noqa: E731
        seen = eventually(meals, lambda seen: CANTEEN in seen, "the imported resource")
    assert (seen[CANTEEN]["name"], seen[CANTEEN]["capacity_remaining"]) == ("红星社区食堂", 30)

    exported = tmp_path / "library.zip"
    result = runner.invoke(
        resources_app,
        ["export", str(exported), "--url", stack.url("resources"), "--token", token()],
    )
    assert result.exit_code == 0, result.output
    assert exported.read_bytes()[:2] == b"PK"


async def _reserve_concurrently(
    nats_url: str, resource_id: str, count: int
) -> list[dict[str, Any]]:
    nc = await nats.connect(nats_url)
    try:

        async def one(i: int) -> dict[str, Any]:
            body = {
                "resource_id": resource_id,
                "referral_id": f"nats-{resource_id}-{i}",
                "units": 1,
            }
            reply = await nc.request(CAPACITY_RESERVE, json.dumps(body).encode(), timeout=60)
            return json.loads(reply.data)  # type: ignore[no-any-return]

        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await nc.close()


@pytest.mark.integration
def test_200_concurrent_nats_reservations_of_capacity_10_reserve_exactly_10(stack: Stack) -> None:
    body = resource_body(
        name=f"容量并发-{uuid.uuid4().hex[:6]}", capacity={"total": 10, "unit": "persons"}
    )
    with httpx.Client(timeout=10, headers=bearer()) as client:
        rid = client.post(f"{stack.url('resources')}/resources", json=body).json()["id"]
        replies = asyncio.run(_reserve_concurrently(stack.nats_url, rid, 200))
        after = client.get(f"{stack.url('resources')}/resources/{rid}").json()
    reserved = [r for r in replies if r.get("state") == "reserved"]
    refused = [r for r in replies if r.get("status") == 409]
    assert (len(reserved), len(refused)) == (10, 190)
    assert after["capacity_remaining"] == 0
    assert min(r["capacity_remaining"] for r in reserved) == 0


@pytest.mark.integration
def test_a_foreign_hsds_draft_reaches_the_matcher_only_once_completed(
    stack: Stack, tmp_path: Path
) -> None:
    """An HSDS package (plural CSV names) through the CLI: the service without a Lianjie
    category comes in as a draft the matcher never ranks, until a coordinator completes it."""
    service = full_service(name="老人助餐送餐服务")
    package = tmp_path / "directory.zip"
    package.write_bytes(documents.write_package([service]))
    runner = CliRunner()
    result = runner.invoke(
        resources_app,
        ["import", str(package), "--url", stack.url("resources"), "--token", token()],
    )
    assert result.exit_code == 0, result.output
    assert "1 drafts to complete" in result.output and "elderly_care.meals" in result.output
    rid = service["id"]
    with httpx.Client(base_url=stack.url("resources"), timeout=10, headers=bearer()) as client:
        # The directory said 3 of 10 are left this period: 7 stay used under the new total.
        capacity = {"total": 20, "unit": "persons", "period": "month"}
        body = {**resource_body(name=service["name"], capacity=capacity), "contact_phone": None}
        assert client.put(f"/resources/{rid}", json=body).status_code == 200
        meals = lambda: rank(client, stack, "elderly_care.meals")  # noqa: E731
        index = lambda: client.get(f"{stack.url('matcher')}/index").json()  # noqa: E731
        eventually(index, lambda seen: seen["events_applied"] >= 2, "the draft's events")
        assert rid not in meals(), "a draft (or an inactive resource) was ranked"
        assert client.post(f"/resources/{rid}/activate").status_code == 200
        seen = eventually(meals, lambda seen: rid in seen, "the completed draft")
    assert seen[rid]["capacity_remaining"] == 13
