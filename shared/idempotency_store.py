"""The `idempotency_key` table: what a retried POST needs to be answered again, and nothing
personal in clear.

A record holds the key, keyed hashes of its scope (method, path, user) and of the request body
(the blind-index key of `shared.crypto`: a guessed body or path cannot be confirmed from the
table), the status and content type of the first answer, and that answer's body encrypted with the
personal-data keys (it may name a resident). Records expire after `LIANJIE_IDEMPOTENCY_TTL_S`:
an expired record is ignored on look-up and deleted by `purge_expired`, run on a timer.

No web code here: the models import this module, the middleware (`shared.idempotency`) too.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import DateTime, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.clock import utc_now
from shared.crypto import EncryptedText, field_cipher

MAX_KEY_LENGTH = 128
TABLE = "idempotency_key"


class IdempotencyRecord:
    """Mixin for a service's `idempotency_key` table."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    scope: Mapped[str] = mapped_column(String(300), doc="keyed hash of method, path and user")
    request_hash: Mapped[str] = mapped_column(String(64), doc="keyed hash of the request body")
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(EncryptedText, doc="the answer, encrypted")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("key", "scope", name="uq_idempotency_key_scope"),)


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


def forget_clear_records(op: Any) -> None:
    """Delete records stored before bodies were encrypted (a migration's upgrade): they are a
    replay cache, and their clear bodies may name residents."""
    op.execute(sa.text(f"DELETE FROM {TABLE}"))


def request_digest(body: bytes) -> str:
    """A keyed hash of a request body: equal bodies compare equal, guesses cannot be checked."""
    return field_cipher().blind_index(hashlib.sha256(body).hexdigest())


@dataclass(frozen=True)
class Replay:
    """The stored first answer to send again."""

    status: int
    content_type: str
    body: str


@dataclass
class IdempotencyStore:
    """Claims, answers and expiry of one service's idempotency records."""

    record_type: type[IdempotencyRecord]
    ttl: timedelta
    stale_after: timedelta

    def claim(self, session: Session, key: str, where: str, digest: str) -> Replay | str:
        """ "claimed", "mismatch", "in_progress", or the Replay of a finished first request.
        Run inside a transaction."""
        record = self.record_type
        existing = session.scalar(select(record).where(record.key == key, record.scope == where))
        now = utc_now()
        if existing is not None and now - _aware(existing.created_at) > self.ttl:
            session.delete(existing)  # expired: as if it had never been
            session.flush()
            existing = None
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
            return Replay(existing.status_code, existing.content_type or "", existing.body)
        if now - _aware(existing.created_at) > self.stale_after:
            existing.created_at = now
            return "claimed"
        return "in_progress"

    def finish(
        self,
        session: Session,
        key: str,
        where: str,
        status: int,
        content_type: str | None,
        body: str | None,
    ) -> None:
        """Store the answer of a claimed key; a server error (no body) frees the key."""
        record = self.record_type
        if body is None:  # a server error: let a retry run the request again
            session.execute(delete(record).where(record.key == key, record.scope == where))
            return
        existing = session.scalar(select(record).where(record.key == key, record.scope == where))
        if existing is not None:
            existing.status_code = status
            existing.content_type = content_type
            existing.body = body

    def purge_expired(self, session: Session) -> int:
        """Delete the records older than the time-to-live; how many went."""
        record = self.record_type
        result = session.execute(delete(record).where(record.created_at < utc_now() - self.ttl))
        return int(getattr(result, "rowcount", 0) or 0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
