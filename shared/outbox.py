"""Transactional outbox: an event is written in the same transaction as the change it reports,
and a relay publishes it to JetStream afterwards, marking it sent only once JetStream acks.

The stream de-duplicates by `Nats-Msg-Id`, so a relay that publishes twice (it crashed after
the publish and before marking) still puts the event in the stream once.

One row never blocks the others: a row JetStream refuses (a subject no stream takes, an invalid
subject) is retried with a growing pause while later rows go out — except later rows of the same
aggregate, which keep their order behind it — and after `max_attempts` it is parked
(`parked_at` set, counted in `lianjie_outbox_parked`), listed and re-driven by an operator
(`GET /admin/outbox/parked`, `POST /admin/outbox/parked/redrive`). When NATS itself
is away nothing is counted against any row: the relay waits for the connection.
"""

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from nats.errors import NoRespondersError
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, String, Text, event, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared import logs
from shared.clock import utc_now
from shared.db import insert_rows, read_session
from shared.messaging import Bus

log = logging.getLogger(__name__)


class OutboxRecord:
    """Mixin for a service's `outbox` table (each service keeps its own, in its own database)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The request that caused the event (its X-Request-ID), sent on as a NATS header.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Publishes JetStream refused (a lost connection does not count)."""
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    """Set when the row gave up after its attempts: the relay skips it until it is re-driven."""
    last_error: Mapped[str | None] = mapped_column(String(200))
    """Why the last publish failed: an error type and rule, never the payload."""


def add_request_id_column(op: Any, table: str = "outbox") -> None:
    """Migration step: the outbox's `request_id` column (one definition for every service)."""
    op.add_column(table, Column("request_id", String(64), nullable=True))


def drop_request_id_column(op: Any, table: str = "outbox") -> None:
    """Migration step: undo `add_request_id_column` (SQLite too, by a batch copy)."""
    with op.batch_alter_table(table) as batch:
        batch.drop_column("request_id")


PARKING_COLUMNS = ("attempts", "parked_at", "last_error")


def add_parking_columns(op: Any, *, table: str = "outbox") -> None:
    """Migration step shared by every service's outbox: the columns that park a poison row."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(200), nullable=True))
        batch.create_index(f"ix_{table}_parked_at", ["parked_at"])


def drop_parking_columns(op: Any, *, table: str = "outbox") -> None:
    """The downgrade of `add_parking_columns`."""
    with op.batch_alter_table(table) as batch:
        batch.drop_index(f"ix_{table}_parked_at")
        for column in reversed(PARKING_COLUMNS):
            batch.drop_column(column)


_PUBLISHABLE = re.compile(r"[!-~]+")  # printable ASCII, no space or control character


UNPUBLISHABLE_RULES = ("invalid_subject", "wildcard_subject")


def refused_row(exc: BaseException) -> bool:
    """True when JetStream answered, and refused this row: no stream takes its subject, or the
    stream rejected it (too large, say). A timeout, a lost connection or JetStream itself
    unavailable (503) is the connection's trouble, never counted against a row."""
    if isinstance(exc, NoStreamResponseError | NoRespondersError):
        return True
    return isinstance(exc, APIError) and not isinstance(exc, ServiceUnavailableError)


def subject_problem(subject: str) -> str | None:
    """Why `subject` can never be published (None: it can): an empty token, a wildcard, a
    space or a control character. Such a row is parked at once instead of being retried."""
    tokens = subject.split(".")
    if not all(tokens) or not all(_PUBLISHABLE.fullmatch(t) for t in tokens):
        return "invalid_subject"
    if any(t in ("*", ">") for t in tokens):
        return "wildcard_subject"
    return None


def add_event(
    session: Session,
    record_type: type[OutboxRecord],
    *,
    subject: str,
    aggregate_id: str,
    payload: BaseModel,
) -> None:
    """Queue an event in the caller's transaction; it is published only if that commits."""
    session.add(
        record_type(  # type: ignore[call-arg]
            event_id=str(uuid.uuid4()),
            subject=subject,
            aggregate_id=aggregate_id,
            payload=payload.model_dump_json(),
            request_id=logs.request_id.get(),
        )
    )


def add_events(
    session: Session,
    record_type: type[OutboxRecord],
    events: list[tuple[str, str, BaseModel]],
) -> None:
    """Queue many events (subject, aggregate id, payload), in their order, in the caller's
    transaction with one multi-row INSERT: `add_event` for a bulk import, where reading every
    row's id back (the ORM's RETURNING) cost more than the rows."""
    if not events:
        return
    request_id, now = logs.request_id.get(), utc_now()
    rows = [
        {
            "event_id": str(uuid.uuid4()),
            "subject": subject,
            "aggregate_id": aggregate_id,
            "payload": payload.model_dump_json(),
            "request_id": request_id,
            "created_at": now,
            "attempts": 0,
        }
        for subject, aggregate_id, payload in events
    ]
    insert_rows(session, record_type.__table__, rows)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Pending:
    """One unsent, unparked row as the relay reads it."""

    id: int
    event_id: str
    subject: str
    aggregate_id: str
    payload: str
    attempts: int
    request_id: str | None


class ParkedEvent(BaseModel):
    """A parked row as an operator sees it: ids, subject and error, never the payload."""

    event_id: str
    subject: str
    aggregate_id: str
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


async def _to_the_end(work: Awaitable[None]) -> None:
    """Await `work` until it is done, even when the caller is cancelled meanwhile (the
    cancellation is raised after)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


RELAY_BOOKKEEPING = "lianjie_outbox_bookkeeping"
"""Session info key of the relay's own writes, which do not wake it."""


class OutboxRelay:
    """Publishes pending outbox events in order, woken by every commit and by a slow poll."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        record_type: type[OutboxRecord],
        bus: Bus,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
        max_attempts: int = 8,
        retry_pause_s: float = 0.25,
    ) -> None:
        self.sessions = sessions
        self.record_type = record_type
        self.bus = bus
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.retry_pause_s = retry_pause_s
        self._retry_at: dict[int, float] = {}  # row id → monotonic time of its next attempt
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        event.listen(sessions, "after_commit", self._on_commit)

    def _on_commit(self, session: Session) -> None:
        # Its own bookkeeping (rows marked sent) brings no new event: waking for it cost an
        # empty look for pending rows after every pass.
        if session.info.get(RELAY_BOOKKEEPING):
            return
        # Commits happen on worker threads: hand the wake-up to the event loop safely.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush every pending event that JetStream takes within `timeout_s`, then stop. What
        is left (NATS away or slow) stays in the table and goes out after the next start.

        The drain stops itself at the deadline, between two publishes, and a publish still in
        flight then is cancelled. Cancelling alone was not enough: nats-py awaits each ack with
        `asyncio.wait_for`, which on Python 3.11 returns the ack instead of raising when the
        cancellation and the ack come together, and the drain went on to the end of the outbox
        (4 stops of 30 behind a 50 ms link, tests/shared/test_outbox_drain.py)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        drain = asyncio.create_task(self.flush(deadline=time.monotonic() + timeout_s))
        await asyncio.wait({drain}, timeout=timeout_s)
        drain.cancel()  # no-op when it is done; the rows sent so far are marked all the same
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await drain

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                log.warning("outbox relay paused: %s", type(exc).__name__)

    async def flush(self, deadline: float = math.inf) -> int:
        """One pass over the pending events, a batch at a time, publishing none after the
        `deadline` (time.monotonic()); returns how many were sent."""
        sent, after = 0, 0
        held: set[str] = set()  # aggregates with a failing row: their later rows wait
        while self.bus.connected:
            count, after, more = await self._flush_batch(after, held, deadline)
            sent += count
            if not more:
                break
        return sent

    async def _flush_batch(
        self, after: int, held: set[str], deadline: float
    ) -> tuple[int, int, bool]:
        """Publish the batch of pending rows after row id `after`, until the `deadline`;
        returns (sent, last row id, whether more may wait: a full batch, before the deadline).
        A row JetStream refuses is counted, and parked after `max_attempts` (a subject that
        can never be published: at once); later rows of other aggregates still go out. A lost
        connection ends the batch without counting."""
        pending = await asyncio.to_thread(self._pending, after)
        sent: list[int] = []
        failed: dict[int, str] = {}
        now = time.monotonic()
        try:
            for row in pending:
                if time.monotonic() >= deadline:
                    return len(sent), after, False
                unpublishable = subject_problem(row.subject)
                if unpublishable:
                    failed[row.id] = unpublishable
                    continue
                if row.aggregate_id in held or self._retry_at.get(row.id, 0.0) > now:
                    held.add(row.aggregate_id)
                    continue
                try:
                    headers = {"Nats-Msg-Id": row.event_id}
                    if row.request_id:
                        headers[logs.REQUEST_ID_HEADER] = row.request_id
                    await self.bus.js.publish(row.subject, row.payload.encode(), headers=headers)
                except Exception as exc:
                    if not self.bus.connected or not refused_row(exc):
                        # NATS away, slow or restarting (a timeout, a lost connection, JetStream
                        # unavailable): not this row's fault, and the next would fare no better.
                        return len(sent), after, False
                    failed[row.id] = type(exc).__name__
                    held.add(row.aggregate_id)
                else:
                    sent.append(row.id)
                    self._retry_at.pop(row.id, None)
        finally:
            if sent or failed:
                attempts = {row.id: row.attempts for row in pending}
                # Marked to the end even when a stop cancels the drain meanwhile: an acked
                # event left unmarked would be published again after the restart.
                await _to_the_end(asyncio.to_thread(self._record, sent, failed, attempts))
        last = pending[-1].id if pending else after
        return len(sent), last, len(pending) == self.batch_size

    def _record(self, sent: list[int], failed: dict[int, str], attempts: dict[int, int]) -> None:
        record = self.record_type
        now = utc_now()
        with self.sessions() as session, session.begin():
            session.info[RELAY_BOOKKEEPING] = True
            if sent:
                session.execute(update(record).where(record.id.in_(sent)).values(sent_at=now))
            for row_id, error in failed.items():
                tries = attempts[row_id] + 1
                park = tries >= self.max_attempts or error in UNPUBLISHABLE_RULES
                values: dict[str, Any] = {"attempts": tries, "last_error": error[:200]}
                if park:
                    values["parked_at"] = now
                    self._retry_at.pop(row_id, None)
                    log.error("outbox event parked after %d attempts: %s", tries, error)
                else:
                    pause = self.retry_pause_s * 2 ** (tries - 1)
                    self._retry_at[row_id] = time.monotonic() + pause
                session.execute(update(record).where(record.id == row_id).values(**values))

    def backlog(self) -> int:
        """How many events wait to be published (parked ones not counted)."""
        record = self.record_type
        with read_session(self.sessions) as session:
            query = select(func.count()).where(record.sent_at.is_(None), record.parked_at.is_(None))
            return int(session.scalar(query) or 0)

    def parked_count(self) -> int:
        """How many events are parked, waiting for an operator."""
        with read_session(self.sessions) as session:
            query = select(func.count()).where(self.record_type.parked_at.is_not(None))
            return int(session.scalar(query) or 0)

    def oldest_unsent_age_s(self) -> float:
        """Seconds since the oldest unsent, unparked event was written (0 when none waits)."""
        record = self.record_type
        with read_session(self.sessions) as session:
            query = select(func.min(record.created_at)).where(
                record.sent_at.is_(None), record.parked_at.is_(None)
            )
            oldest = session.scalar(query)
        if oldest is None:
            return 0.0
        if oldest.tzinfo is None:  # SQLite hands back naive datetimes
            oldest = oldest.replace(tzinfo=UTC)
        return max((utc_now() - oldest).total_seconds(), 0.0)

    def parked(self, limit: int = 100) -> tuple[int, list[ParkedEvent]]:
        """How many events are parked in all, and the first `limit` of them, oldest first.
        One statement, so the count and the list are read from the same snapshot even while
        the relay parks or an operator re-drives."""
        record = self.record_type
        total = func.count().over().label("total")
        with read_session(self.sessions) as session:
            rows = session.execute(
                select(record, total)
                .where(record.parked_at.is_not(None))
                .order_by(record.id)
                .limit(limit)
            ).all()
            events = [
                ParkedEvent(
                    event_id=r.event_id,
                    subject=r.subject,
                    aggregate_id=r.aggregate_id,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    created_at=r.created_at,
                    parked_at=r.parked_at,  # type: ignore[arg-type]
                )
                for r, _ in rows
            ]
            return (int(rows[0][1]) if rows else 0), events

    def redrive(self, event_ids: list[str] | None = None) -> int:
        """Put parked events back in the queue (all of them when `event_ids` is None) with
        their attempts reset; returns how many. The relay is woken by the commit."""
        record = self.record_type
        query = update(record).where(record.parked_at.is_not(None))
        if event_ids is not None:
            query = query.where(record.event_id.in_(event_ids))
        with self.sessions() as session, session.begin():
            result = session.execute(query.values(parked_at=None, attempts=0, last_error=None))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _pending(self, after: int = 0) -> list[Pending]:
        record = self.record_type
        with read_session(self.sessions) as session:
            rows = session.execute(
                select(
                    record.id,
                    record.event_id,
                    record.subject,
                    record.aggregate_id,
                    record.payload,
                    record.attempts,
                    record.request_id,
                )
                .where(record.sent_at.is_(None), record.parked_at.is_(None), record.id > after)
                .order_by(record.id)
                .limit(self.batch_size)
            )
            return [Pending(r[0], r[1], r[2], r[3], r[4], r[5] or 0, r[6]) for r in rows]
