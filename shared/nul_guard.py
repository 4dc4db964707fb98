"""Text with a NUL character (U+0000) is refused at the door, as a 422 naming the field.

PostgreSQL cannot store NUL in a text column (SQLite can), so such input would otherwise reach
the database and come back as a 500 on one backend only. No Chinese or English text needs it.
Checked: the path, query parameters and JSON bodies (where NUL can only appear as `\\u0000`).
"""

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import header, read_body
from shared.problems import PROBLEM_JSON

RULE = "no_nul_character"
MESSAGE = "text may not contain the NUL character (U+0000)"


class NulGuardMiddleware:
    """ASGI middleware answering 422 to a request whose text holds a NUL character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = _in_path_and_query(scope)
        body: bytes | None = None
        if not fields and _is_json(scope):
            body = await read_body(receive)
            if b"\\u0000" in body:
                fields = _in_json(body)
        if fields:
            await _refuse(send, fields)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        sent = body

        async def replay() -> Message:
            nonlocal sent
            message: Message = {"type": "http.request", "body": sent, "more_body": False}
            sent = b""
            return message

        await self.app(scope, replay, send)


def _in_path_and_query(scope: Scope) -> list[str]:
    fields = ["path"] if "\x00" in scope.get("path", "") else []
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or "\x00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                fields.append(_printable(name) or "query")
    return fields


def _in_json(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return []  # not JSON after all: the app's own validation answers
    found: list[str] = []
    _walk(document, [], found)
    return found


def _walk(value: Any, path: list[str], found: list[str]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            found.append(".".join(path) or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            step = _printable(str(key))
            if step != key:
                found.append(".".join([*path, step]) or "body")
            _walk(item, [*path, step], found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, [*path, str(i)], found)


def _printable(name: str) -> str:
    return name.replace("\x00", "")


def _is_json(scope: Scope) -> bool:
    return "json" in (header(scope.get("headers", []), b"content-type") or "").lower()


async def _refuse(send: Send, fields: list[str]) -> None:
    body = {
        "type": "about:blank",
        "title": "Validation failed",
        "status": 422,
        "detail": MESSAGE,
        "errors": [{"field": f, "rule": RULE, "message": MESSAGE} for f in fields],
    }
    payload = json.dumps(body).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
