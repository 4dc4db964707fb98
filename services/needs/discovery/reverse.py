"""Policy finds people (政策找人): the open needs a resource or a policy may serve and nobody
serves yet, ranked by urgency, tier, distance and time waiting, each with why it qualifies.

The needs service picks the candidates (open, not under an open referral, consent in place, in
the caller's area) and sends them as codes and locations; the matcher applies its hard filters
(`services/matcher/reverse.py`), the same ones it ranks with.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs import privacy
from services.needs.discovery.schemas import ReverseMatchOut
from services.needs.models import Household, Need, Person
from services.needs.referrals.models import Referral
from services.needs.referrals.states import OPEN_STATES
from services.needs.service import eligibility_groups
from services.needs.states import NeedStatus
from shared.contracts.common import china_date
from shared.contracts.matcher import REVERSE_MAX_CANDIDATES, ReverseCandidate, ReverseMatch
from shared.errors import ValidationFailed

WAITING_STATES = (NeedStatus.OPEN, NeedStatus.MATCHING)


@dataclass(frozen=True)
class Waiting:
    """An open need with its household and (if it is one person's) its person."""

    need: Need
    household: Household
    person: Person | None


def candidates(*, session: Session, area: str | None) -> dict[str, Waiting]:
    """Open needs nobody serves yet (no open referral), whose person allows referrals."""
    referred = select(Referral.need_id).where(Referral.state.in_(list(OPEN_STATES)))
    query = (
        select(Need, Household, Person)
        .join(Household, Household.id == Need.household_id)
        .outerjoin(Person, Person.id == Need.person_id)
        .where(Need.status.in_(WAITING_STATES), Need.id.not_in(referred))
        .order_by(Need.created_at, Need.id)
    )
    if area is not None:
        query = query.where(Household.adcode.startswith(area))
    found: dict[str, Waiting] = {}
    for need, household, person in session.execute(query).all():
        if person is not None and privacy.withdrawn_for_referrals(person):
            continue
        if len(found) == REVERSE_MAX_CANDIDATES:
            raise ValidationFailed.one(
                "area",
                "too_many",
                f"more than {REVERSE_MAX_CANDIDATES} open needs: narrow the area",
            )
        found[need.id] = Waiting(need, household, person)
    return found


def as_candidates(found: dict[str, Waiting]) -> list[ReverseCandidate]:
    """The candidates as the matcher sees them: codes and a location only."""
    return [
        ReverseCandidate(
            id=w.need.id,
            category=w.need.category,
            lat=w.need.lat,
            lon=w.need.lon,
            adcode=w.need.adcode,
            quantity=w.need.quantity,
            groups=eligibility_groups(w.person, w.household),
        )
        for w in found.values()
    ]


def ranked(
    found: dict[str, Waiting], matches: list[ReverseMatch], today: date
) -> list[ReverseMatchOut]:
    """The qualifying needs, most urgent first, then lower tier, nearer, longer waiting."""
    out = []
    for match in matches:
        need, person = found[match.id].need, found[match.id].person
        out.append(
            ReverseMatchOut(
                need_id=need.id,
                household_id=need.household_id,
                person_id=need.person_id,
                category=need.category,
                urgency=need.urgency,
                tier=person.tier if person is not None else None,
                distance_km=round(match.distance_km, 3),
                waiting_days=(today - china_date(need.created_at)).days,
                reasons=match.filters_passed,
                category_fit=match.category_fit,
            )
        )
    return sorted(
        out,
        key=lambda m: (-m.urgency, m.tier or 6, m.distance_km, -m.waiting_days, m.need_id),
    )
