"""Input no service can handle is refused at the door, as a 422 naming the field and rule:

- text with a NUL character (U+0000): PostgreSQL cannot store it in a text column (SQLite can),
  so it would come back as a 500 on one backend only; no Chinese or English text needs it;
- text with a lone UTF-16 surrogate (`"\\ud800"` in JSON): it cannot be encoded as UTF-8, so
  it failed wherever it went next (a database lookup, a log line, an error message) with a 500;
- a JSON body nested deeper than `MAX_DEPTH`: every JSON parser and validator recurses, and
  1,000 to 5,000 levels overflowed Python's stack (a 500 from this guard's own parser, and from
  `/auth/token`'s). Counted here without recursion, before anything parses the body.

Checked: the path, query parameters, and bodies that are JSON (by content type, or by their
first byte: an import sends HSDS JSON under any type). NUL and surrogates can appear in JSON
only as `\\u` escapes, so a body without one is not even parsed here.
"""

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi import header, read_body
from shared.problems import PROBLEM_JSON

RULE = "no_nul_character"
MESSAGE = "text may not contain the NUL character (U+0000)"
SURROGATE_RULE = "no_lone_surrogate"
SURROGATE_MESSAGE = "text may not contain a lone UTF-16 surrogate (U+D800 to U+DFFF)"
DEPTH_RULE = "json_too_deep"
MAX_DEPTH = 64
DEPTH_MESSAGE = f"JSON may nest arrays and objects at most {MAX_DEPTH} deep"
MESSAGES = {RULE: MESSAGE, SURROGATE_RULE: SURROGATE_MESSAGE, DEPTH_RULE: DEPTH_MESSAGE}

Found = list[tuple[str, str]]
"""(field, rule) of every piece of input refused."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")  # escapes of NUL or of a surrogate
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


class NulGuardMiddleware:
    """ASGI middleware answering 422 to a request with a NUL, a lone surrogate or JSON nested
    too deep (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = _in_path_and_query(scope)
        body: bytes | None = None
        if not fields and _may_be_json(scope):
            body = await read_body(receive)
            if _looks_like_json(scope, body):
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


def _bad_text(text: str) -> str | None:
    """The rule `text` breaks, if any."""
    if "\x00" in text:
        return RULE
    if _SURROGATE.search(text):
        return SURROGATE_RULE
    return None


def _in_path_and_query(scope: Scope) -> Found:
    rule = _bad_text(scope.get("path", ""))
    fields = [("path", rule)] if rule else []
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return fields
    # Decoded as the app will decode it (Starlette: UTF-8, bad bytes replaced), so what is
    # checked here is what the route would see.
    for name, value in parse_qsl(query, keep_blank_values=True):
        rule = _bad_text(name) or _bad_text(value)
        if rule:
            fields.append((_printable(name) or "query", rule))
    return fields


def _in_json(body: bytes) -> Found:
    if _too_deep(body):
        return [("body", DEPTH_RULE)]
    if not _ESCAPES.search(body):
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return []  # not JSON after all: the app's own validation answers
    found: Found = []
    _walk(document, [], found)
    return found


def _too_deep(body: bytes) -> bool:
    """True when arrays and objects nest deeper than MAX_DEPTH (brackets inside strings do not
    count); linear, without recursion, and free for a body with few brackets."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b"", body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _walk(value: Any, path: list[str], found: Found) -> None:
    # Recursion is bounded: the body nests at most MAX_DEPTH deep.
    if isinstance(value, str):
        rule = _bad_text(value)
        if rule:
            found.append((".".join(path) or "body", rule))
    elif isinstance(value, dict):
        for key, item in value.items():
            step = _printable(str(key))
            rule = _bad_text(str(key))
            if rule:
                found.append((".".join([*path, step]) or "body", rule))
            _walk(item, [*path, step], found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, [*path, str(i)], found)


def _printable(name: str) -> str:
    """A field name fit for the answer: no NUL, no surrogate (it could not be encoded)."""
    return _SURROGATE.sub("\ufffd", name.replace("\x00", ""))


def _may_be_json(scope: Scope) -> bool:
    """A body worth reading here: any POST, PUT or PATCH (JSON is sniffed after)."""
    return scope.get("method", "GET") in ("POST", "PUT", "PATCH")


def _looks_like_json(scope: Scope, body: bytes) -> bool:
    if "json" in (header(scope.get("headers", []), b"content-type") or "").lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")


async def _refuse(send: Send, fields: Found) -> None:
    rules = list(dict.fromkeys(rule for _field, rule in fields))
    body = {
        "type": "about:blank",
        "title": "Validation failed",
        "status": 422,
        "detail": "; ".join(MESSAGES[rule] for rule in rules),
        "errors": [{"field": f, "rule": r, "message": MESSAGES[r]} for f, r in fields],
    }
    payload = json.dumps(body).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
