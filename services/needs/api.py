"""HTTP routes of the needs service: parse, call the service, shape the response."""

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service
from services.needs.events import ask_matcher
from services.needs.referrals.api import router as referrals_router
from services.needs.schemas import (
    HouseholdCreate,
    HouseholdOut,
    MatchesOut,
    MatchRequest,
    NeedCreate,
    NeedOut,
)
from shared.db import run_in_transaction, run_read

router = APIRouter()
router.include_router(referrals_router)


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


@router.post(
    "/households",
    status_code=status.HTTP_201_CREATED,
    response_model=HouseholdOut,
    tags=["households"],
)
async def create_household(
    body: HouseholdCreate, request: Request, response: Response
) -> HouseholdOut:
    """Open a household file (一户一档)."""
    out = await run_in_transaction(
        _sessions(request),
        lambda s: HouseholdOut.model_validate(service.create_household(session=s, data=body)),
    )
    response.headers["Location"] = f"/households/{out.id}"
    return out


@router.get("/households/{household_id}", response_model=HouseholdOut, tags=["households"])
async def get_household(household_id: str, request: Request) -> HouseholdOut:
    return await run_read(
        _sessions(request),
        lambda s: HouseholdOut.model_validate(
            service.get_household_or_raise(session=s, household_id=household_id)
        ),
    )


@router.post("/needs", status_code=status.HTTP_201_CREATED, response_model=NeedOut, tags=["needs"])
async def create_need(body: NeedCreate, request: Request, response: Response) -> NeedOut:
    """Record a need for a household or person."""
    out = await run_in_transaction(
        _sessions(request),
        lambda s: NeedOut.model_validate(service.create_need(session=s, data=body)),
    )
    response.headers["Location"] = f"/needs/{out.id}"
    return out


@router.get("/needs/{need_id}", response_model=NeedOut, tags=["needs"])
async def get_need(need_id: str, request: Request) -> NeedOut:
    return await run_read(
        _sessions(request),
        lambda s: NeedOut.model_validate(service.get_need_or_raise(session=s, need_id=need_id)),
    )


@router.post("/needs/{need_id}/matches", response_model=MatchesOut, tags=["needs"])
async def match_need(
    need_id: str, request: Request, body: MatchRequest | None = None
) -> MatchesOut:
    """Ask the matcher for ranked, explained resources for this need."""
    settings = request.app.state.settings
    ask = await run_read(
        _sessions(request),
        lambda s: service.rank_request(
            need=service.get_need_or_raise(session=s, need_id=need_id),
            request=body or MatchRequest(),
            default_k=settings.matches_default_k,
        ),
    )
    reply = await ask_matcher(request.app.state.bus, ask)
    return MatchesOut(
        need_id=need_id, results=reply.results, candidates_considered=reply.candidates_considered
    )
