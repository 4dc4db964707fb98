"""The referral's state machine: states, allowed moves, and what every move does — stamp it,
chain it into the audit trail, publish its event (`publication.py`), and bring the need's
status along.

Every function that changes a referral first locks the referral's need (`lock`): transitions
of one need's referrals, its audit chain and its status change in turn.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.models import Need
from services.needs.referrals import audit
from services.needs.referrals.models import Referral
from services.needs.referrals.publication import publish
from services.needs.referrals.states import TRANSITIONS
from services.needs.referrals.states import ReferralState as S
from services.needs.service import set_need_status
from services.needs.states import CLOSED_NEED_STATES, NeedStatus
from shared.actor import Actor
from shared.errors import InvalidTransition, ValidationFailed, unknown


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one Lianjie stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def check_known_state(state: str, *, field: str = "state") -> str:
    """`state` when it is one of the referral states; else 422 naming `field` and the states."""
    if state not in TRANSITIONS:
        raise ValidationFailed.one(
            field, "one_of", f"'{state}' is not a referral state: one of {', '.join(TRANSITIONS)}"
        )
    return state


def allowed(referral: Referral) -> list[str]:
    """The states this referral may move to next."""
    return sorted(TRANSITIONS[referral.state])


def check(referral: Referral, to: str) -> None:
    """Raise InvalidTransition, naming the allowed next states, unless `to` is one of them."""
    if to not in TRANSITIONS[referral.state]:
        raise InvalidTransition(
            f"a referral that is {referral.state} cannot become {to}",
            extra={"state": referral.state, "allowed": allowed(referral)},
        )


def transition(
    session: Session,
    referral: Referral,
    need: Need,
    to: str,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    comment: str | None = None,
    due_at: datetime | None = None,
    data: dict[str, Any] | None = None,
    need_status: str | None = None,
) -> None:
    """Move the referral to `to`: stamped with actor and time, chained into the audit trails,
    published (ids and codes only), the need brought along. The caller holds the lock."""
    check(referral, to)
    before = referral.state
    referral.state = to
    referral.version += 1
    referral.updated_at = now
    referral.state_changed_at = now
    referral.due_at = due_at
    referral.escalated_at = None
    if reason is not None:
        referral.reason = reason
    entry = {"from": before, "to": to, "reason": reason, "comment": comment, **(data or {})}
    record(session, referral, actor, now, action=to, data=entry)
    publish(session, referral, need, now)
    if need_status is not None:
        set_need_status(session=session, need=need, status=need_status, actor=actor.id)
    else:
        sync_need(session, need, actor)


def sync_need(session: Session, need: Need, actor: Actor) -> None:
    """The need follows its referrals: in service, referred, or open again."""
    if need.status in CLOSED_NEED_STATES:
        return
    session.flush()
    states = set(session.scalars(select(Referral.state).where(Referral.need_id == need.id)))
    if states & {S.ACCEPTED, S.IN_PROGRESS}:
        targets = [NeedStatus.REFERRED, NeedStatus.IN_SERVICE]
    elif S.SENT in states:
        targets = [NeedStatus.REFERRED]
    elif need.status == NeedStatus.REFERRED:
        targets = [NeedStatus.OPEN]
    elif need.status == NeedStatus.IN_SERVICE:
        targets = [NeedStatus.MATCHING]  # the need's lifecycle goes back through matching
    else:
        return
    if need.status == NeedStatus.IN_SERVICE and targets[-1] == NeedStatus.IN_SERVICE:
        return
    for target in targets:  # a need is referred before it is in service
        set_need_status(session=session, need=need, status=target, actor=actor.id)


def record(
    session: Session,
    referral: Referral,
    actor: Actor,
    now: datetime,
    *,
    action: str,
    data: dict[str, Any],
) -> None:
    """Append to the referral's chain and to its need's chain; each row keeps its new head."""
    data = {"referral_id": referral.id, "resource_id": referral.resource_id, **data}
    need = session.get(Need, referral.need_id)  # locked by the caller, so already loaded
    chains: list[tuple[str, audit.HeadHolder | None]] = [
        (audit.referral_chain(referral.id), referral),
        (audit.need_chain(referral.need_id), need),
    ]
    for chain, holder in chains:
        head = None if holder is None else audit.head_of(holder)
        entry = audit.append(
            session=session, chain=chain, action=action, actor=actor, at=now, data=data, head=head
        )
        if holder is not None:
            audit.move_head(holder, entry)


def lock_need(session: Session, need_id: str, *, field: str | None) -> Need:
    """The need, locked for this transaction (`field`: a missing need is bad input there)."""
    # FOR UPDATE on PostgreSQL serialises everything done to one need's referrals; on SQLite
    # every write transaction already starts with BEGIN IMMEDIATE.
    need = session.scalar(
        select(Need)
        .where(Need.id == need_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if need is None:
        if field is not None:
            raise ValidationFailed.one(field, "exists", "no need with this id")
        raise unknown("need")
    return need


def lock(session: Session, referral_id: str) -> tuple[Referral, Need]:
    """The referral, fresh, and its need, locked: take this before changing a referral."""
    need_id = session.scalar(select(Referral.need_id).where(Referral.id == referral_id))
    if need_id is None:
        raise unknown("referral")
    need = lock_need(session, need_id, field=None)
    referral = session.scalar(
        select(Referral).where(Referral.id == referral_id).execution_options(populate_existing=True)
    )
    assert referral is not None
    return referral, need
