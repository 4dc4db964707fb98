"""An operator's view of the outbox: the parked events (rows JetStream kept refusing) and the
re-drive that puts them back in the queue. Admin only; ids, subjects and error types, no payload."""

import asyncio

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from shared.access import Reach, Rule, rule
from shared.contracts.common import SubjectToken
from shared.outbox import OutboxRelay, ParkedEvent

PARKED = "/admin/outbox/parked"
REDRIVE = "/admin/outbox/parked/redrive"

OUTBOX_RULES: dict[tuple[str, str], Rule] = {
    ("GET", PARKED): rule(scope=Reach.ANY, note="operators: events the relay gave up on"),
    ("POST", REDRIVE): rule(scope=Reach.ANY, note="operators: publish parked events again"),
}
"""The access rules of these routes, for every service's policy (admin only)."""


class ParkedList(BaseModel):
    count: int = Field(description="How many events are parked in all")
    events: list[ParkedEvent]


class Redrive(BaseModel):
    event_ids: list[SubjectToken] | None = Field(
        None, max_length=1000, description="The events to re-drive; all parked ones when absent"
    )


class Redriven(BaseModel):
    redriven: int


def _relay(request: Request) -> OutboxRelay:
    relay: OutboxRelay = request.app.state.relay
    return relay


def outbox_router() -> APIRouter:
    """`GET /admin/outbox/parked` and `POST /admin/outbox/parked/redrive`."""
    router = APIRouter(tags=["admin"])

    @router.get(PARKED, response_model=ParkedList, summary="Events the outbox relay parked")
    async def parked(request: Request, limit: int = Query(100, ge=1, le=1000)) -> ParkedList:
        relay = _relay(request)
        count, events = await asyncio.to_thread(relay.parked, limit)
        return ParkedList(count=count, events=events)

    @router.post(REDRIVE, response_model=Redriven, summary="Queue parked events again")
    async def redrive(request: Request, body: Redrive) -> Redriven:
        relay = _relay(request)
        return Redriven(redriven=await asyncio.to_thread(relay.redrive, body.event_ids))

    return router
