"""Every route of every service, from its own OpenAPI document, sent what broke them from
outside (issue 13): JSON nested 1,000 and 5,000 deep, and lone surrogates (`"\\ud800"`) in the
body, the query and the path — signed in and not. Never a 5xx: a 4xx problem+json."""

import re
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
