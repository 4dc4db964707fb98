"""Needs: status moves only along allowed transitions, every move is in the history with who
and when, events carry no personal data, and a need's person lends its groups to matching."""

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service
from services.needs.models import OutboxEvent
from services.needs.schemas import MatchRequest
from shared.clock import china_today
from shared.contracts.needs import NEED_CLOSED, NEED_OPENED, NEED_UPDATED
from shared.errors import InvalidTransition
from tests.auth import bearer
from tests.needs.conftest import new_household, new_person, problems
from tests.support.factories import resident_id

ACTOR = bearer("social_worker", sub="sw-li", adcode="51")


def _need(client: TestClient, household_id: str, **extra: object) -> dict:  # type: ignore[type-arg]
    body = {"household_id": household_id, "category": "elderly_care.meals", "urgency": 4, **extra}
    response = client.post("/needs", json=body, headers=ACTOR)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_need_moves_along_its_lifecycle_with_history(client: TestClient) -> None:
    household = new_household(client)
    need = _need(client, household["id"])
    for status in ("matching", "referred", "in_service", "met"):
        moved = client.post(f"/needs/{need['id']}/status", json={"status": status}, headers=ACTOR)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    assert moved.json()["version"] == 5
    history = client.get(f"/needs/{need['id']}/history").json()
    steps = [(h["from_status"], h["to_status"]) for h in history]
    assert steps == [
        (None, "open"),
        ("open", "matching"),
        ("matching", "referred"),
        ("referred", "in_service"),
        ("in_service", "met"),
    ]
    assert {h["actor"] for h in history} == {"sw-li"}
    assert all(h["changed_at"] for h in history)


def test_invalid_transition_is_409_naming_the_allowed_ones(client: TestClient) -> None:
    household = new_household(client)
    need = _need(client, household["id"])
    response = client.post(f"/needs/{need['id']}/status", json={"status": "met"})
    assert response.status_code == 409
    assert response.json()["allowed"] == ["closed_unmet", "matching", "referred", "withdrawn"]
    client.post(f"/needs/{need['id']}/status", json={"status": "withdrawn", "reason": "moved"})
    closed = client.post(f"/needs/{need['id']}/status", json={"status": "open"})
    assert closed.status_code == 409
    assert closed.json()["allowed"] == []
    assert problems(client.post(f"/needs/{need['id']}/status", json={"status": "done"})) == {
        ("status", "enum")
    }
    assert client.get(f"/needs/{need['id']}").json()["status"] == "withdrawn"


def test_set_need_status_keeps_its_signature_and_refuses_bad_moves(
    sessions: sessionmaker[Session], client: TestClient
) -> None:
    household = new_household(client)
    need_id = _need(client, household["id"])["id"]
    with sessions() as s, s.begin():
        need = service.get_need_or_raise(session=s, need_id=need_id)
        service.set_need_status(session=s, need=need, status="referred", actor="referrals")
        with pytest.raises(InvalidTransition) as refused:
            service.set_need_status(session=s, need=need, status="met", actor="referrals")
        assert refused.value.extra["allowed"] == [
            "closed_unmet",
            "in_service",
            "matching",
            "open",
            "withdrawn",
        ]
        service.set_need_status(session=s, need=need, status="matching", actor="referrals")
    assert client.get(f"/needs/{need_id}").json()["status"] == "matching"


def test_need_events_carry_ids_codes_and_urgency_only(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    person = new_person(client, household["id"], phone="13900001111")
    need = _need(client, household["id"], person_id=person["id"], description="张三需要助餐")
    client.post(f"/needs/{need['id']}/status", json={"status": "matching"})
    client.post(f"/needs/{need['id']}/status", json={"status": "closed_unmet"})
    with sessions() as s:
        events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    subjects = [e.subject for e in events if e.aggregate_id == need["id"]]
    assert subjects == [NEED_OPENED, NEED_UPDATED, NEED_CLOSED]
    payload = json.loads(events[-1].payload)
    assert set(payload) == {
        "need_id",
        "household_id",
        "category",
        "status",
        "urgency",
        "adcode",
        "version",
        "occurred_at",
    }
    text = " ".join(e.payload for e in events)
    for secret in ("张三", "13900001111", resident_id(), "红星村"):
        assert secret not in text


def test_need_person_must_belong_to_the_household(client: TestClient) -> None:
    household = new_household(client)
    other = new_household(client)
    stranger = new_person(client, other["id"])
    body = {"household_id": household["id"], "person_id": stranger["id"], "category": "food"}
    assert problems(client.post("/needs", json=body)) == {("category", "unknown_category")}
    body["category"] = "basic_living.food"
    assert problems(client.post("/needs", json=body)) == {("person_id", "in_household")}


def test_matching_request_carries_the_persons_groups_not_who_they_are(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client, hardship_categories=["低保"])
    born = date(china_today().year - 72, 1, 1).strftime("%Y%m%d")
    person = new_person(
        client, household["id"], resident_id=resident_id(born=born), groups=["独居老人"]
    )
    need = _need(client, household["id"], person_id=person["id"])
    plain = _need(client, household["id"])
    with sessions() as s:
        ask = service.match_request(
            session=s, need_id=need["id"], request=MatchRequest(k=5), default_k=10
        )
        bare = service.match_request(
            session=s, need_id=plain["id"], request=MatchRequest(), default_k=10
        )
    assert ask.groups == ["dibao", "elderly", "elderly_living_alone"]
    assert ask.k == 5 and ask.urgency == 4 and ask.category == "elderly_care.meals"
    assert "张三" not in ask.model_dump_json()
    assert bare.groups == [] and bare.k == 10


def test_requesting_matches_moves_an_open_need_to_matching(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    need = _need(client, household["id"])
    with sessions() as s, s.begin():
        assert service.mark_matching(session=s, need_id=need["id"], actor="sw").status == "matching"
    client.post(f"/needs/{need['id']}/status", json={"status": "referred"})
    with sessions() as s, s.begin():
        assert service.mark_matching(session=s, need_id=need["id"], actor="sw").status == "referred"


def test_open_need_can_change_what_it_asks_and_says_so(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    need = _need(client, household["id"])
    changed = client.patch(f"/needs/{need['id']}", json={"urgency": 5, "quantity": 3})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["urgency"], changed.json()["quantity"]) == (5, 3)
    assert changed.json()["version"] == 2
    assert problems(client.patch(f"/needs/{need['id']}", json={"urgency": 9})) == {
        ("urgency", "less_than_equal")
    }
    assert problems(client.patch(f"/needs/{need['id']}", json={"urgency": None})) == {
        ("urgency", "not_null")
    }
    client.post(f"/needs/{need['id']}/status", json={"status": "withdrawn"})
    assert client.patch(f"/needs/{need['id']}", json={"urgency": 1}).status_code == 409
    with sessions() as s:
        subjects = s.scalars(
            select(OutboxEvent.subject)
            .where(OutboxEvent.aggregate_id == need["id"])
            .order_by(OutboxEvent.id)
        ).all()
    assert subjects == [NEED_OPENED, NEED_UPDATED, NEED_CLOSED]
