"""Sessions (issue 16): sign-in gives a refresh token; a refresh spends it and gives the next;
a spent one used again ends the whole session; sign-out ends it; a password change, disabling
or deleting the user ends every session of theirs."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.users import service
from shared.auth import Role
from tests.support.factories import JIANGAN_TOWN

PASSWORD = "correct horse"


@pytest.fixture
def worker(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as s:
        service.create(
            session=s,
            username="wang.shegong",
            password=PASSWORD,
            role=Role.SOCIAL_WORKER,
            adcode=JIANGAN_TOWN,
        )
    return "wang.shegong"


@pytest.fixture
def anonymous(make_client: Callable[..., TestClient]) -> TestClient:
    client = make_client(auth_refresh_ttl_s=3600)
    client.headers.pop("Authorization")
    return client


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _refresh(client: TestClient, token: str) -> tuple[int, dict[str, str]]:
    response = client.post("/auth/refresh", json={"refresh_token": token})
    return response.status_code, response.json()


def test_a_refresh_gives_a_new_pair_and_spends_the_old_token(
    anonymous: TestClient, worker: str
) -> None:
    first = _sign_in(anonymous, worker)
    assert first["refresh_expires_in"] == 3600
    status, second = _refresh(anonymous, first["refresh_token"])
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    me = anonymous.get("/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == worker
    status, third = _refresh(anonymous, second["refresh_token"])
    assert status == 200, third


def test_reusing_a_spent_refresh_token_ends_the_whole_session(
    anonymous: TestClient, worker: str
) -> None:
    first = _sign_in(anonymous, worker)
    _, second = _refresh(anonymous, first["refresh_token"])
    stolen_reuse, problem = _refresh(anonymous, first["refresh_token"])
    assert stolen_reuse == 401 and "used before" in problem["detail"]
    # The legitimate holder's newer token of the same family is revoked with it.
    assert _refresh(anonymous, second["refresh_token"])[0] == 401
    # Another session (another sign-in) is untouched.
    other = _sign_in(anonymous, worker)
    assert _refresh(anonymous, other["refresh_token"])[0] == 200


def test_sign_out_ends_the_session(anonymous: TestClient, worker: str) -> None:
    session = _sign_in(anonymous, worker)
    other = _sign_in(anonymous, worker)
    out = anonymous.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204
    assert _refresh(anonymous, session["refresh_token"])[0] == 401
    assert _refresh(anonymous, other["refresh_token"])[0] == 200
    unknown = anonymous.post("/auth/logout", json={"refresh_token": "no-such-token"})
    assert unknown.status_code == 204


def test_an_unknown_refresh_token_is_401(anonymous: TestClient) -> None:
    status, problem = _refresh(anonymous, "made-up")
    assert status == 401 and problem["status"] == 401


def test_a_password_change_ends_every_session_and_raises_the_token_version(
    anonymous: TestClient, worker: str, sessions: sessionmaker[Session]
) -> None:
    session = _sign_in(anonymous, worker)
    auth = {"Authorization": f"Bearer {session['access_token']}"}
    wrong = anonymous.post(
        "/auth/password",
        json={"current_password": "not it", "new_password": "battery staple"},
        headers=auth,
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    with sessions() as s:
        before = service.get_by_username(session=s, username=worker).token_version  # type: ignore[union-attr]
    changed = anonymous.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "battery staple"},
        headers=auth,
    )
    assert changed.status_code == 204, changed.text
    assert _refresh(anonymous, session["refresh_token"])[0] == 401
    with sessions() as s:
        user = service.get_by_username(session=s, username=worker)
        assert user is not None and user.token_version > before
    assert (
        anonymous.post("/auth/token", json={"username": worker, "password": PASSWORD}).status_code
        == 401
    )
    assert _sign_in(anonymous, worker, "battery staple")["access_token"]


@pytest.mark.parametrize("ending", ["disable", "delete"])
def test_disabling_or_deleting_a_user_ends_their_sessions(
    anonymous: TestClient, worker: str, sessions: sessionmaker[Session], ending: str
) -> None:
    session = _sign_in(anonymous, worker)
    with sessions.begin() as s:
        if ending == "disable":
            service.set_active(session=s, username=worker, active=False)
        else:
            service.delete(session=s, username=worker)
    assert _refresh(anonymous, session["refresh_token"])[0] == 401
