"""One request can be followed across the three services by its `X-Request-ID`: the needs
service's access line, the matcher and the resources service answering it over NATS, and the
matcher's consumer handling the event it caused (carried through the outbox)."""

import json
import time
from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, new_need, new_resource, ok, spot, wait_matched

pytestmark = pytest.mark.integration


def _records(stack: Stack, request_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every JSON log record carrying `request_id`, by process name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, line in list(stack.logs.lines):  # type: ignore[attr-defined]
        try:
            record = json.loads(line)
        except ValueError:
            continue  # nats-server's own lines
        if isinstance(record, dict) and record.get("request_id") == request_id:
            found.setdefault(name, []).append(record)
    return found


def _messages(records: dict[str, list[dict[str, Any]]], service: str) -> list[str]:
    return [str(r["message"]) for r in records.get(service, [])]


def test_a_referral_is_followed_across_the_services_by_its_request_id(stack: Stack) -> None:
    rid = f"trace-{time.monotonic_ns()}"
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=2)
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, resource_id)
        response = client.post(
            f"{stack.url('needs')}/referrals",
            json={"need_id": need_id, "resource_id": resource_id},
            headers={**WORKER, "X-Request-ID": rid},
        )
    ok(response, 201)
    assert response.headers["x-request-id"] == rid
    deadline = time.monotonic() + 10
    while True:
        records = _records(stack, rid)
        matcher = _messages(records, "matcher")
        if any("handled lianjie.needs.referral" in m for m in matcher):
            break
        assert time.monotonic() < deadline, f"the matcher never logged the event: {records}"
        time.sleep(0.1)
    assert "POST /referrals 201" in _messages(records, "needs")
    assert "answered lianjie.matcher.rank.v1" in matcher
    assert "answered lianjie.resources.resource.card.v1" in _messages(records, "resources")
    every = [r for rs in records.values() for r in rs]
    assert {r["service"] for r in every} == {"needs", "resources", "matcher"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), (None, False), ("x" * 65, False), ("名字", False), ("a b", False)],
)
def test_every_response_names_its_request_id(stack: Stack, given: str | None, kept: bool) -> None:
    headers = {} if given is None else {"X-Request-ID": given.encode()}  # UTF-8 on the wire
    for service in ("needs", "resources", "matcher"):
        response = httpx.get(f"{stack.url(service)}/readyz", headers=headers, timeout=10)
        echoed = response.headers["x-request-id"]
        assert (echoed == given) is kept
        assert len(echoed) <= 64 and echoed.isascii()
