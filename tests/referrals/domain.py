"""The world of referral domain tests: a migrated needs database, needs in it, fixed times."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service as needs_service
from services.needs.app import MIGRATIONS, create_app
from services.needs.cases import service as persons
from services.needs.models import Need, OutboxEvent, Person
from services.needs.referrals import queries, review, service
from services.needs.referrals.schemas import ReferralCreate
from services.needs.schemas import HouseholdCreate, NeedCreate, PersonCreate
from services.needs.settings import NeedsSettings
from services.resources import service as resources_service
from services.resources.schemas import ResourceCreate
from shared.actor import Actor
from shared.contracts.common import GeoPoint
from shared.db import session_factory, transaction
from shared.messaging import Bus
from shared.settings import CommonSettings
from tests.auth import bearer
from tests.conftest import Databases
from tests.matcher.conftest import running_nats
from tests.support.factories import resource_body

WORKER = Actor(id="sw-001", role="social_worker")
REVIEWER = Actor(id="rv-001", role="reviewer")
COORDINATOR = Actor(id="co-001", role="coordinator")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PAGE_MAX = 20  # page_size_max of the in-process app
NATS_TIMEOUT_S = 0.5
POLICY = review.ReviewPolicy(
    amount_threshold_yuan=5000,
    overdue_after=timedelta(hours=48),
    default_department="civil_affairs",
)
MEALS = service.Pick(
    resource_id="res-meals",
    name="江安镇爱心助餐点",
    kind="enterprise",
    rank=1,
    score=0.82,
    distance_km=1.1,
    explanation={"components": {"category": 1.0, "distance": 0.9}, "weights": {}},
)


@pytest.fixture
def sessions(engine: Engine, databases: Databases) -> Iterator[sessionmaker[Session]]:
    databases.migrated(engine, MIGRATIONS)
    yield session_factory(engine)


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server for the tests of one module."""
    with running_nats(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    """A connected bus whose requests time out after NATS_TIMEOUT_S."""
    bus = Bus(
        CommonSettings(nats_url=nats_url, nats_request_timeout_s=NATS_TIMEOUT_S),
        name="referrals-test",
    )
    await bus.start()
    await asyncio.wait_for(bus.ready.wait(), timeout=10)
    yield bus
    await bus.close()


class Clock:
    """The app's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def client(engine: Engine, sessions: sessionmaker[Session], clock: Clock) -> Iterator[TestClient]:
    """The needs app in-process on the test's database, its clock injected, signed in as admin."""
    settings = NeedsSettings(
        database_url=engine.url.render_as_string(hide_password=False),
        referral_overdue_hours=48,
        page_size_max=PAGE_MAX,
        # Nothing listens here: the bus keeps trying in the background and no test needs it.
        common=CommonSettings(nats_url="nats://127.0.0.1:9"),
    )
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app, headers=bearer()) as test_client:
        yield test_client


def new_need(
    sessions: sessionmaker[Session], category: str = "elderly_care.meals", adcode: str = "511523101"
) -> str:
    with transaction(sessions) as s:
        household = needs_service.create_household(
            session=s,
            data=HouseholdCreate(
                address="江安县江安镇红星村3组12号",
                adcode=adcode,
                location=GeoPoint(lat=28.74, lon=105.07),
            ),
        )
        need = needs_service.create_need(
            session=s,
            data=NeedCreate(household_id=household.id, category=category, description="需要助餐"),
        )
        return need.id


def with_person(sessions: sessionmaker[Session], need_id: str) -> str:
    """Give the need a person of its household (consent as recorded on creation); their id."""
    with transaction(sessions) as s:
        need = s.get(Need, need_id)
        assert need is not None
        person = persons.create_person(
            session=s, household_id=need.household_id, data=PersonCreate(name="甲"), actor=None
        )
        need.person_id = person.id
        return person.id


def withdraw_consent(sessions: sessionmaker[Session], person_id: str, *scopes: str) -> None:
    """Mark `scopes` as withdrawn by the person (what a recorded withdrawal leaves behind)."""
    with transaction(sessions) as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.consent_withdrawn = sorted(scopes)


def refer(
    sessions: sessionmaker[Session],
    need_id: str,
    pick: service.Pick = MEALS,
    *,
    now: datetime = T0,
    **fields: object,
) -> str:
    data = ReferralCreate(need_id=need_id, resource_id=pick.resource_id, **fields)  # type: ignore[arg-type]
    with transaction(sessions) as s:
        referral = service.create(
            session=s, data=data, pick=pick, actor=WORKER, now=now, policy=POLICY
        )
        return referral.id


def state_of(sessions: sessionmaker[Session], referral_id: str) -> str:
    with sessions() as s:
        return queries.get_or_raise(session=s, referral_id=referral_id).state


def need_status(sessions: sessionmaker[Session], need_id: str) -> str:
    with sessions() as s:
        return needs_service.get_need_or_raise(session=s, need_id=need_id).status


def events_of(sessions: sessionmaker[Session], aggregate_id: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    """(subject, payload) of every outbox event about one aggregate, in order."""
    with sessions() as s:
        rows = s.execute(
            select(OutboxEvent.subject, OutboxEvent.payload)
            .where(OutboxEvent.aggregate_id == aggregate_id)
            .order_by(OutboxEvent.id)
        )
        return [(subject, json.loads(payload)) for subject, payload in rows]


def need_row(sessions: sessionmaker[Session], need_id: str) -> Need:
    with sessions() as s:
        need = s.scalar(select(Need).where(Need.id == need_id))
        assert need is not None
        return need


def new_resource(sessions: sessionmaker[Session], *, total: int, organization: str) -> str:
    """A resource in the resources service's database, with `total` units a month."""
    body = resource_body(
        organization=organization, capacity={"total": total, "unit": "persons", "period": "month"}
    )
    with transaction(sessions) as s:
        return resources_service.create(session=s, data=ResourceCreate.model_validate(body)).id
