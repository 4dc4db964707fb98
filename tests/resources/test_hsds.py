"""HSDS 3 as other directories publish it: every form read, nothing dropped, drafts for what
Lianjie lacks, refusals per field, exports that validate against HSDS 3.0 and 3.1, and the
read API (`/hsds/...`)."""

import copy
import io
import json
import zipfile
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.resources import importing
from services.resources.hsds import documents
from tests.auth import bearer
from tests.resources.hsds_documents import (
    assert_tables_valid,
    assert_valid,
    errors,
    full_service,
)
from tests.support.factories import resource_body

HUB = bearer("county_hub", adcode="511523")
IN_FULL = {"purpose": "verification"}
Json = dict[str, Any]


def post(client: TestClient, content: bytes) -> Any:
    return client.post("/resources/import", content=content)


def imported(client: TestClient, content: bytes) -> Json:
    response = post(client, content)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def exported(client: TestClient, file_format: str = "hsds-json", **params: str) -> bytes:
    response = client.get(
        "/resources/export", params={"format": file_format, **params}, headers=HUB
    )
    assert response.status_code == 200, response.text
    return response.content


def as_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def package(tables: dict[str, list[Json]], *, with_datapackage: bool) -> bytes:
    """A tabular package as another directory writes it: the spec's plural file names."""
    written = documents.write_package(documents.from_tables(tables))
    if with_datapackage:
        return written
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(written)) as source, zipfile.ZipFile(buffer, "w") as out:
        for name in source.namelist():
            if name != "datapackage.json":
                out.writestr(f"export/{name}", source.read(name))
    return buffer.getvalue()


def forms(service: Json) -> dict[str, bytes]:
    """The same service in every form HSDS data comes in."""
    organization = service["organization"]
    link = service["service_at_locations"][0]
    alone = {k: v for k, v in service.items() if k != "organization"}
    tables = documents.to_tables([service])
    return {
        "service": as_json(service),
        "list": as_json(documents.page([service])),
        "array": as_json([service]),
        "organization": as_json({**organization, "services": [alone]}),
        "service_at_location": as_json({**link, "service": service}),
        "tabular": package(tables, with_datapackage=True),
        "tabular without datapackage.json": package(tables, with_datapackage=False),
    }


def test_every_form_reads_the_full_service_with_every_field() -> None:
    service = full_service()
    for form, content in forms(service).items():
        chosen = importing.detect_format(content)
        read = [r.hsds for r in importing.read_rows(content, chosen)]
        assert read == [service], f"{form}: read differently"


@pytest.mark.parametrize("form", ["list", "tabular without datapackage.json"])
def test_a_full_foreign_service_round_trips_every_field_and_validates(
    client: TestClient, form: str
) -> None:
    service = full_service()
    report = imported(client, forms(service)[form])
    [row] = report["rows"]
    assert row["status"] == "draft", row  # no Lianjie category or service area: a draft
    assert set(row["missing"]) == {"categories", "service_area"}
    assert {"languages", "fundings", "program", "cost_options", "metadata"} <= set(row["kept"])
    assert "name" in row["mapped"]

    listed = json.loads(exported(client, **IN_FULL))
    assert_valid(listed, "service_list")
    assert listed["contents"] == [service]  # every field, ids included, unchanged

    tabular = exported(client, "hsds-zip", **IN_FULL)
    assert documents.read_package(tabular) == [service]
    assert_tables_valid(_tables_of(tabular))


def _tables_of(content: bytes) -> dict[str, list[Json]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        listing = json.loads(archive.read("datapackage.json"))
        names = {r["name"]: r["path"] for r in listing["resources"]}
        assert set(archive.namelist()) == {"datapackage.json", *names.values()}
        assert names["service"] == "services.csv" and names["phone"] == "phones.csv"
    services = documents.read_package(content)
    return documents.to_tables(services)


def test_the_cli_path_carries_the_service_and_its_report(client: TestClient) -> None:
    """`lianjie resources import` reads the file and sends rows: the service travels along."""
    service = full_service()
    rows = importing.read_rows(forms(service)["tabular"], "hsds-zip")
    response = client.post("/resources/import/rows", json=[r.model_dump(mode="json") for r in rows])
    assert response.status_code == 200, response.text
    assert response.json()["draft"] == 1
    assert json.loads(exported(client, **IN_FULL))["contents"] == [service]


def test_a_draft_is_out_of_matching_until_a_coordinator_completes_it(client: TestClient) -> None:
    service = full_service(name="老人助餐送餐服务", description="为独居老人送餐")
    [row] = imported(client, as_json(service))["rows"]
    assert row["suggested_categories"] == ["elderly_care.meals"]
    rid = row["resource_id"]
    stored = client.get(f"/resources/{rid}").json()
    assert stored["active"] is False and stored["draft"]["missing"] == [
        "categories", "service_area"
    ]  # fmt: skip
    refused = client.post(f"/resources/{rid}/activate")
    assert refused.status_code == 422
    assert {e["rule"] for e in refused.json()["errors"]} == {"draft_incomplete"}
    assert client.get("/hsds/services").json()["contents"] == []  # drafts are not published
    to_complete = client.get("/resources", params={"draft": True}).json()["items"]
    assert [r["id"] for r in to_complete] == [rid]
    assert client.get("/resources", params={"draft": False}).json()["total"] == 0

    completed = {**resource_body(), "name": service["name"], "categories": ["elderly_care.meals"]}
    completed["contact_phone"] = None
    assert client.put(f"/resources/{rid}", json=completed).status_code == 200
    assert client.post(f"/resources/{rid}/activate").json()["active"] is True

    [again] = json.loads(exported(client, **IN_FULL))["contents"]
    assert_valid(again, "service")
    ours = {a["taxonomy_term"]["code"] for a in again["attributes"]}
    assert "elderly_care.meals" in ours and service["attributes"][0] in again["attributes"]
    for key in ("languages", "fundings", "program", "cost_options", "required_documents"):
        assert again[key] == service[key], key  # what Lianjie does not model stays
    assert again["id"] == service["id"] and again["status"] == "active"
    assert again["description"] == completed["description"]  # what Lianjie changed is written

    client.patch(f"/resources/{rid}", json={"description": "新简介"})
    [edited] = json.loads(exported(client, **IN_FULL))["contents"]
    assert edited["description"] == "新简介"
    changed = {"description", "capacities"}  # capacities[0].updated: the resource's last change
    assert {k: v for k, v in edited.items() if k not in changed} == {
        k: v for k, v in again.items() if k not in changed
    }


def test_malformed_phones_impossible_values_and_places_outside_china_are_refused(
    client: TestClient,
) -> None:
    service = full_service(minimum_age=90, maximum_age=-1)
    service["contacts"][0]["phones"][0]["number"] = "call us"
    place = service["service_at_locations"][0]["location"]
    place["latitude"], place["longitude"] = 40.7, -74.0
    rows = importing.read_rows(as_json(service))
    sent = client.post("/resources/import/rows", json=[r.model_dump(mode="json") for r in rows])
    for report in (imported(client, as_json(service)), sent.json()):  # judged by the service
        [row] = report["rows"]
        assert row["status"] == "rejected"
        found = {(e["field"], e["rule"]) for e in row["errors"]}
        assert {
            ("contacts.0.phones.0.number", "malformed_phone"),
            ("maximum_age", "impossible_value"),
            ("minimum_age", "impossible_value"),
            ("service_at_locations.0.location.latitude", "outside_china"),
        } <= found
    assert client.get("/resources").json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (as_json(documents.page([])), "no_rows"),
        (b"\xef\xbb\xbf\xe7\xbc\x96\xe5\x8f\xb7,\xe5\x90\x8d\xe7\xa7\xb0\r\n", "no_rows"),
        (as_json({"id": "o1", "name": "某组织", "description": ""}), "no_service"),
        (as_json({"id": "l1", "service_id": "s1", "location_id": "x"}), "no_service"),
    ],
)
def test_nothing_read_from_a_non_empty_file_is_an_error(
    client: TestClient, content: bytes, rule: str
) -> None:
    response = post(client, content)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["rule"] == rule


def test_a_zip_without_services_or_a_workbook_is_an_error(client: TestClient) -> None:
    for names, rule in (
        (["organizations.csv"], "no_service"),
        # A workbook is read as a spreadsheet of resources: a broken one is unreadable.
        (["[Content_Types].xml", "xl/workbook.xml"], "unreadable_file"),
    ):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in names:
                archive.writestr(name, "id,name\n1,x\n")
        response = post(client, buffer.getvalue())
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["rule"] == rule


def test_lianjies_own_resources_export_valid_hsds(client: TestClient) -> None:
    """What failed the schemas: terms without a description, nulls, timestamps without an
    offset, a bare array instead of the list shape."""
    detailed = resource_body(
        eligible_groups=["dibao"],
        adcodes=["511523"],
        hours=[{"day": "mon", "opens": "09:00", "closes": "17:00"}],
        available_from="2026-01-01",
        contact_name="王芳",
        contact_phone="13812345678",
        verified=True,
    )
    for body in (detailed, resource_body(name="阳春镇助学", categories=["education.tuition"])):
        assert client.post("/resources", json=body).status_code == 201
    for params in ({}, IN_FULL):
        listed = json.loads(exported(client, **params))
        assert_valid(listed, "service_list")
        assert listed["total_items"] == 2
        for service in listed["contents"]:
            assert service["capacities"][0]["updated"].endswith("+00:00")
        assert_tables_valid(_tables_of(exported(client, "hsds-zip", **params)))
    masked = json.loads(exported(client))["contents"]
    assert {p["number"] for s in masked for p in s["phones"]} == {"138****5678"}


def test_a_schema_check_can_fail() -> None:
    """The validation the tests rely on finds what the issue found."""
    service = full_service()
    broken = copy.deepcopy(service)
    broken["attributes"][0]["taxonomy_term"].pop("description")
    broken["eligibility_description"] = None
    broken["capacities"][0]["updated"] = "2026-11-30T08:00:00"
    for version in ("3.0", "3.1"):
        assert not errors(service, "service", version)
        found = errors(broken, "service", version)
        assert any("description" in e for e in found) and any("None" in e for e in found)
    assert any("updated" in e for e in errors(broken, "service", "3.1"))
    assert errors([service], "service_list", "3.1")  # a bare array is not the list shape


def test_the_read_api_pages_services_and_masks_contacts(client: TestClient) -> None:
    foreign = full_service(name="江安县助餐服务")
    term = {"id": str(uuid4()), "code": "elderly_care.meals", "name": "助餐", "description": "x"}
    foreign["attributes"].append(
        {"id": str(uuid4()), "link_type": "service", "taxonomy_term": term}
    )
    area = {"id": str(uuid4()), "extent": "adcode:511523", "extent_type": "text"}
    foreign["service_areas"].append(area)
    assert imported(client, as_json(foreign))["rows"][0]["status"] == "accepted"
    for n in range(2):
        client.post("/resources", json=resource_body(name=f"资源{n}", contact_phone="13812345678"))

    first = client.get("/hsds/services", params={"per_page": 2}).json()
    assert_valid(first, "service_list")
    assert (first["total_items"], first["total_pages"], first["size"]) == (3, 2, 2)
    assert first["first_page"] and not first["last_page"] and len(first["contents"]) == 2
    second = client.get("/hsds/services", params={"per_page": 2, "page": 2}).json()
    assert second["last_page"] and len(second["contents"]) == 1

    one = client.get(f"/hsds/services/{foreign['id']}").json()
    assert_valid(one, "service")
    assert one["languages"] == foreign["languages"]
    numbers = [p["number"] for p in one["phones"] + one["contacts"][0]["phones"]]
    assert numbers and all("*" in n for n in numbers)
    assert one["contacts"][0]["name"].endswith("*")

    organizations = client.get("/hsds/organizations").json()
    assert_valid(organizations, "organization_list")
    assert foreign["organization"]["id"] in {o["id"] for o in organizations["contents"]}
    org = client.get(f"/hsds/organizations/{foreign['organization']['id']}").json()
    assert_valid(org, "organization")
    assert all("*" in p["number"] for p in org["phones"])
    links = client.get("/hsds/service_at_locations").json()
    assert_valid(links, "service_at_location_list")
    assert links["total_items"] == 3
    assert client.get("/hsds/services/nope").status_code == 404
    assert client.get("/hsds/services", params={"page": 0}).status_code == 422


def test_a_masked_export_read_back_keeps_the_stored_phones_and_contacts(
    client: TestClient,
) -> None:
    service = full_service()
    imported(client, as_json(service))
    masked = exported(client)
    shown = json.loads(masked)["contents"][0]
    assert "*" in shown["contacts"][0]["name"] and "*" in shown["phones"][0]["number"]
    assert "***@" in shown["contacts"][0]["email"]
    [row] = imported(client, masked)["rows"]
    assert row["status"] == "draft", row
    assert json.loads(exported(client, **IN_FULL))["contents"] == [service]
