"""`Idempotency-Key` on POST: a retried create returns the first result instead of a twin.

Follows the IETF draft "The Idempotency-Key HTTP Header Field": the first request with a key
claims it (a row in the service's own database), runs, and stores its response; a retry with
the same key and body gets that response again (with `Idempotent-Replayed: true`); the same key
with a different body is refused with 422; a retry while the first is still running gets 409.

What is stored, and for how long, is `shared.idempotency_store`'s: a keyed hash of the body,
the answer encrypted, expiring after `LIANJIE_IDEMPOTENCY_TTL_S`.

The claim and the work commit separately, so a process killed between them leaves a claim
without a response. Such a claim is taken over after `stale_after_s`; in that rare case the
work may run twice, which is why the services' own rules (unique referral ids, duplicate
detection) stay in force underneath.
"""

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import principal_of
from shared.asgi import header, read_body
from shared.db import transaction
from shared.idempotency_store import (
    MAX_KEY_LENGTH,
    IdempotencyStore,
    Replay,
    request_digest,
)
from shared.problems import PROBLEM_JSON

HEADER = "idempotency-key"
MAX_STORED_BODY = 1_000_000


class IdempotencyMiddleware:
    """ASGI middleware replaying responses of POSTs that carry an Idempotency-Key."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        store: IdempotencyStore,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = _header(scope, HEADER)
        if key is None:  # most requests: nothing to claim or replay
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope)
        if principal is None:  # not signed in: the app answers 401 (or signs in); never replay
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await _send_problem(send, 400, "Idempotency-Key must have 1 to 128 characters")
            return
        body = await read_body(receive)
        digest = request_digest(body)
        # A key is the user's own: another user's retry with the same key is a new request. The
        # path may hold an id a client made of personal data: only its keyed hash is kept.
        where = request_digest(f"POST {scope['path']} by {principal.sub}".encode())
        outcome = await _run_sync(self._claim, key, where, digest)
        if isinstance(outcome, Replay):
            await _send(send, outcome.status, outcome.content_type, outcome.body.encode(), True)
            return
        if outcome == "mismatch":
            await _send_problem(send, 422, "this Idempotency-Key was used with another body")
            return
        if outcome == "in_progress":
            await _send_problem(send, 409, "a request with this Idempotency-Key is in progress")
            return
        await self._run_and_store(scope, body, send, key, where)

    async def _run_and_store(
        self, scope: Scope, body: bytes, send: Send, key: str, where: str
    ) -> None:
        # The response is held back until it is stored: a retry that arrives the moment the
        # client has the first answer must find it, not a claim still "in progress".
        messages: list[Message] = []

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def hold(message: Message) -> None:
            messages.append(message)

        status, content_type, stored = 500, None, None
        try:
            await self.app(scope, replay_body, hold)
            start = next(m for m in messages if m["type"] == "http.response.start")
            status = start["status"]
            content_type = header(start.get("headers", []), b"content-type")
            payload = b"".join(m.get("body", b"") for m in messages if m["type"] != start["type"])
            if status < 500 and len(payload) <= MAX_STORED_BODY:
                stored = payload.decode("utf-8", "replace")
        finally:
            await _run_sync(self._finish, key, where, status, content_type, stored)
        for message in messages:
            await send(message)

    def _claim(self, key: str, where: str, digest: str) -> Replay | str:
        with transaction(self.sessions) as session:
            return self.store.claim(session, key, where, digest)

    def _finish(
        self, key: str, where: str, status: int, content_type: str | None, body: str | None
    ) -> None:
        with transaction(self.sessions) as session:
            self.store.finish(session, key, where, status, content_type, body)


async def _run_sync(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _header(scope: Scope, name: str) -> str | None:
    return header(scope.get("headers", []), name.encode())


async def _send(
    send: Send, status: int, content_type: str, body: bytes, replayed: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Send, status: int, detail: str) -> None:
    title = {400: "Bad request", 409: "Conflict", 422: "Validation failed"}[status]
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body["errors"] = [{"field": "Idempotency-Key", "rule": "idempotency", "message": detail}]
    await _send(send, status, PROBLEM_JSON, json.dumps(body).encode())
