"""Routes of the aid chain."""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.orm import Session

from services.needs.aid import service
from services.needs.aid.schemas import AidChain, AidFlagList, BenefitCreate
from services.needs.jurisdiction import area_of
from services.needs.service import get_household_or_raise
from shared.actor import Actor, actor_from_request
from shared.clock import china_today, clock_of, today_of
from shared.web import Page, pages
from shared.web_db import read, write

router = APIRouter(tags=["aid chain"])

_page = pages(
    lambda request: request.app.state.settings.page_size_max,
    default=100,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


def _unserved_days(request: Request) -> int:
    return request.app.state.settings.aid_unserved_days  # type: ignore[no-any-return]


@router.post(
    "/households/{household_id}/benefits",
    status_code=status.HTTP_201_CREATED,
    response_model=AidChain,
)
async def record_benefit(
    household_id: str,
    body: BenefitCreate,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> AidChain:
    """Put a benefit given outside Lianjie's referrals on the household's aid chain."""
    now, days = clock_of(request.app)(), _unserved_days(request)

    def work(s: Session) -> AidChain:
        household = get_household_or_raise(session=s, household_id=household_id)
        service.record(session=s, household=household, data=body, actor=actor.id, now=now)
        (chain,) = service.chains(
            session=s, household_ids=[household.id], today=china_today(now), unserved_days=days
        )
        return chain

    return await write(request, work)


@router.get("/households/{household_id}/aid-chain", response_model=AidChain)
async def get_aid_chain(household_id: str, request: Request) -> AidChain:
    """Every aid the household received, from any member of the alliance, with its flags."""
    today, days = today_of(request.app), _unserved_days(request)

    def work(s: Session) -> AidChain:
        household = get_household_or_raise(session=s, household_id=household_id)
        (chain,) = service.chains(
            session=s, household_ids=[household.id], today=today, unserved_days=days
        )
        return chain

    return await read(request, work)


@router.get("/aid-chain/flags", response_model=AidFlagList)
async def list_flags(
    request: Request,
    kind: Literal["double_aid", "unserved"] | None = Query(None),
    page: Page = Depends(_page),
) -> AidFlagList:
    """Households of the caller's area whose chain shows double aid or needs left waiting."""
    today, days, area = today_of(request.app), _unserved_days(request), area_of(request)

    def work(s: Session) -> AidFlagList:
        ids = service.households_in(s, area)
        flags = [
            flag
            for chain in service.chains(
                session=s, household_ids=ids, today=today, unserved_days=days
            )
            for flag in chain.flags
            if kind is None or flag.kind == kind
        ]
        return AidFlagList(items=flags[page.offset : page.offset + page.limit], total=len(flags))

    return await read(request, work)
