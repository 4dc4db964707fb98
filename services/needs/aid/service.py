"""The aid chain as domain operations: record a benefit, lay every aid a household received on
one timeline, and flag the same aid given twice or needs left waiting."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.aid.models import Benefit
from services.needs.aid.schemas import AidChain, AidEntry, AidFlag, BenefitCreate
from services.needs.models import Household, Need, OutboxEvent, Person
from services.needs.referrals.models import Referral
from services.needs.states import CLOSED_NEED_STATES
from shared.contracts.common import china_date
from shared.contracts.needs import BENEFIT_RECORDED, BenefitEvent
from shared.errors import ValidationFailed
from shared.outbox import add_event

# A referral is aid given once accepted; declined, cancelled or failed ones gave nothing.
GIVING_STATES = ("accepted", "in_progress", "completed")


def record(
    *, session: Session, household: Household, data: BenefitCreate, actor: str | None, now: datetime
) -> Benefit:
    """Put a benefit given outside Lianjie's referrals on the household's chain."""
    if data.person_id is not None:
        person = session.get(Person, data.person_id)
        if person is None or person.household_id != household.id:
            raise ValidationFailed.one("person_id", "not_in_household", "not of this household")
    benefit = Benefit(
        id=str(uuid.uuid4()),
        household_id=household.id,
        recorded_by=actor,
        created_at=now,
        **data.model_dump(),
    )
    session.add(benefit)
    event = BenefitEvent(
        benefit_id=benefit.id,
        household_id=household.id,
        category=data.category,
        provider_kind=data.provider_kind,
        source=data.source,
        start_on=data.start_on,
        adcode=household.adcode,
        occurred_at=now,
    )
    add_event(
        session, OutboxEvent, subject=BENEFIT_RECORDED, aggregate_id=benefit.id, payload=event
    )
    session.flush()
    return benefit


def _referral_entries(session: Session, household_ids: list[str]) -> list[tuple[str, AidEntry]]:
    query = (
        select(Referral, Need.household_id, Need.category)
        .join(Need, Need.id == Referral.need_id)
        .where(Need.household_id.in_(household_ids), Referral.state.in_(GIVING_STATES))
    )
    found = []
    for referral, household_id, category in session.execute(query).all():
        found.append(
            (
                household_id,
                AidEntry(
                    source="micro_wish" if referral.origin == "micro_wish" else "referral",
                    id=referral.id,
                    category=category,
                    provider=referral.resource_organization or referral.resource_id,
                    provider_kind=referral.resource_kind,
                    start_on=china_date(referral.created_at),
                    end_on=china_date(referral.state_changed_at)
                    if referral.state == "completed"
                    else None,
                    state=referral.state,
                ),
            )
        )
    return found


def _benefit_entries(session: Session, household_ids: list[str]) -> list[tuple[str, AidEntry]]:
    rows = session.scalars(select(Benefit).where(Benefit.household_id.in_(household_ids)))
    return [
        (
            b.household_id,
            AidEntry(
                source=b.source,  # type: ignore[arg-type]
                id=b.id,
                category=b.category,
                provider=b.provider,
                provider_kind=b.provider_kind,
                start_on=b.start_on,
                end_on=b.end_on,
            ),
        )
        for b in rows
    ]


def _period(entry: AidEntry, today: date) -> tuple[date, date]:
    """The days an entry covers: a referral still under way runs to today; a benefit without an
    end is a one-off on its start day."""
    if entry.end_on is not None:
        return entry.start_on, entry.end_on
    if entry.state in ("accepted", "in_progress"):
        return entry.start_on, today
    return entry.start_on, entry.start_on


def double_aid(household_id: str, entries: list[AidEntry], today: date) -> list[AidFlag]:
    """The same kind of aid from two providers over overlapping days."""
    flags = []
    by_category: dict[str, list[AidEntry]] = defaultdict(list)
    for entry in entries:
        by_category[entry.category].append(entry)
    for category, same in sorted(by_category.items()):
        for i, first in enumerate(same):
            for second in same[i + 1 :]:
                if first.provider == second.provider:
                    continue
                a, b = _period(first, today), _period(second, today)
                if a[0] <= b[1] and b[0] <= a[1]:
                    flags.append(
                        AidFlag(
                            kind="double_aid",
                            household_id=household_id,
                            category=category,
                            entries=sorted([first.id, second.id]),
                            detail="the same aid from two providers over the same days",
                        )
                    )
    return flags


def unserved(
    household_id: str, open_needs: int, entries: list[AidEntry], today: date, days: int
) -> list[AidFlag]:
    """Open needs and nothing received in the last `days` days."""
    if not open_needs:
        return []
    since = today - timedelta(days=days)
    if any(_period(e, today)[1] >= since for e in entries):
        return []
    return [
        AidFlag(
            kind="unserved",
            household_id=household_id,
            detail=f"{open_needs} open needs and no aid received in {days} days",
        )
    ]


def chains(
    *, session: Session, household_ids: Iterable[str], today: date, unserved_days: int
) -> list[AidChain]:
    """The aid chain of each household, entries by start day, with its flags."""
    ids = list(household_ids)
    entries: dict[str, list[AidEntry]] = defaultdict(list)
    for household_id, entry in _referral_entries(session, ids) + _benefit_entries(session, ids):
        entries[household_id].append(entry)
    open_needs: dict[str, int] = defaultdict(int)
    needs = select(Need.household_id).where(
        Need.household_id.in_(ids), Need.status.not_in(list(CLOSED_NEED_STATES))
    )
    for (household_id,) in session.execute(needs):
        open_needs[household_id] += 1
    out = []
    for household_id in ids:
        mine = sorted(entries[household_id], key=lambda e: (e.start_on, e.id))
        flags = double_aid(household_id, mine, today) + unserved(
            household_id, open_needs[household_id], mine, today, unserved_days
        )
        out.append(AidChain(household_id=household_id, entries=mine, flags=flags))
    return out


def households_in(session: Session, area: str | None) -> list[str]:
    """Ids of the households on file in `area` (an adcode prefix; None: all)."""
    query = select(Household.id).order_by(Household.id)
    if area is not None:
        query = query.where(Household.adcode.startswith(area))
    return list(session.scalars(query))
