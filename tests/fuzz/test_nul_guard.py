"""Text with a NUL character is a 422 naming the field on every backend (PostgreSQL cannot
store it; without the guard it was a 500 there and a 201 on SQLite)."""

import json

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.nul_guard import NulGuardMiddleware


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"body": json.loads(body) if body else None, **request.query_params})


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/things", echo, methods=["GET", "POST"])])
    app.add_middleware(NulGuardMiddleware)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_nul_in_a_json_body_names_its_field() -> None:
    response = await _client().post("/things", json={"name": "ok", "items": [{"note": "a\x00b"}]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [
        ("items.0.note", "no_nul_character")
    ]


async def test_a_nul_in_a_query_parameter_names_it() -> None:
    response = await _client().get("/things?region=51%00&limit=3")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["region"]


async def test_clean_input_passes_untouched() -> None:
    body = {"name": "江安镇爱心助餐点", "escaped": "\\u0000 as text"}
    response = await _client().post("/things?q=%E6%B1%9F", json=body)
    assert response.status_code == 200
    assert response.json() == {"body": body, "q": "江"}


async def test_a_lone_surrogate_in_a_json_body_names_its_field() -> None:
    body = '{"name": "ok", "items": [{"id": "r-\\ud800"}], "pair": "\\ud83d\\ude00"}'
    response = await _client().post(
        "/things", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [
        ("items.0.id", "no_lone_surrogate")
    ], "a surrogate pair (an emoji) is fine; only the lone one is refused"


async def test_json_nested_thousands_deep_is_refused_before_any_parser() -> None:
    for depth in (1_000, 5_000, 100_000):
        for content in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            response = await _client().post(
                "/things", content=content, headers={"content-type": "application/json"}
            )
            assert response.status_code == 422, (depth, response.text)
            assert response.json()["errors"][0]["rule"] == "json_too_deep"


async def test_json_under_another_content_type_is_checked_too() -> None:
    # An import takes HSDS JSON under any content type.
    content = "[" * 3_000 + "]" * 3_000
    response = await _client().post(
        "/things", content=content, headers={"content-type": "text/csv"}
    )
    assert response.json()["errors"][0]["rule"] == "json_too_deep"


async def test_brackets_inside_strings_and_moderate_nesting_pass() -> None:
    body = {"note": "[" * 500 + "{" * 500, "deep": [[[[{"a": [1, 2, {"b": []}]}]]]]}
    response = await _client().post("/things", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["body"] == body
