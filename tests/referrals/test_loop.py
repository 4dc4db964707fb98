"""The referral loop end to end over real processes and a real nats-server: need → matches →
referral → review → accept with a reservation → complete with outcome → need met; the
no-capacity path; two accepts racing for the last unit; a resources service that is down."""

import threading
import time
from itertools import count
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from cli.stack import Stack
from tests.auth import bearer, token
from tests.support.factories import referral_body, resource_body

# Each test gets its own spot, ~5 km apart, with small service radii: their resources do not
# show up in one another's matches (nor in the vertical slice's, around 105.07).
_SPOTS = count()
WORKER = bearer("social_worker", sub="sw-7", adcode="51")
REVIEWER = bearer("alliance_reviewer", sub="rv-3", department="civil_affairs", adcode="51")
COORDINATOR = bearer("coordinator", sub="co-9", organization="demo")


def spot() -> dict[str, float]:
    return {"lat": 28.50, "lon": round(104.30 + 0.05 * next(_SPOTS), 4)}


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def new_resource(
    client: httpx.Client, stack: Stack, where: dict[str, float], *, total: int, **fields: Any
) -> str:
    body = resource_body(
        **{
            "name": "助餐点",
            "organization": "demo",  # COORDINATOR's
            "location": where,
            "radius_km": 1.5,
            "capacity": {"total": total, "unit": "persons", "period": "month"},
            **fields,
        }
    )
    return str(ok(client.post(f"{stack.url('resources')}/resources", json=body), 201)["id"])


def new_need(client: httpx.Client, stack: Stack, where: dict[str, float]) -> str:
    household = ok(
        client.post(
            f"{stack.url('needs')}/households",
            json={"address": "江安县江安镇红星村3组12号", "adcode": "511523101", "location": where},
        ),
        201,
    )
    need = ok(
        client.post(
            f"{stack.url('needs')}/needs",
            json={"household_id": household["id"], "category": "elderly_care.meals"},
        ),
        201,
    )
    return str(need["id"])


def wait_matched(client: httpx.Client, stack: Stack, need_id: str, *wanted: str) -> list[str]:
    """Ask for matches until every wanted resource is ranked (indexing is asynchronous)."""
    deadline = time.monotonic() + 15
    while True:
        body = ok(client.post(f"{stack.url('needs')}/needs/{need_id}/matches", json={}))
        ids = [r["resource_id"] for r in body["results"]]
        if set(wanted) <= set(ids):
            return ids
        assert time.monotonic() < deadline, f"{wanted} never reached the matcher: {ids}"
        time.sleep(0.1)


def remaining(client: httpx.Client, stack: Stack, resource_id: str) -> int:
    body = ok(client.get(f"{stack.url('resources')}/resources/{resource_id}"))
    return int(body["capacity_remaining"])


def act(
    client: httpx.Client,
    stack: Stack,
    referral_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] = COORDINATOR,
) -> httpx.Response:
    url = f"{stack.url('needs')}/referrals/{referral_id}/{action}"
    return client.post(url, json=body, headers=headers)


@pytest.mark.integration
def test_the_whole_loop_runs_through_the_api_from_need_to_met(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=3, kind="department", name="民政局")
        need_id = new_need(client, stack, where)
        assert wait_matched(client, stack, need_id, resource_id)[0] == resource_id
        referral = ok(
            client.post(
                f"{needs}/referrals",
                json=referral_body(need_id, resource_id, note="独居, 需送餐"),
                headers=WORKER,
            ),
            201,
        )
        referral_id = referral["id"]
        assert referral["state"] == "pending_review"
        assert referral["review_reasons"] == ["department_resource"]
        assert (referral["match_rank"], referral["resource_kind"]) == (1, "department")
        assert referral["resource_organization"] == "demo", "the resources service's answer"
        assert referral["match_score"] > 0 and referral["match_explanation"]["components"]
        queue = ok(
            client.get(
                f"{needs}/referrals/review-queue",
                params={"department": "civil_affairs", "region": "511523"},
            )
        )
        assert referral_id in [r["id"] for r in queue["items"]]
        early = act(client, stack, referral_id, "accept")
        assert early.status_code == 409 and early.json()["allowed"] == [
            "approved",
            "cancelled",
            "returned",
        ]
        approval = {"department": "civil_affairs", "decision": "approve"}
        sent = ok(act(client, stack, referral_id, "review", approval, headers=REVIEWER))
        assert sent["state"] == "sent"
        assert ok(client.get(f"{needs}/needs/{need_id}"))["status"] == "referred"

        accepted = ok(act(client, stack, referral_id, "accept"))
        assert (accepted["state"], accepted["reservation"]) == ("accepted", "reserved")
        assert remaining(client, stack, resource_id) == 2
        assert ok(client.get(f"{needs}/needs/{need_id}"))["status"] == "in_service"
        again = act(client, stack, referral_id, "accept")
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert again.json()["allowed"] == ["cancelled", "in_progress"]

        assert ok(act(client, stack, referral_id, "start"))["state"] == "in_progress"
        outcome = {"result": "met", "satisfaction": 5, "feedback": "很满意"}
        done = ok(act(client, stack, referral_id, "complete", outcome))
        assert (done["state"], done["outcome_result"], done["satisfaction"]) == (
            "completed",
            "met",
            5,
        )
        assert done["reservation"] == "consumed"
        assert ok(client.get(f"{needs}/needs/{need_id}"))["status"] == "met"
        assert remaining(client, stack, resource_id) == 2, "consumed units do not come back"

        task = ok(client.get(f"{needs}/referrals/{referral_id}/fhir"))
        assert (task["resourceType"], task["status"]) == ("Task", "completed")
        assert task["businessStatus"]["text"] == "completed"
        trail = ok(client.get(f"{needs}/referrals/{referral_id}/audit"))
        assert trail["intact"] is True
        actions = [e["body"]["action"] for e in trail["entries"]]
        assert actions == [
            "created",
            "pending_review",
            "approved",
            "sent",
            "accepted",
            "in_progress",
            "completed",
        ]
        assert [e["body"]["actor"] for e in trail["entries"]][2:5] == ["rv-3", "rv-3", "co-9"]
        assert ok(client.get(f"{needs}/needs/{need_id}/audit"))["intact"] is True


@pytest.mark.integration
def test_no_capacity_declines_the_referral_and_offers_the_next_match(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        scarce = new_resource(client, stack, where, total=1, name="只剩一份")
        spare = new_resource(client, stack, where, total=4, name="还有名额")
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, scarce, spare)
        body = {"need_id": need_id, "resource_id": scarce, "override_reason": "离家最近"}
        referral_id = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]
        # Someone else takes the last unit before this referral is accepted.
        taken = {"resource_id": scarce, "referral_id": f"other-{referral_id}", "units": 1}
        ok(client.post(f"{stack.url('resources')}/capacity/reserve", json=taken))

        refused = act(client, stack, referral_id, "accept")
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["reason"] == "no_capacity"
        assert problem["referral"]["state"] == "declined"
        assert problem["next_match"]["resource_id"] == spare
        referral = ok(client.get(f"{needs}/referrals/{referral_id}"))
        assert (referral["state"], referral["reason"]) == ("declined", "no_capacity")
        assert ok(client.get(f"{needs}/needs/{need_id}"))["status"] == "open"
        assert remaining(client, stack, scarce) == 0


@pytest.mark.integration
def test_two_referrals_for_the_last_unit_accept_exactly_one(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        last_one = new_resource(client, stack, where, total=1, name="最后一个名额")
        referral_ids = []
        for _ in range(2):
            need_id = new_need(client, stack, where)
            wait_matched(client, stack, need_id, last_one)
            body = {"need_id": need_id, "resource_id": last_one}
            referral_ids.append(
                ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]
            )
    statuses: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def accept(referral_id: str) -> None:
        with httpx.Client(timeout=15, headers=bearer()) as own:
            barrier.wait()
            statuses[referral_id] = act(own, stack, referral_id, "accept").status_code

    threads = [threading.Thread(target=accept, args=(rid,)) for rid in referral_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses.values()) == [200, 409], statuses
    with httpx.Client(timeout=15, headers=bearer()) as client:
        states = sorted(ok(client.get(f"{needs}/referrals/{rid}"))["state"] for rid in referral_ids)
        assert states == ["accepted", "declined"]
        assert remaining(client, stack, last_one) == 0


@pytest.mark.integration
def test_accept_while_resources_is_down_is_503_and_the_referral_stays_sent(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=2)
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, resource_id)
        body = {"need_id": need_id, "resource_id": resource_id}
        referral_id = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]
        stack.stop_process("resources")
        try:
            refused = act(client, stack, referral_id, "accept")
        finally:
            stack.start_service("resources")
            stack.wait_ready(services=("resources",))
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "3"
        assert ok(client.get(f"{needs}/referrals/{referral_id}"))["state"] == "sent"
        assert ok(act(client, stack, referral_id, "accept"))["state"] == "accepted"
        assert remaining(client, stack, resource_id) == 1


@pytest.mark.integration
def test_the_loop_runs_through_the_cli(stack: Stack) -> None:
    runner = CliRunner()
    connection = ["--url", stack.url("needs"), "--token", token(sub="sw-cli")]

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["referrals", *args, *connection])
        assert result.exit_code == 0, result.output
        return result.output

    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(client, stack, where, total=2, kind="charity")
        need_id = new_need(client, stack, where)
        wait_matched(client, stack, need_id, resource_id)
    created = run("create", need_id, "--amount", "9000", "--note", "大额医疗费用")
    referral_id = created.split()[1].rstrip(":")
    assert "pending_review" in created
    assert "1 waiting" in run("queue", "--department", "civil_affairs", "--region", "511523")
    assert ": sent" in run("review", referral_id, "--department", "civil_affairs")
    assert ": accepted" in run("accept", referral_id)
    assert ": in_progress" in run("start", referral_id)
    done = run("complete", referral_id, "--result", "met", "--satisfaction", "4")
    assert ": completed" in done
    with httpx.Client(timeout=15, headers=bearer()) as client:
        need = ok(client.get(f"{stack.url('needs')}/needs/{need_id}"))
    assert need["status"] == "met"
    refused = runner.invoke(cli, ["referrals", "accept", referral_id, *connection])
    assert refused.exit_code == 1 and "allowed next: none" in refused.output
    assert "overdue" in run("overdue")


@pytest.mark.integration
def test_a_micro_wish_claimed_by_a_charity_starts_accepted_with_capacity_reserved(
    stack: Stack,
) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        charity = new_resource(
            client, stack, where, total=5, kind="charity", categories=["micro_wish.goods"]
        )
        household = ok(
            client.post(
                f"{needs}/households",
                json={"address": "江安县红星村", "adcode": "511523101", "location": where},
            ),
            201,
        )
        wish = {"household_id": household["id"], "category": "micro_wish.goods"}
        need_id = ok(client.post(f"{needs}/needs", json=wish), 201)["id"]
        claim = {"resource_id": charity, "resource_name": "慈善会", "resource_kind": "charity"}
        referral = ok(
            client.post(f"{needs}/needs/{need_id}/claims", json=claim, headers=COORDINATOR), 201
        )
        assert (referral["state"], referral["origin"]) == ("accepted", "micro_wish")
        assert remaining(client, stack, charity) == 4
        assert ok(client.get(f"{needs}/needs/{need_id}"))["status"] == "in_service"
        meals_need = new_need(client, stack, where)
        refused = client.post(f"{needs}/needs/{meals_need}/claims", json=claim)
        assert refused.status_code == 409, refused.text
        assert remaining(client, stack, charity) == 4, "a refused claim reserved capacity"
        another_wish = ok(client.post(f"{needs}/needs", json=wish), 201)["id"]
        not_theirs = client.post(
            f"{needs}/needs/{another_wish}/claims",
            json=claim,
            headers=bearer("coordinator", sub="co-8", organization="another"),
        )
        assert not_theirs.status_code == 403, not_theirs.text
        assert not_theirs.json()["rule"] == "organization"
        assert remaining(client, stack, charity) == 4, "a refused claim reserved capacity"


@pytest.mark.integration
def test_a_resource_the_resources_service_does_not_know_cannot_be_referred(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        need_id = new_need(client, stack, spot())
        body = {
            "need_id": need_id,
            "resource_id": "no-such-resource",
            "override_reason": "熟人推荐",
            "resource_kind": "volunteer",
            "resource_name": "志愿队",
        }
        refused = client.post(f"{needs}/referrals", json=body, headers=WORKER)
    assert refused.status_code == 422, refused.text
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [
        ("resource_id", "exists")
    ]
