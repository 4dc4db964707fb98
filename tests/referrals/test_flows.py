"""Referral flows over a real nats-server, the resources service's real ledger behind it in its
own database: a reserve left unanswered is given back before the 503 (accept and micro-wish
claim alike); a decline for want of capacity stands whatever becomes of the next match — earlier
referrals' resource ids of any form are left out of it, and a person who withdrew consent is
offered none."""

from collections.abc import Iterator

import pytest
from nats.aio.msg import Msg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import api, flows, service
from services.needs.referrals.models import Referral
from services.needs.referrals.schemas import ClaimCreate
from services.resources import capacity
from services.resources.app import MIGRATIONS as RESOURCES_MIGRATIONS
from services.resources.events import card_of, serve_capacity
from services.resources.models import Reservation, Resource
from shared.contracts.matcher import RANK
from shared.contracts.resources import (
    CAPACITY_RELEASE,
    CAPACITY_RESERVE,
    RESOURCE_CARD,
    RESOURCES_QUEUE,
    CapacityReply,
    CapacityRequest,
    ResourceCard,
    ResourceCardRequest,
)
from shared.db import create_db_engine, migrate, run_in_transaction, run_read, session_factory
from shared.db import transaction as in_transaction
from shared.errors import CapacityExhausted, ServiceUnavailable
from shared.messaging import Bus
from tests.conftest import Databases
from tests.referrals.domain import (
    COORDINATOR,
    T0,
    new_need,
    new_resource,
    refer,
    state_of,
    with_person,
    withdraw_consent,
)

ORGANIZATION = "demo"
# An id a county ledger import kept: 64 characters, with a slash, a space and Chinese.
IMPORTED_ID = "江安县台账/2024 第三批:" + "x" * 49

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(engine: Engine, databases: Databases) -> Iterator[sessionmaker[Session]]:
    """The resources service's own database, on the backend of the needs one."""
    other = create_db_engine(databases.url(engine.dialect.name, "resources"))
    migrate(other, RESOURCES_MIGRATIONS)
    yield session_factory(other)
    other.dispose()


def _flow(sessions: sessionmaker[Session], bus: Bus) -> flows.Flow:
    return flows.Flow(
        sessions=sessions, bus=bus, clock=lambda: T0, actor=COORDINATOR, shape=api._out
    )


def _pick(resource_id: str) -> service.Pick:
    return service.Pick(
        resource_id=resource_id, name="助餐点", kind="enterprise", rank=1, organization=ORGANIZATION
    )


async def _reserves_whose_replies_are_lost(bus: Bus, ledger: sessionmaker[Session]) -> list[str]:
    """The real ledger reserves, but its answers never arrive; the referral ids it was sent."""
    sent: list[str] = []

    async def reserve_and_stay_silent(msg: Msg) -> None:
        request = CapacityRequest.model_validate_json(msg.data)
        sent.append(request.referral_id)
        await run_in_transaction(
            ledger,
            lambda s: capacity.apply_capacity(session=s, operation="reserve", request=request),
        )

    assert bus.nc is not None
    await bus.nc.subscribe(CAPACITY_RESERVE, queue=RESOURCES_QUEUE, cb=reserve_and_stay_silent)
    return sent


async def _serve_release_and_cards(bus: Bus, ledger: sessionmaker[Session]) -> None:
    """Releases and resource cards answered by the resources service's own code."""

    async def release(request: CapacityRequest) -> CapacityReply:
        return await run_in_transaction(
            ledger,
            lambda s: capacity.apply_capacity(session=s, operation="release", request=request),
        )

    async def card(request: ResourceCardRequest) -> ResourceCard:
        return await run_read(ledger, lambda s: card_of(session=s, resource_id=request.resource_id))

    await bus.serve(
        CAPACITY_RELEASE, queue=RESOURCES_QUEUE, request_type=CapacityRequest, handler=release
    )
    await bus.serve(
        RESOURCE_CARD, queue=RESOURCES_QUEUE, request_type=ResourceCardRequest, handler=card
    )


def _ledger_of(ledger: sessionmaker[Session], resource_id: str) -> tuple[list[str], int]:
    """(states of the resource's reservations, its remaining units)."""
    with ledger() as s:
        states = s.scalars(select(Reservation.state).where(Reservation.resource_id == resource_id))
        remaining = s.scalar(select(Resource.capacity_remaining).where(Resource.id == resource_id))
        return list(states), int(remaining or 0)


async def test_an_accept_whose_reserve_goes_unanswered_keeps_it_for_the_retry(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session]
) -> None:
    resource_id = new_resource(ledger, total=3, organization=ORGANIZATION)
    referral_id = refer(sessions, new_need(sessions), _pick(resource_id))
    sent = await _reserves_whose_replies_are_lost(bus, ledger)
    await _serve_release_and_cards(bus, ledger)

    with pytest.raises(ServiceUnavailable):
        await flows.accept(_flow(sessions, bus), referral_id=referral_id)

    assert sent == [referral_id, referral_id], "the reserve was not sent twice"
    assert _ledger_of(ledger, resource_id) == (["reserved"], 2), "held once, for the retry"
    assert state_of(sessions, referral_id) == "sent"


async def test_a_claim_whose_reserve_goes_unanswered_gives_back_the_id_it_reserved_under(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session]
) -> None:
    resource_id = new_resource(ledger, total=3, organization=ORGANIZATION)
    wish = new_need(sessions, category="micro_wish.goods")
    sent = await _reserves_whose_replies_are_lost(bus, ledger)
    await _serve_release_and_cards(bus, ledger)
    claim = ClaimCreate(
        resource_id=resource_id, resource_name="爱心企业", resource_kind="enterprise"
    )

    with pytest.raises(ServiceUnavailable):
        await flows.claim_micro_wish(
            _flow(sessions, bus), need_id=wish, data=claim, only_organization=ORGANIZATION
        )

    assert len(sent) == 2 and sent[0] == sent[1], sent
    with ledger() as s:
        held = s.scalar(select(Reservation.state).where(Reservation.referral_id == sent[0]))
    assert held == "released"
    assert _ledger_of(ledger, resource_id)[1] == 3
    with sessions() as s:
        assert s.scalars(select(Referral).where(Referral.need_id == wish)).all() == []


def _refer_to_a_full_resource(
    sessions: sessionmaker[Session], ledger: sessionmaker[Session], need_id: str
) -> str:
    """Refer the need to a resource whose last unit someone else has taken."""
    scarce = new_resource(ledger, total=1, organization=ORGANIZATION)
    with in_transaction(ledger) as s:
        capacity.reserve(session=s, resource_id=scarce, referral_id="someone-else", units=1)
    return refer(sessions, need_id, _pick(scarce))


async def _accept_refused(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session], referral_id: str
) -> dict[str, object]:
    """Accept against the real ledger: refused for want of capacity; the 409's extras."""
    await serve_capacity(bus, ledger)
    with pytest.raises(CapacityExhausted) as refused:
        await flows.accept(_flow(sessions, bus), referral_id=referral_id)
    assert state_of(sessions, referral_id) == "declined"
    assert refused.value.extra["reason"] == "no_capacity"
    assert refused.value.extra["referral"]["state"] == "declined"
    return refused.value.extra


async def test_a_decline_for_no_capacity_stands_when_an_earlier_resource_id_is_any_form(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session]
) -> None:
    need_id = new_need(sessions)
    earlier = refer(sessions, need_id, _pick(IMPORTED_ID))
    with in_transaction(sessions) as s:
        service.decline(
            session=s, referral_id=earlier, reason="not_eligible", actor=COORDINATOR, now=T0
        )
    referral_id = _refer_to_a_full_resource(sessions, ledger, need_id)

    problem = await _accept_refused(bus, sessions, ledger, referral_id)

    assert problem["next_match"] is None  # nothing answers the matcher's subject here
    assert str(problem["next_match_error"]).startswith("the matcher could not be asked")


async def test_no_next_match_is_offered_for_a_person_who_withdrew_consent(
    bus: Bus, sessions: sessionmaker[Session], ledger: sessionmaker[Session]
) -> None:
    need_id = new_need(sessions)
    person_id = with_person(sessions, need_id)
    referral_id = _refer_to_a_full_resource(sessions, ledger, need_id)
    withdraw_consent(sessions, person_id, "referral_sharing")  # before the resource answers
    asked: list[bytes] = []

    async def matcher(msg: Msg) -> None:
        asked.append(msg.data)

    assert bus.nc is not None
    await bus.nc.subscribe(RANK, cb=matcher)

    problem = await _accept_refused(bus, sessions, ledger, referral_id)

    assert problem["next_match"] is None
    assert "consent" in str(problem["next_match_error"])
    assert asked == [], "the matcher was asked for a person who withdrew consent"
