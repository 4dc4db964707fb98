"""What referrals ask the resources service over a real nats-server, answered by its real
handlers over a real resources database: a reserve whose reply is lost is sent again and holds
the units once; a resource card names the resource's organization."""

from pathlib import Path

import pytest
from nats.aio.msg import Msg
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import events
from services.resources import capacity
from services.resources.app import MIGRATIONS
from services.resources.events import serve_capacity
from services.resources.models import Reservation, Resource
from shared.contracts.resources import (
    CAPACITY_RESERVE,
    RESOURCES_QUEUE,
    CapacityReply,
    CapacityRequest,
)
from shared.db import migrate, run_in_transaction, session_factory
from shared.errors import RemoteError
from shared.messaging import Bus
from tests.referrals.domain import new_resource


@pytest.fixture
def resources_db(engine: Engine) -> sessionmaker[Session]:
    migrate(engine, MIGRATIONS)
    return session_factory(engine)


@pytest.mark.integration
async def test_a_reserve_whose_reply_is_lost_is_sent_again_and_holds_the_units_once(
    bus: Bus, resources_db: sessionmaker[Session]
) -> None:
    resource_id = new_resource(resources_db, total=5, organization="demo")
    handled: list[CapacityReply] = []

    async def reply_lost_the_first_time(msg: Msg) -> None:
        request = CapacityRequest.model_validate_json(msg.data)
        reply = await run_in_transaction(
            resources_db,
            lambda s: capacity.apply_capacity(session=s, operation="reserve", request=request),
        )
        handled.append(reply)
        if len(handled) > 1:  # the first reservation is made, but its answer never arrives
            await msg.respond(reply.model_dump_json().encode())

    subject = f"{CAPACITY_RESERVE}.lost-reply-test"
    assert bus.nc is not None
    await bus.nc.subscribe(subject, queue=RESOURCES_QUEUE, cb=reply_lost_the_first_time)
    request = CapacityRequest(resource_id=resource_id, referral_id="ref-lost-reply", units=2)
    reply = await bus.request(subject, request, CapacityReply, attempts=events.ATTEMPTS)

    assert len(handled) == 2, "the request was not sent again after its reply was lost"
    assert handled[0] == handled[1] == reply
    assert (reply.state.value, reply.units, reply.capacity_remaining) == ("reserved", 2, 3)
    with resources_db() as s:
        rows = s.scalar(select(func.count()).where(Reservation.referral_id == "ref-lost-reply"))
        remaining = s.scalar(select(Resource.capacity_remaining).where(Resource.id == resource_id))
    assert (rows, remaining) == (1, 3), "a retried reserve reserved twice"


@pytest.mark.integration
async def test_capacity_requests_are_sent_with_a_retry_and_answered_once_per_referral(
    bus: Bus, resources_db: sessionmaker[Session]
) -> None:
    await serve_capacity(bus, resources_db)
    resource_id = new_resource(resources_db, total=3, organization="demo")
    first = await events.reserve(bus, resource_id=resource_id, referral_id="ref-twice", units=1)
    again = await events.reserve(bus, resource_id=resource_id, referral_id="ref-twice", units=1)
    assert first == again and again.capacity_remaining == 2
    released = await events.release(bus, resource_id=resource_id, referral_id="ref-twice")
    assert (released.state.value, released.capacity_remaining) == ("released", 3)
    assert events.ATTEMPTS == 2


@pytest.mark.integration
async def test_a_resource_card_names_its_organization_and_an_unknown_one_is_404(
    bus: Bus, resources_db: sessionmaker[Session], tmp_path: Path
) -> None:
    await serve_capacity(bus, resources_db)
    resource_id = new_resource(resources_db, total=1, organization="江安县爱心餐饮有限公司")
    card = await events.resource_card(bus, resource_id=resource_id)
    assert (card.resource_id, card.organization, card.active) == (
        resource_id,
        "江安县爱心餐饮有限公司",
        True,
    )
    with pytest.raises(RemoteError) as missing:
        await events.resource_card(bus, resource_id="no-such-resource")
    assert missing.value.status == 404
