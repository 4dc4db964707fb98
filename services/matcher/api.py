"""HTTP routes of the matcher."""

from fastapi import APIRouter, Request

from services.matcher.schemas import IndexStatus, ModelStatus
from services.matcher.service import Ranker
from shared.contracts.matcher import RankReply, RankRequest
from shared.errors import ServiceUnavailable

router = APIRouter(tags=["matcher"])


def _ranker(request: Request) -> Ranker:
    return request.app.state.ranker  # type: ignore[no-any-return]


def _model_status(ranker: Ranker) -> ModelStatus:
    model = ranker.model
    if model is None:
        return ModelStatus()
    return ModelStatus(
        model_id=model.model_id,
        applied=ranker.reranker is not None,
        ndcg5_model=model.ndcg5_model,
        ndcg5_hand=model.ndcg5_hand,
    )


@router.post("/rank", response_model=RankReply)
async def rank(body: RankRequest, request: Request) -> RankReply:
    """Rank resources for a need: the HTTP twin of `lianjie.matcher.rank.v1`."""
    if not request.app.state.feed.caught_up.is_set():
        raise ServiceUnavailable("the matcher is still catching up with the resources stream")
    return _ranker(request).rank(body)


@router.get("/index", response_model=IndexStatus)
async def index_status(request: Request) -> IndexStatus:
    """Size and freshness of the index, this replica's name and the re-ranker in use."""
    ranker = _ranker(request)
    return IndexStatus(
        resources=len(ranker.index),
        events_applied=ranker.index.applied,
        caught_up=request.app.state.feed.caught_up.is_set(),
        shards=ranker.index.shard_count(),
        replica=ranker.settings.replica_id,
        rank_requests=ranker.requests,
        model=_model_status(ranker),
    )


@router.post("/model/reload", response_model=ModelStatus)
async def reload_model(request: Request) -> ModelStatus:
    """Load the trained re-ranker again (after `lianjie matcher train`), without a restart."""
    ranker = _ranker(request)
    ranker.reload_model()
    return _model_status(ranker)
