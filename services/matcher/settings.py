"""Settings of the matcher (`LIANJIE_MATCHER_*`): score weights and index tuning."""

import os
import socket
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_settings import SettingsConfigDict

from services.matcher.components import SCORE_COMPONENTS
from shared.settings import ServiceSettings


class _Weights(BaseModel):
    """How much each score component counts; they are normalised to sum to one. A name that is
    not a component is refused (`LIANJIE_MATCHER_WEIGHTS__DISTANSE` stops the start-up)."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    def as_dict(self) -> dict[str, float]:
        total = sum(self.model_dump().values()) or 1.0
        return {name: value / total for name, value in self.model_dump().items()}


if TYPE_CHECKING:
    Weights = _Weights
else:  # one field per score component, from the one list of them
    Weights = create_model(
        "Weights",
        __base__=_Weights,
        __doc__=_Weights.__doc__,
        **{
            c.name: (float, Field(c.weight, ge=0, description=c.description))
            for c in SCORE_COMPONENTS
        },
    )


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
    snapshot_interval_s: float = Field(
        300.0,
        ge=0,
        description="How often a ready replica considers writing a snapshot of its index into "
        "the object store, for restarts to load (0: never write one; loading stays on)",
    )
    snapshot_min_changes: int = Field(
        1000,
        ge=1,
        description="…and only when at least this many resource states were applied since its "
        "last snapshot",
    )
    snapshot_load: bool = Field(
        True, description="Start from the latest valid snapshot and the stream after it"
    )
    replica_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Names this replica in rank replies (default: host and process id)",
    )
