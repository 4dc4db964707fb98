"""Sign-in limits on real processes (issue 13, item 4): the count of wrong passwords lives in the
needs database, so two replicas share it and a restart keeps it; X-Forwarded-For from loopback
is not believed (no proxy is configured), so claimed addresses do not reset it; and the lock
holds for that user name from that client only, so the owner signs in from elsewhere."""

import time
import uuid

import httpx
import pytest

from cli.stack import Stack, free_port
from cli.users import add_user
from shared.auth import Role

PASSWORD = "correct horse battery"


def _attempt(url: str, username: str, password: str, **kwargs: object) -> httpx.Response:
    headers = kwargs.pop("headers", None)
    transport = kwargs.pop("transport", None)
    with httpx.Client(timeout=10, transport=transport) as client:  # type: ignore[arg-type]
        return client.post(
            f"{url}/auth/token",
            json={"username": username, "password": password},
            headers=headers,  # type: ignore[arg-type]
        )


@pytest.mark.integration
def test_replicas_share_the_count_a_restart_keeps_it_and_the_owner_still_signs_in(
    stack: Stack,
) -> None:
    username = f"sw-{uuid.uuid4().hex[:8]}"
    database = stack.config.service_env["needs"]["LIANJIE_NEEDS_DATABASE_URL"]
    assert add_user(
        database_url=database,
        username=username,
        password=PASSWORD,
        role=Role.SOCIAL_WORKER,
        adcode="511523101",
    )
    port = free_port()
    stack.start_service("needs", name="needs-2", port=port)
    second = f"http://{stack.config.host}:{port}"
    try:
        _wait_ready(second)
        first = stack.url("needs")
        # Five wrong passwords (the default limit), split over two replicas and each claiming
        # another address in X-Forwarded-For.
        codes = [
            _attempt(
                url, username, "wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n, url in enumerate([first, second, first, second, first])
        ]
        assert codes == [401] * 5
        spoofed = _attempt(second, username, PASSWORD, headers={"X-Forwarded-For": "198.51.100.9"})
        assert spoofed.status_code == 429, spoofed.text
        assert int(spoofed.headers["Retry-After"]) >= 1

        stack.stop_process("needs-2")
        stack.start_service("needs", name="needs-2", port=port)
        _wait_ready(second)
        assert _attempt(second, username, PASSWORD).status_code == 429

        # The owner, from another client address, is not locked out by the attacker.
        other_client = httpx.HTTPTransport(local_address="127.0.0.2")
        owner = _attempt(first, username, PASSWORD, transport=other_client)
        assert owner.status_code == 200, owner.text
    finally:
        stack.stop_process("needs-2")


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready")
