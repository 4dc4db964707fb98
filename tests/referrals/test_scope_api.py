"""Who sees and acts on which referral, through the HTTP API (issues 8 and 9): a coordinator
only on referrals to their organization's resources, a reviewer only on referrals their
department reviews, in their region (region-less ones: test_reviewer_region.py), a token
without the scope its role is limited by is refused naming what is missing; every referral
list is paged with a cap."""

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import service
from tests.auth import bearer
from tests.referrals.domain import MEALS, PAGE_MAX, T0, Clock, new_need, refer, state_of

OWN, OTHER = "江安县爱心餐饮有限公司", "长宁县慈善会"
COORDINATOR = bearer("coordinator", sub="co-1", organization=OWN)
OTHER_COORDINATOR = bearer("coordinator", sub="co-2", organization=OTHER)
CIVIL = bearer("alliance_reviewer", sub="rv-1", department="civil_affairs", adcode="51")
CIVIL_HERE = bearer("alliance_reviewer", sub="rv-2", department="civil_affairs", adcode="511523")
CIVIL_ELSEWHERE = bearer(
    "alliance_reviewer", sub="rv-3", department="civil_affairs", adcode="511524"
)
HEALTH = bearer("alliance_reviewer", sub="rv-4", department="health", adcode="51")
DEPARTMENT = service.Pick(resource_id="res-dept", name="县民政局", kind="department", rank=1)


def _pick(resource_id: str, organization: str | None) -> service.Pick:
    return service.Pick(
        resource_id=resource_id, name="助餐点", kind="enterprise", rank=1, organization=organization
    )


def _unknown(response: object) -> None:
    """Answered exactly as an id that names nothing: 404, and the same body."""
    assert getattr(response, "status_code", None) == 404, getattr(response, "text", response)
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["detail"] == "no referral with this id" and "rule" not in problem


def _refuses(response: object, rule: str = "scope") -> None:
    assert getattr(response, "status_code", None) == 403, getattr(response, "text", response)
    problem = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    assert problem["rule"] == rule


def test_a_coordinator_sees_and_acts_on_their_organizations_referrals_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    own = refer(sessions, new_need(sessions), _pick("res-own", OWN))
    other = refer(sessions, new_need(sessions), _pick("res-other", OTHER))
    unknown = refer(sessions, new_need(sessions), _pick("res-old", None))  # before 0007

    listed = client.get("/referrals", headers=COORDINATOR).json()
    assert ([r["id"] for r in listed["items"]], listed["total"]) == ([own], 1)
    assert listed["items"][0]["resource_organization"] == OWN
    assert client.get(f"/referrals/{own}", headers=COORDINATOR).status_code == 200
    for referral_id in (other, unknown):
        _unknown(client.get(f"/referrals/{referral_id}", headers=COORDINATOR))
        _unknown(client.get(f"/referrals/{referral_id}/fhir", headers=COORDINATOR))
        _unknown(client.post(f"/referrals/{referral_id}/accept", headers=COORDINATOR))
        _unknown(
            client.post(
                f"/referrals/{referral_id}/decline",
                json={"reason": "not_eligible"},
                headers=COORDINATOR,
            )
        )
        body = {"result": "met"}
        _unknown(client.post(f"/referrals/{referral_id}/complete", json=body, headers=COORDINATOR))
        assert state_of(sessions, referral_id) == "sent", "a refused coordinator changed it"
    refused = client.get(f"/referrals/{other}", headers=COORDINATOR)
    never = client.get(f"/referrals/{uuid.uuid4()}", headers=COORDINATOR)
    assert refused.json() == never.json(), "out of scope answers as unknown"
    assert OTHER not in refused.text, "the answer names nothing of the other organization"

    declined = client.post(
        f"/referrals/{own}/decline", json={"reason": "not_eligible"}, headers=COORDINATOR
    )
    assert (declined.status_code, declined.json()["state"]) == (200, "declined")
    theirs = client.get("/referrals", headers=OTHER_COORDINATOR).json()["items"]
    assert [r["id"] for r in theirs] == [other]


def test_the_case_side_answers_for_a_resource_without_an_organization_in_its_area_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    """An individual volunteer has no organization and no account: the social worker records
    their answer (she phoned them). Where a resource has an organization, its coordinator
    answers, never the case side."""
    worker = bearer("social_worker", sub="sw-1", adcode="511523101")
    lead = bearer("station_lead", sub="sl-1", adcode="511523")
    elsewhere = bearer("social_worker", sub="sw-2", adcode="511524101")
    volunteer = refer(sessions, new_need(sessions), _pick("res-volunteer", None))
    another = refer(sessions, new_need(sessions), _pick("res-volunteer-2", None))
    owned = refer(sessions, new_need(sessions), _pick("res-own", OWN))
    decline = {"reason": "not_eligible"}

    _unknown(client.post(f"/referrals/{volunteer}/decline", json=decline, headers=elsewhere))
    _unknown(client.post(f"/referrals/{volunteer}/accept", headers=elsewhere))
    _unknown(client.post(f"/referrals/{volunteer}/decline", json=decline, headers=COORDINATOR))
    for case_side in (worker, lead):
        answered = client.post(f"/referrals/{owned}/decline", json=decline, headers=case_side)
        _refuses(answered, rule="organization")
        _refuses(client.post(f"/referrals/{owned}/accept", headers=case_side), rule="organization")
    assert OWN not in answered.text, "a 403 names the rule, not the organization"
    assert state_of(sessions, owned) == state_of(sessions, volunteer) == "sent"

    declined = client.post(f"/referrals/{volunteer}/decline", json=decline, headers=worker)
    assert (declined.status_code, declined.json()["state"]) == (200, "declined"), declined.text
    # Accepting asks the resources service for capacity (none here: 503), past every 403.
    asked = client.post(f"/referrals/{another}/accept", headers=lead)
    assert asked.status_code == 503, asked.text
    assert state_of(sessions, another) == "sent"


def test_a_coordinator_token_without_an_organization_is_refused_naming_it(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    referral_id = refer(sessions, new_need(sessions), _pick("res-own", OWN))
    nameless = bearer("coordinator", sub="co-0")
    for response in (
        client.get("/referrals", headers=nameless),
        client.get(f"/referrals/{referral_id}", headers=nameless),
        client.post(f"/referrals/{referral_id}/accept", headers=nameless),
        client.post(
            f"/needs/{new_need(sessions, category='micro_wish.goods')}/claims",
            json={"resource_id": "res-own", "resource_name": "x", "resource_kind": "charity"},
            headers=nameless,
        ),
    ):
        _refuses(response, "organization_required")
        assert response.json()["missing"] == "organization"
        assert "没有所属机构" in response.json()["detail"]


def test_a_reviewer_sees_only_referrals_their_department_reviews(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    reviewed = refer(sessions, new_need(sessions), DEPARTMENT)  # civil_affairs by default
    joint = refer(sessions, new_need(sessions), MEALS, review_departments=["health"])
    direct = refer(sessions, new_need(sessions), _pick("res-own", OWN))  # no review at all

    for reviewer in (CIVIL, CIVIL_HERE):  # a province's reviewer and a county's
        assert client.get(f"/referrals/{reviewed}", headers=reviewer).status_code == 200
        _unknown(client.get(f"/referrals/{joint}", headers=reviewer))
        _unknown(client.get(f"/referrals/{direct}", headers=reviewer))
    _unknown(client.get(f"/referrals/{reviewed}", headers=CIVIL_ELSEWHERE))
    assert client.get(f"/referrals/{joint}", headers=HEALTH).status_code == 200
    _unknown(client.get(f"/referrals/{reviewed}/fhir", headers=HEALTH))

    decision = {"department": "health", "decision": "approve"}
    _unknown(client.post(f"/referrals/{reviewed}/review", json=decision, headers=HEALTH))
    elsewhere = {"department": "civil_affairs", "decision": "approve"}
    _unknown(client.post(f"/referrals/{reviewed}/review", json=elsewhere, headers=CIVIL_ELSEWHERE))
    assert state_of(sessions, reviewed) == "pending_review"
    approved = client.post(f"/referrals/{reviewed}/review", json=elsewhere, headers=CIVIL)
    assert (approved.status_code, approved.json()["state"]) == (200, "sent")

    queue = client.get("/referrals/review-queue", headers=HEALTH).json()
    assert [r["id"] for r in queue["items"]] == [joint]


def test_a_reviewer_token_without_a_department_is_refused_naming_it(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    reviewed = refer(sessions, new_need(sessions), DEPARTMENT)
    nameless = bearer("alliance_reviewer", sub="rv-0", adcode="511523")
    for response in (
        client.get("/referrals/review-queue", headers=nameless),
        client.get(f"/referrals/{reviewed}", headers=nameless),
    ):
        _refuses(response, "department_required")
        assert response.json()["missing"] == "department"
    assert client.get("/auth/me", headers=nameless).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/referrals", "/referrals/review-queue", "/referrals/overdue", "/referrals/overrides"],
)
def test_a_page_above_the_configured_cap_is_422_naming_limit(client: TestClient, path: str) -> None:
    too_big = client.get(path, params={"limit": PAGE_MAX + 1})
    assert too_big.status_code == 422, too_big.text
    assert [(e["field"], e["rule"]) for e in too_big.json()["errors"]] == [
        ("limit", "less_than_equal")
    ]
    assert client.get(path, params={"limit": PAGE_MAX}).status_code == 200
    negative = client.get(path, params={"offset": -1}).json()["errors"]
    assert [(e["field"], e["rule"]) for e in negative] == [("offset", "greater_than_equal")]


def test_overdue_review_queue_and_overrides_come_in_pages_with_the_full_count(
    client: TestClient, sessions: sessionmaker[Session], clock: Clock
) -> None:
    reviewed = [refer(sessions, new_need(sessions), DEPARTMENT) for _ in range(3)]
    skipped = service.Pick(resource_id="res-2", name="第二", kind="enterprise", rank=2)
    overrides = [
        refer(sessions, new_need(sessions), skipped, override_reason="离家近") for _ in range(3)
    ]
    clock.now = T0 + timedelta(hours=50)

    def pages(path: str, key: str, **params: str) -> tuple[list[list[str]], int]:
        first = client.get(path, params={**params, "limit": 2}).json()
        rest = client.get(path, params={**params, "limit": 2, "offset": 2}).json()
        assert first["total"] == rest["total"]
        return [[x[key] for x in page["items"]] for page in (first, rest)], first["total"]

    overdue, total = pages("/referrals/overdue", "referral_id")
    assert total == 6 and [len(p) for p in overdue] == [2, 2]
    queue, total = pages("/referrals/review-queue", "id", department="civil_affairs")
    assert total == 3 and sorted(queue[0] + queue[1]) == sorted(reviewed)
    report, total = pages("/referrals/overrides", "referral_id")
    assert total == 3 and sorted(report[0] + report[1]) == sorted(overrides)
    assert client.get("/referrals/overrides").json()["by_kind"] == {"skipped_top": 3}

    elsewhere = bearer("station_lead", sub="sl-9", adcode="511524101")
    assert client.get("/referrals/overdue", headers=elsewhere).json()["total"] == 0
    assert client.get("/referrals/overrides", headers=elsewhere).json() == {
        "items": [],
        "total": 0,
        "by_kind": {},
    }
