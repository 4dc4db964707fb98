"""Person cases (一人一案): resident ID rules, groups, consent and the case lifecycle."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.models import Person
from shared.clock import china_today
from tests.auth import bearer
from tests.needs.conftest import active_case, new_household, new_person, problems
from tests.support.factories import resident_id


def _persons(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count(Person.id))) or 0)


def test_person_reads_birth_date_and_gender_from_the_id_and_hides_it(client: TestClient) -> None:
    household = new_household(client)
    number = resident_id(born="19480315", serial="124")  # even serial digit: female
    person = new_person(client, household["id"], resident_id=number.lower())
    assert person["date_of_birth"] == "1948-03-15"
    assert person["gender"] == "female"
    assert person["case_status"] == "applied"
    hidden = number[:6] + "*" * 8 + number[-4:]
    assert person["resident_id"] == person["resident_id_masked"] == hidden
    assert person["masked"] is True


def test_wrong_check_digit_is_422_that_never_echoes_the_number(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    good = resident_id()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    response = client.post(
        f"/households/{household['id']}/persons", json={"name": "张三", "resident_id": bad}
    )
    assert problems(response) == {("resident_id", "resident_id_checksum")}
    assert response.json()["errors"][0]["message"] == "身份证号校验位不对"
    english = client.post(
        f"/households/{household['id']}/persons",
        json={"name": "张三", "resident_id": bad},
        headers={"Accept-Language": "en"},
    )
    assert english.json()["errors"][0]["message"] == "the check digit does not match"
    assert bad not in response.text and bad[:17] not in response.text
    assert _persons(sessions) == 0


def test_id_format_future_birth_and_inconsistent_gender_are_named(client: TestClient) -> None:
    household = new_household(client)
    url = f"/households/{household['id']}/persons"
    assert problems(client.post(url, json={"name": "甲", "resident_id": "12345"})) == {
        ("resident_id", "resident_id_format")
    }
    future = resident_id(born=(china_today() + timedelta(days=400)).strftime("%Y%m%d"))
    assert problems(client.post(url, json={"name": "乙", "resident_id": future})) == {
        ("resident_id", "resident_id_birth_date")
    }
    tomorrow = (china_today() + timedelta(days=1)).isoformat()
    assert problems(client.post(url, json={"name": "丙", "date_of_birth": tomorrow})) == {
        ("date_of_birth", "not_in_future")
    }
    male = resident_id(serial="003")
    body = {"name": "丁", "resident_id": male, "gender": "female", "date_of_birth": "1950-01-02"}
    assert problems(client.post(url, json=body)) == {
        ("gender", "matches_resident_id"),
        ("date_of_birth", "matches_resident_id"),
    }


def test_same_id_number_twice_is_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    new_person(client, household["id"])
    response = client.post(
        f"/households/{household['id']}/persons",
        json={"name": "张三", "resident_id": resident_id()},
    )
    assert problems(response) == {("resident_id", "unique")}
    assert _persons(sessions) == 1


def test_groups_take_codes_or_chinese_labels_and_disability_needs_a_grade(
    client: TestClient,
) -> None:
    household = new_household(client)
    url = f"/households/{household['id']}/persons"
    sensitive = {"given_on": "2026-01-05", "scope": ["case_file", "sensitive"]}
    person = new_person(
        client,
        household["id"],
        groups=["独居老人", "disabled"],
        disability_grade=2,
        consent=sensitive,
    )
    assert person["groups"] == ["disabled", "elderly_living_alone"]
    assert problems(client.post(url, json={"name": "甲", "groups": ["wizard"]})) == {
        ("groups.0", "unknown_group")
    }
    assert problems(client.post(url, json={"name": "乙", "groups": ["残疾人"]})) == {
        ("disability_grade", "required_if_disabled")
    }
    assert problems(client.post(url, json={"name": "丙", "disability_grade": 5})) == {
        ("disability_grade", "less_than_equal")
    }


def test_tier_outside_one_to_five_is_422(client: TestClient) -> None:
    household = new_household(client)
    url = f"/households/{household['id']}/persons"
    assert problems(client.post(url, json={"name": "甲", "tier": 6})) == {("tier", "unknown_tier")}
    person = new_person(client, household["id"], tier=3)
    assert problems(client.put(f"/persons/{person['id']}/tier", json={"tier": 0})) == {
        ("tier", "unknown_tier")
    }


def test_a_tier_is_taken_by_its_chinese_label(client: TestClient) -> None:
    household = new_household(client)
    person = new_person(client, household["id"], tier="二级")
    assert person["tier"] == 2
    changed = client.put(f"/persons/{person['id']}/tier", json={"tier": "一级"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tier"] == 1


def test_case_needs_consent_before_it_becomes_active(client: TestClient) -> None:
    household = new_household(client)
    person = new_person(client, household["id"])
    activate = client.post(f"/persons/{person['id']}/status", json={"status": "active"})
    assert problems(activate) == {("consent", "required_to_activate")}
    consent = client.put(
        f"/persons/{person['id']}/consent",
        json={"given_on": "2026-02-01", "scope": ["case_file", "referral_sharing"]},
        headers=bearer("social_worker", sub="sw-li", adcode="51"),
    )
    assert consent.status_code == 200, consent.text
    assert consent.json()["consent_recorded_by"] == "sw-li"
    assert consent.json()["consent_scope"] == ["case_file", "referral_sharing"]
    activate = client.post(f"/persons/{person['id']}/status", json={"status": "active"})
    assert activate.status_code == 200, activate.text
    assert activate.json()["case_status"] == "active"
    assert activate.json()["active_since"] == china_today().isoformat()


def test_case_lifecycle_applied_active_exited_and_409_names_the_allowed(
    client: TestClient,
) -> None:
    household = new_household(client)
    person = active_case(client, household["id"])
    url = f"/persons/{person['id']}/status"
    back = client.post(url, json={"status": "applied"})
    assert back.status_code == 409
    assert back.headers["content-type"].startswith("application/problem+json")
    assert back.json()["allowed"] == ["exited"]
    assert "allowed: exited" in back.json()["detail"]
    assert problems(client.post(url, json={"status": "exited"})) == {
        ("exit_reason", "required_to_exit")
    }
    assert problems(client.post(url, json={"status": "exited", "exit_reason": "bored"})) == {
        ("exit_reason", "enum")
    }
    exited = client.post(url, json={"status": "exited", "exit_reason": "moved_away"})
    assert exited.status_code == 200, exited.text
    assert exited.json()["case_status"] == "exited"
    assert exited.json()["exit_reason"] == "moved_away"
    again = client.post(url, json={"status": "applied"})
    assert again.status_code == 200, again.text
    assert again.json()["exit_reason"] is None


def test_consent_in_the_future_or_without_scope_is_422(client: TestClient) -> None:
    household = new_household(client)
    person = new_person(client, household["id"])
    tomorrow = (china_today() + timedelta(days=1)).isoformat()
    response = client.put(
        f"/persons/{person['id']}/consent", json={"given_on": tomorrow, "scope": []}
    )
    assert problems(response) == {("given_on", "not_in_future"), ("scope", "too_short")}


def test_household_lists_its_persons_head_first(client: TestClient) -> None:
    household = new_household(client)
    new_person(client, household["id"], name="李四", resident_id=None, is_head=False)
    new_person(client, household["id"], name="张三", is_head=True)
    listed = client.get(f"/households/{household['id']}/persons").json()
    assert [p["name"] for p in listed] == ["张三", "李四"]
    assert client.get("/households/nope/persons").status_code == 404
