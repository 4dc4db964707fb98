"""The JetStream streams, declared once; every service ensures them on connect."""

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

from shared.contracts.resources import RESOURCE_UPSERTED
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

STREAMS = [RESOURCES_STREAM, NEEDS_STREAM, DEADLETTER_STREAM, TOKENS_STREAM]
