"""Every string and list the needs service takes is bounded: resource ids to exclude from a
match, a stated purpose, ids in a need. Too long, blank or malformed is a 422 naming the field
and the rule, before anything is asked of the matcher or written."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.needs.schemas import MatchRequest
from tests.needs.conftest import new_household, new_person, problems


def _need(client: TestClient, household_id: str) -> str:
    body = {"household_id": household_id, "category": "elderly_care.meals"}
    response = client.post("/needs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"exclude": ["r" * 65]}, {("exclude.0", "string_too_long")}),
        ({"exclude": ["ok-id", ""]}, {("exclude.1", "string_too_short")}),
        ({"exclude": ["a"] * 501}, {("exclude", "too_long")}),
        ({"max_distance_km": 1e9}, {("max_distance_km", "less_than_equal")}),
    ],
)
def test_a_match_request_out_of_bounds_is_422_before_the_matcher_is_asked(
    client: TestClient, body: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    need_id = _need(client, new_household(client)["id"])
    response = client.post(f"/needs/{need_id}/matches", json=body)
    assert problems(response) == expected
    assert client.get(f"/needs/{need_id}").json()["status"] == "open"


def test_any_resource_id_a_referral_holds_may_be_excluded_from_a_match() -> None:
    """Resource ids are up to 64 characters of any form (ledger imports, older referrals): the
    next match after a decline excludes them, so the match request takes them all."""
    imported = "江安县台账/2024 第三批:" + "x" * 49
    assert len(imported) == 64
    request = MatchRequest(exclude=[imported, "-leading-dash", "r" * 64])
    assert request.exclude[0] == imported


def test_a_need_names_its_person_by_a_real_id(client: TestClient) -> None:
    household = new_household(client)
    body = {"household_id": household["id"], "category": "elderly_care.meals"}
    assert problems(client.post("/needs", json={**body, "person_id": ""})) == {
        ("person_id", "string_too_short")
    }
    assert problems(client.post("/needs", json={**body, "person_id": "p" * 37})) == {
        ("person_id", "string_too_long")
    }


@pytest.mark.parametrize(
    ("stated", "rule"),
    [("", "not_blank"), ("   ", "not_blank"), ("home_visit" * 4, "string_too_long")],
)
def test_a_purpose_stated_blank_or_too_long_is_422(
    client: TestClient, stated: str, rule: str
) -> None:
    person = new_person(client, new_household(client)["id"])
    url = f"/persons/{person['id']}"
    as_query = client.get(url, params={"purpose": stated})
    as_header = client.get(url, headers={"X-Lianjie-Purpose": stated})
    for response in (as_query, as_header):
        assert problems(response) == {("purpose", rule)}
        assert person["id"] not in response.json()["detail"]
