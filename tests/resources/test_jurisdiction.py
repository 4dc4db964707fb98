"""A coordinator registers and changes only their own organization's resources; everyone
signed in reads the library."""

from fastapi.testclient import TestClient

from tests.auth import bearer
from tests.support.factories import resource_body

OURS = "江安县爱心餐饮有限公司"
COORDINATOR = bearer("coordinator", sub="co-1", organization=OURS)


def test_a_coordinator_registers_and_edits_only_their_organizations_resources(
    client: TestClient,
) -> None:
    ours = client.post("/resources", json=resource_body(), headers=COORDINATOR)
    assert ours.status_code == 201, ours.text
    theirs = client.post("/resources", json=resource_body(name="别家", organization="别的公司"))
    assert theirs.status_code == 201
    refused = client.post(
        "/resources", json=resource_body(organization="别的公司"), headers=COORDINATOR
    )
    assert refused.status_code == 403 and refused.json()["rule"] == "scope"
    ours_id, theirs_id = ours.json()["id"], theirs.json()["id"]
    changed = client.patch(f"/resources/{ours_id}", json={"description": "改"}, headers=COORDINATOR)
    assert changed.status_code == 200, changed.text
    for path in (f"/resources/{theirs_id}/deactivate",):
        assert client.post(path, headers=COORDINATOR).status_code == 403
    patch = client.patch(f"/resources/{theirs_id}", json={"description": "x"}, headers=COORDINATOR)
    assert patch.status_code == 403


def test_every_role_reads_the_library(client: TestClient) -> None:
    client.post("/resources", json=resource_body())
    for role in ("social_worker", "county_hub", "alliance_reviewer"):
        page = client.get("/resources", headers=bearer(role, adcode="51", department="x"))
        assert page.status_code == 200 and page.json()["total"] >= 1


def test_our_resources_are_the_organization_filter_the_library_stays_open(
    client: TestClient,
) -> None:
    """`?organization=` narrows the list to one organization's resources (the console's "our
    resources"); without it a coordinator still reads the whole library, as every role does."""
    client.post("/resources", json=resource_body(name="我们的助餐点"), headers=COORDINATOR)
    client.post("/resources", json=resource_body(name="别家助餐点", organization="别的公司"))
    client.post("/resources", json=resource_body(name="无组织的志愿者", organization=None))
    ours = client.get("/resources", params={"organization": OURS}, headers=COORDINATOR)
    assert ours.status_code == 200, ours.text
    assert [r["name"] for r in ours.json()["items"]] == ["我们的助餐点"]
    assert ours.json()["total"] == 1
    everything = client.get("/resources", headers=COORDINATOR).json()
    assert everything["total"] == 3
    theirs = client.get("/resources", params={"organization": "别的公司"}, headers=COORDINATOR)
    assert [r["name"] for r in theirs.json()["items"]] == ["别家助餐点"]
    empty = client.get("/resources", params={"organization": ""}, headers=COORDINATOR)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "organization"


HEADER = "名称,类型,所属组织,服务类别,纬度,经度,服务半径(公里),容量"


def csv_file(*organizations: str) -> bytes:
    lines = [HEADER] + [
        f"助餐点{n},爱心企业,{org},助餐送餐,28.73,105.07,10,5"
        for n, org in enumerate(organizations)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_coordinator_imports_their_own_organizations_rows(client: TestClient) -> None:
    response = client.post("/resources/import", content=csv_file(OURS, OURS), headers=COORDINATOR)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


def test_one_row_of_another_organization_refuses_the_whole_import(client: TestClient) -> None:
    content = csv_file(OURS, "别的公司", OURS, "")
    response = client.post("/resources/import", content=content, headers=COORDINATOR)
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["rule"] == "scope"
    assert [(e["ref"], e["field"]) for e in problem["errors"]] == [
        ("line 3", "organization"),
        ("line 5", "organization"),
    ]
    assert "line 3 (organization)" in problem["detail"]
    assert client.get("/resources").json()["total"] == 0, "part of a refused import was written"


def test_an_import_may_not_update_another_organizations_resource(client: TestClient) -> None:
    theirs = client.post("/resources", json=resource_body(name="别家", organization="别的公司"))
    row = {
        "ref": "row 1",
        "resource_id": theirs.json()["id"],
        "data": resource_body(name="改名", organization=OURS),
    }
    fresh = {"ref": "row 2", "data": resource_body(name="新的", organization=OURS)}
    response = client.post("/resources/import/rows", json=[fresh, row], headers=COORDINATOR)
    assert response.status_code == 403, response.text
    assert [(e["ref"], e["field"]) for e in response.json()["errors"]] == [("row 1", "id")]
    names = {r["name"] for r in client.get("/resources").json()["items"]}
    assert names == {"别家"}


def test_an_administrator_imports_any_organization(client: TestClient) -> None:
    response = client.post("/resources/import", content=csv_file(OURS, "别的公司"))
    assert response.status_code == 200 and response.json()["accepted"] == 2


def test_a_coordinator_without_an_organization_imports_nothing(client: TestClient) -> None:
    nobody = bearer("coordinator", sub="co-2")
    response = client.post("/resources/import", content=csv_file(OURS), headers=nobody)
    assert response.status_code == 403
    assert client.get("/resources").json()["total"] == 0


def test_an_imports_row_messages_are_in_the_language_asked_for(client: TestClient) -> None:
    content = csv_file(OURS).replace(b"28.73", b"north")
    for language, expected in (("zh-CN,zh;q=0.9", "应为数字"), ("en", "number")):
        headers = {**COORDINATOR, "Accept-Language": language}
        report = client.post("/resources/import", content=content, headers=headers).json()
        [error] = report["rows"][0]["errors"]
        assert (error["field"], error["rule"]) == ("location.lat", "float_parsing")
        assert expected in error["message"], error
