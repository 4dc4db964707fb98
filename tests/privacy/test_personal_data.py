"""Personal data at rest and in answers (issue 8): ID numbers, phones, names and addresses are
ciphertexts in the database file; answers mask them unless a role that may see them states a
purpose, and every such read is in the access log; sensitive data needs separate consent, and
a child's a guardian's."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from services.needs.app import create_app
from services.needs.settings import NeedsSettings
from shared import crypto
from shared.clock import china_today
from shared.crypto import PiiKeysMissing
from shared.settings import CommonSettings
from tests.privacy.conftest import STATION
from tests.support.factories import OMIT, resident_id, resource_body

NAME, PHONE, ADDRESS = "测试隐私张三丰", "13987654321", "江安县江安镇隐私村9组88号"


NUMBER = resident_id()


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def household(client: TestClient) -> str:
    body = {"address": ADDRESS, "adcode": STATION, "location": {"lat": 28.74, "lon": 105.07}}
    return str(ok(client.post("/households", json=body), 201)["id"])


def person(client: TestClient, household_id: str, **fields: Any) -> Any:
    body = {"name": NAME, "resident_id": NUMBER, "phone": PHONE, "is_head": True, **fields}
    return client.post(f"/households/{household_id}/persons", json=body)


def rule_of(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return {(e["field"], e["rule"]) for e in response.json()["errors"]}


def test_id_number_phone_name_and_address_are_ciphertexts_in_the_raw_row(
    engine: Engine, needs_as: Callable[..., TestClient]
) -> None:
    sw = needs_as("social_worker")
    person_id = ok(person(sw, household(sw)), 201)["id"]
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT name, resident_id, phone, resident_id_hash, phone_hash FROM person")
        ).one()
        address = conn.execute(text("SELECT address FROM household")).scalar_one()
        raw = " ".join(str(v) for v in (*row, address))
    for secret in (NAME, NUMBER, PHONE, ADDRESS, NUMBER[-8:], PHONE[-4:] + '"'):
        assert secret not in raw
    assert all(str(v).startswith("v1:") for v in (row.name, row.resident_id, row.phone, address))
    assert row.resident_id_hash == crypto.field_cipher().blind_index(NUMBER)
    # The service reads its own rows back in full (masked only on the way out).
    shown = ok(needs_as("social_worker").get(f"/persons/{person_id}?purpose=home_visit"))
    assert (shown["name"], shown["resident_id"], shown["phone"]) == (NAME, NUMBER, PHONE)


def test_duplicate_id_number_is_found_through_the_blind_index(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home = household(sw)
    ok(person(sw, home), 201)
    again = person(sw, home, name="另一个名字", resident_id=NUMBER.lower())
    assert rule_of(again) == {("resident_id", "unique")}
    assert NUMBER not in again.text and NUMBER.lower() not in again.text


def test_answers_mask_the_id_number_and_phone_by_default(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home = household(sw)
    created = ok(person(sw, home), 201)
    for shown in (created, ok(sw.get(f"/persons/{created['id']}"))):
        assert shown["resident_id"] == NUMBER[:6] + "********" + NUMBER[-4:]
        assert shown["phone"] == "139****4321"
        assert shown["masked"] is True
    listed = ok(sw.get(f"/households/{home}/persons"))
    assert [p["phone"] for p in listed] == ["139****4321"]
    hub = needs_as("county_hub")
    assert ok(hub.get("/access-log")) == [], "masked reads are not unmasked reads"


def test_unmasked_read_needs_a_role_that_may_and_a_purpose_and_is_logged(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker", sub="sw-li")
    person_id = ok(person(sw, household(sw)), 201)["id"]
    url = f"/persons/{person_id}"

    full = ok(sw.get(url, headers={"X-Lianjie-Purpose": "home_visit"}))
    assert (full["resident_id"], full["phone"], full["masked"]) == (NUMBER, PHONE, False)
    listed = ok(sw.get(f"/households/{full['household_id']}/persons?purpose=referral"))
    assert listed[0]["resident_id"] == NUMBER

    assert rule_of(sw.get(url, params={"purpose": "curiosity"})) == {("purpose", "unknown_purpose")}
    for role in ("county_hub", "admin"):
        refused = needs_as(role).get(url, params={"purpose": "case_review"})
        assert refused.status_code == 403, refused.text
        assert NUMBER not in refused.text

    hub = needs_as("county_hub")
    log = ok(hub.get("/access-log", params={"person_id": person_id}))
    assert [(e["actor_id"], e["role"], e["purpose"]) for e in log] == [
        ("sw-li", "social_worker", "referral"),
        ("sw-li", "social_worker", "home_visit"),
    ]
    assert log[0]["fields"] == ["resident_id", "phone"]
    assert ok(needs_as("admin").get("/access-log", params={"actor_id": "sw-li"})) == log
    assert sw.get("/access-log").status_code == 403


def test_sensitive_data_needs_a_separate_consent_and_nothing_is_written_without(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home = household(sw)
    plain = {"given_on": "2026-01-05", "scope": ["case_file"]}
    refused = person(sw, home, groups=["disabled"], disability_grade=2, consent=plain)
    assert rule_of(refused) == {("consent", "separate_consent_required")}
    assert NAME not in refused.text and NUMBER not in refused.text
    for group in ("serious_illness", "dementia"):
        assert rule_of(person(sw, home, groups=[group])) == {
            ("consent", "separate_consent_required")
        }
    assert ok(sw.get(f"/households/{home}/persons")) == []

    separate = {"given_on": "2026-01-05", "scope": ["case_file", "sensitive"]}
    created = ok(person(sw, home, groups=["disabled"], disability_grade=2, consent=separate), 201)
    assert created["groups"] == ["disabled"] and created["consent_given_by"] == "self"
    assert ok(person(sw, home, resident_id=resident_id(serial="005"), groups=["elderly"]), 201)


def test_a_child_under_14_needs_a_guardians_consent_for_sensitive_data(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home = household(sw)
    born = china_today().replace(year=china_today().year - 10).strftime("%Y%m%d")
    child = {"resident_id": resident_id(born=born, serial="011"), "phone": None, "is_head": False}
    separate = {"given_on": "2026-01-05", "scope": ["case_file", "sensitive"]}
    by_self = person(sw, home, groups=["disabled"], disability_grade=1, consent=separate, **child)
    assert rule_of(by_self) == {("consent", "guardian_consent_required")}
    nothing = person(sw, home, groups=["disabled"], disability_grade=1, **child)
    assert rule_of(nothing) == {
        ("consent", "separate_consent_required"),
        ("consent", "guardian_consent_required"),
    }
    assert ok(sw.get(f"/households/{home}/persons")) == []

    guardian = {**separate, "given_by": "guardian"}
    created = ok(
        person(sw, home, groups=["disabled"], disability_grade=1, consent=guardian, **child), 201
    )
    assert created["consent_given_by"] == "guardian"
    # Without health or disability data, a child's case needs no guardian consent here.
    other = {**child, "resident_id": resident_id(born=born, serial="013")}
    assert ok(person(sw, home, groups=["left_behind_child"], **other), 201)


def test_resource_contact_is_encrypted_and_duplicates_are_found_by_the_phones_index(
    engine: Engine, resources_client: TestClient
) -> None:
    body = resource_body(
        kind="volunteer",
        organization=OMIT,
        description=OMIT,
        contact_name="隐私联系人李四光",
        contact_phone="137-1111-2222",
    )
    first = ok(resources_client.post("/resources", json=body), 201)
    assert (first["contact_name"], first["contact_phone"]) == ("隐*******", "137****2222")
    twin = ok(
        resources_client.post(
            "/resources", json={**body, "name": "完全不同", "contact_phone": "137 1111 2222"}
        ),
        201,
    )
    assert twin["duplicate_of"] == first["id"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT contact_name, contact_phone FROM resource")).all()
    raw = " ".join(str(v) for row in rows for v in row)
    assert "13711112222" not in raw and "李四光" not in raw and raw.count("v1:") == 4


def test_a_service_with_encrypted_columns_refuses_to_start_without_keys(engine: Engine) -> None:
    keyless = CommonSettings(pii_keys=None, pii_current_key=None, pii_index_key=None)
    settings = NeedsSettings(database_url=engine.url.render_as_string(False), common=keyless)
    with pytest.raises(PiiKeysMissing, match="LIANJIE_PII_KEYS"):
        create_app(settings)
