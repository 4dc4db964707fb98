"""Overdue referrals through the HTTP API, with the app's clock injected: the line in
GET /referrals/overdue, the flag in the review queue, the escalation."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import service
from tests.referrals.domain import T0, Clock, events_of, new_need, refer


def test_a_referral_not_reviewed_in_time_is_listed_flagged_and_escalated(
    client: TestClient, sessions: sessionmaker[Session], clock: Clock
) -> None:
    pick = service.Pick(resource_id="res-dept", name="县民政局", kind="department", rank=1)
    referral_id = refer(sessions, new_need(sessions), pick)
    queue = {"department": "civil_affairs", "region": "511523"}

    clock.now = T0 + timedelta(hours=47)
    assert client.get("/referrals/overdue").json()["total"] == 0
    assert (
        client.get("/referrals/review-queue", params=queue).json()["items"][0]["overdue"] is False
    )

    clock.now = T0 + timedelta(hours=50)
    lines = client.get("/referrals/overdue").json()["items"]
    assert [(x["referral_id"], x["waiting_for"], x["escalated"]) for x in lines] == [
        (referral_id, "review", False)
    ]
    assert lines[0]["overdue_hours"] == pytest.approx(2.0)
    assert lines[0]["departments"] == ["civil_affairs"]
    flagged = client.get("/referrals/review-queue", params=queue).json()["items"][0]
    assert (flagged["id"], flagged["overdue"]) == (referral_id, True)

    escalated = client.post("/referrals/overdue/escalate").json()["items"]
    assert escalated[0]["escalated"] is True
    assert client.get(f"/referrals/{referral_id}").json()["escalated"] is True
    subjects = [subject for subject, _ in events_of(sessions, referral_id)]
    assert subjects.count("lianjie.needs.referral.escalated.v1") == 1


def test_bad_input_is_422_naming_field_and_rule(client: TestClient) -> None:
    response = client.post(
        "/referrals/whatever/complete", json={"result": "great", "satisfaction": 9}
    )
    assert response.status_code == 422
    errors = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert ("result", "literal_error") in errors
    assert ("satisfaction", "less_than_equal") in errors
    departments = client.post(
        "/referrals",
        json={"need_id": "n", "resource_id": "r", "review_departments": ["民政", "x" * 65]},
    )
    assert departments.status_code == 422
    assert {(e["field"], e["rule"]) for e in departments.json()["errors"]} == {
        ("review_departments.0", "string_pattern_mismatch"),
        ("review_departments.1", "string_too_long"),
    }
    missing = client.post("/referrals/no-such-id/start")
    assert missing.status_code == 404
