"""The console's forwarding, over real HTTP: `/api/<service>/…` reaches the service with its
method, query, body and headers, and a service that does not answer becomes a 503."""

import http.server
import json
import threading
import time
from typing import Any

import httpx
import pytest

from cli.stack import Stack, free_port
from shared.auth import Role
from tests.console.conftest import only_local, running_console

pytestmark = pytest.mark.integration


def _upstreams(stack: Stack) -> dict[str, str]:
    return {service: stack.url(service) for service in ("needs", "resources", "matcher")}


def test_calls_reach_the_services_with_their_query_body_and_token(stack: Stack) -> None:
    token = stack.token(Role.SOCIAL_WORKER, sub="sw-forwarded", adcode="511523")
    with running_console(_upstreams(stack)) as url, httpx.Client(base_url=url) as client:
        me = client.get("/api/needs/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "sw-forwarded"

        refused = client.post(
            "/api/needs/auth/token", json={"username": "nobody", "password": "wrong-password"}
        )
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["www-authenticate"].startswith("Bearer")

        listed = client.get(
            "/api/resources/resources",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["limit"] == 1

        invalid = client.get(
            "/api/resources/resources",
            params={"limit": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert invalid.status_code == 422
        assert [e["field"] for e in invalid.json()["errors"]] == ["limit"]

        unknown = client.get("/api/nowhere/x")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")


def test_a_service_that_does_not_answer_is_a_503_with_retry_after() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    upstreams = {"needs": closed, "resources": closed, "matcher": closed}
    with (
        running_console(upstreams, LIANJIE_RETRY_AFTER_S="7") as url,
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        started = time.monotonic()
        answer = client.post("/api/needs/auth/token", json={"username": "a", "password": "b"})
        assert time.monotonic() - started < 10
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "7"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["service"] == "needs"


def test_sign_in_shows_a_retry_message_and_keeps_the_input(browser: Any) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    upstreams = {"needs": closed, "resources": closed, "matcher": closed}
    hosts: set[str] = set()
    with running_console(upstreams) as url:
        context = browser.new_context(base_url=url, locale="zh-CN")
        context.route("**/*", only_local(hosts))
        page = context.new_page()
        try:
            page.goto("/login")
            page.fill("input[name=username]", "demo-social-worker")
            page.fill("input[name=password]", "secret-typed")
            page.click("[data-test=sign-in]")
            alert = page.locator("[data-test=service-alert]")
            alert.wait_for()
            assert "服务暂时没有响应" in alert.inner_text()
            assert page.locator("[data-test=retry]").is_visible()
            assert page.input_value("input[name=username]") == "demo-social-worker"
            assert page.input_value("input[name=password]") == "secret-typed"
        finally:
            context.close()
    assert hosts <= {"127.0.0.1"}, sorted(hosts)


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """A stand-in upstream over real HTTP that answers with the X-Forwarded-For it received."""

    def do_GET(self) -> None:
        body = json.dumps({"xff": self.headers.get("x-forwarded-for")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("trusted", "expected"), [(None, "127.0.0.1"), ('["127.0.0.1"]', "203.0.113.7")]
)
def test_the_browser_address_is_believed_only_from_a_trusted_proxy(
    trusted: str | None, expected: str
) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    env = {"LIANJIE_TRUSTED_PROXIES": trusted} if trusted else {}
    try:
        with running_console({"needs": base}, **env) as url:
            seen = httpx.get(f"{url}/api/needs/x", headers={"X-Forwarded-For": "203.0.113.7"})
        assert seen.json() == {"xff": expected}
    finally:
        upstream.shutdown()
