"""The matcher's own HTTP models (ranking itself uses the contract in shared/contracts)."""

from pydantic import BaseModel


class IndexStatus(BaseModel):
    """How big and how current the index is."""

    resources: int
    events_applied: int
    caught_up: bool
    shards: int
