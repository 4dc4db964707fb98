"""HTTP routes of referrals: parse, call the service, shape the response.

Calls to other services (the matcher, capacity at resources) are made outside the database
transaction; the transition is committed afterwards, so a peer that does not answer leaves the
referral where it was (503), and a reservation whose commit fails is given back.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service as needs_service
from services.needs.events import ask_matcher
from services.needs.jurisdiction import area_of
from services.needs.referrals import audit, events, fhir, review, service, transitions
from services.needs.referrals.models import Referral
from services.needs.referrals.schemas import (
    ApprovalOut,
    AuditEntryOut,
    AuditOut,
    ClaimCreate,
    CompleteBody,
    DeclineBody,
    EndBody,
    NoCapacity,
    OverdueLine,
    OverdueList,
    OverrideLine,
    OverrideReport,
    ReferralCreate,
    ReferralList,
    ReferralOut,
    ReviewDecision,
)
from services.needs.referrals.transitions import ReferralState as S
from services.needs.schemas import MatchRequest
from services.needs.settings import NeedsSettings
from shared.access import outside_scope, principal_of, within
from shared.actor import Actor, actor_from_request
from shared.auth import Role
from shared.contracts.matcher import RankedResource
from shared.db import run_in_transaction, run_read
from shared.errors import CapacityExhausted, DomainError, NotFound, RemoteError, ValidationFailed

log = logging.getLogger(__name__)
T = TypeVar("T")
SYSTEM = Actor(id="lianjie", role="system")


async def _escalate_forever(app: FastAPI) -> None:
    settings: NeedsSettings = app.state.settings
    while True:
        await asyncio.sleep(settings.referral_escalation_interval_s)
        try:
            done = await run_in_transaction(
                app.state.sessions,
                lambda s: service.escalate_overdue(session=s, now=_clock(app)(), actor=SYSTEM),
            )
        except Exception as exc:  # the sweeper must outlive a database hiccup; next round retries
            log.warning("escalating overdue referrals failed: %s", type(exc).__name__)
            continue
        if done:
            log.info("escalated %d overdue referrals", len(done))


@contextlib.asynccontextmanager
async def _escalation(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(_escalate_forever(app), name="referral-escalation")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


router = APIRouter(tags=["referrals"], lifespan=_escalation)


def _clock(app: FastAPI) -> Callable[[], datetime]:
    """`app.state.clock` when a test injects one, else the wall clock (UTC)."""
    clock: Callable[[], datetime] | None = getattr(app.state, "clock", None)
    return clock or (lambda: datetime.now(UTC))


def _now(request: Request) -> datetime:
    return _clock(request.app)()


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _policy(request: Request) -> review.ReviewPolicy:
    settings = _settings(request)
    return review.ReviewPolicy(
        amount_threshold_yuan=settings.referral_review_amount_threshold,
        overdue_after=timedelta(hours=settings.referral_overdue_hours),
        default_department=settings.referral_review_department,
    )


async def _write(request: Request, work: Callable[[Session], T]) -> T:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return await run_in_transaction(sessions, work)


async def _read(request: Request, work: Callable[[Session], T]) -> T:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return await run_read(sessions, work)


def _out(session: Session, referral: Referral, now: datetime) -> ReferralOut:
    return ReferralOut(
        **{name: getattr(referral, name) for name in _COPIED},
        approvals=[
            ApprovalOut.model_validate(a)
            for a in review.approvals(session=session, referral=referral)
        ],
        overdue=service.is_overdue(referral, now),
        escalated=referral.escalated_at is not None,
        allowed=transitions.allowed(referral),
    )


_COPIED = [
    name
    for name in ReferralOut.model_fields
    if name not in {"approvals", "overdue", "escalated", "allowed"}
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
    settings = _settings(request)

    def ask(session: Session) -> Any:
        try:
            return needs_service.match_request(
                session=session,
                need_id=body.need_id,
                request=MatchRequest(k=settings.referral_match_lookup_k),
                default_k=settings.referral_match_lookup_k,
            )
        except NotFound as exc:
            raise ValidationFailed.one("need_id", "exists", exc.detail) from exc

    reply = await ask_matcher(request.app.state.bus, await _read(request, ask))
    pick = service.pick_from_matches(results=reply.results, data=body)
    now, policy = _now(request), _policy(request)
    out = await _write(
        request,
        lambda s: _out(
            s,
            service.create(session=s, data=body, pick=pick, actor=actor, now=now, policy=policy),
            now,
        ),
    )
    response.headers["Location"] = f"/referrals/{out.id}"
    return out


@router.get("/referrals", response_model=ReferralList)
async def list_referrals(
    request: Request,
    need_id: str | None = Query(None, max_length=36),
    state: str | None = Query(None, max_length=20),
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=2**31 - 1),  # beyond: the database's integer overflows
) -> ReferralList:
    now = _now(request)

    def work(s: Session) -> ReferralList:
        rows, total = service.get_all(
            session=s,
            need_id=need_id,
            state=state,
            adcode_prefix=area_of(request),
            limit=limit,
            offset=offset,
        )
        return ReferralList(items=[_out(s, r, now) for r in rows], total=total)

    return await _read(request, work)


@router.get("/referrals/review-queue", response_model=ReferralList)
async def review_queue(
    request: Request,
    department: str | None = Query(None, max_length=64, description="The reviewer's department"),
    region: str | None = Query(
        None, pattern=r"^\d{2,12}$", description="Division code prefix, e.g. 511523"
    ),
) -> ReferralList:
    """What the alliance has to review, for one department and region; overdue ones flagged.
    A reviewer sees their own department's queue, within their region if they have one."""
    now = _now(request)
    department, region = _review_scope(request, department, region)

    def work(s: Session) -> ReferralList:
        rows = review.review_queue(session=s, department=department, adcode_prefix=region)
        return ReferralList(items=[_out(s, r, now) for r in rows], total=len(rows))

    return await _read(request, work)


def _review_scope(
    request: Request, department: str | None, region: str | None
) -> tuple[str | None, str | None]:
    """The department and region a caller may look at: their own (403 for another's)."""
    principal = principal_of(request.scope)
    if principal is None or principal.role is Role.ADMIN:
        return department, region
    if principal.role is Role.ALLIANCE_REVIEWER:
        if department is not None and department != principal.department:
            raise outside_scope(f"department {department}")
        department = principal.department or "-"
    area = principal.adcode
    if area:
        if region is not None and not within(region, area):
            raise outside_scope(f"region {region}")
        region = region or area
    elif principal.role is not Role.ALLIANCE_REVIEWER:
        region = "-"  # an area role without an area sees nothing
    return department, region


def _in_area(request: Request, adcode: str) -> bool:
    area = area_of(request)
    return area is None or adcode.startswith(area)


@router.get("/referrals/overdue", response_model=OverdueList)
async def overdue_referrals(request: Request) -> OverdueList:
    """Referrals not reviewed or not accepted within the configured time."""
    now = _now(request)

    def work(s: Session) -> OverdueList:
        lines = []
        for r in service.overdue(session=s, now=now):
            if not _in_area(request, r.adcode):
                continue
            assert r.due_at is not None
            due = transitions.aware(r.due_at)
            pending = [a.department for a in review.approvals(session=s, referral=r)]
            lines.append(
                OverdueLine(
                    referral_id=r.id,
                    need_id=r.need_id,
                    state=r.state,
                    waiting_for=transitions.WAITING[r.state],  # type: ignore[arg-type]
                    due_at=due,
                    overdue_hours=round((now - due).total_seconds() / 3600, 2),
                    escalated=r.escalated_at is not None,
                    departments=pending if r.state == S.PENDING_REVIEW else [],
                )
            )
        return OverdueList(items=lines, total=len(lines))

    return await _read(request, work)


@router.post("/referrals/overdue/escalate", response_model=OverdueList)
async def escalate_overdue(request: Request) -> OverdueList:
    """Escalate overdue referrals now (the service also does it every few minutes)."""
    now = _now(request)
    await _write(request, lambda s: service.escalate_overdue(session=s, now=now, actor=SYSTEM))
    return await overdue_referrals(request)


@router.get("/referrals/overrides", response_model=OverrideReport)
async def override_report(request: Request) -> OverrideReport:
    """Where social workers did not follow the matcher's top suggestion, and why."""

    def work(s: Session) -> OverrideReport:
        rows = [r for r in service.overrides(session=s) if _in_area(request, r.adcode)]
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
        by_kind: dict[str, int] = {}
        for line in lines:
            by_kind[line.override_kind] = by_kind.get(line.override_kind, 0) + 1
        return OverrideReport(items=lines, total=len(lines), by_kind=by_kind)

    return await _read(request, work)


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
async def get_referral(referral_id: str, request: Request) -> ReferralOut:
    now = _now(request)
    return await _read(
        request,
        lambda s: _out(s, service.get_or_raise(session=s, referral_id=referral_id), now),
    )


@router.get("/referrals/{referral_id}/fhir")
async def get_referral_as_fhir_task(referral_id: str, request: Request) -> Response:
    """The referral as an HL7 FHIR R4 Task (status mapped; Lianjie's state in businessStatus)."""
    body = await _read(
        request, lambda s: fhir.task(service.get_or_raise(session=s, referral_id=referral_id))
    )
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/fhir+json")


@router.post("/referrals/{referral_id}/submit", response_model=ReferralOut)
async def submit_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Submit a draft, or a returned referral again."""
    now, policy = _now(request), _policy(request)
    return await _write(
        request,
        lambda s: _out(
            s,
            service.submit(session=s, referral_id=referral_id, actor=actor, now=now, policy=policy),
            now,
        ),
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
        raise outside_scope(f"department {body.department}")
    now, policy = _now(request), _policy(request)
    return await _write(
        request,
        lambda s: _out(
            s,
            review.review(
                session=s,
                referral_id=referral_id,
                department=body.department,
                approve=body.decision == "approve",
                comment=body.comment,
                actor=actor,
                now=now,
                policy=policy,
            ),
            now,
        ),
    )


# ---------------------------------------------------------------- the resource's side


@router.post("/referrals/{referral_id}/accept", response_model=ReferralOut)
async def accept_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """The resource accepts: its capacity is reserved. No capacity left → declined with reason
    `no_capacity`, answered 409 with the next match."""
    bus = request.app.state.bus
    referral = await _read(
        request, lambda s: service.get_ready_for(session=s, referral_id=referral_id, to=S.ACCEPTED)
    )
    try:
        reply = await events.reserve(
            bus, resource_id=referral.resource_id, referral_id=referral.id, units=referral.units
        )
    except RemoteError as exc:
        if not events.is_no_capacity(exc):
            raise
        raise await _decline_for_no_capacity(request, referral_id, actor) from exc
    now = _now(request)
    try:
        return await _write(
            request,
            lambda s: _out(
                s,
                service.accept(
                    session=s,
                    referral_id=referral_id,
                    reservation=reply.state.value,
                    actor=actor,
                    now=now,
                ),
                now,
            ),
        )
    except Exception:
        await _give_back_unless_accepted(request, referral)
        raise


async def _give_back_unless_accepted(request: Request, referral: Referral) -> None:
    """The reservation did not commit: release it, unless a concurrent accept of the same
    referral committed (the reservation is one per referral id, and is then that one's)."""
    current = await _read(
        request, lambda s: service.get_or_raise(session=s, referral_id=referral.id)
    )
    if service.holds_capacity(current):
        return
    try:
        await events.release(
            request.app.state.bus, resource_id=referral.resource_id, referral_id=referral.id
        )
    except DomainError as exc:
        log.warning("could not release an uncommitted reservation: %s", type(exc).__name__)


async def _decline_for_no_capacity(
    request: Request, referral_id: str, actor: Actor
) -> CapacityExhausted:
    """Decline the referral for want of capacity; the 409 to raise carries the next match."""
    now = _now(request)
    declined = await _write(
        request,
        lambda s: _out(
            s,
            service.decline(
                session=s, referral_id=referral_id, reason="no_capacity", actor=actor, now=now
            ),
            now,
        ),
    )
    next_match, error = await _next_match(request, declined.need_id)
    body = NoCapacity(referral=declined, next_match=next_match, next_match_error=error)
    return CapacityExhausted(
        f"the resource has no capacity left: referral {referral_id} was declined",
        extra={"reason": "no_capacity", **body.model_dump(mode="json")},
    )


async def _next_match(request: Request, need_id: str) -> tuple[RankedResource | None, str | None]:
    """The best resource not yet tried for this need; the decline stands if the matcher is out."""

    def need_and_exclusions(s: Session) -> tuple[Any, list[str], list[str]]:
        need = needs_service.get_need_or_raise(session=s, need_id=need_id)
        known = needs_service.personal_data_of(session=s, need=need)
        return need, service.next_match_exclusions(session=s, need_id=need_id), known

    need, exclude, known = await _read(request, need_and_exclusions)
    try:
        results = await events.ranked(
            request.app.state.bus, need=need, exclude=exclude, k=1, known=known
        )
    except DomainError as exc:
        return None, f"the matcher could not be asked: {exc.title}"
    return (results[0] if results else None), None


@router.post("/referrals/{referral_id}/decline", response_model=ReferralOut)
async def decline_referral(
    referral_id: str,
    body: DeclineBody,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """The resource declines, with a reason code."""
    now = _now(request)
    return await _write(
        request,
        lambda s: _out(
            s,
            service.decline(
                session=s, referral_id=referral_id, reason=body.reason, actor=actor, now=now
            ),
            now,
        ),
    )


@router.post("/referrals/{referral_id}/start", response_model=ReferralOut)
async def start_referral(
    referral_id: str, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Service delivery has begun."""
    now = _now(request)
    return await _write(
        request,
        lambda s: _out(
            s, service.start(session=s, referral_id=referral_id, actor=actor, now=now), now
        ),
    )


@router.post("/referrals/{referral_id}/complete", response_model=ReferralOut)
async def complete_referral(
    referral_id: str,
    body: CompleteBody,
    request: Request,
    actor: Actor = Depends(actor_from_request),
) -> ReferralOut:
    """Record the outcome and satisfaction; the capacity is consumed; a met need closes."""
    referral = await _read(
        request,
        lambda s: service.get_ready_for(session=s, referral_id=referral_id, to=S.COMPLETED),
    )
    if service.holds_capacity(referral):
        await events.consume(
            request.app.state.bus, resource_id=referral.resource_id, referral_id=referral.id
        )
    now = _now(request)
    return await _write(
        request,
        lambda s: _out(
            s,
            service.complete(
                session=s, referral_id=referral_id, outcome=body, actor=actor, now=now
            ),
            now,
        ),
    )


@router.post("/referrals/{referral_id}/fail", response_model=ReferralOut)
async def fail_referral(
    referral_id: str, body: EndBody, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Service could not be delivered; the capacity is released."""
    return await _end(request, referral_id, S.FAILED, body, actor)


@router.post("/referrals/{referral_id}/cancel", response_model=ReferralOut)
async def cancel_referral(
    referral_id: str, body: EndBody, request: Request, actor: Actor = Depends(actor_from_request)
) -> ReferralOut:
    """Cancel an open referral; capacity it held is released."""
    return await _end(request, referral_id, S.CANCELLED, body, actor)


async def _end(
    request: Request, referral_id: str, to: str, body: EndBody, actor: Actor
) -> ReferralOut:
    referral = await _read(
        request, lambda s: service.get_ready_for(session=s, referral_id=referral_id, to=to)
    )
    released = service.holds_capacity(referral)
    if released:
        await events.release(
            request.app.state.bus, resource_id=referral.resource_id, referral_id=referral.id
        )
    now = _now(request)
    return await _write(
        request,
        lambda s: _out(
            s,
            service.end(
                session=s,
                referral_id=referral_id,
                to=to,
                reason=body.reason,
                comment=body.comment,
                released=released,
                actor=actor,
                now=now,
            ),
            now,
        ),
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
    accepted, with the claimer's capacity reserved."""

    def claimable_units(s: Session) -> int:
        need = needs_service.get_need_or_raise(session=s, need_id=need_id)
        service.check_claimable(need)
        return need.quantity

    need_units = await _read(request, claimable_units)
    referral_id = str(uuid.uuid4())
    reply = await events.reserve(
        request.app.state.bus,
        resource_id=body.resource_id,
        referral_id=referral_id,
        units=need_units,
    )
    now = _now(request)
    try:
        out = await _write(
            request,
            lambda s: _out(
                s,
                service.claim_micro_wish(
                    session=s,
                    need_id=need_id,
                    referral_id=referral_id,
                    data=body,
                    reservation=reply.state.value,
                    actor=actor,
                    now=now,
                ),
                now,
            ),
        )
    except Exception:
        with contextlib.suppress(DomainError):
            await events.release(
                request.app.state.bus, resource_id=body.resource_id, referral_id=referral_id
            )
        raise
    response.headers["Location"] = f"/referrals/{out.id}"
    return out


# ---------------------------------------------------------------- audit


@router.get("/referrals/{referral_id}/audit", response_model=AuditOut)
async def referral_audit(referral_id: str, request: Request) -> AuditOut:
    """The referral's hash-chained audit trail, verified."""

    def work(s: Session) -> AuditOut:
        service.get_or_raise(session=s, referral_id=referral_id)
        return _audit_out(s, audit.referral_chain(referral_id))

    return await _read(request, work)


@router.get("/needs/{need_id}/audit", response_model=AuditOut, tags=["needs"])
async def need_audit(need_id: str, request: Request) -> AuditOut:
    """Every referral step taken for a need, hash-chained, verified."""

    def work(s: Session) -> AuditOut:
        needs_service.get_need_or_raise(session=s, need_id=need_id)
        return _audit_out(s, audit.need_chain(need_id))

    return await _read(request, work)


def _audit_out(session: Session, chain: str) -> AuditOut:
    entries = audit.entries(session=session, chain=chain)
    check = audit.verify(entries)
    return AuditOut(
        chain=chain,
        intact=check.intact,
        broken_at=check.broken_at,
        entries=[
            AuditEntryOut(seq=e.seq, body=json.loads(e.body), prev_hash=e.prev_hash, hash=e.hash)
            for e in entries
        ],
    )
