"""Tiers and home visits: the next visit follows from the tier, `GET /visits/due` lists what is
overdue and upcoming for a station, and a tier change is announced without personal data."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import shared.clock
from services.needs.models import OutboxEvent, Person
from services.needs.settings import DEFAULT_FOLLOW_UP_DAYS
from shared.clock import china_today
from shared.contracts.common import CHINA_TIME
from shared.contracts.needs import CASE_TIER_CHANGED
from tests.needs.conftest import active_case, new_household, new_person, problems
from tests.support.factories import resident_id


def _visit(client: TestClient, person_id: str, days_ago: int, **extra: object) -> dict:  # type: ignore[type-arg]
    body = {
        "visited_on": (china_today() - timedelta(days=days_ago)).isoformat(),
        "social_worker": "李社工",
        "findings": "老人身体尚可,需助餐",
        **extra,
    }
    response = client.post(f"/persons/{person_id}/visits", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_visit_sets_the_next_due_date_from_the_tier(client: TestClient) -> None:
    household = new_household(client)
    person = active_case(client, household["id"], tier=3)
    recorded = _visit(client, person["id"], days_ago=10)
    due = china_today() - timedelta(days=10) + timedelta(days=DEFAULT_FOLLOW_UP_DAYS[3])
    assert recorded["next_visit_due"] == due.isoformat()
    changed = _visit(client, person["id"], days_ago=2, tier=1)
    assert changed["visit"]["tier_before"] == 3 and changed["visit"]["tier_after"] == 1
    assert changed["next_visit_due"] == (china_today() + timedelta(days=5)).isoformat()
    fetched = client.get(f"/persons/{person['id']}").json()
    assert fetched["tier"] == 1
    assert fetched["last_visit_on"] == (china_today() - timedelta(days=2)).isoformat()
    assert len(client.get(f"/persons/{person['id']}/visits").json()) == 2


def test_follow_up_intervals_come_from_settings(make_client: Callable[..., TestClient]) -> None:
    client = make_client(tier_follow_up_days={1: 3, 2: 10, 3: 20, 4: 40, 5: 80})
    household = new_household(client)
    person = active_case(client, household["id"], tier=2)
    recorded = _visit(client, person["id"], days_ago=0)
    assert recorded["next_visit_due"] == (china_today() + timedelta(days=10)).isoformat()


def test_visit_in_the_future_or_with_a_bad_tier_writes_nothing(client: TestClient) -> None:
    household = new_household(client)
    person = active_case(client, household["id"], tier=2)
    body = {
        "visited_on": (china_today() + timedelta(days=1)).isoformat(),
        "social_worker": "李",
        "tier": 9,
    }
    response = client.post(f"/persons/{person['id']}/visits", json=body)
    assert problems(response) == {("visited_on", "not_in_future"), ("tier", "unknown_tier")}
    assert client.get(f"/persons/{person['id']}/visits").json() == []


def test_exited_case_takes_no_visits(client: TestClient) -> None:
    household = new_household(client)
    person = active_case(client, household["id"], tier=2)
    client.post(
        f"/persons/{person['id']}/status", json={"status": "exited", "exit_reason": "deceased"}
    )
    body = {"visited_on": china_today().isoformat(), "social_worker": "李"}
    assert client.post(f"/persons/{person['id']}/visits", json=body).status_code == 409


def test_due_lists_overdue_and_upcoming_cases_of_the_station_only(client: TestClient) -> None:
    here = new_household(client)
    overdue = active_case(client, here["id"], name="甲", tier=1)  # weekly
    _visit(client, overdue["id"], days_ago=20)
    upcoming = active_case(
        client, here["id"], name="乙", tier=2, resident_id=resident_id(serial="005")
    )
    _visit(client, upcoming["id"], days_ago=25)  # due in 5 days
    later = active_case(
        client, here["id"], name="丙", tier=5, resident_id=resident_id(serial="007")
    )
    _visit(client, later["id"], days_ago=1)  # due in a year
    applied = new_person(
        client, here["id"], name="丁", tier=1, resident_id=resident_id(serial="009")
    )
    gone = active_case(client, here["id"], name="戊", tier=1, resident_id=resident_id(serial="011"))
    _visit(client, gone["id"], days_ago=30)
    client.post(
        f"/persons/{gone['id']}/status", json={"status": "exited", "exit_reason": "moved_away"}
    )
    elsewhere = new_household(
        client, adcode="511524", station_adcode="511524100", address="长宁县x"
    )
    other = active_case(client, elsewhere["id"], tier=1, resident_id=resident_id(serial="013"))
    _visit(client, other["id"], days_ago=30)

    response = client.get("/visits/due", params={"station": "511523101", "within_days": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [v["person_id"] for v in body["visits"]] == [overdue["id"], upcoming["id"]]
    assert (body["overdue"], body["upcoming"]) == (1, 1)
    first, second = body["visits"]
    assert first["overdue"] is True and first["days_until_due"] == -13
    assert second["overdue"] is False and second["days_until_due"] == 5
    assert applied["id"] not in {v["person_id"] for v in body["visits"]}
    county = client.get("/visits/due", params={"station": "5115", "within_days": 0}).json()
    assert {v["person_id"] for v in county["visits"]} == {overdue["id"], other["id"]}


def test_due_with_a_malformed_station_is_422(client: TestClient) -> None:
    assert problems(client.get("/visits/due", params={"station": "abc"})) == {
        ("station", "string_pattern_mismatch")
    }
    assert problems(client.get("/visits/due", params={"station": "5115", "within_days": -1})) == {
        ("within_days", "greater_than_equal")
    }


def test_tier_change_is_announced_with_ids_and_codes_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    number = resident_id()
    person = active_case(client, household["id"], tier=4, phone="13800001234", resident_id=number)
    _visit(client, person["id"], days_ago=0, tier=2)
    with sessions() as s:
        events = s.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.subject == CASE_TIER_CHANGED)
            .order_by(OutboxEvent.id)
        ).all()
        stored = s.get(Person, person["id"])
        assert stored is not None and stored.resident_id == number
    payloads = [json.loads(e.payload) for e in events]
    assert [(p["from_tier"], p["to_tier"]) for p in payloads] == [(None, 4), (4, 2)]
    assert payloads[1]["adcode"] == "511523101"
    assert set(payloads[1]) == {
        "person_id",
        "household_id",
        "from_tier",
        "to_tier",
        "adcode",
        "version",
        "occurred_at",
    }
    text = " ".join(e.payload for e in events)
    for secret in (number, "13800001234", "张三", "红星村"):
        assert secret not in text


def test_today_is_the_day_in_china_not_the_servers_utc_day(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 07:30 in China the servers' UTC day is still yesterday: that morning's visit is not
    "in the future", tomorrow's is, and what fell due yesterday is overdue this morning."""
    day = china_today()
    morning = datetime.combine(day, time(7, 30), CHINA_TIME).astimezone(UTC)
    assert morning.date() == day - timedelta(days=1)
    household = new_household(client)
    person = active_case(client, household["id"], tier=1)  # weekly
    _visit(client, person["id"], days_ago=8)  # due yesterday
    monkeypatch.setattr(shared.clock, "utc_now", lambda: morning)
    client.app.state.clock = lambda: morning  # type: ignore[attr-defined]
    visits = f"/persons/{person['id']}/visits"
    tomorrow = {"visited_on": (day + timedelta(days=1)).isoformat(), "social_worker": "李"}
    assert problems(client.post(visits, json=tomorrow)) == {("visited_on", "not_in_future")}
    due = client.get("/visits/due", params={"station": "511523101", "within_days": 0}).json()
    assert [(v["person_id"], v["days_until_due"]) for v in due["visits"]] == [(person["id"], -1)]
    this_morning = {"visited_on": day.isoformat(), "social_worker": "李"}
    assert client.post(visits, json=this_morning).status_code == 201
