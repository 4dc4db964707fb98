"""The county hub's users: it lists, adds and deactivates the users of its own county (their
adcode within it), never an administrator, never anyone outside (404, as unknown)."""

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.models import OutboxEvent
from shared.contracts.tokens import tokens_subject
from tests.auth import bearer

COUNTY = "511523"
HUB = bearer("county_hub", sub="hub-1", adcode=COUNTY)


def _add(client: TestClient, **body: str) -> dict[str, str]:
    full = {"password": "a-long-password", "adcode": f"{COUNTY}101", **body}
    response = client.post("/users", json=full, headers=HUB)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_hub_adds_lists_and_deactivates_its_countys_users(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    added = _add(client, username="li-sw", role="social_worker")
    assert added["active"] is True and "password" not in added and "password_hash" not in added
    _add(client, username="charity-1", role="coordinator", organization="江安县慈善会")
    _add(client, username="health-1", role="alliance_reviewer", department="health")
    outside = {"username": "yibin-sw", "password": "a-long-password", "role": "social_worker"}
    assert client.post("/users", json={**outside, "adcode": "511502"}).status_code == 201

    listed = client.get("/users", headers=HUB)
    assert listed.status_code == 200, listed.text
    names = [u["username"] for u in listed.json()["items"]]
    assert names == ["charity-1", "health-1", "li-sw"]  # not the other county's
    coordinators = client.get("/users", params={"role": "coordinator"}, headers=HUB).json()
    assert [u["organization"] for u in coordinators["items"]] == ["江安县慈善会"]

    gone = client.post("/users/li-sw/deactivate", headers=HUB)
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False
    with sessions() as session:  # every token of theirs ends on every service (the outbox)
        revoked = session.scalars(select(OutboxEvent.subject)).all()
    assert tokens_subject("li-sw") in revoked
    inactive = client.get("/users", params={"active": "false"}, headers=HUB).json()
    assert [u["username"] for u in inactive["items"]] == ["li-sw"]
    back = client.post("/users/li-sw/activate", headers=HUB)
    assert back.status_code == 200 and back.json()["active"] is True


def test_the_hub_is_refused_outside_its_county_naming_the_field(client: TestClient) -> None:
    elsewhere = {"username": "x-sw", "password": "a-long-password", "role": "social_worker"}
    far = client.post("/users", json={**elsewhere, "adcode": "511502"}, headers=HUB)
    assert far.status_code == 403, far.text
    assert [(e["field"], e["rule"]) for e in far.json()["errors"]] == [("adcode", "scope")]
    admin = client.post(
        "/users", json={**elsewhere, "role": "admin", "adcode": COUNTY}, headers=HUB
    )
    assert admin.status_code == 403
    assert [(e["field"], e["rule"]) for e in admin.json()["errors"]] == [("role", "role")]
    no_area = {**elsewhere, "role": "coordinator", "organization": "慈善会"}
    missing = client.post("/users", json=no_area, headers=HUB)
    assert missing.status_code == 422
    assert [(e["field"], e["rule"]) for e in missing.json()["errors"]] == [("adcode", "missing")]
    # Someone of another county is unknown to this hub, exactly as no one at all.
    assert client.post("/users", json={**elsewhere, "adcode": "511502"}).status_code == 201
    assert client.post("/users/x-sw/deactivate", headers=HUB).status_code == 404
    assert client.post("/users/nobody/deactivate", headers=HUB).status_code == 404


def test_bad_input_names_the_field_and_rule(client: TestClient) -> None:
    body = {"username": "a b", "password": "short", "role": "coordinator", "adcode": COUNTY}
    refused = client.post("/users", json=body, headers=HUB)
    assert refused.status_code == 422
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {"username", "password"} <= fields
    lacking = client.post(
        "/users",
        json={
            "username": "co-2",
            "password": "a-long-password",
            "role": "coordinator",
            "adcode": COUNTY,
        },
        headers=HUB,
    )
    assert [(e["field"], e["rule"]) for e in lacking.json()["errors"]] == [
        ("organization", "missing")
    ]
    _add(client, username="twice", role="social_worker")
    again = client.post(
        "/users",
        json={
            "username": "twice",
            "password": "a-long-password",
            "role": "social_worker",
            "adcode": COUNTY,
        },
        headers=HUB,
    )
    assert again.status_code == 409
    assert [(e["field"], e["rule"]) for e in again.json()["errors"]] == [("username", "unique")]


def test_the_hub_does_not_deactivate_itself_and_other_roles_may_not_manage(
    client: TestClient,
) -> None:
    _add(client, username="hub-1", role="county_hub")
    assert client.post("/users/hub-1/deactivate", headers=HUB).status_code == 409
    worker = bearer("social_worker", adcode=f"{COUNTY}101")
    assert client.get("/users", headers=worker).status_code == 403
    assert client.post("/users/hub-1/deactivate", headers=worker).status_code == 403
