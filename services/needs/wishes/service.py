"""Micro-wishes open to claim: a need of a micro-wish category, not closed, with no open claim
(a claim is a referral of origin `micro_wish`, `referrals.service.claim_micro_wish`)."""

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from services.needs.models import Need
from services.needs.referrals import service as referrals
from services.needs.referrals.models import Referral
from services.needs.referrals.states import OPEN_STATES
from services.needs.states import CLOSED_NEED_STATES
from services.needs.wishes.schemas import WishOut
from shared.db import page_of

TOWNSHIP_DIGITS = 9  # a township's adcode: where the wish is, not the household's village


def open_query(*, adcode_prefix: str | None) -> Select[Need]:
    """Unclaimed, open micro-wishes (within an area, if given): most urgent, then oldest first."""
    claimed = exists().where(
        Referral.need_id == Need.id,
        Referral.origin == "micro_wish",
        Referral.state.in_(list(OPEN_STATES)),
    )
    query = select(Need).where(
        Need.category.startswith(referrals.CLAIMABLE_PREFIX, autoescape=True),
        Need.status.not_in(list(CLOSED_NEED_STATES)),
        ~claimed,
    )
    if adcode_prefix is not None:
        query = query.where(Need.adcode.startswith(adcode_prefix, autoescape=True))
    return query.order_by(Need.urgency.desc(), Need.created_at, Need.id)


def get_open(
    *, session: Session, adcode_prefix: str | None, limit: int, offset: int
) -> tuple[list[WishOut], int]:
    """A page of the micro-wishes open to claim, and how many there are."""
    rows, total = page_of(session, open_query(adcode_prefix=adcode_prefix), limit, offset)
    return [_shown(need) for need in rows], total


def _shown(need: Need) -> WishOut:
    return WishOut(
        need_id=need.id,
        category=need.category,
        description=need.description,
        urgency=need.urgency,
        quantity=need.quantity,
        unit=need.unit,
        status=need.status,
        adcode=need.adcode[:TOWNSHIP_DIGITS],
        needed_by=need.needed_by,
        created_at=need.created_at,
    )
