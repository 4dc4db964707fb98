"""Units that mean something, at accept: a need counted in persons cannot hold the capacity of a
resource that counts hours. The resources service's real ledger answers over a real
nats-server; the accept is a 409 with rule `unit_mismatch`, nothing is held, the referral stays
sent. In the same unit, the accept goes through."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import api, flows
from services.needs.referrals.service import Pick
from services.resources import service as resources_service
from services.resources.events import serve_capacity
from services.resources.models import Reservation
from services.resources.schemas import ResourceCreate
from shared.db import transaction
from shared.errors import RemoteError
from shared.messaging import Bus
from tests.referrals.domain import COORDINATOR, T0, new_need, refer, state_of
from tests.referrals.test_flows import ledger
from tests.support.factories import resource_body

pytestmark = pytest.mark.integration
__all__ = ["ledger"]  # the resources service's own database (a fixture)


def _resource(ledger: sessionmaker[Session], unit: str) -> str:
    body = resource_body(organization="demo", capacity={"total": 5, "unit": unit})
    with transaction(ledger) as s:
        return resources_service.create(session=s, data=ResourceCreate.model_validate(body)).id


def _held(ledger: sessionmaker[Session], resource_id: str) -> list[str]:
    with ledger() as s:
        return list(
            s.scalars(select(Reservation.state).where(Reservation.resource_id == resource_id))
        )


async def test_an_accept_in_another_unit_is_refused_and_holds_nothing(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session]
) -> None:
    await serve_capacity(bus, ledger)
    flow = flows.Flow(
        sessions=sessions, bus=bus, clock=lambda: T0, actor=COORDINATOR, shape=api._out
    )
    hours = _resource(ledger, "小时")
    pick = Pick(resource_id=hours, name="心理服务站", kind="charity", rank=1, organization="demo")
    referral_id = refer(sessions, new_need(sessions), pick)

    with pytest.raises(RemoteError) as refused:
        await flows.accept(flow, referral_id=referral_id)
    assert (refused.value.status, refused.value.extra.get("rule")) == (409, "unit_mismatch")
    assert _held(ledger, hours) == []
    assert state_of(sessions, referral_id) == "sent"

    persons = _resource(ledger, "人")
    pick = Pick(resource_id=persons, name="助餐点", kind="charity", rank=1, organization="demo")
    accepted = await flows.accept(flow, referral_id=refer(sessions, new_need(sessions), pick))
    assert accepted.state == "accepted"
    assert _held(ledger, persons) == ["reserved"]
