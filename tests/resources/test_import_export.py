"""Bulk import (CSV with Chinese headers, HSDS 3.1 JSON and tabular data package) with a
per-row report, and export that round-trips."""

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.resources import importing
from services.resources import service as registry
from services.resources.hsds import documents
from services.resources.hsds import importing as hsds_import
from services.resources.models import Resource
from services.resources.schemas import ResourceCreate
from shared.actor import Actor
from shared.db import transaction
from tests.auth import bearer
from tests.support.factories import resource_body

DATA = Path(__file__).parent / "data"
TUITION = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c01"
DEPARTMENT = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c02"
CANTEEN = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c03"
VOLATILE = {"id", "version", "created_at", "updated_at", "period_started_at", "duplicate_of"}
HUB = bearer("county_hub", adcode="511523")
IN_FULL = {"purpose": "verification"}


def import_file(client: TestClient, path: Path | bytes) -> dict[str, Any]:
    content = path if isinstance(path, bytes) else path.read_bytes()
    response = client.post("/resources/import", content=content)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def export(client: TestClient, file_format: str) -> Any:
    """The library exported with its contacts in full (the county hub, for verification)."""
    return client.get("/resources/export", params={"format": file_format, **IN_FULL}, headers=HUB)


def library(client: TestClient) -> dict[str, dict[str, Any]]:
    """Every resource by name, without what a database assigns."""
    items = client.get("/resources", params={"limit": 200}).json()["items"]
    return {r["name"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in items}


def errors_of(report: dict[str, Any], ref: str) -> set[tuple[str, str]]:
    row = next(r for r in report["rows"] if r["ref"] == ref)
    assert row["status"] == "rejected", row
    return {(e["field"], e["rule"]) for e in row["errors"]}


def test_csv_template_imports_good_rows_and_names_what_is_wrong_with_bad_ones(
    client: TestClient,
) -> None:
    report = import_file(client, DATA / "resources_example.csv")
    assert (report["total"], report["accepted"], report["rejected"]) == (5, 2, 3)
    assert errors_of(report, "line 4") >= {
        ("categories.0", "unknown_category"),
        ("capacity.total", "greater_than_equal"),
    }
    assert errors_of(report, "line 5") == {("radius_km", "greater_than")}
    assert errors_of(report, "line 6") == {("adcodes.0", "unknown_adcode")}
    resources = library(client)
    assert set(resources) == {"江安镇爱心超市", "阳春镇志愿服务队"}, "a rejected row was written"
    shop = resources["江安镇爱心超市"]
    assert shop["categories"] == ["basic_living.food", "basic_living.clothing"]
    assert (shop["kind"], shop["capacity_unit"], shop["verified"]) == ("enterprise", "items", True)
    assert shop["hours"] == [
        {"day": "mon", "opens": "09:00", "closes": "18:00"},
        {"day": "sat", "opens": "09:00", "closes": "12:00"},
    ]
    team = resources["阳春镇志愿服务队"]
    assert (team["kind"], team["capacity_period"], team["capacity_mode"]) == (
        "volunteer", "week", "waitlist"
    )  # fmt: skip


def test_hsds_example_imports_with_capacity_schedules_and_areas(client: TestClient) -> None:
    report = import_file(client, DATA / "hsds_example.json")
    assert (report["total"], report["accepted"], report["rejected"]) == (4, 3, 1)
    assert errors_of(report, "service 0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c04") >= {
        ("categories.0", "unknown_category"),
        ("location", "outside_china"),
    }
    tuition = client.get(f"/resources/{TUITION}").json()
    assert tuition["organization"] == "江安县慈善会"
    assert (tuition["capacity_total"], tuition["capacity_remaining"]) == (20, 18)
    assert (tuition["capacity_unit"], tuition["capacity_period"]) == ("persons", "year")
    assert [h["day"] for h in tuition["hours"]] == ["mon", "wed", "fri"]
    assert (tuition["available_from"], tuition["available_until"]) == ("2026-09-01", "2027-07-15")
    assert (tuition["adcodes"], tuition["eligible_groups"]) == (["511523"], ["dibao"])
    assert (tuition["contact_name"], tuition["contact_phone"]) == ("李**", "083****3456")
    full = client.get(f"/resources/{TUITION}", params={"purpose": "verification"}, headers=HUB)
    assert (full.json()["contact_name"], full.json()["contact_phone"]) == ("李老师", "08317123456")
    assert client.get(f"/resources/{DEPARTMENT}").json()["kind"] == "department"
    canteen = client.get(f"/resources/{CANTEEN}").json()
    assert (canteen["kind"], canteen["organization"], canteen["radius_km"]) == ("charity", None, 3)


def test_importing_the_same_file_twice_updates_and_adds_nothing(client: TestClient) -> None:
    import_file(client, DATA / "hsds_example.json")
    again = import_file(client, DATA / "hsds_example.json")
    assert (again["updated"], again["accepted"], again["flagged"]) == (3, 0, 0)
    assert client.get("/resources").json()["total"] == 3


def test_hsds_json_export_round_trips(client: TestClient, other_client: TestClient) -> None:
    import_file(client, DATA / "hsds_example.json")
    client.post(f"/resources/{DEPARTMENT}/deactivate")
    exported = export(client, "hsds-json")
    assert exported.status_code == 200
    services = exported.json()["contents"]
    assert {s["id"] for s in services} == {TUITION, DEPARTMENT, CANTEEN}
    for service in services:  # the HSDS 3.x required fields
        assert service["name"] and service["status"] in ("active", "inactive")
        assert service["organization"]["id"] == service["organization_id"]
        capacity = service["capacities"][0]
        assert {"available", "maximum", "unit"} <= set(capacity)
    report = import_file(other_client, exported.content)
    assert report["accepted"] == 3, report
    assert library(other_client) == library(client)
    again = export(other_client, "hsds-json").json()["contents"]

    def without_capacity_dates(service: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in service.items() if k != "capacities"}

    assert [without_capacity_dates(s) for s in again] == [
        without_capacity_dates(s) for s in services
    ]


def test_hsds_tabular_package_round_trips(client: TestClient, other_client: TestClient) -> None:
    import_file(client, DATA / "hsds_example.json")
    exported = export(client, "hsds-zip")
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        package = json.loads(archive.read("datapackage.json"))
        names = {r["name"] for r in package["resources"]}
        assert set(documents.TABLES) <= names
        assert {"service_at_location", "service_area", "schedule", "service_capacity"} <= names
        for resource in package["resources"]:
            assert resource["path"] in archive.namelist()
        capacity = next(r for r in package["resources"] if r["name"] == "service_capacity")
        fields = {f["name"] for f in capacity["schema"]["fields"]}
        assert {"service_id", "unit_id", "available", "maximum"} <= fields
    report = import_file(other_client, exported.content)
    assert report["accepted"] == 3, report
    assert library(other_client) == library(client)


def test_csv_export_round_trips(client: TestClient, other_client: TestClient) -> None:
    import_file(client, DATA / "resources_example.csv")
    import_file(client, DATA / "hsds_example.json")
    exported = export(client, "csv")
    assert exported.content.decode("utf-8-sig").startswith("编号,名称,类型")
    report = import_file(other_client, exported.content)
    assert (report["accepted"], report["rejected"]) == (5, 0), report
    assert library(other_client) == library(client)


def test_an_unreadable_file_is_a_422(client: TestClient) -> None:
    for content, file_format in (
        (b"{not json", None),
        (b"PK\x03\x04 broken", None),
        (b"\xff\xfe", "csv"),
        (b'[{"id": "s1", "organization": "not an object", "attributes": [1]}]', None),
    ):
        params = {"format": file_format} if file_format else {}
        response = client.post("/resources/import", content=content, params=params)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["rule"] == "unreadable_file"


def test_rows_keep_their_source_in_the_report() -> None:
    content = (DATA / "hsds_example.json").read_bytes()
    rows = [importing.ImportRow.model_validate(r) for r in hsds_import.read(content, "hsds-json")]
    assert [r.ref for r in rows][:1] == [f"service {TUITION}"]
    assert importing.detect_format((DATA / "resources_example.csv").read_bytes()) == "csv"


def test_a_bad_id_or_negative_available_rejects_that_row_only(client: TestClient) -> None:
    services = documents.read_json((DATA / "hsds_example.json").read_bytes())[:2]
    services[0]["capacities"][0]["available"] = -1
    services[1]["id"] = "x" * 80  # a foreign id: mapped to a stable UUID, not rejected
    report = import_file(client, documents.write_json(services))
    assert errors_of(report, f"service {TUITION}") == {("capacity.available", "greater_than_equal")}
    assert report["accepted"] == 1
    again = import_file(client, documents.write_json(services))
    assert again["updated"] == 1, "importing the foreign id again did not find the same resource"
    csv_rows = importing.read_rows((DATA / "resources_example.csv").read_bytes())
    csv_rows[0].resource_id = "y" * 40
    response = client.post(
        "/resources/import/rows", json=[r.model_dump(mode="json") for r in csv_rows[:2]]
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"][0]["errors"][0]["rule"] == "string_too_long"
    assert response.json()["accepted"] == 1


def test_a_row_found_outside_the_organization_mid_import_is_rejected_not_a_403(
    sessions: sessionmaker[Session],
) -> None:
    ours, theirs = "江安县爱心餐饮有限公司", "别的公司"
    taken_id = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0c99"
    rows = [
        importing.ImportRow(ref=f"line {n}", resource_id=rid, data=resource_body(name=name))
        for n, rid, name in ((2, None, "第一"), (3, taken_id, "第二"), (4, None, "第三"))
    ]

    def meanwhile(outcome: importing.RowOutcome) -> None:
        # Another organization registers the id line 3 names after the first check passed.
        if outcome.ref == "line 2":
            with transaction(sessions) as s:
                body = resource_body(name="别家", organization=theirs)
                registry.create(
                    session=s, data=ResourceCreate.model_validate(body), resource_id=taken_id
                )

    actor = Actor(id="co-1", role="coordinator", organization=ours)
    # One row to a transaction, so the other organization's commit falls between two rows.
    report = importing.import_rows(
        sessions=sessions, rows=rows, actor=actor, on_row=meanwhile, chunk_rows=1
    )
    assert [r.status.value for r in report.rows] == ["accepted", "rejected", "accepted"]
    [error] = report.rows[1].errors
    assert (error.field, error.rule) == ("id", "scope")
    with sessions() as s:
        assert s.get(Resource, taken_id).organization == theirs  # type: ignore[union-attr]


@pytest.mark.parametrize("bad_id", ["a.b", "a b", "*", ">", "r-1\x01", "资源"])
def test_an_id_that_cannot_be_a_subject_token_is_rejected_on_every_way_in(
    client: TestClient, bad_id: str
) -> None:
    # An id becomes the last token of the resource's NATS subject: one rule at every edge.
    csv_rows = importing.read_rows((DATA / "resources_example.csv").read_bytes())
    csv_rows[0].resource_id = bad_id
    response = client.post(
        "/resources/import/rows", json=[r.model_dump(mode="json") for r in csv_rows[:2]]
    )
    assert response.status_code == 200, response.text
    assert errors_of(response.json(), csv_rows[0].ref) == {("id", "subject_token")}
    assert response.json()["accepted"] == 1
    services = documents.read_json((DATA / "hsds_example.json").read_bytes())[:1]
    services[0]["id"] = bad_id
    assert errors_of(import_file(client, documents.write_json(services)), f"service {bad_id}") == {
        ("id", "subject_token")
    }
    path = client.get(f"/resources/{quote(bad_id, safe='')}")
    assert path.status_code == 422, path.text
    assert [(e["field"], e["rule"]) for e in path.json()["errors"]] == [
        ("resource_id", "subject_token")
    ]


def test_a_zipped_package_nested_thousands_deep_is_unreadable_not_a_500(client: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("datapackage.json", "[" * 50_000 + "]" * 50_000)
    response = client.post("/resources/import", content=buffer.getvalue())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["rule"] == "unreadable_file"
