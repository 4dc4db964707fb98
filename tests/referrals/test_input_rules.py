"""Small input rules on the real stack: an unknown referral state, a malformed division code
from a caller with a scope (422 before any 403), and invalid JSON named as the body."""

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer

SCOPED = bearer("social_worker", sub="sw-5", adcode="511523")


def _rules(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["rule"]) for e in response.json()["errors"]]


@pytest.mark.integration
def test_an_unknown_state_on_the_referral_list_is_422_naming_it(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=SCOPED) as client:
        refused = client.get(f"{stack.url('needs')}/referrals", params={"state": "bogus"})
        assert _rules(refused) == [("state", "one_of")]
        fine = client.get(f"{stack.url('needs')}/referrals", params={"state": "sent"})
        assert fine.status_code == 200, fine.text


@pytest.mark.integration
@pytest.mark.parametrize("adcode", ["abc", "5115231O1", "51-1523"])
def test_a_malformed_adcode_from_a_scoped_caller_is_422_not_403(stack: Stack, adcode: str) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=SCOPED) as client:
        body = {"address": "江安县江安镇红星村3组12号", "adcode": adcode}
        assert [f for f, _ in _rules(client.post(f"{needs}/households", json=body))] == ["adcode"]
        due = client.get(f"{needs}/visits/due", params={"station": adcode})
        assert [f for f, _ in _rules(due)] == ["station"]
        # A well-formed code outside the caller's area is still theirs to be refused.
        outside = client.post(f"{needs}/households", json={**body, "adcode": "110101"})
        assert outside.status_code == 403, outside.text


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/households", "/needs", "/referrals"])
def test_invalid_json_names_the_body(stack: Stack, path: str) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        refused = client.post(
            f"{stack.url('needs')}{path}",
            content=b'{"adcode": "511523101",',
            headers={"Content-Type": "application/json"},
        )
    assert _rules(refused) == [("body", "json_invalid")]
