"""HTTP models of the micro-wishes open to claim."""

from datetime import date

from pydantic import BaseModel, Field

from services.needs.referrals.schemas import Utc


class WishOut(BaseModel):
    """A micro-wish (微心愿) no one has claimed yet: what it is, where, since when. No person
    and no hardship: every coordinator reads this list, and the one who claims the wish reads
    the rest on their referral, as for any referral to them."""

    need_id: str
    category: str
    description: str = Field(description="The wish as the social worker wrote it")
    urgency: int
    quantity: int
    unit: str
    status: str
    adcode: str = Field(description="The township of the household (9 digits), not its address")
    needed_by: date | None
    created_at: Utc


class WishList(BaseModel):
    """One page of open micro-wishes, shaped as every list of the needs service."""

    items: list[WishOut]
    total: int
    limit: int
    offset: int
