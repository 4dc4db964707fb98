"""Every route of every service, from its own OpenAPI document, sent what broke them from
outside (issue 13): JSON nested 1,000 and 5,000 deep, and lone surrogates (`"\\ud800"`) in the
body, the query and the path — signed in and not. Never a 5xx: a 4xx problem+json.

And requests that are not valid HTTP/1.1, sent byte for byte to every service: whatever the
parser (httptools, shared/http_server.py) refuses is answered 4xx problem+json naming the rule,
and the connection closed; nothing waits for a timeout."""

import contextlib
import json
import re
import socket
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cli.stack import SERVICES, Stack
from tests.auth import bearer

LONE = "\\ud800"  # as JSON escapes it: json.loads makes it a lone surrogate
LONE_IN_URL = "r-%ED%A0%80"  # the surrogate's bytes, percent-encoded (not valid UTF-8)
DEPTHS = (1_000, 5_000)


def _operations(client: httpx.Client) -> list[tuple[str, str, dict[str, Any]]]:
    document = client.get("/openapi.json").json()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _bodies(operation: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Deep nesting, and a lone surrogate in every top-level field the body names."""
    bodies = ["[" * d + "]" * d for d in DEPTHS] + ['{"a":' * d + "1" + "}" * d for d in DEPTHS]
    schema = (operation.get("requestBody", {}).get("content", {}).get("application/json", {})).get(
        "schema", {}
    )
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    names = list(schema.get("properties", {})) or ["id"]
    bodies.append("{" + ", ".join(f'"{n}": "x{LONE}"' for n in names) + "}")
    bodies.append(f'["{LONE}", {{"id": "{LONE}"}}]')
    return bodies


def _paths(path: str, operation: dict[str, Any]) -> list[str]:
    """The path with every parameter a lone surrogate, and with a valid-looking one plus every
    query parameter a lone surrogate."""
    surrogate = re.sub(r"\{[^}]+\}", LONE_IN_URL, path)
    plain = re.sub(r"\{[^}]+\}", "r-1", path)
    query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    if not query:
        return [surrogate]
    return [surrogate, plain + "?" + "&".join(f"{quote(q)}={LONE_IN_URL}" for q in query)]


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
def test_deep_json_and_lone_surrogates_never_get_a_5xx(fuzz_stack: Stack, service: str) -> None:
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=fuzz_stack.url(service), timeout=30) as client:
        document = client.get("/openapi.json").json()
        for method, path, operation in _operations(client):
            for headers in ({}, bearer()):
                for url in _paths(path, operation):
                    response = client.request(method, url, headers=headers)
                    sent += 1
                    if response.status_code >= 500:
                        failures.append(f"{method} {url}: {response.status_code}")
                if method not in ("POST", "PUT", "PATCH"):
                    continue
                url = re.sub(r"\{[^}]+\}", "r-1", path)
                for body in _bodies(operation, document):
                    json_headers = {**headers, "content-type": "application/json"}
                    response = client.request(method, url, content=body, headers=json_headers)
                    sent += 1
                    if response.status_code >= 500 or not 400 <= response.status_code < 500:
                        failures.append(f"{method} {url} {body[:40]!r}: {response.status_code}")
                    elif "problem+json" not in response.headers.get("content-type", ""):
                        failures.append(f"{method} {url}: not problem+json")
    assert sent > 0
    assert failures == [], failures


MALFORMED_HTTP_TIMEOUT_S = 30.0  # a guard against a hang, not a speed target
POST = b"POST /capacity/reserve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
BIG = 128 * 1024  # past shared.http_server.MAX_HEAD_BYTES
MALFORMED: dict[str, tuple[bytes, int, str]] = {
    # name: (the bytes sent, the status, the rule)
    "no Host": (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "one_host_header"),
    "two Hosts": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "one_host_header"),
    "a header over the limit": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * BIG + b"\r\n\r\n",
        431,
        "head_too_large",
    ),
    "a URL over the limit": (
        b"GET /healthz?" + b"a" * BIG + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431,
        "head_too_large",
    ),
    "Content-Length and chunked": (
        POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "invalid_http",
    ),
    "two Content-Lengths": (
        POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
        "invalid_http",
    ),
    "a negative Content-Length": (POST + b"Content-Length: -1\r\n\r\n{}", 400, "invalid_http"),
    "a chunk size not hex": (
        POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        "invalid_http",
    ),
    "NUL in a header": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        400,
        "invalid_http",
    ),
    "a control character in a header": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        400,
        "invalid_http",
    ),
    "a folded header": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n",
        400,
        "invalid_http",
    ),
    "bare LF line ends": (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "invalid_http"),
    "UTF-8 in the path": (
        "GET /resources/é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        400,
        "invalid_http",
    ),
    "a TLS hello": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
        400,
        "invalid_http",
    ),
    "the HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "invalid_http"),
}


def exchange(url: str, payload: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send `payload` on a new connection: the answer's status, headers, body, and whether the
    server closed the connection after it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=MALFORMED_HTTP_TIMEOUT_S) as sock:
        sock.sendall(payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            fields = dict(
                line.decode("latin-1").lower().split(": ", 1) for line in head.split(b"\r\n")[1:]
            )
            if b"\r\n\r\n" in received and len(body) >= int(fields.get("content-length", 0)):
                return int(head.split()[1]), fields, body, _closed(sock, fields)
    raise AssertionError(f"closed without an answer: {received[:80]!r}")


def _closed(sock: socket.socket, fields: dict[str, str]) -> bool:
    """Whether the server said it closes, and did: a reset counts (bytes it never read, the
    rest of a refused head, are left behind)."""
    try:
        return fields.get("connection") == "close" and sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
def test_malformed_http_is_a_4xx_problem_and_a_closed_connection(
    fuzz_stack: Stack, service: str
) -> None:
    failures = []
    for name, (payload, status, rule) in MALFORMED.items():
        got, fields, body, closed = exchange(fuzz_stack.url(service), payload)
        problem = json.loads(body) if "problem+json" in fields.get("content-type", "") else {}
        if (got, problem.get("status"), problem.get("rule"), closed) != (
            status,
            status,
            rule,
            True,
        ):
            failures.append(f"{name}: {got} {fields.get('content-type')} {body[:80]!r} {closed}")
    assert failures == [], failures


@pytest.mark.integration
def test_requests_near_the_limits_are_served(fuzz_stack: Stack) -> None:
    """A head just under the limit, and HTTP/1.0 without Host (it need not carry one)."""
    url = fuzz_stack.url("resources")
    header = b"X-A: " + b"a" * (60 * 1024) + b"\r\n"
    near = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header + b"Connection: close\r\n\r\n"
    assert exchange(url, near)[0] == 200
    assert exchange(url, b"GET /healthz HTTP/1.0\r\n\r\n")[0] == 200


@pytest.mark.integration
@pytest.mark.parametrize("junk", [b"\x16\x03\x01\x02\x00", b"GET /healthz HTTP/1.1\r\n\r\n"])
def test_junk_pipelined_after_a_request_is_refused_after_its_answer(
    fuzz_stack: Stack, junk: bytes
) -> None:
    """A valid request, then bytes that are not one on the same connection (or a request
    without Host): the request is answered first, then the refusal, then the connection is
    closed. Closing at the refusal had lost the answer the client was owed."""
    host, port = fuzz_stack.url("resources").removeprefix("http://").split(":")
    payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + junk
    with socket.create_connection((host, int(port)), timeout=MALFORMED_HTTP_TIMEOUT_S) as sock:
        sock.sendall(payload)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    assert statuses == [200, 400], received[:300]
    assert b'"rule":' in received.rpartition(b"\r\n\r\n")[2]
