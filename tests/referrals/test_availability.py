"""Availability dates are a hard filter: a resource whose offer ended, or has not begun, is not
matched, and a referral to one is refused at accept (409 `not_available`), its capacity
untouched (real stack, both backends)."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import (
    WORKER,
    act,
    new_need,
    new_resource,
    ok,
    remaining,
    spot,
    wait_matched,
)


@pytest.mark.integration
def test_expired_and_future_resources_are_not_matched_nor_accepted(stack: Stack) -> None:
    needs = stack.url("needs")
    today = datetime.now(timezone(timedelta(hours=8))).date()  # in China
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        expired = new_resource(
            client,
            stack,
            where,
            total=20,
            name="去年的助餐项目",
            available_until=str(today - timedelta(days=1)),
        )
        future = new_resource(
            client,
            stack,
            where,
            total=20,
            name="明年的助餐项目",
            available_from=str(today + timedelta(days=90)),
        )
        valid = new_resource(
            client,
            stack,
            where,
            total=2,
            name="本月助餐",
            available_from=str(today),
            available_until=str(today + timedelta(days=30)),
        )
        need_id = new_need(client, stack, where)
        ranked = wait_matched(client, stack, need_id, valid)
        assert expired not in ranked and future not in ranked

        body = {
            "need_id": need_id,
            "resource_id": expired,
            "override_reason": "居民点名要这家",
            "resource_kind": "enterprise",
            "resource_name": "去年的助餐项目",
        }
        referral_id = ok(client.post(f"{needs}/referrals", json=body, headers=WORKER), 201)["id"]
        refused = act(client, stack, referral_id, "accept")
        assert refused.status_code == 409, refused.text
        assert refused.json()["rule"] == "not_available"
        assert ok(client.get(f"{needs}/referrals/{referral_id}"))["state"] == "sent"
        assert remaining(client, stack, expired) == 20
