"""The JetStream streams, declared once; every service ensures them on connect."""

from dataclasses import dataclass, field

from shared.contracts.resources import RESOURCE_UPSERTED


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

STREAMS = [RESOURCES_STREAM, NEEDS_STREAM]
