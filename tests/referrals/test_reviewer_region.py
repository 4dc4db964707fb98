"""A reviewer sees only their region (issue 14, item 7): a reviewer whose account names no
region reviews their department's referrals in the deployment's county
(LIANJIE_NEEDS_COUNTY_ADCODE), never another county's; with no county configured such a
reviewer is refused (403, rule `region_required`, Chinese unless English is asked for), and
cannot be added."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.main import app as cli
from cli.stack import Stack
from services.needs.referrals import service
from services.needs.users import service as users
from shared.auth import Role
from shared.db import transaction
from shared.errors import ValidationFailed
from tests.auth import bearer
from tests.referrals.domain import new_need, refer, state_of

COUNTY, OTHER_COUNTY = "511523", "511524"  # 江安县, 长宁县
DEPARTMENT = service.Pick(resource_id="res-dept", name="县民政局", kind="department", rank=1)
REGIONLESS = bearer("alliance_reviewer", sub="rv-county", department="civil_affairs")
APPROVE = {"department": "civil_affairs", "decision": "approve"}


@pytest.fixture
def county_client(client: TestClient) -> TestClient:
    """The in-process needs app of a deployment that serves COUNTY."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(update={"county_adcode": COUNTY})  # type: ignore[attr-defined]
    return client


def test_a_reviewer_without_a_region_reviews_their_department_in_the_county_only(
    county_client: TestClient, sessions: sessionmaker[Session]
) -> None:
    here = refer(sessions, new_need(sessions, adcode=f"{COUNTY}101"), DEPARTMENT)
    there = refer(sessions, new_need(sessions, adcode=f"{OTHER_COUNTY}101"), DEPARTMENT)
    client = county_client

    assert client.get(f"/referrals/{here}", headers=REGIONLESS).status_code == 200
    refused = client.get(f"/referrals/{there}", headers=REGIONLESS)
    assert (refused.status_code, refused.json()["detail"]) == (404, "no referral with this id")
    queue = client.get("/referrals/review-queue", headers=REGIONLESS).json()
    assert ([r["id"] for r in queue["items"]], queue["total"]) == ([here], 1)
    elsewhere = client.get(
        "/referrals/review-queue", params={"region": OTHER_COUNTY}, headers=REGIONLESS
    )
    assert (elsewhere.status_code, elsewhere.json()["rule"]) == (403, "scope")

    decided = client.post(f"/referrals/{there}/review", json=APPROVE, headers=REGIONLESS)
    assert decided.status_code == 404 and state_of(sessions, there) == "pending_review"
    approved = client.post(f"/referrals/{here}/review", json=APPROVE, headers=REGIONLESS)
    assert (approved.status_code, approved.json()["state"]) == (200, "sent"), approved.text


def test_a_reviewer_without_a_region_is_refused_where_no_county_is_configured(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    referral_id = refer(sessions, new_need(sessions, adcode=f"{COUNTY}101"), DEPARTMENT)
    for path in ("/referrals/review-queue", f"/referrals/{referral_id}"):
        refused = client.get(path, headers=REGIONLESS)
        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert (problem["rule"], problem["missing"]) == ("region_required", "region")
        assert "区域" in problem["detail"] and problem["title"] == "无权操作"
        english = client.get(path, headers={**REGIONLESS, "Accept-Language": "en"}).json()
        assert "no region" in english["detail"] and english["rule"] == "region_required"
    decided = client.post(f"/referrals/{referral_id}/review", json=APPROVE, headers=REGIONLESS)
    assert decided.status_code == 403 and state_of(sessions, referral_id) == "pending_review"
    with_region = bearer("alliance_reviewer", department="civil_affairs", adcode=COUNTY)
    assert client.get(f"/referrals/{referral_id}", headers=with_region).status_code == 200


def test_a_reviewer_without_a_region_is_added_only_where_a_county_is_configured(
    sessions: sessionmaker[Session],
) -> None:
    reviewer = {"password": "long enough", "role": Role.ALLIANCE_REVIEWER}
    with transaction(sessions) as s, pytest.raises(ValidationFailed) as refused:
        users.create(session=s, username="rv-a", department="civil_affairs", **reviewer)  # type: ignore[arg-type]
    assert [(e.field, e.rule) for e in refused.value.errors] == [("adcode", "region_required")]
    with transaction(sessions) as s:
        users.create(session=s, username="rv-b", department="health", county=COUNTY, **reviewer)  # type: ignore[arg-type]
        users.create(session=s, username="rv-c", department="health", adcode=COUNTY, **reviewer)  # type: ignore[arg-type]
        assert users.get_by_username(session=s, username="rv-a") is None


def test_the_cli_adds_a_regionless_reviewer_only_with_a_county(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    add = ["users", "add", "rv", "--role", "alliance_reviewer", "--department", "civil_affairs"]
    monkeypatch.delenv("LIANJIE_NEEDS_COUNTY_ADCODE", raising=False)
    refused = CliRunner().invoke(cli, [*add, "--database-url", url])
    assert refused.exit_code == 2 and "LIANJIE_NEEDS_COUNTY_ADCODE" in refused.output
    monkeypatch.setenv("LIANJIE_NEEDS_COUNTY_ADCODE", COUNTY)
    added = CliRunner().invoke(cli, [*add, "--database-url", url])
    assert added.exit_code == 0, added.output


@pytest.mark.integration
def test_a_regionless_reviewer_is_refused_by_a_running_needs_service_without_a_county(
    stack: Stack,
) -> None:
    """The stack of the tests sets no county."""
    queue = f"{stack.url('needs')}/referrals/review-queue"
    with stack.client(Role.ALLIANCE_REVIEWER, department="civil_affairs") as client:
        refused = client.get(queue)
        english = client.get(queue, headers={"Accept-Language": "en"})
    with stack.client(Role.ALLIANCE_REVIEWER, department="civil_affairs", adcode=COUNTY) as client:
        assert client.get(queue).status_code == 200
    assert (refused.status_code, refused.json()["rule"]) == (403, "region_required")
    assert "区域" in refused.json()["detail"] and "no region" in english.json()["detail"]
