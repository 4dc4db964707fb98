"""A waitlisted referral learns of its promotion: when the resources service promotes the
reservation (a unit freed up), it publishes an event and the needs service's referral shows
`reserved`, audited (real stack, both backends)."""

import time

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, act, new_need, new_resource, ok, spot, wait_matched


@pytest.mark.integration
def test_a_promoted_waitlisted_reservation_shows_reserved_at_the_needs_service(
    stack: Stack,
) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        resource_id = new_resource(
            client,
            stack,
            where,
            total=1,
            capacity={"total": 1, "unit": "persons", "period": "month", "mode": "waitlist"},
        )
        referral_ids = []
        for _ in range(2):
            need_id = new_need(client, stack, where)
            wait_matched(client, stack, need_id, resource_id)
            body = {"need_id": need_id, "resource_id": resource_id}
            referral = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)
            referral_ids.append(referral["id"])
        first, second = (ok(act(client, stack, rid, "accept")) for rid in referral_ids)
        assert (first["reservation"], second["reservation"]) == ("reserved", "waitlisted")

        ok(act(client, stack, first["id"], "cancel", {"reason": "no_longer_needed"}, WORKER))
        deadline = time.monotonic() + 15
        while True:
            now = ok(client.get(f"{needs}/referrals/{second['id']}"))
            if now["reservation"] == "reserved":
                break
            assert time.monotonic() < deadline, f"still {now['reservation']}"
            time.sleep(0.1)
        trail = ok(client.get(f"{needs}/referrals/{second['id']}/audit"))
        assert trail["intact"] is True
        assert trail["entries"][-1]["body"]["action"] == "reservation_promoted"
        # The promoted referral completes by consuming the units it now holds.
        ok(act(client, stack, second["id"], "start"))
        done = ok(act(client, stack, second["id"], "complete", {"result": "met"}))
        assert done["reservation"] == "consumed"
