"""A station's figures as the seed reports give them: people on file (建档), visits (探访户次),
needs, links made (资源链接) and how they ended. Referral-level figures (accepted, declined,
satisfaction) belong to the referrals sub-domain; here a link is a need moved to `referred`.
"""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from services.needs.cases.states import CaseStatus
from services.needs.models import Household, Need, NeedStatusChange, Person, Visit
from services.needs.schemas import StatsOut
from services.needs.service import in_station
from services.needs.states import CLOSED_NEED_STATES, NeedStatus


def station_stats(*, session: Session, station: str, since: date, until: date) -> StatsOut:
    """Figures of the station's households, cases and needs; visits and links within the period."""
    hardship: Counter[str] = Counter()
    households = 0
    for categories in session.scalars(
        select(Household.hardship_categories).where(in_station(station))
    ):
        households += 1
        hardship.update(categories or [])
    persons_query = (
        select(Person.case_status, Person.tier, Person.groups)
        .join(Household, Person.household_id == Household.id)
        .where(in_station(station))
    )
    by_status: Counter[str] = Counter()
    by_tier: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    for status, tier, groups in session.execute(persons_query):
        by_status[status] += 1
        if status != CaseStatus.EXITED:
            by_tier[str(tier) if tier is not None else "unassessed"] += 1
            by_group.update(groups or [])
    visits_query = (
        select(func.count(Visit.id), func.count(distinct(Visit.household_id)))
        .join(Household, Visit.household_id == Household.id)
        .where(in_station(station), Visit.visited_on >= since, Visit.visited_on <= until)
    )
    visits, households_visited = session.execute(visits_query).one()
    needs_query = (
        select(Need.status, Need.category, func.count(Need.id))
        .join(Household, Need.household_id == Household.id)
        .where(in_station(station))
        .group_by(Need.status, Need.category)
    )
    by_need_status: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    for status, category, count in session.execute(needs_query):
        by_need_status[status] += count
        by_category[category] += count
    start = datetime.combine(since, time.min, UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, UTC)
    changes_query = (
        select(NeedStatusChange.to_status, func.count(NeedStatusChange.id))
        .join(Need, NeedStatusChange.need_id == Need.id)
        .join(Household, Need.household_id == Household.id)
        .where(in_station(station), NeedStatusChange.changed_at >= start)
        .where(NeedStatusChange.changed_at < end)
        .group_by(NeedStatusChange.to_status)
    )
    changes = {str(status): int(count) for status, count in session.execute(changes_query)}
    return StatsOut(
        station=station,
        since=since,
        until=until,
        households=households,
        households_by_hardship=dict(hardship),
        persons=sum(n for s, n in by_status.items() if s != CaseStatus.EXITED),
        persons_by_case_status=dict(by_status),
        persons_by_tier=dict(by_tier),
        persons_by_group=dict(by_group),
        visits=int(visits),
        households_visited=int(households_visited),
        needs=sum(by_need_status.values()),
        needs_by_status=dict(by_need_status),
        needs_by_category=dict(by_category),
        links_made=int(changes.get(NeedStatus.REFERRED.value, 0)),
        outcomes={s.value: int(changes.get(s.value, 0)) for s in sorted(CLOSED_NEED_STATES)},
    )
