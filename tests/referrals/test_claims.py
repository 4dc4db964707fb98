"""A micro-wish (微心愿) has one open claim at a time: a second claimer is refused naming the
claim, also when both claim at the same moment (real threads, real stack, both backends)."""

import threading

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import COORDINATOR, new_resource, ok, remaining, spot


def _wish(client: httpx.Client, stack: Stack, where: dict[str, float]) -> str:
    needs = stack.url("needs")
    household = ok(
        client.post(
            f"{needs}/households",
            json={"address": "江安县红星村", "adcode": "511523101", "location": where},
        ),
        201,
    )
    wish = {"household_id": household["id"], "category": "micro_wish.goods"}
    return str(ok(client.post(f"{needs}/needs", json=wish), 201)["id"])


def _claimer(client: httpx.Client, stack: Stack, where: dict[str, float], name: str) -> str:
    return new_resource(
        client, stack, where, total=5, kind="charity", name=name, categories=["micro_wish.goods"]
    )


def _claim(client: httpx.Client, stack: Stack, need_id: str, resource_id: str) -> httpx.Response:
    claim = {"resource_id": resource_id, "resource_name": "慈善会", "resource_kind": "charity"}
    return client.post(
        f"{stack.url('needs')}/needs/{need_id}/claims", json=claim, headers=COORDINATOR
    )


@pytest.mark.integration
def test_a_second_claim_of_a_wish_is_409_naming_the_open_claim(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        first, second = (_claimer(client, stack, where, n) for n in ("红十字会", "慈善总会"))
        need_id = _wish(client, stack, where)
        claimed = ok(_claim(client, stack, need_id, first), 201)
        refused = _claim(client, stack, need_id, second)
        assert refused.status_code == 409, refused.text
        assert refused.json()["referral_id"] == claimed["id"]
        assert refused.json()["rule"] == "one_open_claim"
        assert refused.json()["claimed_by"] == "慈善会", "who holds the wish, by resource name"
        assert remaining(client, stack, second) == 5, "the refused claim held a unit"
        # Once the first claim is cancelled the wish may be claimed again.
        cancel = f"{stack.url('needs')}/referrals/{claimed['id']}/cancel"
        ok(client.post(cancel, json={"reason": "withdrawn_by_resident"}))
        assert ok(_claim(client, stack, need_id, second), 201)["state"] == "accepted"


@pytest.mark.integration
def test_two_claims_at_the_same_moment_accept_exactly_one(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        claimers = [_claimer(client, stack, where, n) for n in ("爱心企业", "志愿服务队")]
        need_ids = [_wish(client, stack, where) for _ in range(3)]
    for need_id in need_ids:
        answers = _at_the_same_moment(stack, need_id, claimers)
        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [201, 409], {k: v.text for k, v in answers.items()}
        with httpx.Client(timeout=15, headers=bearer()) as client:
            listed = ok(client.get(f"{stack.url('needs')}/referrals", params={"need_id": need_id}))
            assert [r["state"] for r in listed["items"]] == ["accepted"]
    with httpx.Client(timeout=15, headers=bearer()) as client:
        held = sum(5 - remaining(client, stack, rid) for rid in claimers)
    assert held == len(need_ids), "a refused claim kept its unit"


def _at_the_same_moment(
    stack: Stack, need_id: str, claimers: list[str]
) -> dict[str, httpx.Response]:
    """Each claimer claims the wish from its own thread, released together by a barrier."""
    answers: dict[str, httpx.Response] = {}
    barrier = threading.Barrier(len(claimers))

    def claim(resource_id: str) -> None:
        with httpx.Client(timeout=15, headers=bearer()) as own:
            barrier.wait()
            answers[resource_id] = _claim(own, stack, need_id, resource_id)

    threads = [threading.Thread(target=claim, args=(rid,)) for rid in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers
