"""The matcher's domain: an index, the score's parameters, and ranking over them."""

from services.matcher.index import ResourceIndex
from services.matcher.ranking import ScoreParams, rank_resources
from services.matcher.settings import MatcherSettings
from shared.contracts.matcher import RankReply, RankRequest


class Ranker:
    """Ranks requests against one index with the configured weights."""

    def __init__(self, settings: MatcherSettings) -> None:
        self.index = ResourceIndex(
            rebuild_fraction=settings.rebuild_fraction,
            rebuild_min_pending=settings.rebuild_min_pending,
        )
        self.params = ScoreParams(
            weights=settings.weights.as_dict(),
            distance_scale_km=settings.distance_scale_km,
            load_scale=settings.load_scale,
        )

    def rank(self, request: RankRequest) -> RankReply:
        return rank_resources(index=self.index, query=request, params=self.params)
