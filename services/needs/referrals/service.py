"""Domain operations on referrals: refer, accept, deliver, record the outcome, claim a
micro-wish, and watch the timers.

Plain functions over a session. Every function that changes a referral takes `now` (so timers
can be tested with an injected clock) and the acting person; the state machine itself is in
`transitions.py`, the alliance's review in `review.py`, the read side (lists, queues, overdue,
overrides) in `queries.py`.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs import models as needs_models
from services.needs.models import Need
from services.needs.referrals import queries, review
from services.needs.referrals.models import Referral
from services.needs.referrals.publication import ESCALATED, publish
from services.needs.referrals.schemas import (
    ClaimCreate,
    CompleteBody,
    ReferralCreate,
)
from services.needs.referrals.states import OPEN_STATES, WAITING
from services.needs.referrals.states import ReferralState as S
from services.needs.referrals.transitions import (
    check,
    lock,
    lock_need,
    record,
    sync_need,
    transition,
)
from services.needs.service import check_takes_referrals
from services.needs.states import CLOSED_NEED_STATES, NeedStatus
from shared.actor import Actor
from shared.clock import china_today
from shared.contracts.matcher import RankedResource
from shared.contracts.resources import ReservationState
from shared.errors import Conflict, FieldError, ValidationFailed

CLAIMABLE_PREFIX = "micro_wish."
SYSTEM = Actor(id="lianjie", role="system")
NO_CAPACITY = "no_capacity"
"""The decline reason of a resource with no unit left: its stated capacity is flagged."""


@dataclass(frozen=True)
class Pick:
    """The resource as the social worker picked it, with the match frozen (rank None: override)."""

    resource_id: str
    name: str
    kind: str
    rank: int | None = None
    score: float | None = None
    distance_km: float | None = None
    explanation: dict[str, Any] | None = None
    organization: str | None = None  # the resource's, from the resources service


# ---------------------------------------------------------------- choosing the resource


def pick_from_matches(*, results: list[RankedResource], data: ReferralCreate) -> Pick:
    """Freeze the picked match; a skipped top match or a resource not in the list needs a reason
    (the matcher suggests, people decide: PIPL art. 24) and is reported as an override."""
    for rank, hit in enumerate(results, start=1):
        if hit.resource_id == data.resource_id:
            if rank > 1 and not data.override_reason:
                raise ValidationFailed.one(
                    "override_reason",
                    "required_to_skip_top_match",
                    f"the resource is match {rank}: say why the top match was skipped",
                )
            return Pick(
                resource_id=hit.resource_id,
                name=hit.name,
                kind=hit.kind.value,
                rank=rank,
                score=hit.score,
                distance_km=hit.distance_km,
                explanation=hit.explanation.model_dump(),
            )
    missing = [
        FieldError(field, "required_for_resource_not_matched", "the resource is not a match")
        for field, value in (
            ("override_reason", data.override_reason),
            ("resource_kind", data.resource_kind),
            ("resource_name", data.resource_name),
        )
        if not value
    ]
    if missing:
        raise ValidationFailed(missing)
    assert data.resource_kind is not None and data.resource_name is not None
    return Pick(resource_id=data.resource_id, name=data.resource_name, kind=data.resource_kind)


def with_organization(pick: Pick, organization: str | None) -> Pick:
    """The pick with its resource's organization, as the resources service answered it."""
    return replace(pick, organization=organization)


def override_kind(pick: Pick) -> str | None:
    """`not_in_list`, `skipped_top`, or None when the top match was followed."""
    if pick.rank is None:
        return "not_in_list"
    return "skipped_top" if pick.rank > 1 else None


def is_minor(*, session: Session, need: Need, today: date) -> bool:
    """Whether the need's person is known to be under 18 (their birth date is recorded)."""
    person_model = getattr(needs_models, "Person", None)
    if person_model is None or need.person_id is None:
        return False
    person = session.get(person_model, need.person_id)
    birth = getattr(person, "date_of_birth", None)
    if not isinstance(birth, date):
        return False
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return age < 18


# ---------------------------------------------------------------- creating and submitting


def create(
    *,
    session: Session,
    data: ReferralCreate,
    pick: Pick,
    actor: Actor,
    now: datetime,
    policy: review.ReviewPolicy,
) -> Referral:
    """Refer a need to the picked resource; submitted at once unless `data.submit` is false."""
    need = lock_need(session, data.need_id, field="need_id")
    _check_need_takes_referrals(session, need, pick.resource_id)
    for_minor = data.for_minor or is_minor(session=session, need=need, today=china_today(now))
    rule = review.rule_for(
        rules=policy.rules, category=need.category, kind=pick.kind, organization=pick.organization
    )
    reasons = review.review_reasons(
        rule=rule,
        amount_yuan=data.amount_yuan,
        for_minor=for_minor,
        departments=data.review_departments,
        policy=policy,
    )
    ruled = rule.departments if rule is not None else []
    departments = list(dict.fromkeys(data.review_departments or ruled)) or (
        [policy.default_department] if reasons else []
    )
    referral = _new_referral(
        referral_id=str(uuid.uuid4()),
        need=need,
        pick=pick,
        state=S.DRAFT,
        origin="match" if pick.rank is not None else "override",
        note=data.note,
        actor=actor,
        now=now,
        override_kind=override_kind(pick),
        override_reason=data.override_reason,
        for_minor=for_minor,
        amount_yuan=data.amount_yuan,
        review_reasons=reasons,
        review_departments=departments,
    )
    _add(session, referral, need, actor, now, action="created")
    if data.submit:
        review.route(session, referral, need, actor, now, policy)
    return referral


def _new_referral(
    *,
    referral_id: str,
    need: Need,
    pick: Pick,
    state: str,
    origin: str,
    note: str,
    actor: Actor,
    now: datetime,
    **fields: Any,
) -> Referral:
    """A new referral row of `need` to the picked resource, the match frozen as picked;
    `fields` set the rest (review, override, reservation)."""
    return Referral(
        id=referral_id,
        need_id=need.id,
        resource_id=pick.resource_id,
        resource_name=pick.name,
        resource_kind=pick.kind,
        resource_organization=pick.organization,
        adcode=need.adcode,
        state=state,
        version=1,
        origin=origin,
        note=note,
        units=need.quantity,
        match_rank=pick.rank,
        match_score=pick.score,
        match_distance_km=pick.distance_km,
        match_explanation=pick.explanation,
        review_reasons=fields.pop("review_reasons", []),
        review_departments=fields.pop("review_departments", []),
        review_round=0,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
        **fields,
    )


def _add(
    session: Session, referral: Referral, need: Need, actor: Actor, now: datetime, *, action: str
) -> None:
    """Store a new referral: its first audit entry and its event."""
    session.add(referral)
    session.flush()
    record(session, referral, actor, now, action=action, data={"to": referral.state})
    publish(session, referral, need, now)


def submit(
    *, session: Session, referral_id: str, actor: Actor, now: datetime, policy: review.ReviewPolicy
) -> Referral:
    """Send a draft, or a returned referral again: to review when the rules say so; not after
    the person withdrew the consent referrals rest on (409)."""
    referral, need = lock(session, referral_id)
    check_takes_referrals(session=session, need=need)
    review.route(session, referral, need, actor, now, policy)
    return referral


# ---------------------------------------------------------------- the resource's side


def get_ready_for(*, session: Session, referral_id: str, to: str) -> Referral:
    """The referral, if it may move to `to` now: checked before asking another service."""
    referral = queries.get_or_raise(session=session, referral_id=referral_id)
    check(referral, to)
    return referral


def accept(
    *, session: Session, referral_id: str, reservation: str, actor: Actor, now: datetime
) -> Referral:
    """The resource accepts; its capacity has just been reserved (or waitlisted) for it."""
    referral, need = lock(session, referral_id)
    check(referral, S.ACCEPTED)
    referral.reservation = reservation
    transition(session, referral, need, S.ACCEPTED, actor, now)
    return referral


def decline(
    *, session: Session, referral_id: str, reason: str, actor: Actor, now: datetime
) -> Referral:
    """The resource declines (or has no capacity left: reason `no_capacity`)."""
    referral, need = lock(session, referral_id)
    transition(session, referral, need, S.DECLINED, actor, now, reason=reason)
    return referral


def start(*, session: Session, referral_id: str, actor: Actor, now: datetime) -> Referral:
    """Service delivery has begun."""
    referral, need = lock(session, referral_id)
    transition(session, referral, need, S.IN_PROGRESS, actor, now)
    return referral


def complete(
    *, session: Session, referral_id: str, outcome: CompleteBody, actor: Actor, now: datetime
) -> Referral:
    """Record the outcome; the capacity was consumed. The need is met when the outcome is."""
    referral, need = lock(session, referral_id)
    check(referral, S.COMPLETED)
    referral.outcome_result = outcome.result
    referral.satisfaction = outcome.satisfaction
    referral.feedback = outcome.feedback
    referral.reservation = ReservationState.CONSUMED
    transition(
        session,
        referral,
        need,
        S.COMPLETED,
        actor,
        now,
        data={"result": outcome.result, "satisfaction": outcome.satisfaction},
        need_status=NeedStatus.MET if outcome.result == "met" else None,
    )
    return referral


def end(
    *,
    session: Session,
    referral_id: str,
    to: str,
    reason: str,
    comment: str | None,
    released: bool,
    actor: Actor,
    now: datetime,
) -> Referral:
    """Cancel or fail a referral; if it held capacity, the caller has released it (`released`)."""
    referral, need = lock(session, referral_id)
    check(referral, to)
    if holds_capacity(referral):
        if not released:
            # Accepted since the caller looked: its capacity was not released. Ask again.
            raise Conflict("the referral changed meanwhile; try again")
        referral.reservation = ReservationState.RELEASED
    transition(session, referral, need, to, actor, now, reason=reason, comment=comment)
    return referral


def reservation_promoted(*, session: Session, referral_id: str, now: datetime) -> Referral | None:
    """The resources service promoted the referral's waitlisted reservation: it now holds its
    units (audited). A referral not waitlisted any more (released, or promoted already) or
    unknown here is left as it is."""
    if session.get(Referral, referral_id) is None:
        return None
    referral, _need = lock(session, referral_id)
    if referral.reservation != ReservationState.WAITLISTED:
        return referral
    referral.reservation = ReservationState.RESERVED
    referral.updated_at = now
    data = {"from": ReservationState.WAITLISTED, "to": ReservationState.RESERVED}
    record(session, referral, SYSTEM, now, action="reservation_promoted", data=data)
    return referral


def holds_capacity(referral: Referral) -> bool:
    """Whether the resources service keeps units (or a waitlist place) for this referral."""
    return referral.reservation in (ReservationState.RESERVED, ReservationState.WAITLISTED)


def claim_micro_wish(
    *,
    session: Session,
    need_id: str,
    referral_id: str,
    data: ClaimCreate,
    organization: str | None,
    reservation: str,
    actor: Actor,
    now: datetime,
) -> Referral:
    """An enterprise, charity or volunteer claims a micro-wish (微心愿): a referral that starts
    accepted, its capacity just reserved under `referral_id`; `organization` is the resource's."""
    need = lock_need(session, need_id, field=None)
    # Under the need's lock (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite): two claims
    # made at the same moment see each other here, and the second is refused.
    check_claimable(session, need)
    _check_need_takes_referrals(session, need, data.resource_id)
    pick = Pick(
        resource_id=data.resource_id,
        name=data.resource_name,
        kind=data.resource_kind,
        organization=organization,
    )
    referral = _new_referral(
        referral_id=referral_id,
        need=need,
        pick=pick,
        state=S.ACCEPTED,
        origin="micro_wish",
        note=data.note,
        actor=actor,
        now=now,
        reservation=reservation,
    )
    _add(session, referral, need, actor, now, action="claimed")
    sync_need(session, need, actor)
    return referral


def check_claimable(session: Session, need: Need) -> None:
    """A micro-wish with no open claim: anything else is a 409 (naming the open claim)."""
    if not need.category.startswith(CLAIMABLE_PREFIX):
        raise Conflict("the need is not a micro-wish: only micro-wishes can be claimed")
    claim = open_claim(session=session, need_id=need.id)
    if claim is not None:
        # The claimer's resource name too (the library's, no person): the refused claimer's
        # coordinator may not read another organization's referral to learn who it is.
        claimed_by = session.scalar(select(Referral.resource_name).where(Referral.id == claim))
        raise Conflict(
            f"the micro-wish is already claimed (referral {claim}): one open claim a wish",
            extra={"rule": "one_open_claim", "referral_id": claim, "claimed_by": claimed_by},
        )


def open_claim(*, session: Session, need_id: str) -> str | None:
    """The id of the wish's open claim, if it has one."""
    return session.scalar(
        select(Referral.id).where(
            Referral.need_id == need_id,
            Referral.origin == "micro_wish",
            Referral.state.in_(list(OPEN_STATES)),
        )
    )


def escalate_overdue(*, session: Session, now: datetime, actor: Actor) -> list[Referral]:
    """Escalate every overdue referral once per wait: an event and an audit entry."""
    escalated = []
    for candidate in queries.overdue(session=session, now=now):
        if candidate.escalated_at is not None:
            continue
        referral, need = lock(session, candidate.id)
        if not queries.is_overdue(referral, now) or referral.escalated_at is not None:
            continue
        referral.escalated_at = now
        reason = f"overdue_{WAITING[referral.state]}"
        record(session, referral, actor, now, action=ESCALATED, data={"reason": reason})
        publish(session, referral, need, now, subject_state=ESCALATED, reason=reason)
        escalated.append(referral)
    return escalated


def _check_need_takes_referrals(session: Session, need: Need, resource_id: str) -> None:
    if need.status in CLOSED_NEED_STATES:
        raise Conflict(f"the need is {need.status}: it takes no new referrals")
    # Every way a referral is made (pick, override, claim, next match) ends here: consent too.
    check_takes_referrals(session=session, need=need)
    duplicate = session.scalar(
        select(Referral.id).where(
            Referral.need_id == need.id,
            Referral.resource_id == resource_id,
            Referral.state.in_(list(OPEN_STATES)),
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"referral {duplicate} of this need to this resource is still open",
            extra={"referral_id": duplicate},
        )
