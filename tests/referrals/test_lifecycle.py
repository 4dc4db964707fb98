"""The referral's state machine, review rules, timers, outcome and audit, on SQLite and
PostgreSQL, with an injected clock."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import audit, queries, service
from services.needs.referrals import review as review_module
from services.needs.referrals.models import AuditEntry
from services.needs.referrals.schemas import ClaimCreate, CompleteBody, ReferralCreate
from shared.contracts.matcher import Explanation, RankedResource
from shared.db import transaction
from shared.errors import Conflict, InvalidTransition, ValidationFailed
from tests.referrals.domain import (
    COORDINATOR,
    MEALS,
    POLICY,
    REVIEWER,
    T0,
    WORKER,
    events_of,
    need_status,
    new_need,
    refer,
    state_of,
    with_person,
    withdraw_consent,
)

SECRET_NOTE = "老人独居, 电话13800000000"


def test_referral_to_an_enterprise_goes_straight_to_sent_and_the_need_is_referred(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id, note=SECRET_NOTE)
    assert state_of(sessions, referral_id) == "sent"
    assert need_status(sessions, need_id) == "referred"
    published = events_of(sessions, referral_id)
    assert [subject for subject, _ in published] == [
        "lianjie.needs.referral.draft.v1",
        "lianjie.needs.referral.sent.v1",
    ]
    for _, payload in published:
        assert payload["need_id"] == need_id and payload["resource_id"] == "res-meals"
        assert SECRET_NOTE not in str(payload) and "note" not in payload


@pytest.mark.parametrize(
    ("fields", "pick_kind", "reason"),
    [
        ({}, "department", "department_resource"),
        ({"amount_yuan": 8000}, "enterprise", "amount_above_threshold"),
        ({"for_minor": True}, "charity", "minor"),
    ],
    ids=["department", "amount", "minor"],
)
def test_department_resource_large_amount_or_minor_goes_to_the_review_queue(
    sessions: sessionmaker[Session], fields: dict[str, Any], pick_kind: str, reason: str
) -> None:
    need_id = new_need(sessions)
    pick = service.Pick(resource_id="res-x", name="民政局临时救助", kind=pick_kind, rank=1)
    referral_id = refer(sessions, need_id, pick, **fields)
    assert state_of(sessions, referral_id) == "pending_review"
    assert need_status(sessions, need_id) == "open", "a referral in review is not yet referred"
    with sessions() as s:
        assert queries.get_or_raise(session=s, referral_id=referral_id).review_reasons == [reason]
        queue, total = queries.review_queue(
            session=s, department="civil_affairs", adcode_prefix="511523"
        )
        other_region = queries.review_queue(
            session=s, department="civil_affairs", adcode_prefix="510104"
        )
        other_department = queries.review_queue(session=s, department="health", adcode_prefix=None)
    assert ([r.id for r in queue], total) == ([referral_id], 1)
    assert other_region == ([], 0) and other_department == ([], 0)


def test_amount_at_the_threshold_needs_no_review(sessions: sessionmaker[Session]) -> None:
    referral_id = refer(sessions, new_need(sessions), amount_yuan=5000)
    assert state_of(sessions, referral_id) == "sent"


def test_invalid_transition_is_refused_naming_the_allowed_ones(
    sessions: sessionmaker[Session],
) -> None:
    referral_id = refer(sessions, new_need(sessions))
    with pytest.raises(InvalidTransition) as refused, transaction(sessions) as s:
        service.start(session=s, referral_id=referral_id, actor=COORDINATOR, now=T0)
    assert refused.value.status == 409
    assert refused.value.extra["allowed"] == ["accepted", "cancelled", "declined"]
    assert state_of(sessions, referral_id) == "sent"


def review(
    sessions: sessionmaker[Session], referral_id: str, department: str, approve: bool, **kw: Any
) -> str:
    with transaction(sessions) as s:
        return review_module.review(
            session=s,
            referral_id=referral_id,
            department=department,
            approve=approve,
            comment=kw.get("comment"),
            actor=REVIEWER,
            now=kw.get("now", T0),
            policy=POLICY,
        ).state


def test_joint_review_proceeds_only_when_every_department_has_approved(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    departments = ["medical_insurance", "civil_affairs"]
    referral_id = refer(sessions, need_id, review_departments=departments, amount_yuan=30000)
    assert review(sessions, referral_id, "medical_insurance", True) == "pending_review"
    with pytest.raises(Conflict):
        review(sessions, referral_id, "medical_insurance", True)
    with pytest.raises(ValidationFailed) as unknown:
        review(sessions, referral_id, "health", True)
    assert unknown.value.errors[0].field == "department"
    assert review(sessions, referral_id, "civil_affairs", True) == "sent"
    subjects = [subject.split(".")[3] for subject, _ in events_of(sessions, referral_id)]
    assert subjects == ["draft", "pending_review", "approved", "sent"]
    assert need_status(sessions, need_id) == "referred"


def test_a_return_sends_the_referral_back_with_comments_and_resubmission_starts_over(
    sessions: sessionmaker[Session],
) -> None:
    referral_id = refer(
        sessions, new_need(sessions), review_departments=["medical_insurance", "civil_affairs"]
    )
    with pytest.raises(ValidationFailed) as silent:
        review(sessions, referral_id, "civil_affairs", False)
    assert (silent.value.errors[0].field, silent.value.errors[0].rule) == (
        "comment",
        "required_to_return",
    )
    review(sessions, referral_id, "medical_insurance", True)
    assert (
        review(sessions, referral_id, "civil_affairs", False, comment="缺少住院发票") == "returned"
    )
    with sessions() as s:
        referral = queries.get_or_raise(session=s, referral_id=referral_id)
        comments = {
            a.department: a.comment for a in review_module.approvals(session=s, referral=referral)
        }
    assert comments["civil_affairs"] == "缺少住院发票"
    with transaction(sessions) as s:
        service.submit(session=s, referral_id=referral_id, actor=WORKER, now=T0, policy=POLICY)
    with sessions() as s:
        referral = queries.get_or_raise(session=s, referral_id=referral_id)
        decisions = [a.decision for a in review_module.approvals(session=s, referral=referral)]
    assert referral.state == "pending_review" and referral.review_round == 2
    assert decisions == ["pending", "pending"], "a new round asks every department again"


def test_overdue_referrals_show_after_the_configured_time_and_escalate_once(
    sessions: sessionmaker[Session],
) -> None:
    waiting_acceptance = refer(sessions, new_need(sessions))
    pick = service.Pick(resource_id="res-dept", name="县民政局", kind="department", rank=1)
    waiting_review = refer(sessions, new_need(sessions), pick, now=T0 + timedelta(hours=1))
    with sessions() as s:
        assert queries.overdue(session=s, now=T0 + timedelta(hours=47)) == []
        late = queries.overdue(session=s, now=T0 + timedelta(hours=48, minutes=30))
        later = queries.overdue(session=s, now=T0 + timedelta(hours=50))
    assert [r.id for r in late] == [waiting_acceptance]
    assert [r.id for r in later] == [waiting_acceptance, waiting_review]
    assert queries.is_overdue(later[1], T0 + timedelta(hours=50))
    for _ in range(2):
        with transaction(sessions) as s:
            service.escalate_overdue(session=s, now=T0 + timedelta(hours=50), actor=WORKER)
    for referral_id, reason in [
        (waiting_acceptance, "overdue_acceptance"),
        (waiting_review, "overdue_review"),
    ]:
        escalations = [
            payload
            for subject, payload in events_of(sessions, referral_id)
            if subject == "lianjie.needs.referral.escalated.v1"
        ]
        assert len(escalations) == 1, "escalated more than once for one wait"
        assert escalations[0]["reason"] == reason
    with transaction(sessions) as s:
        service.decline(
            session=s,
            referral_id=waiting_acceptance,
            reason="other",
            actor=COORDINATOR,
            now=T0 + timedelta(hours=51),
        )
    with sessions() as s:
        remaining = queries.overdue(session=s, now=T0 + timedelta(hours=52))
    assert [r.id for r in remaining] == [waiting_review]


def walk_to_in_progress(sessions: sessionmaker[Session], referral_id: str) -> None:
    with transaction(sessions) as s:
        service.accept(
            session=s, referral_id=referral_id, reservation="reserved", actor=COORDINATOR, now=T0
        )
    with transaction(sessions) as s:
        service.start(session=s, referral_id=referral_id, actor=COORDINATOR, now=T0)


def test_completed_with_need_met_closes_the_need_and_the_event_carries_match_and_outcome(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id)
    walk_to_in_progress(sessions, referral_id)
    assert need_status(sessions, need_id) == "in_service"
    feedback = "送餐很准时, 张阿姨很满意"
    with transaction(sessions) as s:
        service.complete(
            session=s,
            referral_id=referral_id,
            outcome=CompleteBody(result="met", satisfaction=5, feedback=feedback),
            actor=COORDINATOR,
            now=T0 + timedelta(days=3),
        )
    assert need_status(sessions, need_id) == "met"
    subject, completed = events_of(sessions, referral_id)[-1]
    assert subject == "lianjie.needs.referral.completed.v1"
    assert completed["outcome"] == {"result": "met", "satisfaction": 5}
    assert completed["match"]["rank_position"] == 1
    assert completed["match"]["score"] == pytest.approx(0.82)
    assert completed["match"]["components"] == {"category": 1.0, "distance": 0.9}
    assert all(feedback not in str(p) for _, p in events_of(sessions, referral_id))
    with sessions() as s:
        assert queries.get_or_raise(session=s, referral_id=referral_id).reservation == "consumed"


def test_an_unmet_outcome_leaves_the_need_open_for_another_referral(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id)
    walk_to_in_progress(sessions, referral_id)
    with transaction(sessions) as s:
        service.complete(
            session=s,
            referral_id=referral_id,
            outcome=CompleteBody(result="not_met", satisfaction=2),
            actor=COORDINATOR,
            now=T0,
        )
    assert need_status(sessions, need_id) == "matching"


def test_cancelling_an_accepted_referral_requires_its_capacity_released(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id)
    walk_to_in_progress(sessions, referral_id)

    def cancel(released: bool) -> str:
        with transaction(sessions) as s:
            return (
                service.end(
                    session=s,
                    referral_id=referral_id,
                    to="cancelled",
                    reason="withdrawn_by_resident",
                    comment=None,
                    released=released,
                    actor=WORKER,
                    now=T0,
                ).reservation
                or ""
            )

    with pytest.raises(Conflict):
        cancel(released=False)
    assert cancel(released=True) == "released"
    assert state_of(sessions, referral_id) == "cancelled"
    with pytest.raises(InvalidTransition) as again:
        cancel(released=True)
    assert again.value.extra["allowed"] == []


def test_the_audit_chain_detects_a_rewritten_history(sessions: sessionmaker[Session]) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id)
    walk_to_in_progress(sessions, referral_id)
    with sessions() as s:
        chain = audit.entries(session=s, chain=audit.referral_chain(referral_id))
        need_chain = audit.entries(session=s, chain=audit.need_chain(need_id))
        assert [e.seq for e in chain] == [1, 2, 3, 4]
        assert chain[1].prev_hash == chain[0].hash
        assert audit.verify(chain).intact and audit.verify(need_chain).intact
        assert '"actor":"co-001"' in chain[2].body, "the transition is stamped with its actor"
    with transaction(sessions) as s:
        s.execute(
            update(AuditEntry)
            .where(AuditEntry.chain == audit.referral_chain(referral_id), AuditEntry.seq == 2)
            .values(body=chain[1].body.replace("sw-001", "someone-else"))
        )
    with sessions() as s:
        check = audit.verify(audit.entries(session=s, chain=audit.referral_chain(referral_id)))
    assert (check.intact, check.broken_at) == (False, 2)


def ranked(*resource_ids: str) -> list[RankedResource]:
    explanation = Explanation(
        components={"category": 1.0}, weights={}, filters_passed=[], category_offered="x"
    )
    return [
        RankedResource(
            resource_id=rid,
            name=f"资源{rid}",
            kind="charity",  # type: ignore[arg-type]
            score=1.0 - n / 10,
            distance_km=1.0,
            capacity_remaining=3,
            capacity_unit="persons",
            explanation=explanation,
        )
        for n, rid in enumerate(resource_ids)
    ]


def test_skipping_the_top_match_or_referring_outside_the_list_needs_a_reason_and_is_reported(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    results = ranked("a", "b")
    with pytest.raises(ValidationFailed) as skipped:
        service.pick_from_matches(
            results=results, data=ReferralCreate(need_id=need_id, resource_id="b")
        )
    assert [(e.field, e.rule) for e in skipped.value.errors] == [
        ("override_reason", "required_to_skip_top_match")
    ]
    with pytest.raises(ValidationFailed) as outside:
        service.pick_from_matches(
            results=results, data=ReferralCreate(need_id=need_id, resource_id="z")
        )
    assert {e.field for e in outside.value.errors} == {
        "override_reason",
        "resource_kind",
        "resource_name",
    }
    second = service.pick_from_matches(
        results=results,
        data=ReferralCreate(need_id=need_id, resource_id="b", override_reason="家属熟悉该机构"),
    )
    assert (second.rank, second.kind) == (2, "charity")
    body: dict[str, Any] = {
        "override_reason": "村里的志愿队更近",
        "resource_kind": "volunteer",
        "resource_name": "红星村志愿队",
    }
    outsider = service.pick_from_matches(
        results=results,
        data=ReferralCreate(need_id=need_id, resource_id="z", **body),  # type: ignore[arg-type]
    )
    refer(sessions, need_id, second, override_reason="家属熟悉该机构")
    refer(sessions, need_id, outsider, **body)
    refer(sessions, new_need(sessions))  # followed the top match: not an override
    with sessions() as s:
        kinds = sorted(r.override_kind or "" for r in queries.overrides(session=s))
    assert kinds == ["not_in_list", "skipped_top"]


def test_a_micro_wish_is_claimed_as_an_accepted_referral(sessions: sessionmaker[Session]) -> None:
    wish = new_need(sessions, category="micro_wish.goods")
    meals = new_need(sessions)
    claim = ClaimCreate(resource_id="res-ent", resource_name="爱心企业", resource_kind="enterprise")

    def claim_id(need_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, need_id))

    def claim_for(need_id: str) -> str:
        with transaction(sessions) as s:
            return service.claim_micro_wish(
                session=s,
                need_id=need_id,
                referral_id=claim_id(need_id),
                data=claim,
                organization="demo",
                reservation="reserved",
                actor=COORDINATOR,
                now=T0,
            ).state

    with pytest.raises(Conflict):
        claim_for(meals)
    assert claim_for(wish) == "accepted"
    assert need_status(sessions, wish) == "in_service"
    with sessions() as s:
        claimed = queries.get_or_raise(session=s, referral_id=claim_id(wish))
        assert (claimed.resource_organization, claimed.units) == ("demo", 1)
    assert [s for s, _ in events_of(sessions, claim_id(wish))] == [
        "lianjie.needs.referral.accepted.v1"
    ]


def test_a_declined_resource_is_left_out_of_the_next_match(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    referral_id = refer(sessions, need_id)
    with transaction(sessions) as s:
        service.decline(
            session=s, referral_id=referral_id, reason="no_capacity", actor=COORDINATOR, now=T0
        )
        assert queries.next_match_exclusions(session=s, need_id=need_id) == [MEALS.resource_id]
    assert need_status(sessions, need_id) == "open"
    subject, declined = events_of(sessions, referral_id)[-1]
    assert (subject, declined["reason"]) == ("lianjie.needs.referral.declined.v1", "no_capacity")


def test_no_referral_of_any_origin_for_a_person_who_withdrew_referral_consent(
    sessions: sessionmaker[Session],
) -> None:
    """Picked, claimed or offered next: every way a referral is made checks the consent."""
    wish = new_need(sessions, category="micro_wish.goods")
    withdraw_consent(sessions, with_person(sessions, wish), "referral_sharing")
    claim = ClaimCreate(resource_id="res-ent", resource_name="爱心企业", resource_kind="enterprise")
    with pytest.raises(Conflict) as claimed, transaction(sessions) as s:
        service.claim_micro_wish(
            session=s, need_id=wish, referral_id=str(uuid.uuid4()), data=claim,
            organization="demo", reservation="reserved", actor=COORDINATOR, now=T0,
        )  # fmt: skip
    with pytest.raises(Conflict) as picked:
        refer(sessions, wish)
    for refused in (claimed, picked):
        assert refused.value.extra["rule"] == "consent_withdrawn"


def test_a_draft_or_returned_referral_is_not_submitted_after_consent_was_withdrawn(
    sessions: sessionmaker[Session],
) -> None:
    need_id = new_need(sessions)
    person_id = with_person(sessions, need_id)
    draft = refer(sessions, need_id, submit=False)
    withdraw_consent(sessions, person_id, "case_file")
    with pytest.raises(Conflict) as refused, transaction(sessions) as s:
        service.submit(session=s, referral_id=draft, actor=WORKER, now=T0, policy=POLICY)
    assert refused.value.extra["rule"] == "consent_withdrawn"
    assert state_of(sessions, draft) == "draft"
