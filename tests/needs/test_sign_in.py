"""Sign-in: a user name and password give a short-lived token with the user's role and scope;
wrong passwords are 401 without saying which part was wrong; attempts are rate-limited."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.needs.app import create_app
from services.needs.settings import NeedsSettings
from services.needs.users import limits, service
from services.needs.users.limits import SignInLimits
from shared.auth import Role
from shared.errors import ValidationFailed
from shared.settings import CommonSettings
from tests.support.factories import JIANGAN_TOWN


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


def test_wrong_passwords_lock_the_user_for_that_client_only_with_growing_delays(
    make_client: Callable[..., TestClient], worker: str
) -> None:
    settings = {"auth_sign_in_attempts": 3, "auth_sign_in_lock_s": 60}
    attacker = make_client(**settings)
    app = attacker.app
    codes = [
        attacker.post("/auth/token", json={"username": worker, "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    limited = attacker.post("/auth/token", json={"username": worker, "password": "correct horse"})
    assert limited.status_code == 429
    assert 50 <= int(limited.headers["Retry-After"]) <= 61
    other = attacker.post("/auth/token", json={"username": "someone.else", "password": "x"})
    assert other.status_code == 401
    # The owner, from their own client, signs in: the attacker locked out only themselves.
    owner = TestClient(app, raise_server_exceptions=False, client=("10.0.0.7", 50000))
    signed_in = owner.post("/auth/token", json={"username": worker, "password": "correct horse"})
    assert signed_in.status_code == 200, signed_in.text


def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(
    engine: Engine, sessions: sessionmaker[Session], worker: str
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    common = CommonSettings(trusted_proxies=["10.9.0.1"])
    app = create_app(NeedsSettings(database_url=url, auth_sign_in_attempts=2, common=common))
    proxy = TestClient(app, raise_server_exceptions=False, client=("10.9.0.1", 40000))
    stranger = TestClient(app, raise_server_exceptions=False, client=("10.9.0.2", 40000))
    wrong = {"username": worker, "password": "wrong"}
    right = {"username": worker, "password": "correct horse"}
    try:
        for _ in range(2):  # an attacker behind the proxy
            proxy.post("/auth/token", json=wrong, headers={"X-Forwarded-For": "198.51.100.1"})
        locked = proxy.post("/auth/token", json=right, headers={"X-Forwarded-For": "198.51.100.1"})
        assert locked.status_code == 429
        owner = proxy.post("/auth/token", json=right, headers={"X-Forwarded-For": "198.51.100.2"})
        assert owner.status_code == 200, owner.text
        # Not a trusted proxy: its X-Forwarded-For is ignored, the peer address counts.
        for n in range(2):
            stranger.post("/auth/token", json=wrong, headers={"X-Forwarded-For": f"192.0.2.{n}"})
        claimed = stranger.post("/auth/token", json=right, headers={"X-Forwarded-For": "192.0.2.9"})
        assert claimed.status_code == 429
    finally:
        app.state.sessions.kw["bind"].dispose()


def test_each_failure_past_the_limit_doubles_the_lock(
    sessions: sessionmaker[Session],
) -> None:
    rules = SignInLimits(attempts=2, lock_s=10, max_lock_s=35)
    assert [rules.lock_for(n) for n in range(1, 6)] == [0, 10, 20, 35, 35]
    with sessions.begin() as s:
        for _ in range(3):
            limits.record_failure(s, "k", rules)
    with sessions() as s, pytest.raises(limits.TooManyAttempts) as raised:
        limits.check_not_locked(s, "k")
    assert 15 <= raised.value.extra["retry_after_s"] <= 21


def test_a_missing_field_is_422_naming_it(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post("/auth/token", json={"username": "x"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"password"}


def test_a_scoped_role_needs_its_scope(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s, pytest.raises(ValidationFailed, match="adcode"):
        service.create(session=s, username="x", password="long enough", role=Role.SOCIAL_WORKER)
