"""Transactional outbox: an event is written in the same transaction as the change it reports,
and a relay publishes it to JetStream afterwards, marking it sent only once JetStream acks.

The stream de-duplicates by `Nats-Msg-Id`, so a relay that publishes twice (it crashed after
the publish and before marking) still puts the event in the stream once.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, String, Text, event, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared import logs
from shared.messaging import Bus

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxRecord:
    """Mixin for a service's `outbox` table (each service keeps its own, in its own database)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The request that caused the event (its X-Request-ID), sent on as a NATS header.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


def add_request_id_column(op: Any, table: str = "outbox") -> None:
    """Migration step: the outbox's `request_id` column (one definition for every service)."""
    op.add_column(table, Column("request_id", String(64), nullable=True))


def drop_request_id_column(op: Any, table: str = "outbox") -> None:
    """Migration step: undo `add_request_id_column` (SQLite too, by a batch copy)."""
    with op.batch_alter_table(table) as batch:
        batch.drop_column("request_id")


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
    ) -> None:
        self.sessions = sessions
        self.record_type = record_type
        self.bus = bus
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        event.listen(sessions, "after_commit", self._on_commit)

    def _on_commit(self, _session: Session) -> None:
        # Commits happen on worker threads: hand the wake-up to the event loop safely.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush every pending event that JetStream takes within `timeout_s`, then stop. What
        is left (NATS away) stays in the table and goes out after the next start."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), timeout=timeout_s)

    async def _drain(self) -> None:
        while await self.flush() == self.batch_size:
            pass

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
            self._wake.clear()
            try:
                while await self.flush() == self.batch_size:
                    pass
            except Exception as exc:
                log.warning("outbox relay paused: %s", type(exc).__name__)

    async def flush(self) -> int:
        """Publish one batch of pending events; returns how many were sent."""
        if not self.bus.connected:
            return 0
        pending = await asyncio.to_thread(self._pending)
        sent: list[int] = []
        try:
            for record_id, event_id, subject, payload, request_id in pending:
                headers = {"Nats-Msg-Id": event_id}
                if request_id:
                    headers[logs.REQUEST_ID_HEADER] = request_id
                await self.bus.js.publish(subject, payload.encode(), headers=headers)
                sent.append(record_id)
        finally:
            if sent:
                await asyncio.to_thread(self._mark_sent, sent)
        return len(sent)

    def backlog(self) -> int:
        """How many events wait to be published."""
        with self.sessions() as session:
            query = select(func.count()).where(self.record_type.sent_at.is_(None))
            return int(session.scalar(query) or 0)

    def oldest_age_s(self) -> float:
        """Seconds the oldest unsent event has waited (0 when none waits): a relay that is
        stuck or a NATS that refuses shows here before anyone misses an event."""
        with self.sessions() as session:
            oldest = session.scalar(
                select(func.min(self.record_type.created_at)).where(
                    self.record_type.sent_at.is_(None)
                )
            )
        if oldest is None:
            return 0.0
        if oldest.tzinfo is None:  # SQLite gives naive datetimes back
            oldest = oldest.replace(tzinfo=UTC)
        return max(0.0, (utcnow() - oldest).total_seconds())

    def _pending(self) -> list[tuple[int, str, str, str, str | None]]:
        record = self.record_type
        with self.sessions() as session:
            rows = session.execute(
                select(
                    record.id, record.event_id, record.subject, record.payload, record.request_id
                )
                .where(record.sent_at.is_(None))
                .order_by(record.id)
                .limit(self.batch_size)
            )
            return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def _mark_sent(self, ids: list[int]) -> None:
        record = self.record_type
        with self.sessions() as session, session.begin():
            session.execute(update(record).where(record.id.in_(ids)).values(sent_at=utcnow()))
