"""The matcher's domain: an index, the score's parameters, the re-ranker, and ranking."""

import logging
import time

from services.matcher.index import ResourceIndex
from services.matcher.ranking import ScoreParams, rank_resources
from services.matcher.reranker import Reranker, load_reranker, model_path
from services.matcher.settings import MatcherSettings
from shared.contracts.matcher import RankReply, RankRequest
from shared.errors import ValidationFailed

log = logging.getLogger(__name__)


class Ranker:
    """Ranks requests against one index with the configured weights and, if trained, a model."""

    def __init__(self, settings: MatcherSettings) -> None:
        self.settings = settings
        self.index = ResourceIndex(
            rebuild_fraction=settings.rebuild_fraction,
            rebuild_min_pending=settings.rebuild_min_pending,
        )
        # A ranker starts by replaying the stream: shards are built once, when it is caught up.
        self.index.defer_rebuilds()
        self.params = ScoreParams(
            weights=settings.weights.as_dict(),
            distance_scale_km=settings.distance_scale_km,
            load_scale=settings.load_scale,
            rerank_top_n=settings.rerank_top_n,
        )
        self.model_path = model_path(var_dir=settings.common.var_dir)
        self.model: Reranker | None = None
        self.requests = 0
        self._model_mtime: float | None = None
        self._next_check = 0.0
        self.reload_model()

    @property
    def reranker(self) -> Reranker | None:
        """The model in use: present, and no worse than the hand score on held-out outcomes."""
        return self.model if self.model is not None and self.model.beats_hand_score else None

    def reload_model(self) -> Reranker | None:
        """Load the model file (again); without one the hand-weighted score ranks alone."""
        self._next_check = time.monotonic() + self.settings.model_check_interval_s
        mtime = self.model_path.stat().st_mtime if self.model_path.exists() else None
        self.model = load_reranker(path=self.model_path) if mtime is not None else None
        self._model_mtime = mtime
        if self.model is not None:
            applied = self.reranker is not None
            log.info("re-ranker %s loaded (applied: %s)", self.model.model_id, applied)
        return self.model

    def _watch_model(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.settings.model_check_interval_s
        mtime = self.model_path.stat().st_mtime if self.model_path.exists() else None
        if mtime != self._model_mtime:
            try:
                self.reload_model()
            except ValidationFailed:
                # A broken file must not break ranking: the hand score ranks alone until fixed.
                log.warning("the model file %s is unreadable; re-ranker off", self.model_path)
                self.model, self._model_mtime = None, mtime

    def rank(self, request: RankRequest) -> RankReply:
        self._watch_model()
        self.requests += 1
        reply = rank_resources(
            index=self.index, query=request, params=self.params, reranker=self.reranker
        )
        reply.answered_by = self.settings.replica_id
        return reply
