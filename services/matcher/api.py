"""HTTP routes of the matcher."""

from fastapi import APIRouter, Request

from services.matcher.schemas import IndexStatus
from services.matcher.service import Ranker
from shared.contracts.matcher import RankReply, RankRequest
from shared.errors import ServiceUnavailable

router = APIRouter(tags=["matcher"])


def _ranker(request: Request) -> Ranker:
    return request.app.state.ranker  # type: ignore[no-any-return]


@router.post("/rank", response_model=RankReply)
async def rank(body: RankRequest, request: Request) -> RankReply:
    """Rank resources for a need: the HTTP twin of `lianjie.matcher.rank.v1`."""
    if not request.app.state.feed.caught_up.is_set():
        raise ServiceUnavailable("the matcher is still catching up with the resources stream")
    return _ranker(request).rank(body)


@router.get("/index", response_model=IndexStatus)
async def index_status(request: Request) -> IndexStatus:
    index = _ranker(request).index
    return IndexStatus(
        resources=len(index),
        events_applied=index.applied,
        caught_up=request.app.state.feed.caught_up.is_set(),
        shards=len(index.shards),
    )
