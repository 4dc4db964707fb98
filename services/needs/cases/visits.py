"""Home visits (入户探访): recording them, and when each case's next visit falls due.

A case's tier sets how often it is visited (`NeedsSettings.tier_follow_up_days`); the next visit
is due that many days after the last one, or after the case became active if never visited.
Due dates are computed, not stored, so a changed interval applies to every case at once.
"""

import uuid
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.cases.service import change_tier
from services.needs.cases.states import CaseStatus
from services.needs.models import Household, Person, Visit
from services.needs.schemas import DueVisit, VisitCreate
from services.needs.service import in_station
from shared.errors import Conflict, ValidationFailed


def next_visit_due(*, person: Person, follow_up_days: dict[int, int]) -> date | None:
    """When the case should next be visited; None unless it is active and has a tier."""
    if person.case_status != CaseStatus.ACTIVE or person.tier is None:
        return None
    since = person.last_visit_on or person.active_since
    if since is None:
        return None
    return since + timedelta(days=follow_up_days[person.tier])


def record_visit(
    *,
    session: Session,
    person: Person,
    data: VisitCreate,
    actor: str | None,
    checklist: Collection[str] | None = None,
) -> Visit:
    """Record a home visit on a case, with the tier it leaves the case in and what the county's
    checklist items it observed (each must be on `checklist`, when given)."""
    for i, code in enumerate(data.observations):
        if checklist is not None and code not in checklist:
            raise ValidationFailed.one(
                f"observations[{i}]", "unknown_observation", "not on the county's checklist"
            )
    if person.case_status == CaseStatus.EXITED:
        raise Conflict("the case has exited: it must apply again before visits are recorded")
    tier_before = person.tier
    if data.tier is not None:
        change_tier(session=session, person=person, tier=data.tier, actor=actor)
    if person.last_visit_on is None or data.visited_on > person.last_visit_on:
        person.last_visit_on = data.visited_on
    visit = Visit(
        id=str(uuid.uuid4()),
        person_id=person.id,
        household_id=person.household_id,
        visited_on=data.visited_on,
        social_worker=data.social_worker,
        findings=data.findings,
        observations=list(dict.fromkeys(data.observations)),
        tier_before=tier_before,
        tier_after=person.tier,
        created_by=actor,
        created_at=datetime.now(UTC),
    )
    session.add(visit)
    session.flush()
    return visit


def get_person_visits(
    *, session: Session, person_id: str, limit: int | None = None, offset: int = 0
) -> list[Visit]:
    """A case's visits, latest first (one page when `limit` is given)."""
    query = (
        select(Visit)
        .where(Visit.person_id == person_id)
        .order_by(Visit.visited_on.desc(), Visit.created_at.desc(), Visit.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def get_due(
    *,
    session: Session,
    station: str,
    as_of: date,
    within_days: int,
    follow_up_days: dict[int, int],
) -> list[DueVisit]:
    """The station's active cases whose next visit is overdue or due within `within_days`."""
    query = (
        select(Person, Household)
        .join(Household, Person.household_id == Household.id)
        .where(Person.case_status == CaseStatus.ACTIVE, Person.tier.is_not(None))
        .where(in_station(station))
    )
    horizon = as_of + timedelta(days=within_days)
    due: list[DueVisit] = []
    for person, household in session.execute(query):
        due_on = next_visit_due(person=person, follow_up_days=follow_up_days)
        if due_on is None or due_on > horizon or person.tier is None:
            continue
        due.append(
            DueVisit(
                person_id=person.id,
                household_id=household.id,
                name=person.name,
                address=household.address,
                social_worker=household.social_worker,
                tier=person.tier,
                last_visit_on=person.last_visit_on,
                due_on=due_on,
                overdue=due_on < as_of,
                days_until_due=(due_on - as_of).days,
            )
        )
    return sorted(due, key=lambda d: (d.due_on, d.tier, d.person_id))
