"""Review goes where the county's rules send it (LIANJIE_NEEDS_REFERRAL_REVIEW_RULES, defaults
in docs/referrals.md): a bureau's own desk reviews referrals to it, medical aid goes to medical
insurance and civil affairs, a station's counselling needs none; and the reviewer reads the
need they decide on, the person masked (real stack, both backends)."""

from typing import Any

import httpx
import pytest

from cli.stack import Stack
from tests.auth import bearer
from tests.referrals.test_loop import WORKER, ok, spot, wait_matched
from tests.support.factories import resource_body

EDUCATION = bearer("alliance_reviewer", sub="rv-edu", department="education", adcode="511523")
CIVIL = bearer("alliance_reviewer", sub="rv-civ", department="civil_affairs", adcode="511523")


def _resource(client: httpx.Client, stack: Stack, where: dict[str, float], **fields: Any) -> str:
    body = resource_body(description="服务", location=where, radius_km=1.5, **fields)
    return str(ok(client.post(f"{stack.url('resources')}/resources", json=body), 201)["id"])


def _need(client: httpx.Client, stack: Stack, where: dict[str, float], category: str) -> str:
    needs = stack.url("needs")
    household = ok(
        client.post(
            f"{needs}/households",
            json={
                "address": "江安县江安镇红星村3组12号",
                "adcode": "511523101",
                "location": where,
                "hardship_categories": ["dibao"],
            },
        ),
        201,
    )
    person = ok(
        client.post(
            f"{needs}/households/{household['id']}/persons",
            json={
                "name": "李小明",
                "gender": "male",
                "date_of_birth": "1950-03-04",
                "groups": ["elderly"],
            },
        ),
        201,
    )
    body = {
        "household_id": household["id"],
        "person_id": person["id"],
        "category": category,
        "urgency": 4,
        "description": "学费困难",
    }
    return str(ok(client.post(f"{needs}/needs", json=body), 201)["id"])


def _refer(client: httpx.Client, stack: Stack, need_id: str, resource_id: str) -> dict[str, Any]:
    wait_matched(client, stack, need_id, resource_id)
    body = {"need_id": need_id, "resource_id": resource_id, "override_reason": "就近"}
    return ok(client.post(f"{stack.url('needs')}/referrals", json=body, headers=WORKER), 201)


@pytest.mark.integration
def test_a_referral_to_the_education_bureau_is_reviewed_by_education_only(stack: Stack) -> None:
    needs = stack.url("needs")
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        bureau = _resource(
            client,
            stack,
            where,
            name="教育局学生资助窗口",
            kind="department",
            organization="江安县教育局",
            categories=["education.tuition"],
        )
        referral = _refer(client, stack, _need(client, stack, where, "education.tuition"), bureau)
        assert referral["state"] == "pending_review"
        assert referral["review_departments"] == ["education"]
        assert referral["review_reasons"] == ["department_resource"]

        queue = ok(client.get(f"{needs}/referrals/review-queue", headers=EDUCATION))
        assert referral["id"] in [r["id"] for r in queue["items"]]
        civil = ok(client.get(f"{needs}/referrals/review-queue", headers=CIVIL))
        assert referral["id"] not in [r["id"] for r in civil["items"]]

        seen = ok(client.get(f"{needs}/referrals/{referral['id']}", headers=EDUCATION))
        need = seen["need"]
        assert (need["category"], need["urgency"], need["description"]) == (
            "education.tuition",
            4,
            "学费困难",
        )
        assert need["hardship_categories"] == ["dibao"]
        assert need["person"]["name_masked"] == "李**"
        assert need["person"]["groups"] == ["elderly"]
        assert need["person"]["age"] is not None
        assert "李小明" not in str(seen)
        decision = {"department": "education", "decision": "approve"}
        url = f"{needs}/referrals/{referral['id']}/review"
        assert ok(client.post(url, json=decision, headers=EDUCATION))["state"] == "sent"


@pytest.mark.integration
def test_medical_aid_goes_to_medical_insurance_and_civil_affairs(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        charity = _resource(
            client,
            stack,
            where,
            name="大病救助基金",
            kind="charity",
            organization="县慈善会",
            categories=["medical.bill_assistance"],
        )
        need_id = _need(client, stack, where, "medical.bill_assistance")
        referral = _refer(client, stack, need_id, charity)
    assert referral["state"] == "pending_review"
    assert referral["review_reasons"] == ["medical_aid"]
    assert referral["review_departments"] == ["medical_insurance", "civil_affairs"]


@pytest.mark.integration
def test_a_stations_counselling_needs_no_review(stack: Stack) -> None:
    with httpx.Client(timeout=15, headers=bearer()) as client:
        where = spot()
        station = _resource(
            client,
            stack,
            where,
            name="江安镇社工站心理疏导",
            kind="department",
            organization="江安镇社工站",
            categories=["psychological.counselling"],
        )
        need_id = _need(client, stack, where, "psychological.counselling")
        referral = _refer(client, stack, need_id, station)
    assert (referral["state"], referral["review_reasons"]) == ("sent", [])
