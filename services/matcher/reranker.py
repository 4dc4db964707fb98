"""The learned re-ranker as the matcher serves it: a logistic model over the score components.

It is stored as plain JSON (coefficients and metadata, never a pickle) under
`<var_dir>/matcher/model.json`; `learning.py` fits and writes it, the ranker loads it.
"""

import json
import math
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from shared.errors import ValidationFailed

MODEL_FILE = Path("matcher") / "model.json"


def model_path(*, var_dir: Path) -> Path:
    """Where the trained re-ranker lives under a var folder."""
    return var_dir / MODEL_FILE


class Reranker(BaseModel):
    """A fitted logistic model: P(good outcome | score components), with how it was judged."""

    model_id: str
    features: list[str]
    coefficients: list[float]
    intercept: float
    trained_at: datetime
    examples: int = Field(ge=0)
    held_out_groups: int = Field(ge=0)
    ndcg5_model: float
    ndcg5_hand: float

    @property
    def beats_hand_score(self) -> bool:
        """Applied only when it ranked held-out outcomes at least as well as the hand weights."""
        return self.ndcg5_model >= self.ndcg5_hand

    def probability(self, components: dict[str, float]) -> float:
        """The model's probability of a good outcome for one candidate."""
        z = self.intercept + sum(
            c * components.get(f, 0.0)
            for f, c in zip(self.features, self.coefficients, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def load_reranker(*, path: Path) -> Reranker | None:
    """The re-ranker stored at `path`, or None when there is none."""
    if not path.exists():
        return None
    try:
        return Reranker.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValidationFailed.one("model", "unreadable", f"{path} is not a re-ranker") from exc


def save_reranker(*, reranker: Reranker, path: Path) -> None:
    """Write the re-ranker atomically, so a running matcher never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(reranker.model_dump(mode="json"), indent=2), encoding="utf-8")
    tmp.replace(path)
