"""What cases say on NATS: a case's service tier changed, queued through the outbox in the
transaction that changes it. Cases hear nothing on the bus."""

from sqlalchemy.orm import Session

from services.needs.models import Household, OutboxEvent, Person
from shared.contracts.needs import CASE_TIER_CHANGED, CaseTierChanged
from shared.outbox import add_event


def announce_tier_change(
    *, session: Session, person: Person, previous: int | None, tier: int
) -> None:
    """Queue the tier change: ids, tiers and the township, never personal data."""
    household = session.get(Household, person.household_id)
    event = CaseTierChanged(
        person_id=person.id,
        household_id=person.household_id,
        from_tier=previous,
        to_tier=tier,
        adcode=household.adcode[:9] if household else None,
        version=person.version,
        occurred_at=person.updated_at,
    )
    add_event(
        session, OutboxEvent, subject=CASE_TIER_CHANGED, aggregate_id=person.id, payload=event
    )
