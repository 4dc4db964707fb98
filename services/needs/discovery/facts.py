"""What a rule sees of each person: `rules.Facts` built from the case, its household and the
observations its visits recorded."""

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.cases.states import CaseStatus
from services.needs.discovery.rules import Facts
from services.needs.models import Household, Person, Visit
from shared.contracts.common import china_date

LOOKBACK_DAYS = 3660  # the longest `within_days` a rule may ask for


def years_between(born: date, on: date) -> int:
    """Full years from `born` to `on` (an age)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _days_since_visit(person: Person, as_of: date) -> int | None:
    since = person.last_visit_on or person.active_since or china_date(person.created_at)
    return (as_of - since).days


def of_person(
    person: Person, household: Household, observed: dict[str, date], as_of: date
) -> Facts:
    """The facts of one person on `as_of`."""
    exited = person.case_status == CaseStatus.EXITED
    return Facts(
        person_id=person.id,
        household_id=household.id,
        adcode=household.adcode,
        numbers={
            "age": years_between(person.date_of_birth, as_of) if person.date_of_birth else None,
            "tier": person.tier,
            "days_since_visit": _days_since_visit(person, as_of),
            "days_since_exit": (as_of - china_date(person.case_status_changed_at)).days
            if exited
            else None,
            "disability_grade": person.disability_grade,
        },
        codes={
            "case_status": person.case_status,
            "exit_reason": person.exit_reason,
            "gender": person.gender,
        },
        hardship=set(household.hardship_categories or []),
        groups=set(person.groups or []),
        observed=observed,
        as_of=as_of,
    )


def _observations(session: Session, area: str | None, as_of: date) -> dict[str, dict[str, date]]:
    """person id → observation code → the latest visit day that recorded it."""
    query = select(Visit.person_id, Visit.visited_on, Visit.observations).where(
        Visit.visited_on >= date.fromordinal(as_of.toordinal() - LOOKBACK_DAYS)
    )
    if area is not None:
        query = query.join(Household, Visit.household_id == Household.id).where(
            Household.adcode.startswith(area)
        )
    seen: dict[str, dict[str, date]] = {}
    for person_id, visited_on, codes in session.execute(query):
        mine = seen.setdefault(person_id, {})
        for code in codes or []:
            if code not in mine or visited_on > mine[code]:
                mine[code] = visited_on
    return seen


def everyone(session: Session, *, area: str | None, as_of: date) -> Iterable[Facts]:
    """The facts of every person on file (within `area`, an adcode prefix, when given)."""
    observed = _observations(session, area, as_of)
    query = select(Person, Household).join(Household, Person.household_id == Household.id)
    if area is not None:
        query = query.where(Household.adcode.startswith(area))
    for person, household in session.execute(query.order_by(Person.id)):
        yield of_person(person, household, observed.get(person.id, {}), as_of)
