"""Sign-in: a user name and password give a short-lived token with the user's role and scope;
wrong passwords are 401 without saying which part was wrong; attempts are rate-limited."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.users import service
from shared.auth import Role
from shared.errors import ValidationFailed
from tests.needs.conftest import JIANGAN_TOWN


@pytest.fixture
def worker(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as s:
        service.create(
            session=s,
            username="li.shegong",
            password="correct horse",
            role=Role.SOCIAL_WORKER,
            adcode=JIANGAN_TOWN,
        )
    return "li.shegong"


def test_sign_in_gives_a_token_carrying_role_and_scope(
    make_client: Callable[..., TestClient], worker: str
) -> None:
    client = make_client(auth_token_ttl_s=600)
    client.headers.pop("Authorization")
    response = client.post("/auth/token", json={"username": worker, "password": "correct horse"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 600
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {
        "username": worker,
        "role": "social_worker",
        "adcode": JIANGAN_TOWN,
        "organization": None,
        "department": None,
    }


def test_the_oauth2_password_form_is_accepted(
    make_client: Callable[..., TestClient], worker: str
) -> None:
    client = make_client()
    response = client.post(
        "/auth/token",
        data={"username": worker, "password": "correct horse", "grant_type": "password"},
    )
    assert response.status_code == 200, response.text


def test_wrong_password_and_unknown_user_get_the_same_401(
    make_client: Callable[..., TestClient], worker: str
) -> None:
    client = make_client()
    wrong = client.post("/auth/token", json={"username": worker, "password": "wrong horse"})
    unknown = client.post("/auth/token", json={"username": "nobody", "password": "wrong horse"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "WWW-Authenticate" in wrong.headers


def test_sign_in_attempts_are_limited_per_user_and_client(
    make_client: Callable[..., TestClient], worker: str
) -> None:
    client = make_client(auth_sign_in_attempts=3, auth_sign_in_window_s=60)
    codes = [
        client.post("/auth/token", json={"username": worker, "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    limited = client.post("/auth/token", json={"username": worker, "password": "correct horse"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    other = client.post("/auth/token", json={"username": "someone.else", "password": "x"})
    assert other.status_code == 401


def test_a_missing_field_is_422_naming_it(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post("/auth/token", json={"username": "x"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"password"}


def test_a_scoped_role_needs_its_scope(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s, pytest.raises(ValidationFailed, match="adcode"):
        service.create(session=s, username="x", password="long enough", role=Role.SOCIAL_WORKER)
