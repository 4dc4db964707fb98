"""The audit chain's head (hash and length) lives on the referral row, and the need chain's on
the need row, written with each entry: a chain whose last entries were deleted no longer
verifies (real stack, both backends)."""

import httpx
import pytest
from sqlalchemy import text

from cli.stack import Stack
from shared.db import create_db_engine
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, act, new_need, new_resource, ok, spot, wait_matched


def _execute(stack: Stack, sql: str, **params: str) -> None:
    """Change the needs service's database behind its back, as an intruder would."""
    url = stack.config.service_env["needs"]["LIANJIE_NEEDS_DATABASE_URL"]
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def _sent_referral(client: httpx.Client, stack: Stack) -> tuple[str, str]:
    """(need id, referral id) of a referral just sent to a matched resource."""
    where = spot()
    resource_id = new_resource(client, stack, where, total=2)
    need_id = new_need(client, stack, where)
    wait_matched(client, stack, need_id, resource_id)
    body = {"need_id": need_id, "resource_id": resource_id}
    referral_id = ok(
        client.post(f"{stack.url('needs')}/referrals", json=body, headers=WORKER), 201
    )["id"]
    return need_id, referral_id


def _completed_referral(client: httpx.Client, stack: Stack) -> tuple[str, str]:
    """(need id, referral id) of a referral taken through to its outcome."""
    need_id, referral_id = _sent_referral(client, stack)
    for action, payload in (("accept", None), ("start", None), ("complete", {"result": "met"})):
        ok(act(client, stack, referral_id, action, payload))
    return need_id, referral_id


def _cut_last_entry(client: httpx.Client, stack: Stack, path: str, chain: str) -> None:
    """Delete the chain's last entry in the database: the audit answer must say not intact."""
    trail = ok(client.get(f"{stack.url('needs')}{path}"))
    assert trail["intact"] is True and trail["chain"] == chain
    length = len(trail["entries"])
    _execute(
        stack,
        "DELETE FROM audit_entry WHERE chain = :chain AND seq = "
        "(SELECT max(seq) FROM audit_entry WHERE chain = :chain)",
        chain=chain,
    )
    cut = ok(client.get(f"{stack.url('needs')}{path}"))
    assert len(cut["entries"]) == length - 1
    assert (cut["intact"], cut["broken_at"]) == (False, length)


@pytest.mark.integration
def test_deleting_the_last_audit_entry_of_a_completed_referral_is_detected(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        _need_id, referral_id = _completed_referral(client, stack)
        path = f"/referrals/{referral_id}/audit"
        _cut_last_entry(client, stack, path, f"referral:{referral_id}")


@pytest.mark.integration
def test_deleting_the_last_audit_entry_of_a_need_is_detected(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        need_id, referral_id = _completed_referral(client, stack)
        _cut_last_entry(client, stack, f"/needs/{need_id}/audit", f"need:{need_id}")
        referral = ok(client.get(f"{stack.url('needs')}/referrals/{referral_id}/audit"))
        assert referral["intact"] is True, "the referral's own chain was not touched"


@pytest.mark.integration
def test_a_transition_after_a_deleted_entry_does_not_hide_it(stack: Stack) -> None:
    """The next entry follows the head the referral row keeps, not what is left in the table:
    a cut chain stays broken after the referral moves on (appending after the table's last
    entry would have refilled the gap and made the cut chain verify again)."""
    with httpx.Client(timeout=15, headers=bearer()) as client:
        _need_id, referral_id = _sent_referral(client, stack)
        ok(act(client, stack, referral_id, "accept"))
        path = f"/referrals/{referral_id}/audit"
        _cut_last_entry(client, stack, path, f"referral:{referral_id}")
        ok(act(client, stack, referral_id, "start"))
        trail = ok(client.get(f"{stack.url('needs')}{path}"))
        assert trail["intact"] is False
