"""`Idempotency-Key` on POST: a retried create returns the first result instead of a twin.

Follows the IETF draft "The Idempotency-Key HTTP Header Field": the first request with a key
claims it (a row in the service's own database), runs, and stores its response; a retry with
the same key and body gets that response again (with `Idempotent-Replayed: true`); the same key
with a different body is refused with 422; a retry while the first is still running gets 409.

The claim and the work commit separately, so a process killed between them leaves a claim
without a response. Such a claim is taken over after `stale_after_s`; in that rare case the
work may run twice, which is why the services' own rules (unique referral ids, duplicate
detection) stay in force underneath.
"""

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import principal_of
from shared.asgi import header, read_body
from shared.problems import PROBLEM_JSON

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 128
MAX_STORED_BODY = 1_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class IdempotencyRecord:
    """Mixin for a service's `idempotency_key` table."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    scope: Mapped[str] = mapped_column(String(300), doc="method, path and user")
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("key", "scope", name="uq_idempotency_key_scope"),)


TABLE = "idempotency_key"


def create_idempotency_table(op: Any) -> None:
    """Create the `idempotency_key` table of `IdempotencyRecord` (for a service's migration).

    Migrations that ran must keep building the same table: a later change to the record is a
    new migration in each service, never an edit here."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=MAX_KEY_LENGTH), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "scope", name="uq_idempotency_key_scope"),
    )


def drop_idempotency_table(op: Any) -> None:
    """Drop the `idempotency_key` table (a migration's downgrade)."""
    op.drop_table(TABLE)


class IdempotencyMiddleware:
    """ASGI middleware replaying responses of POSTs that carry an Idempotency-Key."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        record_type: type[IdempotencyRecord],
        stale_after_s: float = 60.0,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.record_type = record_type
        self.stale_after = timedelta(seconds=stale_after_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER)
        if scope["type"] != "http" or scope["method"] != "POST" or key is None:
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
        digest = hashlib.sha256(body).hexdigest()
        # A key is the user's own: another user's retry with the same key is a new request.
        where = f"POST {scope['path']} by {principal.sub}"[:300]
        outcome = await _run_sync(self._claim, key, where, digest)
        if isinstance(outcome, tuple):
            status, content_type, stored = outcome
            await _send(send, status, content_type, stored.encode(), replayed=True)
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

    def _claim(self, key: str, where: str, digest: str) -> tuple[int, str, str] | str:
        record = self.record_type
        with self.sessions() as session, session.begin():
            existing = session.scalar(
                select(record).where(record.key == key, record.scope == where)
            )
            if existing is None:
                try:
                    with session.begin_nested():
                        session.add(record(key=key, scope=where, request_hash=digest))  # type: ignore[call-arg]
                except IntegrityError:
                    return "in_progress"
                return "claimed"
            if existing.request_hash != digest:
                return "mismatch"
            if existing.status_code is not None and existing.body is not None:
                return (existing.status_code, existing.content_type or "", existing.body)
            if utcnow() - _aware(existing.created_at) > self.stale_after:
                existing.created_at = utcnow()
                return "claimed"
            return "in_progress"

    def _finish(
        self, key: str, where: str, status: int, content_type: str | None, body: str | None
    ) -> None:
        record = self.record_type
        with self.sessions() as session, session.begin():
            if body is None:  # a server error: let a retry run the request again
                session.execute(delete(record).where(record.key == key, record.scope == where))
                return
            existing = session.scalar(
                select(record).where(record.key == key, record.scope == where)
            )
            if existing is not None:
                existing.status_code = status
                existing.content_type = content_type
                existing.body = body


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _run_sync(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


def _header(scope: Scope, name: str) -> str | None:
    return header(scope.get("headers", []), name.encode())


async def _send(
    send: Send, status: int, content_type: str, body: bytes, *, replayed: bool = False
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
