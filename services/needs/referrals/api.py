"""HTTP routes of referrals: parse, call one flow or service function, shape the response.

Flows that ask other services (the matcher, the resources service) are in `flows.py`; the
scope of each caller (area, organization, department) is checked in `jurisdiction.py`.
"""

import json
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from services.needs import jurisdiction
from services.needs import service as needs_service
from services.needs.referrals import (
    audit,
    fhir,
    flows,
    queries,
    review,
    scheduled,
    service,
    transitions,
)
from services.needs.referrals.models import Referral
from services.needs.referrals.schemas import (
    ApprovalOut,
    AuditEntryOut,
    AuditOut,
    ClaimCreate,
    CompleteBody,
    DeclineBody,
    DeclinedOut,
    EndBody,
    OverdueLine,
    OverdueList,
    OverrideLine,
    OverrideReport,
    ReferralCreate,
    ReferralList,
    ReferralOut,
    ReviewDecision,
)
from services.needs.referrals.states import WAITING
from services.needs.referrals.states import ReferralState as S
from services.needs.settings import NeedsSettings
from shared.access import outside_scope
from shared.actor import Actor, actor_from_request
from shared.auth import Role
from shared.clock import china_today, clock_of
from shared.web import Page, pages
from shared.web_db import read

router = APIRouter(tags=["referrals"], lifespan=scheduled.lifespan)


def _now(request: Request) -> datetime:
    return clock_of(request.app)()


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _policy(request: Request) -> review.ReviewPolicy:
    settings = _settings(request)
    return review.ReviewPolicy(
        amount_threshold_yuan=settings.referral_review_amount_threshold,
        overdue_after=timedelta(hours=settings.referral_overdue_hours),
        default_department=settings.referral_review_department,
        rules=tuple(settings.referral_review_rules),
    )


def _flow(request: Request, actor: Actor) -> flows.Flow:
    return flows.Flow(
        sessions=request.app.state.sessions,
        bus=request.app.state.bus,
        clock=clock_of(request.app),
        actor=actor,
        shape=_out,
    )


_page = pages(
    lambda request: _settings(request).page_size_max,
    default=50,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


def _out(session: Session, referral: Referral, now: datetime) -> ReferralOut:
    return ReferralOut(
        **{name: getattr(referral, name) for name in _COPIED},
        approvals=[
            ApprovalOut.model_validate(a)
            for a in review.approvals(session=session, referral=referral)
        ],
        overdue=queries.is_overdue(referral, now),
        escalated=referral.escalated_at is not None,
        allowed=transitions.allowed(referral),
        need=queries.need_summary(
            session=session, need_id=referral.need_id, today=china_today(now)
        ),
    )


_COPIED = [
    name
    for name in ReferralOut.model_fields
    if name not in {"approvals", "overdue", "escalated", "allowed", "need"}
]


# ---------------------------------------------------------------- creating and reviewing


@router.post("/referrals", status_code=status.HTTP_201_CREATED, response_model=ReferralOut)
async def create_referral(
    body: ReferralCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """Refer a need to a resource. The match is looked up again and frozen; a resource that is
    not the top match needs `override_reason` (and, if not a match at all, its kind and name)."""
    out = await flows.create(
        _flow(request, actor),
        data=body,
        lookup_k=_settings(request).referral_match_lookup_k,
        policy=_policy(request),
    )
    response.headers["Location"] = f"/referrals/{out.id}"
    return out


@router.get("/referrals", response_model=ReferralList)
async def list_referrals(
    request: Request,
    need_id: str | None = Query(None, max_length=36),
    state: str | None = Query(None, max_length=20),
    origin: str | None = Query(
        None, pattern=r"^[a-z_]{1,20}$", description="How it was made: `micro_wish` for claims"
    ),
    page: Page = Depends(_page),
) -> ReferralList:
    """Referrals of the caller's area, or, for a coordinator, to their organization's resources."""
    if state is not None:
        transitions.check_known_state(state)
    now = _now(request)
    area, organization = jurisdiction.area_of(request), jurisdiction.organization_of(request)

    def work(s: Session) -> ReferralList:
        rows, total = queries.get_all(
            session=s,
            need_id=need_id,
            state=state,
            origin=origin,
            adcode_prefix=None if organization else area,
            organization=organization,
            limit=page.limit,
            offset=page.offset,
        )
        return ReferralList(
            items=[_out(s, r, now) for r in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )

    return await read(request, work)


@router.get("/referrals/review-queue", response_model=ReferralList)
async def review_queue(
    request: Request,
    department: str | None = Query(None, max_length=64, description="The reviewer's department"),
    region: str | None = Query(
        None, pattern=r"^\d{2,12}$", description="Division code prefix, e.g. 511523"
    ),
    page: Page = Depends(_page),
) -> ReferralList:
    """What the alliance has to review, for one department and region; overdue ones flagged.
    A reviewer sees their own department's queue, within their region if they have one."""
    now = _now(request)
    department, region = jurisdiction.review_scope(request, department, region)

    def work(s: Session) -> ReferralList:
        rows, total = queries.review_queue(
            session=s,
            department=department,
            adcode_prefix=region,
            limit=page.limit,
            offset=page.offset,
        )
        return ReferralList(
            items=[_out(s, r, now) for r in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )

    return await read(request, work)


@router.get("/referrals/overdue", response_model=OverdueList)
async def overdue_referrals(request: Request, page: Page = Depends(_page)) -> OverdueList:
    """Referrals not reviewed or not accepted within the configured time."""
    now, area = _now(request), jurisdiction.area_of(request)

    def work(s: Session) -> OverdueList:
        rows, total = queries.overdue_page(
            session=s, now=now, adcode_prefix=area, limit=page.limit, offset=page.offset
        )
        return OverdueList(items=[_overdue_line(s, r, now) for r in rows], total=total)

    return await read(request, work)


def _overdue_line(session: Session, referral: Referral, now: datetime) -> OverdueLine:
    assert referral.due_at is not None
    due = transitions.aware(referral.due_at)
    pending = [a.department for a in review.approvals(session=session, referral=referral)]
    return OverdueLine(
        referral_id=referral.id,
        need_id=referral.need_id,
        state=referral.state,
        waiting_for=WAITING[referral.state],  # type: ignore[arg-type]
        due_at=due,
        overdue_hours=round((now - due).total_seconds() / 3600, 2),
        escalated=referral.escalated_at is not None,
        departments=pending if referral.state == S.PENDING_REVIEW else [],
    )


@router.post("/referrals/overdue/escalate", response_model=OverdueList)
async def escalate_overdue(request: Request, page: Page = Depends(_page)) -> OverdueList:
    """Escalate overdue referrals now (the service also does it every few minutes)."""
    now = _now(request)
    await _flow(request, flows.SYSTEM).write(
        lambda s: service.escalate_overdue(session=s, now=now, actor=flows.SYSTEM)
    )
    return await overdue_referrals(request, page)


@router.get("/referrals/overrides", response_model=OverrideReport)
async def override_report(request: Request, page: Page = Depends(_page)) -> OverrideReport:
    """Where social workers did not follow the matcher's top suggestion, and why."""
    area = jurisdiction.area_of(request)

    def work(s: Session) -> OverrideReport:
        by_kind = queries.overrides_by_kind(session=s, adcode_prefix=area)
        rows = queries.overrides(
            session=s, adcode_prefix=area, limit=page.limit, offset=page.offset
        )
        lines = [
            OverrideLine(
                referral_id=r.id,
                need_id=r.need_id,
                resource_id=r.resource_id,
                override_kind=r.override_kind or "",
                match_rank=r.match_rank,
                reason=r.override_reason,
                created_by=r.created_by,
                created_at=r.created_at,
            )
            for r in rows
        ]
        return OverrideReport(items=lines, total=sum(by_kind.values()), by_kind=by_kind)

    return await read(request, work)


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
async def get_referral(referral_id: str, request: Request) -> ReferralOut:
    now = _now(request)
    return await read(
        request,
        lambda s: _out(s, queries.get_or_raise(session=s, referral_id=referral_id), now),
    )


@router.get("/referrals/{referral_id}/fhir")
async def get_referral_as_fhir_task(referral_id: str, request: Request) -> Response:
    """The referral as an HL7 FHIR R4 Task (status mapped; Lianjie's state in businessStatus)."""
    body = await read(
        request, lambda s: fhir.task(queries.get_or_raise(session=s, referral_id=referral_id))
    )
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/fhir+json")


@router.post("/referrals/{referral_id}/submit", response_model=ReferralOut)
async def submit_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Submit a draft, or a returned referral again."""
    policy = _policy(request)
    return await _flow(request, actor).commit(
        lambda s, now: service.submit(
            session=s, referral_id=referral_id, actor=actor, now=now, policy=policy
        )
    )


@router.post("/referrals/{referral_id}/review", response_model=ReferralOut)
async def review_referral(
    referral_id: str,
    body: ReviewDecision,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """A department approves or returns (with a comment); sent once all have approved.
    A reviewer decides for their own department only."""
    if actor.role == Role.ALLIANCE_REVIEWER and body.department != actor.department:
        raise outside_scope("this department")
    policy = _policy(request)
    return await _flow(request, actor).commit(
        lambda s, now: review.review(
            session=s,
            referral_id=referral_id,
            department=body.department,
            approve=body.decision == "approve",
            comment=body.comment,
            actor=actor,
            now=now,
            policy=policy,
        )
    )


# ---------------------------------------------------------------- the resource's side


@router.post("/referrals/{referral_id}/accept", response_model=ReferralOut)
async def accept_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """The resource accepts: its capacity is reserved. No capacity left → declined with reason
    `no_capacity`, answered 409 with the next match."""
    return await flows.accept(_flow(request, actor), referral_id=referral_id)


@router.post("/referrals/{referral_id}/decline", response_model=DeclinedOut)
async def decline_referral(
    referral_id: str,
    body: DeclineBody,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> DeclinedOut:
    """The resource declines, with a reason code. For `no_capacity`: the next feasible match
    comes with the answer, and the resource's stated capacity is flagged for correction."""
    return await flows.decline(_flow(request, actor), referral_id=referral_id, reason=body.reason)


@router.post("/referrals/{referral_id}/start", response_model=ReferralOut)
async def start_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Service delivery has begun."""
    return await _flow(request, actor).commit(
        lambda s, now: service.start(session=s, referral_id=referral_id, actor=actor, now=now)
    )


@router.post("/referrals/{referral_id}/complete", response_model=ReferralOut)
async def complete_referral(
    referral_id: str,
    body: CompleteBody,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """Record the outcome and satisfaction; the capacity is consumed; a met need closes."""
    return await flows.complete(_flow(request, actor), referral_id=referral_id, outcome=body)


@router.post("/referrals/{referral_id}/fail", response_model=ReferralOut)
async def fail_referral(
    referral_id: str, body: EndBody, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Service could not be delivered; the capacity is released."""
    return await flows.end(_flow(request, actor), referral_id=referral_id, to=S.FAILED, body=body)


@router.post("/referrals/{referral_id}/cancel", response_model=ReferralOut)
async def cancel_referral(
    referral_id: str, body: EndBody, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Cancel an open referral; capacity it held is released."""
    return await flows.end(
        _flow(request, actor), referral_id=referral_id, to=S.CANCELLED, body=body
    )


@router.post(
    "/needs/{need_id}/claims", status_code=status.HTTP_201_CREATED, response_model=ReferralOut
)
async def claim_micro_wish(
    need_id: str,
    body: ClaimCreate,
    request: Request,
    response: Response,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """An enterprise, charity or volunteer claims a micro-wish (微心愿): a referral that starts
    accepted, with the claimer's capacity reserved. A coordinator claims with their own
    organization's resources only."""
    out = await flows.claim_micro_wish(
        _flow(request, actor),
        need_id=need_id,
        data=body,
        only_organization=jurisdiction.organization_of(request),
    )
    response.headers["Location"] = f"/referrals/{out.id}"
    return out


# ---------------------------------------------------------------- audit


@router.get("/referrals/{referral_id}/audit", response_model=AuditOut)
async def referral_audit(referral_id: str, request: Request) -> AuditOut:
    """The referral's hash-chained audit trail, verified."""

    def work(s: Session) -> AuditOut:
        referral = queries.get_or_raise(session=s, referral_id=referral_id)
        return _audit_out(s, audit.referral_chain(referral_id), audit.head_of(referral))

    return await read(request, work)


@router.get("/needs/{need_id}/audit", response_model=AuditOut, tags=["needs"])
async def need_audit(need_id: str, request: Request) -> AuditOut:
    """Every referral step taken for a need, hash-chained, verified (against the head the
    need keeps, so a chain cut short is caught too)."""

    def work(s: Session) -> AuditOut:
        need = needs_service.get_need_or_raise(session=s, need_id=need_id)
        return _audit_out(s, audit.need_chain(need_id), audit.head_of(need))

    return await read(request, work)


def _audit_out(session: Session, chain: str, head: audit.Head | None = None) -> AuditOut:
    entries = audit.entries(session=session, chain=chain)
    check = audit.verify(entries, head)
    return AuditOut(
        chain=chain,
        intact=check.intact,
        broken_at=check.broken_at,
        entries=[
            AuditEntryOut(seq=e.seq, body=json.loads(e.body), prev_hash=e.prev_hash, hash=e.hash)
            for e in entries
        ],
    )
