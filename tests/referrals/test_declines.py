"""An explicit decline for no capacity: the next feasible match comes with the answer, the
declining resource is not offered again for that need, and its stated capacity is flagged at
the resources service for the coordinator to correct (real stack, both backends)."""

import time

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, act, new_need, new_resource, ok, spot, wait_matched


def _flagged(client: httpx.Client, stack: Stack, resource_id: str) -> str | None:
    body = ok(client.get(f"{stack.url('resources')}/resources/{resource_id}"))
    return body["capacity_flagged_at"]  # type: ignore[no-any-return]


@pytest.mark.integration
def test_a_decline_for_no_capacity_offers_the_next_match_and_flags_the_capacity(
    stack: Stack,
) -> None:
    needs, resources = stack.url("needs"), stack.url("resources")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        says_twenty = new_resource(client, stack, where, total=20, name="自称二十个名额")
        spare = new_resource(client, stack, where, total=4, name="还有名额")
        need_id = new_need(client, stack, where)
        first = wait_matched(client, stack, need_id, says_twenty, spare)[0]
        other = spare if first == says_twenty else says_twenty
        body = {"need_id": need_id, "resource_id": first}
        referral_id = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]

        declined = ok(act(client, stack, referral_id, "decline", {"reason": "no_capacity"}))
        assert (declined["state"], declined["reason"]) == ("declined", "no_capacity")
        assert declined["next_match"]["resource_id"] == other
        again = ok(client.post(f"{needs}/needs/{need_id}/matches", json={}))
        assert first not in [r["resource_id"] for r in again["results"]]
        assert other in [r["resource_id"] for r in again["results"]]

        deadline = time.monotonic() + 15
        while _flagged(client, stack, first) is None:
            assert time.monotonic() < deadline, "the resource's capacity was never flagged"
            time.sleep(0.1)
        assert _flagged(client, stack, other) is None
        listed = ok(client.get(f"{resources}/resources", params={"capacity_flagged": "true"}))
        assert first in [r["id"] for r in listed["items"]]
        assert other not in [r["id"] for r in listed["items"]]
        # The coordinator corrects the total: the flag is cleared.
        etag = client.get(f"{resources}/resources/{first}").headers["etag"]
        fixed = client.patch(
            f"{resources}/resources/{first}",
            json={"capacity": {"total": 1}},
            headers={"If-Match": etag},
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["capacity_flagged_at"] is None


@pytest.mark.integration
def test_a_decline_for_another_reason_flags_nothing(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=3)
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, resource_id)
        body = {"need_id": need_id, "resource_id": resource_id}
        referral_id = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]
        declined = ok(act(client, stack, referral_id, "decline", {"reason": "out_of_area"}))
        assert declined["next_match"] is None
        time.sleep(1)
        assert _flagged(client, stack, resource_id) is None
