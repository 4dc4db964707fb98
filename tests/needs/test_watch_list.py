"""Watch lists (动态监测): who left assistance or was refused stays followed for the configured
time; a partner's flag puts a person on it; a death or a withdrawn consent does not."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from shared.auth import Role
from tests.auth import bearer
from tests.needs.conftest import active_case, new_household, problems
from tests.support.factories import resident_id


def _case(client: TestClient, serial: str) -> dict[str, Any]:
    household = new_household(client)
    return active_case(client, household["id"], resident_id=resident_id(serial=serial))


def _exit(client: TestClient, person_id: str, reason: str) -> None:
    body = {"status": "exited", "exit_reason": reason}
    response = client.post(f"/persons/{person_id}/status", json=body)
    assert response.status_code == 200, response.text


def test_exits_refusals_and_partner_flags_are_followed(client: TestClient) -> None:
    left = _case(client, "101")
    _exit(client, left["id"], "no_longer_eligible")
    died = _case(client, "111")
    _exit(client, died["id"], "deceased")
    refused = _case(client, "121")
    procedure = client.post(
        "/procedures",
        json={"kind": "dibao", "person_id": refused["id"], "applied_on": "2026-10-08"},
    ).json()
    client.post(
        f"/procedures/{procedure['id']}/steps/decision/done",
        json={"done_on": "2026-11-02", "outcome": "refused"},
    )
    flagged = _case(client, "131")
    response = client.post(
        "/watch-list", json={"person_id": flagged["id"], "partner": "县残联", "days": 30}
    )
    assert response.status_code == 201, response.text
    listed = client.get("/watch-list").json()
    reasons = {w["person_id"]: w["reason"] for w in listed["items"]}
    assert reasons == {
        left["id"]: "exited",
        refused["id"]: "refused",
        flagged["id"]: "partner_flag",
    }
    assert client.get("/watch-list", params={"reason": "refused"}).json()["total"] == 1
    elsewhere = bearer(Role.SOCIAL_WORKER, adcode="511524")
    assert client.get("/watch-list", headers=elsewhere).json()["total"] == 0
    outside = client.post(
        "/watch-list", json={"person_id": flagged["id"], "partner": "x"}, headers=elsewhere
    )
    assert outside.status_code in (403, 404)


def test_the_watch_ends_after_the_configured_days(make_client: Any) -> None:
    client = make_client(watch_days=1)
    left = _case(client, "141")
    _exit(client, left["id"], "goals_met")
    assert client.get("/watch-list").json()["total"] == 1

    later = datetime.now(UTC) + timedelta(days=3)
    client.app.state.clock = lambda: later
    assert client.get("/watch-list").json()["total"] == 0


def test_a_flag_on_an_unknown_person_is_422(client: TestClient) -> None:
    response = client.post("/watch-list", json={"person_id": "nobody", "partner": "县民政局"})
    assert problems(response) == {("person_id", "unknown")}
