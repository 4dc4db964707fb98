"""The rescue alliance's review (救助联合体审核): which referrals it reviews, the sign-off of
every named department (joint review), returns with comments, and the review queue."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.needs.models import Need
from services.needs.referrals.models import Referral, ReferralApproval
from services.needs.referrals.states import ReferralState as S
from services.needs.referrals.transitions import check, lock, record, transition
from services.needs.settings import DEFAULT_REVIEW_RULES, ReviewRule
from shared.actor import Actor
from shared.errors import Conflict, ValidationFailed


@dataclass(frozen=True)
class ReviewPolicy:
    """The alliance's review rules and the timers, from settings."""

    amount_threshold_yuan: int
    overdue_after: timedelta
    default_department: str
    rules: tuple[ReviewRule, ...] = tuple(DEFAULT_REVIEW_RULES)


def rule_for(
    *, rules: tuple[ReviewRule, ...], category: str, kind: str, organization: str | None
) -> ReviewRule | None:
    """The most specific rule the referral matches (organization, then the deeper category,
    then the kind; the first such rule among equals), or None."""
    best: tuple[bool, int, bool] | None = None
    found = None
    for rule in rules:
        if rule.resource_kind is not None and rule.resource_kind != kind:
            continue
        if rule.category is not None and not (
            category == rule.category or category.startswith(f"{rule.category}.")
        ):
            continue
        if rule.resource_organization is not None and (
            not organization or rule.resource_organization not in organization
        ):
            continue
        specificity = (
            rule.resource_organization is not None,
            len(rule.category or ""),
            rule.resource_kind is not None,
        )
        if best is None or specificity > best:
            best, found = specificity, rule
    return found


def review_reasons(
    *,
    rule: ReviewRule | None,
    amount_yuan: int | None,
    for_minor: bool,
    departments: list[str],
    policy: ReviewPolicy,
) -> list[str]:
    """Why the alliance must review this referral; empty: it goes straight to the resource."""
    reasons = []
    if rule is not None and rule.departments:
        reasons.append(rule.name)
    if amount_yuan is not None and amount_yuan > policy.amount_threshold_yuan:
        reasons.append("amount_above_threshold")
    if for_minor:
        reasons.append("minor")
    if departments:
        reasons.append("joint_review")
    return reasons


def route(
    session: Session,
    referral: Referral,
    need: Need,
    actor: Actor,
    now: datetime,
    policy: ReviewPolicy,
) -> None:
    """Submit: to the alliance's review when the rules say so (one sign-off per department,
    a fresh round each time), else straight to the resource. The caller holds the lock."""
    if not referral.review_reasons:
        transition(session, referral, need, S.SENT, actor, now, due_at=now + policy.overdue_after)
        return
    check(referral, S.PENDING_REVIEW)
    referral.review_round += 1
    due = now + policy.overdue_after
    for department in referral.review_departments:
        session.add(
            ReferralApproval(
                referral_id=referral.id,
                review_round=referral.review_round,
                department=department,
                decision="pending",
                due_at=due,
            )
        )
    transition(
        session,
        referral,
        need,
        S.PENDING_REVIEW,
        actor,
        now,
        due_at=due,
        data={"departments": referral.review_departments, "round": referral.review_round},
    )


def review(
    *,
    session: Session,
    referral_id: str,
    department: str,
    approve: bool,
    comment: str | None,
    actor: Actor,
    now: datetime,
    policy: ReviewPolicy,
) -> Referral:
    """One department signs off or returns; the referral is sent once every one has approved."""
    referral, need = lock(session, referral_id)
    check(referral, S.APPROVED if approve else S.RETURNED)
    if not approve and not (comment and comment.strip()):
        raise ValidationFailed.one("comment", "required_to_return", "say why it is returned")
    current = approvals(session=session, referral=referral)
    approval = next((a for a in current if a.department == department), None)
    if approval is None:
        waiting = ", ".join(a.department for a in current if a.decision == "pending")
        raise ValidationFailed.one(
            "department", "one_of", f"this referral awaits the sign-off of: {waiting}"
        )
    if approval.decision != "pending":
        raise Conflict(f"this department has already decided ({approval.decision}) in this round")
    approval.decision = "approved" if approve else "returned"
    approval.comment = comment
    approval.decided_by = actor.id
    approval.decided_at = now
    if not approve:
        transition(
            session,
            referral,
            need,
            S.RETURNED,
            actor,
            now,
            comment=comment,
            data={"department": department},
        )
        return referral
    if any(a.decision != "approved" for a in current):
        record(
            session,
            referral,
            actor,
            now,
            action="signed_off",
            data={"department": department, "comment": comment},
        )
        return referral
    transition(
        session,
        referral,
        need,
        S.APPROVED,
        actor,
        now,
        comment=comment,
        data={"department": department},
    )
    transition(session, referral, need, S.SENT, actor, now, due_at=now + policy.overdue_after)
    return referral


def approvals(*, session: Session, referral: Referral) -> list[ReferralApproval]:
    """The sign-offs of the referral's current review round (none before its first: sign-offs
    are asked from round 1 on, so a referral never sent to review costs no query)."""
    if referral.review_round == 0:
        return []
    query = (
        select(ReferralApproval)
        .where(
            ReferralApproval.referral_id == referral.id,
            ReferralApproval.review_round == referral.review_round,
        )
        .order_by(ReferralApproval.id)
    )
    return list(session.scalars(query))


def queue_query(*, department: str | None, adcode_prefix: str | None) -> Select[Referral]:
    """Referrals waiting for review, for one department and region, oldest deadline first."""
    query = select(Referral).where(Referral.state == S.PENDING_REVIEW)
    if department:
        query = query.where(
            select(ReferralApproval.id)
            .where(
                ReferralApproval.referral_id == Referral.id,
                ReferralApproval.review_round == Referral.review_round,
                ReferralApproval.department == department,
                ReferralApproval.decision == "pending",
            )
            .exists()
        )
    if adcode_prefix:
        query = query.where(Referral.adcode.startswith(adcode_prefix, autoescape=True))
    return query.order_by(Referral.due_at, Referral.id)
