"""Events queued straight into a service's outbox table, and read back from its stream: the
relay tested on its own, apart from the routes that write events."""

import nats
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.resources.models import OutboxEvent
from shared.contracts.resources import resource_subject
from shared.contracts.streams import RESOURCES_STREAM
from shared.db import transaction
from shared.outbox import add_events


class Changed(BaseModel):
    n: int


def queue_events(sessions: sessionmaker[Session], count: int) -> list[str]:
    """`count` pending events in the resources service's outbox, one per resource (its stream
    keeps one message per subject); the event ids of the whole outbox, in order."""
    events = [(resource_subject(f"drain-{n}"), f"drain-{n}", Changed(n=n)) for n in range(count)]
    with transaction(sessions) as session:
        add_events(session, OutboxEvent, events)
    with sessions() as session:
        return list(session.scalars(select(OutboxEvent.event_id).order_by(OutboxEvent.id)))


async def stream_event_ids(url: str) -> list[str]:
    """The Nats-Msg-Id of every message in the resources stream, in order."""
    nc = await nats.connect(url, connect_timeout=5)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(RESOURCES_STREAM.name)).state.last_seq
        ids = []
        for seq in range(1, last + 1):
            message = await js.get_msg(RESOURCES_STREAM.name, seq)
            ids.append((message.headers or {})["Nats-Msg-Id"])
        return ids
    finally:
        await nc.close()
