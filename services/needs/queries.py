"""The read side of households, cases and needs: lists filtered, sorted and paged, with totals.

Every list is limited to the caller's area (an adcode prefix, `jurisdiction.area_of`) before
any filter applies. Names and ID numbers are looked up through their blind index (an exact
match, never a decryption): the look-up value is hashed, the hash compared in SQL.
Whether a visit is due is computed from the tier intervals (as `visits.next_visit_due` does),
here as one SQL condition per tier so that totals and pages come from the database.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, false, func, or_, select
from sqlalchemy.orm import Session

from services.needs.cases.states import CaseStatus
from services.needs.enums import HouseholdSort, NeedSort, PersonSort, VisitFilter
from services.needs.models import Household, Need, Person, RecordChange
from services.needs.service import in_station
from services.needs.states import CLOSED_NEED_STATES
from shared.crypto import index_of, name_index
from shared.db import page_of


@dataclass(frozen=True)
class CaseFilter:
    """What a list of households or cases is narrowed to; None leaves a filter out."""

    area: str | None = None  # the caller's jurisdiction
    station: str | None = None  # a village's, township's or county's adcode prefix
    hardship: str | None = None
    group: str | None = None
    tier: int | None = None
    case_status: CaseStatus | None = None
    visit: VisitFilter | None = None
    open_needs: bool | None = None
    resident_id: str | None = None  # exact, normalised (upper-case X)
    name: str | None = None  # exact, spaces ignored


@dataclass(frozen=True)
class VisitRule:
    """How visits fall due: today, the look-ahead window and each tier's interval."""

    as_of: date
    within_days: int
    follow_up_days: dict[int, int]


def _json_has(column: Any, code: str) -> ColumnElement[bool]:
    # Codes are ASCII words; a JSON list stores each one quoted, on SQLite and PostgreSQL alike.
    return cast(column, String).like(f'%"{code}"%')


def _visit_condition(which: VisitFilter, rule: VisitRule) -> ColumnElement[bool]:
    since = func.coalesce(Person.last_visit_on, Person.active_since)
    horizon = (
        rule.as_of
        if which is VisitFilter.OVERDUE
        else rule.as_of + timedelta(days=rule.within_days + 1)
    )
    per_tier = [
        and_(Person.tier == tier, since < horizon - timedelta(days=days))
        for tier, days in rule.follow_up_days.items()
    ]
    return and_(Person.case_status == CaseStatus.ACTIVE, or_(*per_tier) if per_tier else false())


def _person_conditions(f: CaseFilter, rule: VisitRule) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.group is not None:
        conditions.append(_json_has(Person.groups, f.group))
    if f.tier is not None:
        conditions.append(Person.tier == f.tier)
    if f.case_status is not None:
        conditions.append(Person.case_status == f.case_status.value)
    if f.visit is not None:
        conditions.append(_visit_condition(f.visit, rule))
    if f.resident_id is not None:
        conditions.append(Person.resident_id_hash == index_of(f.resident_id.strip().upper()))
    if f.name is not None:
        conditions.append(Person.name_hash == name_index(f.name))
    return conditions


def _household_conditions(f: CaseFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for prefix in (f.area, f.station):
        if prefix is not None:
            conditions.append(in_station(prefix))
    if f.hardship is not None:
        conditions.append(_json_has(Household.hardship_categories, f.hardship))
    if f.open_needs is not None:
        has_open = exists().where(
            Need.household_id == Household.id,
            Need.status.not_in([s.value for s in CLOSED_NEED_STATES]),
        )
        conditions.append(has_open if f.open_needs else ~has_open)
    return conditions


def households(
    *,
    session: Session,
    where: CaseFilter,
    rule: VisitRule,
    sort: HouseholdSort,
    limit: int,
    offset: int,
) -> tuple[list[Household], int]:
    """A page of households and how many match: a person-level filter (group, tier, case
    status, visit, name, ID number) keeps a household when one of its persons meets all of them."""
    query = select(Household).where(*_household_conditions(where))
    person_conditions = _person_conditions(where, rule)
    if person_conditions:
        query = query.where(exists().where(Person.household_id == Household.id, *person_conditions))
    order = {
        HouseholdSort.NEWEST: Household.created_at.desc(),
        HouseholdSort.OLDEST: Household.created_at,
        HouseholdSort.RECENTLY_CHANGED: Household.updated_at.desc(),
        HouseholdSort.ADCODE: Household.adcode,
    }[sort]
    return page_of(session, query.order_by(order, Household.id), limit, offset)


def persons(
    *,
    session: Session,
    where: CaseFilter,
    rule: VisitRule,
    sort: PersonSort,
    limit: int,
    offset: int,
) -> tuple[list[Person], int]:
    """A page of cases and how many match, each within its household's area."""
    query: Select[Person] = (
        select(Person)
        .join(Household, Person.household_id == Household.id)
        .where(*_household_conditions(where), *_person_conditions(where, rule))
    )
    order = {
        PersonSort.NEWEST: (Person.created_at.desc(),),
        PersonSort.OLDEST: (Person.created_at,),
        PersonSort.TIER: (Person.tier.is_(None), Person.tier),
        PersonSort.HOUSEHOLD: (Household.adcode, Person.household_id, Person.is_head.desc()),
    }[sort]
    return page_of(session, query.order_by(*order, Person.id), limit, offset)


@dataclass(frozen=True)
class NeedFilter:
    area: str | None = None
    station: str | None = None
    status: str | None = None
    open_only: bool = False
    category: str | None = None  # a taxonomy code, or a prefix of one (`elderly_care`)
    household_id: str | None = None
    person_id: str | None = None
    min_urgency: int | None = None


def needs(
    *, session: Session, where: NeedFilter, sort: NeedSort, limit: int, offset: int
) -> tuple[list[Need], int]:
    """A page of needs and how many match, within the caller's area."""
    query = select(Need).join(Household, Need.household_id == Household.id)
    for prefix in (where.area, where.station):
        if prefix is not None:
            query = query.where(in_station(prefix))
    if where.status is not None:
        query = query.where(Need.status == where.status)
    if where.open_only:
        query = query.where(Need.status.not_in([s.value for s in CLOSED_NEED_STATES]))
    if where.category is not None:
        query = query.where(
            or_(
                Need.category == where.category,
                Need.category.startswith(where.category + ".", autoescape=True),
            )
        )
    if where.household_id is not None:
        query = query.where(Need.household_id == where.household_id)
    if where.person_id is not None:
        query = query.where(Need.person_id == where.person_id)
    if where.min_urgency is not None:
        query = query.where(Need.urgency >= where.min_urgency)
    order = {
        NeedSort.NEWEST: (Need.created_at.desc(),),
        NeedSort.OLDEST: (Need.created_at,),
        NeedSort.MOST_URGENT: (Need.urgency.desc(), Need.created_at),
        NeedSort.NEEDED_BY: (Need.needed_by.is_(None), Need.needed_by),
    }[sort]
    return page_of(session, query.order_by(*order, Need.id), limit, offset)


def history(
    *, session: Session, record_type: str, record_id: str, limit: int, offset: int
) -> tuple[list[RecordChange], int]:
    """A household's or a case's edits, oldest first."""
    query = (
        select(RecordChange)
        .where(RecordChange.record_type == record_type, RecordChange.record_id == record_id)
        .order_by(RecordChange.id)
    )
    return page_of(session, query, limit, offset)
