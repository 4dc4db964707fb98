"""What referrals say on NATS: each transition's event (and an overdue referral's escalation),
queued through the outbox in the transaction that makes the change.

The other half of referrals' bus I/O, what they ask and hear, is `events.py`. The two are a pair
rather than one file because of the direction of imports: the domain (`transitions.py`,
`service.py`) imports what it says from here, while `events.py`'s handlers call the domain, so
one file holding both would import itself in a cycle (the resources service is split the same
way, `publication.py` and `events.py`).
"""

from datetime import datetime

from sqlalchemy.orm import Session

from services.needs.models import Need, OutboxEvent
from services.needs.referrals.models import Referral
from services.needs.referrals.states import ReferralState as S
from shared.contracts.needs import MatchSnapshot, ReferralEvent, ReferralOutcome, referral_subject
from shared.outbox import add_event

ESCALATED = "escalated"
"""Not a state: the subject an overdue referral's escalation is published on."""


def match_snapshot(referral: Referral) -> MatchSnapshot:
    """The frozen match, as the contract carries it."""
    explanation = referral.match_explanation or {}
    components = explanation.get("components") or {}
    return MatchSnapshot(
        rank_position=referral.match_rank,
        score=referral.match_score,
        distance_km=referral.match_distance_km,
        components={str(k): float(v) for k, v in dict(components).items()},
    )


def publish(
    session: Session,
    referral: Referral,
    need: Need,
    now: datetime,
    *,
    subject_state: str | None = None,
    reason: str | None = None,
) -> None:
    """Queue the transition's event: ids and codes, never the note, comments or feedback."""
    outcome = None
    if referral.state == S.COMPLETED and referral.outcome_result:
        outcome = ReferralOutcome(
            result=referral.outcome_result,  # type: ignore[arg-type]
            satisfaction=referral.satisfaction,
        )
    event = ReferralEvent(
        referral_id=referral.id,
        need_id=referral.need_id,
        resource_id=referral.resource_id,
        state=referral.state,
        category=need.category,
        urgency=need.urgency,
        adcode=need.adcode[:9],
        version=referral.version,
        reason=reason or referral.reason,
        match=match_snapshot(referral),
        outcome=outcome,
        occurred_at=now,
    )
    add_event(
        session,
        OutboxEvent,
        subject=referral_subject(subject_state or referral.state),
        aggregate_id=referral.id,
        payload=event,
    )
