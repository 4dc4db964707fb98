"""The matcher's own HTTP models (ranking itself uses the contract in shared/contracts)."""

from pydantic import BaseModel, Field


class ModelStatus(BaseModel):
    """The learned re-ranker: whether one is loaded, and whether it is applied."""

    model_id: str | None = None
    applied: bool = Field(False, description="Loaded and no worse than the hand score held out")
    ndcg5_model: float | None = None
    ndcg5_hand: float | None = None


class IndexStatus(BaseModel):
    """How big and how current the index is, and which replica says so."""

    resources: int
    events_applied: int
    caught_up: bool
    shards: int
    replica: str
    rank_requests: int
    model: ModelStatus
