"""HTTP models of the micro-wishes open to claim."""

from datetime import date

from pydantic import BaseModel, Field

from services.needs.referrals.schemas import NeedSummary, Utc


class WishOut(NeedSummary):
    """A micro-wish (微心愿) no one has claimed yet: what it is, where, since when; its person
    masked as on a referral."""

    adcode: str = Field(description="The township of the household (9 digits), not its address")
    needed_by: date | None
    created_at: Utc


class WishList(BaseModel):
    """One page of open micro-wishes, shaped as every list of the needs service."""

    items: list[WishOut]
    total: int
    limit: int
    offset: int
