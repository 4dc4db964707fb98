"""The JetStream streams, declared once, and which of them each service uses and how.

Streams are created and updated by an operator's step (`lianjie streams provision`, which
`lianjie up` runs), never by a service: a service only checks that the streams it uses exist,
and waits for them. What a service may do on each stream (`SERVICE_STREAMS`) is also what its
NATS user is permitted, no more (cli/nats_config.py derives the permissions from it)."""

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

from shared.contracts.resources import RESERVATION_PROMOTED, RESOURCE_UPSERTED
from shared.contracts.tokens import TOKENS_REVOKED_ALL


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: list[str]
    max_msgs_per_subject: int = -1
    extra: dict[str, object] = field(default_factory=dict)


RESOURCES_STREAM = StreamSpec(
    name="LIANJIE_RESOURCES",
    subjects=[f"{RESOURCE_UPSERTED}.*"],
    # One message per resource: a late consumer rebuilds the full current state from the stream.
    max_msgs_per_subject=1,
)
NEEDS_STREAM = StreamSpec(name="LIANJIE_NEEDS", subjects=["lianjie.needs.>"])
RESERVATIONS_STREAM = StreamSpec(name="LIANJIE_RESERVATIONS", subjects=[RESERVATION_PROMOTED])
"""What becomes of reservations after their request was answered (waitlist promotions)."""

DEADLETTER = "lianjie.deadletter"
"""Prefix of dead letters: `lianjie.deadletter.<consumer>.v1`, one subject per consumer."""

DEADLETTER_STREAM = StreamSpec(name="LIANJIE_DEADLETTER", subjects=[f"{DEADLETTER}.>"])


def deadletter_subject(consumer: str) -> str:
    """The subject a consumer's poison messages are reported on."""
    return f"{DEADLETTER}.{consumer}.v1"


class DeadLetter(BaseModel):
    """A message a consumer gave up on. A reference, not a copy: the message itself stays in its
    stream (read it by `stream` and `stream_seq`), so no payload, and no personal data, is
    duplicated here. `reason` is a code with field names at most, never field values."""

    consumer: str
    stream: str
    stream_seq: int = Field(ge=1)
    subject: str
    deliveries: int = Field(ge=1, description="How often it was delivered before giving up")
    reason: str = Field(description="e.g. `malformed: resource_id, lat` or `failed: KeyError`")
    at: datetime


TOKENS_STREAM = StreamSpec(
    name="LIANJIE_TOKENS",
    subjects=[TOKENS_REVOKED_ALL],
    # Only the newest revocation of each user counts: a starting service replays just those.
    max_msgs_per_subject=1,
)

MATCHER_SNAPSHOTS_BUCKET = "lianjie_matcher_snapshots"
"""The JetStream object store where matcher replicas keep a snapshot of their index (its
columns and the resources stream's sequence they cover), so a restart replays only the tail."""

MATCHER_SNAPSHOTS_STREAM = StreamSpec(
    # An object store is a stream under these names; the configuration nats-py's
    # `create_object_store` gives one, so `js.object_store(...)` reads and writes it.
    name=f"OBJ_{MATCHER_SNAPSHOTS_BUCKET}",
    subjects=[f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C.>", f"$O.{MATCHER_SNAPSHOTS_BUCKET}.M.>"],
    extra={"discard": "new", "allow_rollup_hdrs": True, "allow_direct": True},
)

STREAMS = [
    RESOURCES_STREAM,
    NEEDS_STREAM,
    RESERVATIONS_STREAM,
    DEADLETTER_STREAM,
    TOKENS_STREAM,
    MATCHER_SNAPSHOTS_STREAM,
]


@dataclass(frozen=True)
class StreamUse:
    """What one service does with JetStream: the streams it checks on connect, the streams it
    reads with ephemeral (ordered) consumers, and its durable consumers (stream, name)."""

    checks: tuple[StreamSpec, ...] = ()
    reads: tuple[StreamSpec, ...] = ()
    durables: tuple[tuple[StreamSpec, str], ...] = ()
    # Streams it follows from their last value per subject with ephemeral consumers it also
    # deletes (token revocations: every service, shared/revocation.py).
    follows: tuple[StreamSpec, ...] = (TOKENS_STREAM,)
    # Object stores (a stream each) it reads and writes objects in: put, get, and the purge of
    # an object's replaced chunks (nats-py's `put` does that), on that stream only.
    stores: tuple[StreamSpec, ...] = ()


MATCHER_INDEX_CONSUMER = "matcher_index"
MATCHER_OUTCOMES_CONSUMER = "matcher_outcomes"
NEEDS_PROMOTIONS_CONSUMER = "needs_reservation_promotions"
RESOURCES_CAPACITY_FLAGS_CONSUMER = "resources_capacity_flags"

SERVICE_STREAMS: dict[str, StreamUse] = {
    "needs": StreamUse(
        checks=(NEEDS_STREAM, RESERVATIONS_STREAM),
        durables=((RESERVATIONS_STREAM, NEEDS_PROMOTIONS_CONSUMER),),
    ),
    "resources": StreamUse(
        checks=(RESOURCES_STREAM, RESERVATIONS_STREAM, NEEDS_STREAM),
        durables=((NEEDS_STREAM, RESOURCES_CAPACITY_FLAGS_CONSUMER),),
    ),
    "matcher": StreamUse(
        checks=(RESOURCES_STREAM, NEEDS_STREAM, DEADLETTER_STREAM),
        reads=(RESOURCES_STREAM, NEEDS_STREAM),
        durables=((NEEDS_STREAM, MATCHER_OUTCOMES_CONSUMER),),
        stores=(MATCHER_SNAPSHOTS_STREAM,),
    ),
}


def inbox_prefix(user: str) -> str:
    """The reply-inbox prefix of a NATS user: only that user may subscribe under it, so no
    one reads another's replies (the default `_INBOX` is shared by everyone)."""
    return f"_INBOX_{user}"
