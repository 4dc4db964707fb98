"""A resource's contact (often a volunteer's own name and mobile) is masked in every answer;
in full only for a stated purpose, to a role that reaches out to resources, and every such
read is in the access log the county hub reviews. A masked export imported back keeps the
contacts it did not show."""

from typing import Any

from fastapi.testclient import TestClient

from tests.auth import bearer
from tests.support.factories import resource_body

OURS = "江安县爱心餐饮有限公司"
HUB = bearer("county_hub", sub="hub-1", adcode="511523")
WORKER = bearer("social_worker", sub="sw-1", adcode="511523101")
COORDINATOR = bearer("coordinator", sub="co-1", organization=OURS)
REVIEWER = bearer("alliance_reviewer", sub="ar-1", adcode="511523", department="民政")
CONTACT = {"contact_name": "王小明", "contact_phone": "13711112222"}


def register(client: TestClient, **overrides: Any) -> dict[str, Any]:
    created = client.post("/resources", json=resource_body(**{**CONTACT, **overrides}))
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def test_every_answer_masks_the_contact(client: TestClient) -> None:
    created = register(client)
    assert (created["contact_name"], created["contact_phone"], created["masked"]) == (
        "王**",
        "137****2222",
        True,
    )
    one = client.get(f"/resources/{created['id']}", headers=WORKER).json()
    [listed] = client.get("/resources", headers=WORKER).json()["items"]
    for shown in (one, listed):
        assert (shown["contact_name"], shown["contact_phone"]) == ("王**", "137****2222")
    assert client.get("/access-log", headers=HUB).json() == [], "a masked read was logged"


def test_a_social_worker_reads_the_phone_for_a_referral_and_the_hub_sees_it_logged(
    client: TestClient,
) -> None:
    created = register(client)
    url = f"/resources/{created['id']}"
    full = client.get(url, params={"purpose": "referral"}, headers=WORKER)
    assert full.status_code == 200, full.text
    body = full.json()
    assert (body["contact_name"], body["contact_phone"], body["masked"]) == (
        "王小明",
        "13711112222",
        False,
    )
    by_header = client.get(url, headers={**HUB, "X-Lianjie-Purpose": "verification"})
    assert by_header.json()["contact_phone"] == "13711112222"
    log = client.get("/access-log", params={"resource_id": created["id"]}, headers=HUB).json()
    assert [(r["actor_id"], r["role"], r["purpose"]) for r in log] == [
        ("hub-1", "county_hub", "verification"),
        ("sw-1", "social_worker", "referral"),
    ]
    assert log[0]["fields"] == ["contact_name", "contact_phone"]
    assert "13711112222" not in str(log) and "王小明" not in str(log)
    only_worker = client.get("/access-log", params={"actor_id": "sw-1"}, headers=HUB).json()
    assert len(only_worker) == 1


def test_who_may_not_unmask_is_refused_not_silently_masked(client: TestClient) -> None:
    created = register(client, organization="别的公司")
    url = f"/resources/{created['id']}"
    for headers, rule in ((REVIEWER, "unmask_role"), (bearer(), "unmask_role")):
        refused = client.get(url, params={"purpose": "referral"}, headers=headers)
        assert refused.status_code == 403 and refused.json()["rule"] == rule
    theirs = client.get(url, params={"purpose": "upkeep"}, headers=COORDINATOR)
    assert theirs.status_code == 403 and theirs.json()["rule"] == "scope"
    unknown = client.get(url, params={"purpose": "curiosity"}, headers=WORKER)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["rule"] == "unknown_purpose"
    assert client.get("/access-log", headers=HUB).json() == []


def test_only_the_hub_and_administrators_read_the_access_log(client: TestClient) -> None:
    assert client.get("/access-log").status_code == 200
    for headers in (WORKER, COORDINATOR, REVIEWER):
        assert client.get("/access-log", headers=headers).status_code == 403


def test_a_coordinators_export_shows_their_own_contacts_in_full_and_logs_them(
    client: TestClient,
) -> None:
    ours = register(client, name="我们的", organization=OURS)
    register(client, name="别家的", organization="别的公司", contact_phone="13911112222")
    exported = client.get(
        "/resources/export", params={"format": "csv", "purpose": "upkeep"}, headers=COORDINATOR
    )
    text = exported.content.decode("utf-8-sig")
    assert "13711112222" in text and "139****2222" in text and "13911112222" not in text
    log = client.get("/access-log", headers=HUB).json()
    assert [(r["resource_id"], r["actor_id"]) for r in log] == [(ours["id"], "co-1")]


def test_a_masked_export_imported_back_keeps_the_contacts(client: TestClient) -> None:
    created = register(client)
    masked = client.get("/resources/export", params={"format": "csv"}, headers=HUB)
    assert "13711112222" not in masked.content.decode("utf-8-sig")
    report = client.post("/resources/import", content=masked.content).json()
    assert (report["updated"], report["rejected"]) == (1, 0), report
    full = client.get(
        f"/resources/{created['id']}", params={"purpose": "verification"}, headers=HUB
    ).json()
    assert (full["contact_name"], full["contact_phone"]) == ("王小明", "13711112222")


def test_a_masked_contact_for_a_new_resource_is_rejected(client: TestClient) -> None:
    row = {"ref": "row 1", "data": resource_body(contact_name="王**", contact_phone="137****2222")}
    report = client.post("/resources/import/rows", json=[row]).json()
    [outcome] = report["rows"]
    assert outcome["status"] == "rejected"
    assert {(e["field"], e["rule"]) for e in outcome["errors"]} == {
        ("contact_name", "masked_value"),
        ("contact_phone", "masked_value"),
    }


def in_full(client: TestClient, resource_id: str) -> tuple[str, str]:
    full = client.get(f"/resources/{resource_id}", params={"purpose": "verification"}, headers=HUB)
    assert full.status_code == 200, full.text
    return full.json()["contact_name"], full.json()["contact_phone"]


def test_a_masked_answer_sent_back_by_put_or_patch_keeps_the_stored_contact(
    client: TestClient,
) -> None:
    created = register(client)
    url = f"/resources/{created['id']}"
    shown = client.get(url).json()
    put_body = resource_body(**{**CONTACT, "contact_name": shown["contact_name"], "name": "新名"})
    replaced = client.put(url, json=put_body)
    assert replaced.status_code == 200, replaced.text
    assert in_full(client, created["id"]) == ("王小明", "13711112222")
    masked_back = {"contact_name": shown["contact_name"], "contact_phone": shown["contact_phone"]}
    patched = client.patch(url, json={**masked_back, "description": "改了"})
    assert patched.status_code == 200, patched.text
    assert in_full(client, created["id"]) == ("王小明", "13711112222")
    assert client.get(url).json()["description"] == "改了"


def test_any_other_masked_contact_in_put_or_patch_is_a_422_naming_the_field(
    client: TestClient,
) -> None:
    created = register(client)
    url = f"/resources/{created['id']}"
    replaced = client.put(url, json=resource_body(**{**CONTACT, "contact_name": "李**"}))
    patched = client.patch(url, json={"contact_name": "李**"})
    for refused in (replaced, patched):
        assert refused.status_code == 422, refused.text
        errors = {(e["field"], e["rule"]) for e in refused.json()["errors"]}
        assert errors == {("contact_name", "masked_value")}
    assert in_full(client, created["id"]) == ("王小明", "13711112222")


def test_a_blank_purpose_is_a_422_not_a_silently_masked_answer(client: TestClient) -> None:
    created = register(client)
    blank = client.get(f"/resources/{created['id']}", params={"purpose": ""}, headers=WORKER)
    assert blank.status_code == 422, blank.text
    assert blank.json()["errors"][0]["rule"] == "not_blank"
