"""Leaks through answers (issue 13, item 9): a value a client sends — here an ID number and a
name, planted in every path parameter, every query parameter, every top-level body field and
If-Match of every route of every service — never comes back in a 4xx answer, whoever asks.
Errors name the field and the rule, not the value."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cli.stack import SERVICES, Stack
from services.needs.resident_id import check_digit
from tests.privacy.test_no_pii_leaks import _text

_FIRST17 = "51152319800101002"
NUMBER = _FIRST17 + check_digit(_FIRST17)
NAME = "回显测试赵六"
PLANTED = (NUMBER, NAME)
CALLERS = {
    "admin": {},
    "social_worker": {"adcode": "511523101"},
    "coordinator": {"organization": "demo"},
    "alliance_reviewer": {"department": "civil_affairs", "adcode": "511523"},
    "county_hub": {"adcode": "511523"},
}


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _requests(spec: dict[str, Any], value: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keywords) for every operation, `value` in every slot."""
    found = []
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            path = template
            params: dict[str, str] = {}
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", quote(value, safe=""))
                elif parameter["in"] == "query":
                    params[parameter["name"]] = value
            headers = {"If-Match": value} if value.isascii() else {}
            keywords: dict[str, Any] = {"params": params, "headers": headers}
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = _schema(spec, content["application/json"].get("schema", {}))
                fields = body.get("properties", {}) or {"value": {}}
                keywords["json"] = {name: value for name in fields}
            found.append((method.upper(), path, keywords))
    return found


def _walk(stack: Stack, service: str, role: str) -> tuple[list[str], int]:
    """Every route of `service` as `role`, each value planted: (echoes found, 4xx answers)."""
    base = stack.url(service)
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    echoed, answered = [], 0
    with stack.client(role, sub=f"echo-{role}", **CALLERS[role]) as client:
        for value in PLANTED:
            for method, path, keywords in _requests(spec, value):
                response = client.request(method, base + path, **keywords)
                if not 400 <= response.status_code < 500:
                    continue
                answered += 1
                text = _text(response.content) + str(response.headers)
                if value in text or quote(value) in text:
                    where = f"{service} {role} {method} {path.replace(quote(value), '…')}"
                    echoed.append(f"{where} → {response.status_code}: {text[:200]}")
    return echoed, answered


@pytest.mark.integration
def test_no_4xx_answer_echoes_a_value_that_was_sent(stack: Stack) -> None:
    walks = [(service, role) for service in SERVICES for role in CALLERS]
    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:  # the services answer at once
        found = list(pool.map(lambda walk: _walk(stack, *walk), walks))
    echoed = [echo for echoes, _ in found for echo in echoes]
    assert sum(answered for _, answered in found) > 200, "the walk reached the routes"
    assert echoed == [], "\n".join(echoed[:30])
