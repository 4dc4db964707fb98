"""The read side of referrals: pages and filters, the review queue, overdue ones, overrides,
and what a referral's page shows of its need. Nothing here changes a row; the writes are in
`service.py`."""

from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.needs import models as needs_models
from services.needs.models import Need
from services.needs.referrals import review
from services.needs.referrals.models import Referral
from services.needs.referrals.schemas import NeedSummary, PersonSummary
from services.needs.referrals.states import OPEN_STATES, WAITING
from services.needs.referrals.states import ReferralState as S
from services.needs.referrals.transitions import aware
from services.needs.service import age_on
from shared.db import page_of
from shared.errors import unknown
from shared.masking import mask_name


def need_summary(*, session: Session, need_id: str, today: date) -> NeedSummary | None:
    """The need a referral is for, with its household's hardship and its person masked."""
    need = session.get(Need, need_id)
    if need is None:
        return None
    household = session.get(needs_models.Household, need.household_id)
    person = session.get(needs_models.Person, need.person_id) if need.person_id else None
    return NeedSummary(
        need_id=need.id,
        category=need.category,
        urgency=need.urgency,
        quantity=need.quantity,
        unit=need.unit,
        description=need.description,
        status=need.status,
        hardship_categories=list(household.hardship_categories) if household else [],
        person=None
        if person is None
        else PersonSummary(
            name_masked=mask_name(person.name),
            gender=person.gender,
            age=age_on(person.date_of_birth, today),
            groups=list(person.groups),
            disability_grade=person.disability_grade,
        ),
    )


def get_or_raise(*, session: Session, referral_id: str) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise unknown("referral")
    return referral


def _scoped(
    query: Select[Referral], adcode_prefix: str | None, organization: str | None = None
) -> Select[Referral]:
    """`query` narrowed to an area (adcode prefix) and to one resource organization, if given."""
    if adcode_prefix is not None:
        query = query.where(Referral.adcode.startswith(adcode_prefix, autoescape=True))
    if organization is not None:
        query = query.where(Referral.resource_organization == organization)
    return query


def get_all(
    *,
    session: Session,
    need_id: str | None = None,
    state: str | None = None,
    origin: str | None = None,
    adcode_prefix: str | None = None,
    organization: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Referral], int]:
    """A page of referrals, newest first, and how many match (within an area, and to one
    resource organization, if given)."""
    query = _scoped(select(Referral), adcode_prefix, organization)
    if need_id:
        query = query.where(Referral.need_id == need_id)
    if state:
        query = query.where(Referral.state == state)
    if origin:
        query = query.where(Referral.origin == origin)
    query = query.order_by(Referral.created_at.desc(), Referral.id)
    return page_of(session, query, limit, offset)


def review_queue(
    *,
    session: Session,
    department: str | None,
    adcode_prefix: str | None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Referral], int]:
    """A page of the review queue of one department and region, and its length."""
    query = review.queue_query(department=department, adcode_prefix=adcode_prefix)
    return page_of(session, query, limit, offset)


def next_match_exclusions(*, session: Session, need_id: str) -> list[str]:
    """Resources not to offer again for this need: declined, or already referred and open."""
    return _resources_referred(session, need_id, [S.DECLINED, *OPEN_STATES])


def declined_resources(*, session: Session, need_id: str) -> list[str]:
    """Resources that declined this need: left out of its matches."""
    return _resources_referred(session, need_id, [S.DECLINED])


def _resources_referred(session: Session, need_id: str, states: list[str]) -> list[str]:
    rows = session.scalars(
        select(Referral.resource_id).where(Referral.need_id == need_id, Referral.state.in_(states))
    )
    return sorted(set(rows))


def is_overdue(referral: Referral, now: datetime) -> bool:
    return (
        referral.state in WAITING and referral.due_at is not None and aware(referral.due_at) < now
    )


def _overdue_query(now: datetime) -> Select[Referral]:
    return (
        select(Referral)
        .where(Referral.state.in_(list(WAITING)), Referral.due_at < now)
        .order_by(Referral.due_at, Referral.id)
    )


def counts_by_state(session: Session) -> dict[str, int]:
    """How many referrals are in each state (for the operator's metrics)."""
    rows = session.execute(select(Referral.state, func.count()).group_by(Referral.state))
    return {str(state): int(count) for state, count in rows}


def overdue_count(*, session: Session, now: datetime) -> int:
    """How many referrals wait past their due time."""
    return int(
        session.scalar(select(func.count()).select_from(_overdue_query(now).subquery())) or 0
    )


def overdue(*, session: Session, now: datetime) -> list[Referral]:
    """Referrals not reviewed or not accepted in time, longest overdue first."""
    return list(session.scalars(_overdue_query(now)))


def overdue_page(
    *, session: Session, now: datetime, adcode_prefix: str | None, limit: int, offset: int
) -> tuple[list[Referral], int]:
    """A page of the overdue referrals within an area, and how many there are."""
    return page_of(session, _scoped(_overdue_query(now), adcode_prefix), limit, offset)


def _overrides_query(adcode_prefix: str | None) -> Select[Referral]:
    return _scoped(select(Referral).where(Referral.override_kind.is_not(None)), adcode_prefix)


def overrides(
    *, session: Session, adcode_prefix: str | None = None, limit: int | None = None, offset: int = 0
) -> list[Referral]:
    """Referrals where the social worker did not follow the top match, newest first."""
    query = _overrides_query(adcode_prefix).order_by(Referral.created_at.desc(), Referral.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


def overrides_by_kind(*, session: Session, adcode_prefix: str | None) -> dict[str, int]:
    """How many overrides of each kind there are within an area."""
    rows = _overrides_query(adcode_prefix).subquery()
    counts = session.execute(
        select(rows.c.override_kind, func.count()).group_by(rows.c.override_kind)
    )
    return {str(kind): int(n) for kind, n in counts}
