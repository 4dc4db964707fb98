"""The needs API in Chinese: categories, units, hardship types, groups and tiers by their Chinese
labels (stored as codes; the match request carries the unit); errors in Chinese by default."""

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service
from services.needs.schemas import MatchRequest
from tests.needs.conftest import new_household, new_person, problems


def test_a_need_takes_its_category_and_unit_by_chinese_label(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client, hardship_categories=["低保边缘"])
    assert household["hardship_categories"] == ["near_dibao"]
    person = new_person(client, household["id"], groups=["独居老人"], tier="三级")
    assert (person["groups"], person["tier"]) == (["elderly_living_alone"], 3)
    body = {"household_id": household["id"], "category": "助餐送餐", "quantity": 2, "unit": "份"}
    created = client.post("/needs", json=body)
    assert created.status_code == 201, created.text
    need = created.json()
    assert (need["category"], need["unit"]) == ("elderly_care.meals", "portions")
    changed = client.patch(f"/needs/{need['id']}", json={"unit": "人"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["unit"] == "persons"
    with sessions() as s:
        ask = service.match_request(
            session=s, need_id=need["id"], request=MatchRequest(), default_k=10
        )
    assert (ask.category, ask.unit, ask.quantity) == ("elderly_care.meals", "persons", 2)


def test_unknown_labels_are_refused_with_their_rules(client: TestClient) -> None:
    household = new_household(client)
    body = {"household_id": household["id"], "category": "送饭", "unit": "斤"}
    assert problems(client.post("/needs", json=body)) == {
        ("category", "unknown_category"),
        ("unit", "unknown_unit"),
    }


def test_an_invalid_request_gets_a_chinese_detail_unless_english_is_asked_for(
    client: TestClient,
) -> None:
    body = {"address": "", "hardship_categories": ["有钱"]}
    chinese = client.post("/households", json=body)
    assert chinese.status_code == 422
    assert chinese.json()["title"] == "输入有误"
    assert "不是困难类型" in chinese.json()["detail"]
    assert "太短" in chinese.json()["detail"]
    english = client.post("/households", json=body, headers={"Accept-Language": "en"})
    assert english.json()["title"] == "Validation failed"
    assert "hardship" in english.json()["detail"] and "太短" not in english.json()["detail"]
    assert {(e["field"], e["rule"]) for e in english.json()["errors"]} == {
        (e["field"], e["rule"]) for e in chinese.json()["errors"]
    }


def test_the_vocabularies_are_served_by_the_needs_service_too(client: TestClient) -> None:
    tiers = client.get("/tiers").json()["items"]
    assert [t["zh"] for t in tiers] == ["一级", "二级", "三级", "四级", "五级"]
    hardship = client.get("/hardship-types").json()["items"]
    assert {"code": "near_dibao", "zh": "低保边缘"}.items() <= hardship[1].items()
