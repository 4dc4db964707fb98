"""Unmasked reads of personal data, the same way in every service that holds some: answers mask
it; a full read needs a purpose from the service's vocabulary (`?purpose=` or the
`X-Lianjie-Purpose` header) and a role that may, and writes one access-log row per record
shown in full, in the read's own transaction. The county hub reviews the log
(`GET /access-log` of each service); a row holds ids and codes only.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.actor import Actor
from shared.errors import Forbidden, ValidationFailed

PURPOSE_HEADER = "X-Lianjie-Purpose"
PURPOSE_MAX_LENGTH = 32  # the access log's column; the longest purpose is far shorter
# The county hub supervises through the log; an administrator runs the system.
ACCESS_LOG_ROLES = frozenset({"county_hub", "admin"})

P = TypeVar("P", bound=StrEnum)


def purpose_or_none(value: str | None, vocabulary: type[P]) -> P | None:
    """The stated purpose, None when none was stated, or a 422 naming the rule: a purpose
    stated blank, longer than any purpose, or outside the vocabulary."""
    if value is None:
        return None
    if not value.strip():
        raise ValidationFailed.one("purpose", "not_blank", "state a purpose or leave it out")
    if len(value) > PURPOSE_MAX_LENGTH:
        raise ValidationFailed.one(
            "purpose", "string_too_long", f"at most {PURPOSE_MAX_LENGTH} characters"
        )
    try:
        return vocabulary(value.strip())
    except ValueError:
        allowed = ", ".join(p.value for p in vocabulary)
        raise ValidationFailed.one(
            "purpose", "unknown_purpose", f"state one of: {allowed}"
        ) from None


def purpose_dependency(vocabulary: type[P], why: str) -> Callable[..., P | None]:
    """A route dependency: the purpose stated by `?purpose=` or the purpose header, checked
    against `vocabulary` (None when none was stated)."""
    allowed = ", ".join(p.value for p in vocabulary)

    def stated_purpose(
        request: Request,
        purpose: str | None = Query(
            None, description=f"{why} ({allowed}); also the {PURPOSE_HEADER} header. Logged."
        ),
    ) -> P | None:
        # A blank ?purpose= is a stated purpose (422 not_blank), not a missing one.
        stated = purpose if purpose is not None else request.headers.get(PURPOSE_HEADER)
        return purpose_or_none(stated, vocabulary)

    return stated_purpose


def may_unmask(*, actor: Actor, purpose: StrEnum | None, roles: frozenset[str]) -> bool:
    """Whether this read shows full values: a purpose was stated and the role allows it.
    A purpose stated by a role that may not unmask is refused (403), not silently masked."""
    if purpose is None:
        return False
    if actor.role not in roles:
        raise Forbidden(
            f"role {actor.role} may not read unmasked personal data",
            extra={"rule": "unmask_role", "allowed": sorted(roles)},
        )
    return True


def check_log_reader(actor: Actor) -> None:
    """403 unless the actor may review the access log."""
    if actor.role not in ACCESS_LOG_ROLES:
        raise Forbidden(
            f"role {actor.role} may not read the access log",
            extra={"rule": "role", "allowed": sorted(ACCESS_LOG_ROLES)},
        )


class AccessLogRecord:
    """Mixin for a service's access-log table; the service adds the id of what was read."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    fields: Mapped[list[str]] = mapped_column(JSON)
    accessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def create_access_log_table(op: Any, *, table: str, subject: str) -> None:
    """Create an access-log table of `AccessLogRecord` plus its `subject` id column, with the
    indexes the models declare (for a service's migration; once run, never edit: a change to
    the record is a new migration)."""
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(subject, sa.String(length=36), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in ("accessed_at", "actor_id", subject):
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column])


R = TypeVar("R", bound=AccessLogRecord)


def log_reads(
    *,
    session: Session,
    record_type: type[R],
    subject: str,
    records: Iterable[Any],
    fields: Sequence[str],
    actor: Actor,
    purpose: StrEnum,
) -> list[R]:
    """Write one access-log row per record shown in full: its id in the `subject` column and
    which of `fields` it holds (a record holding none of them is not logged)."""
    now = datetime.now(UTC)
    rows = []
    for record in records:
        shown = [f for f in fields if getattr(record, f) is not None]
        if shown:
            row = record_type(  # type: ignore[call-arg]
                actor_id=actor.id, role=actor.role, purpose=purpose.value, fields=shown,
                accessed_at=now, **{subject: record.id},
            )  # fmt: skip
            rows.append(row)
    session.add_all(rows)
    session.flush()
    return rows


class AccessLogOut(BaseModel):
    """One unmasked read: who, in which role, why, which fields, when."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    actor_id: str
    role: str
    purpose: str
    fields: list[str]
    accessed_at: datetime


def read_log(
    *,
    session: Session,
    record_type: type[R],
    subject: str,
    subject_id: str | None,
    actor_id: str | None,
    since: datetime | None,
    limit: int,
    offset: int = 0,
) -> list[R]:
    """One page of an access log, newest first, narrowed to a record, a reader and a time."""
    query = select(record_type)
    if subject_id is not None:
        query = query.where(getattr(record_type, subject) == subject_id)
    if actor_id is not None:
        query = query.where(record_type.actor_id == actor_id)
    if since is not None:
        query = query.where(record_type.accessed_at >= since)
    query = query.order_by(record_type.accessed_at.desc(), record_type.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))
