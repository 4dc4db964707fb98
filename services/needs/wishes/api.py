"""HTTP route of the micro-wishes open to claim (claiming one: POST /needs/{need_id}/claims)."""

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from services.needs import jurisdiction
from services.needs.settings import NeedsSettings
from services.needs.wishes import service
from services.needs.wishes.schemas import WishList
from shared.web import Page, pages
from shared.web_db import read

router = APIRouter(tags=["micro-wishes"])


def _cap(request: Request) -> int:
    settings: NeedsSettings = request.app.state.settings
    return settings.page_size_max


_page = pages(_cap, default=50, cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX")


@router.get("/micro-wishes", response_model=WishList)
async def list_open_wishes(request: Request, page: Page = Depends(_page)) -> WishList:
    """Micro-wishes (微心愿) no one has claimed yet, most urgent then oldest first, with no
    person (the claimer reads that on their referral): a coordinator's from every area (they
    claim with their organization's resources), the case side's from their own area."""
    area = None if jurisdiction.organization_of(request) else jurisdiction.area_of(request)

    def work(s: Session) -> WishList:
        items, total = service.get_open(
            session=s, adcode_prefix=area, limit=page.limit, offset=page.offset
        )
        return WishList(items=items, total=total, limit=page.limit, offset=page.offset)

    return await read(request, work)
