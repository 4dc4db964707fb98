"""A coordinator registers and changes only their own organization's resources; everyone
signed in reads the library."""

from fastapi.testclient import TestClient

from tests.auth import bearer
from tests.resources.conftest import resource_body

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
