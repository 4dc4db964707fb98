"""Legal clocks on Chinese working days: a dibao decision within 25 working days (40 extended), a
refusal notified within 3 — counted over national holidays and adjusted working weekends."""

import json
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.models import OutboxEvent
from services.needs.procedures import service
from shared import workdays
from shared.auth import Role
from shared.contracts.needs import PROCEDURE_STEP_OVERDUE
from tests.auth import bearer
from tests.needs.conftest import active_case, new_household, problems
from tests.support.factories import resident_id


def _procedure(client: TestClient, applied_on: str, serial: str = "003") -> dict[str, Any]:
    household = new_household(client)
    person = active_case(client, household["id"], resident_id=resident_id(serial=serial))
    body = {"kind": "dibao", "person_id": person["id"], "applied_on": applied_on}
    response = client.post("/procedures", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _step(procedure: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in procedure["steps"] if s["step"] == name)


def test_working_days_skip_holidays_and_count_adjusted_saturdays() -> None:
    # 2025: National Day and Mid-Autumn off 1–8 October; Sunday 28 September and Saturday
    # 11 October were working days (调休).
    assert workdays.is_working_day(date(2025, 9, 28)) and workdays.is_working_day(
        date(2025, 10, 11)
    )
    assert not workdays.is_working_day(date(2025, 10, 3))
    assert workdays.add_working_days(date(2025, 9, 26), 3).on == date(2025, 9, 30)
    # Friday 26 Sep + 25 working days: 28 (Sun), 29, 30 Sep; 9, 10, 11 (Sat) Oct; 13–17,
    # 20–24, 27–31 Oct; 3, 4, 5, 6 Nov.
    assert workdays.add_working_days(date(2025, 9, 26), 25).on == date(2025, 11, 6)
    assert workdays.working_days_between(date(2025, 9, 30), date(2025, 10, 9)) == 1


def test_a_dibao_decision_clock_crosses_the_national_holiday(client: TestClient) -> None:
    procedure = _procedure(client, "2025-09-26")
    decision = _step(procedure, "decision")
    assert decision["due_on"] == "2025-11-06" and decision["due_estimated"] is False
    assert decision["label_zh"] == "审批决定"
    extended = client.post(f"/procedures/{procedure['id']}/steps/decision/extend")
    assert extended.status_code == 200, extended.text
    # 40 working days: 15 more after 6 November (7, 10–14, 17–21, 24–27), no holidays.
    assert _step(extended.json(), "decision")["due_on"] == "2025-11-27"
    again = client.post(f"/procedures/{procedure['id']}/steps/decision/extend")
    assert again.status_code == 409


def test_a_refusal_starts_its_notice_clock(client: TestClient) -> None:
    procedure = _procedure(client, "2025-09-01")
    done = client.post(
        f"/procedures/{procedure['id']}/steps/decision/done",
        json={"done_on": "2025-09-30", "outcome": "refused"},
    )
    assert done.status_code == 200, done.text
    notice = _step(done.json(), "refusal_notice")
    # 3 working days after Tuesday 30 Sep: 9, 10 and Saturday 11 October.
    assert notice["started_on"] == "2025-09-30" and notice["due_on"] == "2025-10-11"
    public = client.post(
        f"/procedures/{procedure['id']}/steps/public_notice/start",
        json={"started_on": "2025-09-20"},
    )
    assert _step(public.json(), "public_notice")["due_on"] == "2025-09-27"  # 7 calendar days


def test_overdue_steps_are_listed_and_escalated_once(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    late = _procedure(client, "2025-09-26")  # decision due 6 November 2025
    client.app.state.clock = lambda: datetime(2025, 11, 7, 9, tzinfo=UTC)  # type: ignore[attr-defined]
    overdue = client.get("/procedures/overdue").json()
    assert [i["procedure_id"] for i in overdue["items"]] == [late["id"]]
    assert overdue["items"][0]["step"]["overdue"] is True
    elsewhere = bearer(Role.SOCIAL_WORKER, adcode="511524")
    assert client.get("/procedures/overdue", headers=elsewhere).json()["total"] == 0
    hidden = client.get(f"/procedures/{late['id']}", headers=elsewhere)
    assert hidden.status_code in (403, 404)
    now = datetime(2025, 11, 7, 9, tzinfo=UTC)
    with sessions.begin() as s:
        assert service.escalate_overdue(session=s, today=now.date(), now=now) == 1
    with sessions.begin() as s:
        assert service.escalate_overdue(session=s, today=now.date(), now=now) == 0
        (event,) = s.scalars(
            select(OutboxEvent).where(OutboxEvent.subject == PROCEDURE_STEP_OVERDUE)
        ).all()
        assert json.loads(event.payload)["step"] == "decision"
    assert client.get(f"/procedures/{late['id']}").json()["steps"][0]["escalated_at"]


def test_past_the_calendars_vintage_a_due_day_is_marked_estimated(client: TestClient) -> None:
    last = workdays.vintage()
    procedure = _procedure(client, f"{last}-12-20")
    assert _step(procedure, "decision")["due_estimated"] is True


def test_bad_procedures_are_422(client: TestClient) -> None:
    household = new_household(client)
    person = active_case(client, household["id"], resident_id=resident_id(serial="013"))
    unknown = {"kind": "pension", "person_id": person["id"], "applied_on": "2025-09-01"}
    assert problems(client.post("/procedures", json=unknown)) == {("kind", "unknown_procedure")}
    nobody = {"kind": "dibao", "person_id": "nobody", "applied_on": "2025-09-01"}
    assert problems(client.post("/procedures", json=nobody)) == {("person_id", "unknown")}
    procedure = _procedure(client, "2025-09-01")
    early = client.post(
        f"/procedures/{procedure['id']}/steps/decision/done", json={"done_on": "2025-08-01"}
    )
    assert problems(early) == {("done_on", "before_start")}
    assert client.post(f"/procedures/{procedure['id']}/steps/nope/extend").status_code == 404
