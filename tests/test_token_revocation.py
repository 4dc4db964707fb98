"""Tokens end with their user (issue 13, item 5): disabling a user, deleting them or changing
their password ends their tokens on the needs, resources and matcher services within seconds,
each service holding the revocations in memory (replayed from NATS at start), not asking a
database per request."""

import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from cli.stack import Stack, free_port
from cli.users import add_user
from shared.auth import Role

PASSWORD = "correct horse battery"
COUNTY = "511523"


def _needs_db(stack: Stack) -> str:
    return stack.config.service_env["needs"]["LIANJIE_NEEDS_DATABASE_URL"]


def _new_hub_user(stack: Stack) -> str:
    username = f"hub-{uuid.uuid4().hex[:8]}"
    assert add_user(
        database_url=_needs_db(stack),
        username=username,
        password=PASSWORD,
        role=Role.COUNTY_HUB,
        adcode=COUNTY,
    )
    return username


def _sign_in(stack: Stack, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(
        f"{stack.url('needs')}/auth/token",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _statuses(stack: Stack, token: str, urls: dict[str, str] | None = None) -> dict[str, int]:
    urls = urls or {s: stack.url(s) for s in ("needs", "resources", "matcher")}
    paths = {"needs": "/auth/me", "resources": "/resources", "matcher": "/index"}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10, headers=headers) as client:
        return {name: client.get(url + paths[name]).status_code for name, url in urls.items()}


def _wait_for(check: Callable[[], bool], seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


@pytest.mark.integration
@pytest.mark.parametrize("ending", ["disable", "delete", "password"])
def test_ending_a_user_ends_their_tokens_on_every_service(stack: Stack, ending: str) -> None:
    username, bystander = _new_hub_user(stack), _new_hub_user(stack)
    token, other = _sign_in(stack, username), _sign_in(stack, bystander)
    assert _statuses(stack, token) == {"needs": 200, "resources": 200, "matcher": 200}

    command = ["users", ending, username, "--database-url", _needs_db(stack)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output

    refused = {"needs": 401, "resources": 401, "matcher": 401}
    assert _wait_for(lambda: _statuses(stack, token) == refused), _statuses(stack, token)
    assert _statuses(stack, other) == {"needs": 200, "resources": 200, "matcher": 200}


@pytest.mark.integration
def test_a_password_change_ends_the_old_tokens_and_a_new_replica_knows_it(stack: Stack) -> None:
    username = _new_hub_user(stack)
    old = _sign_in(stack, username)
    changed = httpx.post(
        f"{stack.url('needs')}/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new one"},
        headers={"Authorization": f"Bearer {old}"},
        timeout=10,
    )
    assert changed.status_code == 204, changed.text
    assert _wait_for(lambda: set(_statuses(stack, old).values()) == {401})
    new = _sign_in(stack, username, "a brand new one")
    assert set(_statuses(stack, new).values()) == {200}

    # A matcher started after the revocation replays it before it is ready.
    port = free_port()
    stack.start_service("matcher", name="matcher-late", port=port)
    try:
        url = f"http://{stack.config.host}:{port}"
        assert _wait_for(lambda: _ready(url), seconds=60)
        assert _statuses(stack, old, {"matcher": url}) == {"matcher": 401}
        assert _statuses(stack, new, {"matcher": url}) == {"matcher": 200}
    finally:
        stack.stop_process("matcher-late")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
