"""Settings of the matcher (`LIANJIE_MATCHER_*`): score weights and index tuning."""

import os
import socket

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Weights(BaseModel):
    """How much each score component counts; they are normalised to sum to one."""

    model_config = ConfigDict(allow_inf_nan=False)

    category: float = Field(0.30, ge=0, description="Weight of the category fit")
    distance: float = Field(0.30, ge=0, description="Weight of the distance decay")
    headroom: float = Field(0.15, ge=0, description="Weight of the remaining capacity's headroom")
    text: float = Field(0.15, ge=0, description="Weight of the text relevance (TF-IDF)")
    load: float = Field(0.10, ge=0, description="Weight of load spreading (fewer open referrals)")

    def as_dict(self) -> dict[str, float]:
        total = sum(self.model_dump().values()) or 1.0
        return {name: value / total for name, value in self.model_dump().items()}


class MatcherSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIANJIE_MATCHER_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "matcher"
    weights: Weights = Field(default_factory=Weights)
    distance_scale_km: float = Field(10.0, gt=0, description="Distance at which the score is 1/e")
    load_scale: float = Field(5.0, gt=0, description="Open referrals at which load score is 1/2")
    rebuild_fraction: float = Field(
        0.1, gt=0, le=1, description="Re-sort a shard's grid when this share of it is pending"
    )
    rebuild_min_pending: int = Field(64, ge=1, description="…but never for fewer pending than this")
    rerank_top_n: int = Field(
        30, ge=1, le=500, description="How many of the hand score's best the re-ranker reorders"
    )
    learning_min_examples: int = Field(
        200, ge=2, description="Labelled outcomes needed before a re-ranker is trained"
    )
    learning_held_out: float = Field(
        0.25, gt=0, lt=1, description="Share of needs held out to judge the re-ranker"
    )
    model_check_interval_s: float = Field(
        5.0, ge=0, description="How often the matcher looks for a new or changed model file"
    )
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Names this replica in rank replies (default: host and process id)",
    )
