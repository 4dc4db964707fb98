"""Early warning (主动发现): a rule the county defines flags exactly the persons it should, fires
once when it becomes true, opens a verification task (核实), and how the task ends is counted."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.models import OutboxEvent
from shared.auth import Role
from shared.clock import china_today
from shared.contracts.needs import VERIFICATION_TASK_OPENED
from tests.auth import bearer
from tests.needs.conftest import active_case, new_household, problems
from tests.support.factories import JIANGAN_TOWN, resident_id

LIVES_ALONE_OVER_80_UNVISITED = {
    "all": [
        {"observed": "lives_alone", "within_days": 365},
        {"fact": "age", "op": ">=", "value": 80},
        {"fact": "days_since_visit", "op": ">", "value": 60},
    ]
}


def _visit(client: TestClient, person_id: str, days_ago: int, *observed: str) -> None:
    body = {
        "visited_on": (china_today() - timedelta(days=days_ago)).isoformat(),
        "social_worker": "李社工",
        "observations": list(observed),
    }
    response = client.post(f"/persons/{person_id}/visits", json=body)
    assert response.status_code == 201, response.text


def _case(client: TestClient, serial: str, born: str) -> str:
    household = new_household(client)
    person = active_case(client, household["id"], resident_id=resident_id(born, serial), tier=3)
    return str(person["id"])


@pytest.fixture
def county(client: TestClient) -> dict[str, str]:
    """Six cases; by hand, the rule above holds for `a` and `f` only."""
    cases = {
        "a": _case(client, "011", "19400101"),  # 86, lives alone, last seen 90 days ago
        "b": _case(client, "021", "19400101"),  # 86, lives alone, seen 10 days ago
        "c": _case(client, "031", "19600101"),  # 66, lives alone, last seen 90 days ago
        "d": _case(client, "041", "19400101"),  # 86, not alone, last seen 90 days ago
        "e": _case(client, "051", "19400101"),  # 86, alone 400 days ago only
        "f": _case(client, "061", "19380101"),  # 88, alone 100 days ago, last seen 70 days ago
    }
    _visit(client, cases["a"], 90, "lives_alone")
    _visit(client, cases["b"], 10, "lives_alone", "sleeps_badly")
    _visit(client, cases["c"], 90, "lives_alone")
    _visit(client, cases["d"], 90, "sleeps_badly")
    _visit(client, cases["e"], 300)
    _visit(client, cases["f"], 100, "lives_alone")
    _visit(client, cases["f"], 70)
    return cases


def _rule(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "code": "alone_over_80_unvisited",
        "label_zh": "80岁以上独居老人60天未探访",
        "label_en": "Over 80, living alone, not visited in 60 days",
        "expression": LIVES_ALONE_OVER_80_UNVISITED,
        "task_due_days": 5,
        **overrides,
    }
    response = client.post("/warning-rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _tasks(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/verification-tasks", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_a_rule_flags_exactly_the_hand_computed_persons_and_fires_once(
    client: TestClient, county: dict[str, str]
) -> None:
    preview = client.post(
        "/warning-rules/preview", json={"expression": LIVES_ALONE_OVER_80_UNVISITED}
    )
    assert preview.json()["flagged"] == 2
    _rule(client)
    assert client.post("/warning-rules/evaluate").json()["opened"] == 2
    tasks = _tasks(client)
    assert {t["person_id"] for t in tasks} == {county["a"], county["f"]}
    assert all(t["due_on"] == (china_today() + timedelta(days=5)).isoformat() for t in tasks)
    assert client.post("/warning-rules/evaluate").json()["opened"] == 0  # still true: no refire
    assert len(_tasks(client)) == 2


def test_a_rule_fires_again_only_after_it_stopped_holding(
    client: TestClient, county: dict[str, str]
) -> None:
    _rule(client)
    client.post("/warning-rules/evaluate")
    _visit(client, county["a"], 0, "lives_alone")  # seen today: no longer holds
    assert client.post("/warning-rules/evaluate").json()["opened"] == 0
    later = datetime.combine(china_today() + timedelta(days=61), datetime.min.time(), tzinfo=UTC)
    client.app.state.clock = lambda: later  # type: ignore[attr-defined]
    # 61 days on, `a` is unvisited again and `b` (seen 71 days ago) now holds too; `f`'s hit
    # never cleared, so `f` does not fire a second time.
    assert client.post("/warning-rules/evaluate").json()["opened"] == 2
    opened = [t["person_id"] for t in _tasks(client, status="open")]
    assert sorted(opened) == sorted([county["a"], county["a"], county["b"], county["f"]])


def test_task_outcomes_are_counted_per_rule(client: TestClient, county: dict[str, str]) -> None:
    rule = _rule(client)
    client.post("/warning-rules/evaluate")
    by_person = {t["person_id"]: t for t in _tasks(client)}
    confirmed = client.post(
        f"/verification-tasks/{by_person[county['a']]['id']}/close",
        json={"outcome": "confirmed", "tier": 1},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert client.get(f"/persons/{county['a']}").json()["tier"] == 1
    not_confirmed = client.post(
        f"/verification-tasks/{by_person[county['f']]['id']}/close",
        json={"outcome": "not_confirmed", "reason": "女儿已搬回同住"},
    )
    assert not_confirmed.status_code == 200, not_confirmed.text
    again = client.post(
        f"/verification-tasks/{by_person[county['f']]['id']}/close",
        json={"outcome": "not_confirmed", "reason": "x"},
    )
    assert again.status_code == 409
    (report,) = client.get("/warning-rules/report").json()
    assert report["rule_id"] == rule["id"]
    assert (report["flagged"], report["open"], report["confirmed"], report["not_confirmed"]) == (
        2,
        0,
        1,
        1,
    )
    assert report["confirmed_share"] == 0.5


def test_bad_rules_visits_and_closings_are_422_naming_the_part(
    client: TestClient, county: dict[str, str]
) -> None:
    unknown = {"all": [{"observed": "owns_a_yacht"}]}
    response = client.post("/warning-rules/preview", json={"expression": unknown})
    assert problems(response) == {("expression", "unknown_observation")}
    bad_op = {"fact": "age", "op": "~", "value": 80}
    fields = problems(client.post("/warning-rules/preview", json={"expression": bad_op}))
    assert {rule for _, rule in fields} == {"literal_error"}
    assert all(field.startswith("expression") and field.endswith("op") for field, _ in fields)
    deep: dict[str, Any] = {"fact": "age", "op": ">", "value": 1}
    for _ in range(20):
        deep = {"not": deep}
    assert client.post("/warning-rules/preview", json={"expression": deep}).status_code == 422
    visit = {"visited_on": china_today().isoformat(), "social_worker": "李", "observations": ["x"]}
    response = client.post(f"/persons/{county['a']}/visits", json=visit)
    assert problems(response) == {("observations[0]", "unknown_observation")}
    _rule(client)
    client.post("/warning-rules/evaluate")
    task = _tasks(client)[0]
    bare = client.post(f"/verification-tasks/{task['id']}/close", json={"outcome": "confirmed"})
    assert bare.status_code == 422
    assert client.post("/warning-rules", json={"code": "X"}).status_code == 422


def test_tasks_stay_in_their_station_and_events_carry_no_personal_data(
    client: TestClient, county: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    _rule(client)
    client.post("/warning-rules/evaluate")
    elsewhere = bearer(Role.SOCIAL_WORKER, adcode="511524")
    assert client.get("/verification-tasks", headers=elsewhere).json()["items"] == []
    task = _tasks(client)[0]
    closing = {"outcome": "not_confirmed", "reason": "x"}
    response = client.post(
        f"/verification-tasks/{task['id']}/close", json=closing, headers=elsewhere
    )
    assert response.status_code in (403, 404)
    mine = bearer(Role.SOCIAL_WORKER, adcode=JIANGAN_TOWN)
    assert len(client.get("/verification-tasks", headers=mine).json()["items"]) == 2
    with sessions() as s:
        payloads = [
            json.loads(e.payload)
            for e in s.scalars(
                select(OutboxEvent).where(OutboxEvent.subject == VERIFICATION_TASK_OPENED)
            )
        ]
    assert len(payloads) == 2
    assert set(payloads[0]) == {
        "task_id",
        "rule_code",
        "person_id",
        "household_id",
        "adcode",
        "status",
        "due_on",
        "occurred_at",
    }


def test_the_checklist_is_the_countys(make_client: Callable[..., TestClient]) -> None:
    client = make_client(observation_checklist={"no_heating": {"zh": "无取暖", "en": "no heating"}})
    assert client.get("/observations").json() == [
        {"code": "no_heating", "label_zh": "无取暖", "label_en": "no heating"}
    ]
    response = client.post(
        "/warning-rules/preview", json={"expression": {"observed": "lives_alone"}}
    )
    assert problems(response) == {("expression", "unknown_observation")}
