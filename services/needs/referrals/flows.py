"""Referral flows that cross services: refer (matcher, resource card), accept (reserve capacity,
or decline and offer the next match), complete (consume), fail or cancel (release), claim a
micro-wish (reserve), and the escalation sweep.

Calls to other services are made outside the database transaction; the transition is committed
afterwards, so a peer that does not answer leaves the referral where it was (503), and a
reservation whose commit fails, or whose answer never came, is given back. No HTTP here: a
flow takes `shape`, which turns the committed referral into what the caller answers, inside
the same transaction.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from services.needs import service as needs_service
from services.needs.events import ask_matcher
from services.needs.models import Need
from services.needs.referrals import events, queries, review, service
from services.needs.referrals.models import Referral
from services.needs.referrals.schemas import (
    ClaimCreate,
    CompleteBody,
    DeclinedOut,
    EndBody,
    NoCapacity,
    ReferralCreate,
    ReferralOut,
)
from services.needs.referrals.states import ReferralState as S
from services.needs.schemas import MatchRequest
from shared.actor import Actor
from shared.contracts.matcher import RankedResource
from shared.contracts.resources import ResourceCard
from shared.db import run_in_transaction, run_read
from shared.errors import (
    CapacityExhausted,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RemoteError,
    ValidationFailed,
)
from shared.messaging import Bus

log = logging.getLogger(__name__)
T = TypeVar("T")
SYSTEM = service.SYSTEM
Shape = Callable[[Session, Referral, datetime], ReferralOut]


@dataclass(frozen=True)
class Flow:
    """What a flow works with: the database, the bus, the clock, who acts, and how the
    referral is answered (`shape`)."""

    sessions: sessionmaker[Session]
    bus: Bus
    clock: Callable[[], datetime]
    actor: Actor
    shape: Shape

    async def read(self, work: Callable[[Session], T]) -> T:
        return await run_read(self.sessions, work)

    async def write(self, work: Callable[[Session], T]) -> T:
        return await run_in_transaction(self.sessions, work)

    async def commit(self, change: Callable[[Session, datetime], Referral]) -> ReferralOut:
        """Run `change` at the clock's now in one transaction and answer the referral."""
        now = self.clock()
        return await self.write(lambda s: self.shape(s, change(s, now), now))


# ---------------------------------------------------------------- referring


async def create(
    flow: Flow, *, data: ReferralCreate, lookup_k: int, policy: review.ReviewPolicy
) -> ReferralOut:
    """Refer a need to a resource: the match is looked up again and frozen, the resource's
    organization asked of the resources service."""

    def ask(session: Session) -> Any:
        try:
            return needs_service.match_request(
                session=session,
                need_id=data.need_id,
                request=MatchRequest(k=lookup_k),
                default_k=lookup_k,
            )
        except NotFound as exc:
            raise ValidationFailed.one("need_id", "exists", exc.detail) from exc

    reply = await ask_matcher(flow.bus, await flow.read(ask))
    pick = service.pick_from_matches(results=reply.results, data=data)
    card = await _card(flow.bus, data.resource_id)
    pick = service.with_organization(pick, card.organization)
    return await flow.commit(
        lambda s, now: service.create(
            session=s, data=data, pick=pick, actor=flow.actor, now=now, policy=policy
        )
    )


async def _card(bus: Bus, resource_id: str) -> ResourceCard:
    """The resource's card; 422 naming `resource_id` when the resources service has none."""
    try:
        return await events.resource_card(bus, resource_id=resource_id)
    except RemoteError as exc:
        if exc.status != 404:
            raise
        raise ValidationFailed.one("resource_id", "exists", exc.detail) from exc


# ---------------------------------------------------------------- the resource's side


async def accept(flow: Flow, *, referral_id: str) -> ReferralOut:
    """The resource accepts: its capacity is reserved. No capacity left → declined with reason
    `no_capacity`, raised as a 409 carrying the next match."""

    def ready(s: Session) -> tuple[Referral, str]:
        referral = service.get_ready_for(session=s, referral_id=referral_id, to=S.ACCEPTED)
        return referral, needs_service.get_need_or_raise(session=s, need_id=referral.need_id).unit

    referral, unit = await flow.read(ready)
    try:
        reply = await events.reserve(
            flow.bus,
            resource_id=referral.resource_id,
            referral_id=referral.id,
            units=referral.units,
            unit=unit,
        )
    except Exception as exc:
        if _is_no_capacity(exc):
            raise await _decline_for_no_capacity(flow, referral_id) from exc
        # Unanswered: a reservation the resources service may hold stays under the referral's
        # id, and the caller's retry (503, Retry-After) gets that same reservation. Giving it
        # back here raced the retry and churned the ledger under a broker outage.
        raise
    try:
        return await flow.commit(
            lambda s, now: service.accept(
                session=s,
                referral_id=referral_id,
                reservation=reply.state.value,
                actor=flow.actor,
                now=now,
            )
        )
    except Exception:
        await _give_back_unless_accepted(flow, referral)
        raise


def _is_no_capacity(error: Exception) -> bool:
    return isinstance(error, RemoteError) and events.is_no_capacity(error)


async def _give_back_unless_accepted(flow: Flow, referral: Referral) -> None:
    """The reservation did not commit (or its answer never came): release it, unless a
    concurrent accept of the same referral committed (the reservation is one per referral id,
    and is then that one's). Best effort: the caller raises its own error."""
    try:
        current = await flow.read(
            lambda s: queries.get_or_raise(session=s, referral_id=referral.id)
        )
    except Exception as exc:  # the caller's error is the one to answer with
        log.warning("could not look at referral %s to release: %s", referral.id, type(exc).__name__)
        return
    if not service.holds_capacity(current):
        await _release_quietly(flow.bus, resource_id=referral.resource_id, referral_id=referral.id)


async def _release_quietly(bus: Bus, *, resource_id: str, referral_id: str) -> None:
    """Release what the resources service may hold for `referral_id`; a failure is logged, not
    raised (nothing held is a 404 there; the caller raises its own error)."""
    try:
        await events.release(bus, resource_id=resource_id, referral_id=referral_id)
    except Exception as exc:
        log.warning(
            "could not release referral %s's reservation: %s", referral_id, type(exc).__name__
        )


async def decline(flow: Flow, *, referral_id: str, reason: str) -> DeclinedOut:
    """The resource declines. For no capacity, the next feasible match is offered (the
    declining resource left out), as when the reserve finds no unit left."""
    declined = await flow.commit(
        lambda s, now: service.decline(
            session=s, referral_id=referral_id, reason=reason, actor=flow.actor, now=now
        )
    )
    if reason != service.NO_CAPACITY:
        return DeclinedOut(**declined.model_dump())
    next_match, error = await _next_match(flow, declined.need_id)
    return DeclinedOut(**declined.model_dump(), next_match=next_match, next_match_error=error)


async def _decline_for_no_capacity(flow: Flow, referral_id: str) -> CapacityExhausted:
    """Decline the referral for want of capacity; the 409 to raise carries the next match."""
    out = await decline(flow, referral_id=referral_id, reason=service.NO_CAPACITY)
    declined = ReferralOut(**out.model_dump(exclude={"next_match", "next_match_error"}))
    body = NoCapacity(
        referral=declined, next_match=out.next_match, next_match_error=out.next_match_error
    )
    return CapacityExhausted(
        f"the resource has no capacity left: referral {referral_id} was declined",
        extra={"reason": "no_capacity", **body.model_dump(mode="json")},
    )


async def _next_match(flow: Flow, need_id: str) -> tuple[RankedResource | None, str | None]:
    """The best resource not yet tried for this need, or why there is none. Asked after the
    decline committed, so nothing here may fail the call: the decline stands whatever happens."""
    try:
        return await _ask_next_match(flow, need_id)
    except Exception as exc:
        log.warning("the next match of need %s failed: %s", need_id, type(exc).__name__)
        return None, "the next match could not be looked up"


async def _ask_next_match(flow: Flow, need_id: str) -> tuple[RankedResource | None, str | None]:
    try:
        need, exclude, known = await flow.read(lambda s: _next_match_query(s, need_id))
    except Conflict as exc:  # the person withdrew consent: no match is offered
        return None, f"no next match is offered: {exc.detail}"
    try:
        results = await events.ranked(flow.bus, need=need, exclude=exclude, k=1, known=known)
    except DomainError as exc:
        return None, f"the matcher could not be asked: {exc.title}"
    return (results[0] if results else None), None


def _next_match_query(s: Session, need_id: str) -> tuple[Need, list[str], list[str]]:
    """The need, the resources to leave out and the personal values to keep out of the text;
    409 when the need's person withdrew the consent matches rest on."""
    need = needs_service.get_need_or_raise(session=s, need_id=need_id)
    needs_service.check_takes_referrals(session=s, need=need)
    known = needs_service.personal_data_of(session=s, need=need)
    return need, queries.next_match_exclusions(session=s, need_id=need_id), known


async def complete(flow: Flow, *, referral_id: str, outcome: CompleteBody) -> ReferralOut:
    """Record the outcome and satisfaction; the capacity is consumed; a met need closes."""
    referral = await flow.read(
        lambda s: service.get_ready_for(session=s, referral_id=referral_id, to=S.COMPLETED)
    )
    if service.holds_capacity(referral):
        await events.consume(flow.bus, resource_id=referral.resource_id, referral_id=referral.id)
    return await flow.commit(
        lambda s, now: service.complete(
            session=s, referral_id=referral_id, outcome=outcome, actor=flow.actor, now=now
        )
    )


async def end(flow: Flow, *, referral_id: str, to: str, body: EndBody) -> ReferralOut:
    """Fail or cancel a referral; capacity it held is released first."""
    referral = await flow.read(
        lambda s: service.get_ready_for(session=s, referral_id=referral_id, to=to)
    )
    released = service.holds_capacity(referral)
    if released:
        await events.release(flow.bus, resource_id=referral.resource_id, referral_id=referral.id)
    return await flow.commit(
        lambda s, now: service.end(
            session=s,
            referral_id=referral_id,
            to=to,
            reason=body.reason,
            comment=body.comment,
            released=released,
            actor=flow.actor,
            now=now,
        )
    )


async def claim_micro_wish(
    flow: Flow, *, need_id: str, data: ClaimCreate, only_organization: str | None
) -> ReferralOut:
    """An enterprise, charity or volunteer claims a micro-wish (微心愿): a referral that starts
    accepted, with the claimer's capacity reserved. `only_organization`, when given, is the
    one organization whose resources the caller may claim with (a coordinator's)."""

    def claimable_units(s: Session) -> tuple[int, str]:
        need = needs_service.get_need_or_raise(session=s, need_id=need_id)
        service.check_claimable(s, need)  # before reserving; again under the lock at commit
        return need.quantity, need.unit

    need_units, unit = await flow.read(claimable_units)
    card = await _card(flow.bus, data.resource_id)
    if only_organization is not None and card.organization != only_organization:
        raise Forbidden(
            f"resource {data.resource_id} is not of your organization",
            extra={"rule": "organization"},
        )
    referral_id = str(uuid.uuid4())
    try:
        reply = await events.reserve(
            flow.bus,
            resource_id=data.resource_id,
            referral_id=referral_id,
            units=need_units,
            unit=unit,
        )
    except Exception as exc:
        if not _is_no_capacity(exc):  # unanswered: a reservation may be held under the id
            await _release_quietly(flow.bus, resource_id=data.resource_id, referral_id=referral_id)
        raise
    try:
        return await flow.commit(
            lambda s, now: service.claim_micro_wish(
                session=s,
                need_id=need_id,
                referral_id=referral_id,
                data=data,
                organization=card.organization,
                reservation=reply.state.value,
                actor=flow.actor,
                now=now,
            )
        )
    except Exception:
        await _release_quietly(flow.bus, resource_id=data.resource_id, referral_id=referral_id)
        raise


# ---------------------------------------------------------------- timers


async def escalate_forever(
    *, sessions: sessionmaker[Session], interval_s: float, clock: Callable[[], datetime]
) -> None:
    """Escalate overdue referrals every `interval_s`, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            done = await run_in_transaction(
                sessions,
                lambda s: service.escalate_overdue(session=s, now=clock(), actor=SYSTEM),
            )
        except Exception as exc:  # the sweeper must outlive a database hiccup; next round retries
            log.warning("escalating overdue referrals failed: %s", type(exc).__name__)
            continue
        if done:
            log.info("escalated %d overdue referrals", len(done))
